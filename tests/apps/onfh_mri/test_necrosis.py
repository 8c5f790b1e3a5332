from __future__ import annotations

import numpy as np
import pytest

from apps.onfh_mri.grading import Grade, grade_from_counts
from apps.onfh_mri.necrosis import extract_necrosis, otsu_threshold


def _head(necrotic_fraction: float, seed: int = 0, size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A round head of bright marrow; a subchondral (top) band of it dark, `necrotic_fraction` of its area."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    head = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 2.5) ** 2
    rows = np.flatnonzero(head.any(axis=1))
    necrotic = np.zeros_like(head)
    if necrotic_fraction > 0:
        cumulative = np.cumsum(head[rows].sum(axis=1)) / head.sum()
        last = rows[np.searchsorted(cumulative, necrotic_fraction)]
        necrotic = head & (yy <= last)
    image = np.where(head, 1600.0, 300.0)
    image[necrotic] = 450.0
    image += rng.normal(0, 60, image.shape)
    return image, head, necrotic


def test_otsu_matches_a_brute_force_search() -> None:
    values = np.concatenate(
        [np.random.default_rng(1).normal(400, 50, 500), np.random.default_rng(2).normal(1500, 80, 900)]
    )
    threshold, effectiveness = otsu_threshold(values)
    candidates = np.linspace(values.min(), values.max(), 400)

    def between(t: float) -> float:
        low, high = values[values < t], values[values >= t]
        return len(low) * len(high) * (low.mean() - high.mean()) ** 2 if len(low) and len(high) else 0.0

    best = candidates[int(np.argmax([between(t) for t in candidates]))]
    assert abs(threshold - best) < (values.max() - values.min()) / 100
    assert effectiveness > 0.9


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.2, 0.35])
def test_necrotic_area_is_recovered(fraction: float) -> None:
    image, head, truth = _head(fraction)
    result = extract_necrosis(image, head)
    found = 100 * result.mask.sum() / head.sum()
    assert abs(found - 100 * truth.sum() / head.sum()) < 1.0
    assert not (result.mask & ~head).any()


@pytest.mark.parametrize("seed", range(4))
def test_a_healthy_head_is_not_split_by_noise(seed: int) -> None:
    image, head, _ = _head(0.0, seed=seed)
    result = extract_necrosis(image, head)
    assert not result.mask.any() and result.threshold is None
    assert "no bimodal split" in result.reason
    assert grade_from_counts(int(result.mask.sum()), int(head.sum())) is Grade.WITHOUT


def test_shape_mismatch_is_named() -> None:
    with pytest.raises(ValueError, match=r"image \(4, 4\) and head mask \(3, 3\) must have one shape"):
        extract_necrosis(np.zeros((4, 4)), np.zeros((3, 3), bool))


def _with_cortex(image: np.ndarray, head: np.ndarray, necrotic: np.ndarray, rim: int) -> np.ndarray:
    """The head's outer `rim` pixels made dark cortex, except where necrosis reaches the surface."""
    from scipy import ndimage

    cortex = head & ~ndimage.binary_erosion(head, iterations=rim) & ~necrotic
    out = image.copy()
    out[cortex] = 100.0 + np.random.default_rng(9).normal(0, 20, int(cortex.sum()))
    return out


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.2])
def test_the_dark_cortex_is_not_counted_as_necrosis(fraction: float) -> None:
    image, head, necrotic = _head(fraction, seed=3)
    image = _with_cortex(image, head, necrotic, rim=2)
    naive = extract_necrosis(image, head).mask.sum() / head.sum()
    found = extract_necrosis(image, head, rim_px=2).mask
    assert abs(found.sum() / head.sum() - fraction) < 0.01
    if fraction == 0.0:
        assert naive > 0.05, "without the rim the cortex alone looks like necrosis: the case this guards"
