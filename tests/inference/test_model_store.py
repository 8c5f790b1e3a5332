from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from operators.model_store import META_FILE, ModelError, ModelStore
from training.export import export_torchscript


class TinyClassifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.bn(self.conv(x))
        return torch.softmax(self.fc(fmap.mean(dim=(2, 3))), dim=1), fmap.mean(dim=1)


META = {
    "name": "tiny",
    "version": "1.0",
    "labels": ["a", "b"],
    "input_size": [8, 8],
    "outputs": ["probabilities", "cam"],
}


@pytest.mark.parametrize("optimize", [False, True])
def test_export_then_load_predicts_in_batches(tmp_path: Path, optimize: bool) -> None:
    torch.manual_seed(0)
    model = TinyClassifier().eval()
    export_torchscript(model, tmp_path / "tiny" / "tiny.ts", META)
    loaded = ModelStore(tmp_path, device="cpu", optimize=optimize).get("tiny")
    assert loaded.meta["weights_sha256"] and loaded.meta["labels"] == ["a", "b"]
    x = torch.randn(5, 3, 8, 8)
    outputs = loaded.predict(x, batch_size=2)
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(outputs["probabilities"], expected[0], atol=1e-5, rtol=1e-4)
    assert outputs["cam"].shape == (5, 6, 6)


def test_missing_model_and_missing_meta_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="Model 'absent' not found .*make models"):
        ModelStore(tmp_path).get("absent")
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(TinyClassifier()), buffer)
    (tmp_path / "bare.ts").write_bytes(buffer.getvalue())
    with pytest.raises(ModelError, match=f"no embedded {META_FILE}"):
        ModelStore(tmp_path).get("bare")


def test_model_must_be_the_one_named(tmp_path: Path) -> None:
    export_torchscript(TinyClassifier(), tmp_path / "other.ts", META)
    with pytest.raises(ModelError, match="says it is 'tiny', expected 'other'"):
        ModelStore(tmp_path).get("other")
    assert json.loads(json.dumps(META))  # meta stays plain JSON
