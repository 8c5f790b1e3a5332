from __future__ import annotations

import numpy as np
import pytest
import torch

from training.mobilenet_v2 import COMPARATORS, InvertedResidual, build_comparator, build_mobilenet_v2
from training.train_fragments import ClassifierConfig, train_fragment_classifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("output_stride, cam_side", [(32, 2), (16, 4)])
def test_mobilenet_scripts_with_exact_cam(output_stride: int, cam_side: int) -> None:
    torch.manual_seed(0)
    model = build_mobilenet_v2(in_channels=1, width_mult=0.5, output_stride=output_stride).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        probabilities, cam = model(x)
        scripted = torch.jit.script(model)(x)
        fmap = model.features(x)
    assert probabilities.shape == (2, 2) and cam.shape == (2, cam_side, cam_side)
    for a, b in zip((probabilities, cam), scripted, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(cam.mean(dim=(1, 2)) + model.fc.bias[1], model.fc(fmap.mean(dim=(2, 3)))[:, 1])


def test_width_multiplier_and_residuals() -> None:
    full = build_mobilenet_v2(in_channels=3, width_mult=1.0)
    half = build_mobilenet_v2(in_channels=3, width_mult=0.5)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # the reference MobileNetV2 1.0 has 2.22 M feature parameters (3.5 M with the 1000-class head)
    assert 2.1e6 < count(full.features) < 2.4e6 and count(half.features) < 0.5 * count(full.features)
    blocks = [m for m in full.features if isinstance(m, InvertedResidual)]
    assert len(blocks) == 17 and sum(b.use_residual for b in blocks) == 10
    with pytest.raises(ValueError, match="output_stride"):
        build_mobilenet_v2(output_stride=8)


@pytest.mark.parametrize("name", COMPARATORS)
def test_comparators_script_on_one_channel(name: str) -> None:
    torch.manual_seed(0)
    model = build_comparator(name).eval()
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        eager = model(x)
        scripted = torch.jit.script(model)(x)
    assert eager[0].shape == (1, 2) and eager[1].ndim == 3
    for a, b in zip(eager, scripted, strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="Unknown comparator"):
        build_comparator("vgg16")


def test_classifier_learns_rim_vs_solid_blobs() -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32]
    crops, labels = [], []
    for i in range(48):
        radius = rng.uniform(6, 10)
        d = np.hypot(yy - 16 - rng.uniform(-2, 2), xx - 16 - rng.uniform(-2, 2))
        label = i % 2
        blob = (d < radius) * 0.7 if label else ((d < radius) & (d > radius - 2)) * 0.9 + (d < radius) * 0.2
        crops.append(blob + 0.05 * rng.standard_normal((32, 32)))
        labels.append(label)
    crops_arr = np.clip(np.stack(crops), 0, 1)[:, None].astype(np.float32)
    config = ClassifierConfig(crop_size=32, epochs=8, batch_size=16, lr=3e-3)
    model, record = train_fragment_classifier(crops_arr, np.array(labels), config)
    assert record["history"][-1]["loss"] < record["history"][0]["loss"]
    with torch.no_grad():
        probabilities, _ = model(torch.from_numpy(crops_arr))
    assert (probabilities.argmax(1).numpy() == np.array(labels)).mean() >= 0.9
