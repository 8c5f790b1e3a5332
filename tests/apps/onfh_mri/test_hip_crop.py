from __future__ import annotations

import numpy as np
from scipy import ndimage

from apps.onfh_mri.hip_crop import HipCrop, normalise_crop


def _disc(shape: tuple[int, int], center: tuple[float, float], radius: float) -> np.ndarray:
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    return (np.hypot(rr - center[0], cc - center[1]) <= radius).astype(np.float32)


def test_crop_is_centred_and_scaled_by_physical_size() -> None:
    image = _disc((200, 240), (90.0, 130.0), 25.0)  # 25 px at 0.5 mm = 12.5 mm radius
    crop = HipCrop((90.0, 130.0), side_mm=50.0, size=100, pixel_spacing=(0.5, 0.5)).crop(image)
    assert crop.shape == (100, 100)
    rows, cols = np.nonzero(crop >= 0.5)
    assert abs(rows.mean() - 49.5) < 0.5 and abs(cols.mean() - 49.5) < 0.5
    # 50 mm over 100 px = 0.5 mm per crop pixel, the source's own spacing: the radius stays 25 px.
    assert abs(np.sqrt((crop >= 0.5).sum() / np.pi) - 25.0) < 1.0


def test_uncrop_returns_a_mask_to_the_source_grid() -> None:
    shape = (180, 200)
    disc = _disc(shape, (70.0, 120.0), 20.0)
    crop = HipCrop((75.0, 115.0), side_mm=80.0, size=256, pixel_spacing=(0.6, 0.8))
    back = crop.uncrop(crop.crop(disc), shape) >= 0.5
    overlap = 2 * np.logical_and(back, disc > 0).sum() / (back.sum() + disc.sum())
    assert overlap > 0.97
    far = np.zeros(shape, bool)
    far[:, :40] = True  # outside the crop: nothing comes back there
    assert not back[far].any()


def test_uncrop_equals_resampling_the_whole_slice() -> None:
    """uncrop resamples only the crop's window; every other source pixel must read exactly what it would."""
    rng = np.random.default_rng(5)
    values = rng.random((64, 64)).astype(np.float32)
    for centre in [(90.0, 100.0), (-20.0, 40.0), (170.0, 210.0), (400.0, 400.0)]:  # inside, over edges, outside
        crop = HipCrop(centre, side_mm=60.0, size=64, pixel_spacing=(0.7, 0.9))
        sr, sc = crop._scale()
        rows = (np.arange(180) - centre[0]) / sr + 31.5
        cols = (np.arange(220) - centre[1]) / sc + 31.5
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        whole = ndimage.map_coordinates(values, [rr, cc], order=1, mode="constant", cval=0.0)
        np.testing.assert_array_equal(crop.uncrop(values, (180, 220)), whole)


def test_normalise_crop_scales_to_unit_range_robustly() -> None:
    crop = np.linspace(0, 1000, 10000, dtype=np.float32).reshape(100, 100)
    crop[0, 0] = 1e6  # one hot pixel must not squash everything else
    out = normalise_crop(crop)
    assert out.min() == 0.0 and out.max() == 1.0
    assert 0.45 < float(np.median(out)) < 0.55
