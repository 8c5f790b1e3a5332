from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from apps.onfh_mri.grading import Grade, grade_from_counts
from apps.onfh_mri.necrosis import CORTEX_MM, MAX_RIM_FACTOR, extract_hip_necrosis, rim_widths

PIXEL_MM = 1.2
SLICE_MM = 4.0


def _hip(
    necrosis_radius_mm: float, seed: int = 0, gain: float = 1.0, noise: float = 30.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(volume, head, necrosis): a femoral-head sphere of bright marrow in a dark cortical shell, axial slices.

    Necrosis: a ball around a subchondral point near the top of the head (on the slices above the equator),
    dark like necrotic bone on T1, reaching the surface through the shell. Blurred, with Gaussian noise.
    """
    rng = np.random.default_rng(seed)
    radius, cortex = 22.0, 1.5
    z = (np.arange(11) - 5) * SLICE_MM
    yx = (np.arange(64) - 31.5) * PIXEL_MM
    zz, yy, xx = np.meshgrid(z, yx, yx, indexing="ij")
    distance = np.sqrt(zz**2 + yy**2 + xx**2)
    head = distance < radius
    point = np.array([4.0, -(radius - 4.0) * 0.9, 0.0])  # z, y, x: a little above the equator, anterior
    necrosis = head & (np.sqrt((zz - point[0]) ** 2 + (yy - point[1]) ** 2 + (xx - point[2]) ** 2) < necrosis_radius_mm)
    image = np.full(head.shape, 650.0)  # muscle around the head
    image[head] = 90.0  # cortex
    image[distance < radius - cortex] = 1650.0  # fatty marrow
    image[necrosis] = 420.0
    image = np.stack([ndimage.gaussian_filter(s, 0.6) for s in image]) * gain
    return image + rng.normal(0, noise, image.shape), head, necrosis


def _key(head: np.ndarray) -> int:
    return int(np.argmax(head.reshape(len(head), -1).sum(axis=1)))


@pytest.mark.parametrize("radius_mm", [5.0, 6.0, 9.0, 12.0, 16.0])
def test_necrotic_ratio_on_the_key_slice_is_recovered(radius_mm: float) -> None:
    volume, head, truth = _hip(radius_mm)
    k = _key(head)
    true_percent = 100 * truth[k].sum() / head[k].sum()
    assert true_percent > 0.5, "the case must show necrosis on the key slice"
    found = extract_hip_necrosis(volume, head, PIXEL_MM)
    percent = 100 * found.mask[k].sum() / head[k].sum()
    # Measured 0.0-0.9 pp off (1.7-33 % necrosis); the app's target is 2 pp on mild hips.
    assert abs(percent - true_percent) < 1.5, (percent, true_percent)
    assert not (found.mask & ~head).any()
    assert found.reason.startswith("necrosis found")
    assert found.necrotic_level < 0.5 * found.marrow_level


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("gain", [0.6, 1.0, 1.6])
def test_a_healthy_head_gets_no_necrosis_whatever_the_gain(seed: int, gain: float) -> None:
    volume, head, _ = _hip(0.0, seed=seed, gain=gain)
    found = extract_hip_necrosis(volume, head, PIXEL_MM)
    assert not found.mask.any() and found.necrotic_level is None
    assert "no necrotic core" in found.reason
    k = _key(head)
    assert grade_from_counts(int(found.mask[k].sum()), int(head[k].sum())) is Grade.WITHOUT


def test_the_cortex_at_the_poles_is_not_necrosis() -> None:
    # Near a pole the slice cuts the shell obliquely: the cortex is several pixels wide there. With the plain
    # cortex width as the rim, those pixels are dark interior "necrosis" on a healthy head; the widened rim
    # leaves none, and the volume ratio stays at zero.
    volume, head, _ = _hip(0.0, noise=10.0)
    widths = rim_widths(head, PIXEL_MM)
    areas = head.reshape(len(head), -1).sum(axis=1)
    base = int(np.ceil(CORTEX_MM / PIXEL_MM))
    assert widths[_key(head)] == base
    assert widths[areas.argmin()] > base and widths.max() <= np.ceil(base * MAX_RIM_FACTOR)
    assert not extract_hip_necrosis(volume, head, PIXEL_MM).mask.any()


def test_small_necrosis_is_found_where_a_bimodality_test_gave_up() -> None:
    # About 2 % of the key slice: the case the issue reported as graded "Without ONFH".
    volume, head, truth = _hip(5.0, seed=5)
    k = _key(head)
    assert 1.0 < 100 * truth[k].sum() / head[k].sum() < 3.0
    found = extract_hip_necrosis(volume, head, PIXEL_MM)
    assert grade_from_counts(int(found.mask[k].sum()), int(head[k].sum())) is Grade.MILD


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match=r"volume \(2, 4, 4\) and head mask \(2, 3, 3\) must have one shape"):
        extract_hip_necrosis(np.zeros((2, 4, 4)), np.zeros((2, 3, 3), bool), 1.0)
    with pytest.raises(ValueError, match="pixel size must be positive"):
        extract_hip_necrosis(np.zeros((2, 4, 4)), np.zeros((2, 4, 4), bool), 0.0)
    empty = extract_hip_necrosis(np.zeros((2, 4, 4)), np.zeros((2, 4, 4), bool), 1.0)
    assert empty.reason == "empty femoral head mask" and not empty.mask.any()
