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


def _rims_and_discs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Crops of a solid disc (label 1) or a bright ring around a dark core (label 0), alternating."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32]
    crops, labels = [], []
    for i in range(n):
        radius = rng.uniform(7, 10)
        d = np.hypot(yy - 16 - rng.uniform(-2, 2), xx - 16 - rng.uniform(-2, 2))
        label = i % 2
        blob = (d < radius) * 0.7 if label else ((d < radius) & (d > radius - 2.5)) * 0.9 + (d < radius - 2.5) * 0.15
        crops.append(blob + 0.05 * rng.standard_normal((32, 32)))
        labels.append(label)
    return np.clip(np.stack(crops), 0, 1)[:, None].astype(np.float32), np.array(labels)


def test_classifier_learns_rim_vs_solid_blobs() -> None:
    # Measured under ATEN_CPU_CAPABILITY=default/avx2/avx512: training accuracy 1.00 each, held-out 0.89/0.97/0.97.
    # The bars sit well below both (the earlier 48-crop, 8-epoch version scored 0.90-0.92 against a 0.9 bar).
    crops, labels = _rims_and_discs(64, seed=0)
    config = ClassifierConfig(crop_size=32, epochs=20, batch_size=16, lr=3e-3)
    model, record = train_fragment_classifier(crops, labels, config)
    assert record["history"][-1]["loss"] < 0.5 * record["history"][0]["loss"]
    held_out, held_out_labels = _rims_and_discs(64, seed=1)
    with torch.no_grad():
        seen = model(torch.from_numpy(crops))[0].argmax(1).numpy()
        unseen = model(torch.from_numpy(held_out))[0].argmax(1).numpy()
    assert (seen == labels).mean() >= 0.9
    assert (unseen == held_out_labels).mean() >= 0.75
