from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from inference.model_meta import ClassifierMeta, ModelMetaError, SegmenterMeta
from inference.model_store import META_FILE, ModelError, ModelStore
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
    "task": "classification",
    "labels": ["a", "b"],
    "input_size": [8, 8],
    "channels": 3,
    "mean": [0.0, 0.0, 0.0],
    "std": [1.0, 1.0, 1.0],
    "threshold": 0.5,
    "outputs": ["probabilities", "cam"],
}


@pytest.mark.parametrize("optimize", [False, True])
def test_export_then_load_predicts_in_batches(tmp_path: Path, optimize: bool) -> None:
    torch.manual_seed(0)
    model = TinyClassifier().eval()
    export_torchscript(model, tmp_path / "tiny" / "tiny.ts", META)
    loaded = ModelStore(tmp_path, device="cpu", optimize=optimize).get("tiny")
    assert isinstance(loaded.meta, ClassifierMeta)
    assert len(loaded.meta.weights_sha256) == 64 and loaded.meta.labels == ("a", "b")
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


def test_a_model_of_another_kind_is_refused_by_name(tmp_path: Path) -> None:
    export_torchscript(TinyClassifier(), tmp_path / "tiny" / "tiny.ts", META)
    store = ModelStore(tmp_path)
    assert store.get("tiny", ClassifierMeta).meta.threshold == 0.5
    with pytest.raises(ModelError, match="'tiny' .* is a ClassifierMeta .*expected a SegmenterMeta"):
        store.get("tiny", SegmenterMeta)


def test_export_refuses_a_meta_its_kind_cannot_use(tmp_path: Path) -> None:
    broken = {key: value for key, value in META.items() if key not in ("threshold", "mean")}
    with pytest.raises(ModelMetaError, match="'mean' missing; .*'threshold' missing"):
        export_torchscript(TinyClassifier(), tmp_path / "tiny.ts", broken)
    assert not (tmp_path / "tiny.ts").exists()


def test_a_model_file_whose_meta_lacks_a_key_stops_at_load(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    meta = {key: value for key, value in META.items() if key != "threshold"}
    torch.jit.save(torch.jit.script(TinyClassifier()), buffer, _extra_files={META_FILE: json.dumps(meta)})
    (tmp_path / "tiny.ts").write_bytes(buffer.getvalue())
    with pytest.raises(ModelError, match="'threshold' missing"):
        ModelStore(tmp_path).get("tiny")
