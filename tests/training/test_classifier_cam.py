from __future__ import annotations

import io

import pytest
import torch

from training.classifier_cam import build_resnet_classifier


@pytest.fixture(scope="module")
def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_resnet_classifier(depth=18).eval()


def test_outputs_and_exact_cam(small_model: torch.nn.Module) -> None:
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        probabilities, cam = small_model(x)
        fmap = small_model.features(x)
    assert probabilities.shape == (2, 2) and cam.shape == (2, *fmap.shape[2:])
    torch.testing.assert_close(probabilities.sum(1), torch.ones(2))
    # CAM averaged over space plus the bias is the class logit: exact for GAP + linear.
    logit = cam.mean(dim=(1, 2)) + small_model.fc.bias[1]
    torch.testing.assert_close(logit, small_model.fc(fmap.mean(dim=(2, 3)))[:, 1])


def test_torchscript_round_trip(small_model: torch.nn.Module) -> None:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(small_model), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(small_model(x), loaded(x), strict=True):
            torch.testing.assert_close(a, b)


def test_pretrained_file_must_hold_backbone(tmp_path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"fc.weight": torch.zeros(1000, 512)}, path)
    with pytest.raises(ValueError, match="lacks backbone weights"):
        build_resnet_classifier(depth=18, pretrained=str(path))
