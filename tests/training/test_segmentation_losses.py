"""signed_distance and the GeoPixel losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.femoral_unet import GeoPixelOutput
from training.segmentation_losses import GeoPixelLoss, deep_supervision_loss, signed_distance


def _loss() -> GeoPixelLoss:
    return GeoPixelLoss(dice_weight=1.0, bce_weight=1.0, pixel_weight=0.5, geometric_weight=1.0)


def _disc(size: int = 64, radius: float = 12.0) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return np.hypot(yy - size / 2, xx - size / 2) <= radius


def test_signed_distance_signs_and_zero_level_set() -> None:
    mask = _disc()
    sdf = signed_distance(mask, clip_px=8.0)
    assert sdf.dtype == np.float32 and sdf.shape == mask.shape
    assert np.all(sdf[mask] < 0) and np.all(sdf[~mask] > 0)
    assert sdf.min() == -1.0 and sdf.max() == 1.0
    # Pixels on either side of the boundary sit half a pixel from it.
    boundary_in = mask & ~np.roll(mask, 1, axis=1)
    assert np.allclose(sdf[boundary_in], -0.5 / 8.0)
    assert sdf[32, 32] == -1.0  # centre: 12 px deep, clipped at 8
    assert np.isclose(sdf[32, 32 + 14], (14 - 12 - 0.5) / 8.0)


def test_signed_distance_edge_cases() -> None:
    assert np.all(signed_distance(np.zeros((8, 8), bool), 4.0) == 1.0)
    assert np.all(signed_distance(np.ones((8, 8), bool), 4.0) == -1.0)
    with pytest.raises(ValueError):
        signed_distance(_disc(), 0.0)


def test_perfect_prediction_scores_lower_than_inverted() -> None:
    mask = torch.from_numpy(_disc()).float()[None, None]
    sdf = torch.from_numpy(signed_distance(_disc(), 8.0))[None, None]
    loss = _loss()
    logits = (mask * 2 - 1) * 20
    deep = [torch.nn.functional.interpolate(logits, size=s, mode="area") for s in (16, 32)]
    good, parts = loss(GeoPixelOutput(logits, deep, sdf), mask, sdf)
    bad, _ = loss(GeoPixelOutput(-logits, [-d for d in deep], -sdf), mask, sdf)
    assert set(parts) == {"main", "pixel", "geometric", "total"}
    assert parts["geometric"] == 0.0
    assert good < 0.1 < bad


def test_plain_output_uses_main_loss_only_and_sdf_is_required_for_geometric() -> None:
    mask = torch.from_numpy(_disc()).float()[None, None]
    logits = torch.randn(1, 1, 64, 64)
    total, parts = _loss()(GeoPixelOutput(logits, [], None), mask)
    assert set(parts) == {"main", "total"} and torch.isclose(total, torch.tensor(parts["main"]))
    with pytest.raises(ValueError):
        _loss()(GeoPixelOutput(logits, [], torch.zeros_like(logits)), mask)


def test_deep_supervision_targets_are_downsampled_masks() -> None:
    mask = torch.from_numpy(_disc()).float()[None, None]
    calls = []

    def record(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append((tuple(logits.shape), float(target.mean())))
        return torch.tensor(float(logits.shape[-1]))

    value = deep_supervision_loss([torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 32, 32)], mask, record)
    assert [c[0][-1] for c in calls] == [16, 32]
    # Area downsampling preserves the mask's area fraction.
    assert all(np.isclose(c[1], float(mask.mean()), atol=1e-6) for c in calls)
    # Weights proportional to resolution: (0.25*16 + 0.5*32) / 0.75
    assert np.isclose(float(value), (0.25 * 16 + 0.5 * 32) / 0.75)
