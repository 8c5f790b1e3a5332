from __future__ import annotations

import numpy as np
import pytest

from inference.model_meta import ClassifierMeta, parse_model_meta
from inference.preprocess import scale_to_unit
from inference.square_crop import crop_model_input, crop_square


def _meta(**overrides) -> ClassifierMeta:
    meta = {
        "name": "crop",
        "version": "1",
        "task": "classification",
        "labels": ["SFO", "LMAF"],
        "outputs": ["probabilities", "cam"],
        "threshold": 0.5,
        "input_size": [32, 32],
        "channels": 1,
        "mean": [0.5],
        "std": [0.25],
        "crop": {"margin": 0.5},
        **overrides,
    }
    return parse_model_meta(meta)


def _ramp(height: int = 40, width: int = 60) -> np.ndarray:
    """value = 1000 * row + column: any crop reveals where it came from."""
    rows, cols = np.mgrid[0:height, 0:width]
    return (1000.0 * rows + cols).astype(np.float32)


def test_crop_without_resampling_is_the_exact_window() -> None:
    image = _ramp()
    # box 10 px wide, 6 high, margin 0 → side 10, centred at (25, 18): columns 20..29, rows 13..22
    crop = crop_square(image, (20, 15, 30, 21), size=10, margin=0.0)
    np.testing.assert_allclose(crop, image[13:23, 20:30], atol=1e-2)


def test_crop_margin_resize_and_padding() -> None:
    image = _ramp()
    # side 10 * 1.2 = 12 sampled at 6 px: every other pixel centre lands half-way between two pixels
    crop = crop_square(image, (20, 15, 30, 25), size=6, margin=0.2)
    np.testing.assert_allclose(crop[0], 1000 * 14.5 + np.arange(19.5, 31, 2), atol=1e-2)
    # a box at the corner: what falls outside the image is zero, what falls inside is the image
    corner = crop_square(image, (0, 0, 4, 4), size=8, margin=1.0)
    np.testing.assert_allclose(corner[:2], 0, atol=1e-2)
    np.testing.assert_allclose(corner[:, :2], 0, atol=1e-2)
    np.testing.assert_allclose(corner[2:, 2:], image[:6, :6], atol=1e-2)
    with pytest.raises(ValueError, match="2D"):
        crop_square(image[None], (0, 0, 4, 4), size=8, margin=0.0)


def test_crop_is_centred_on_the_box_windowed_and_normalised() -> None:
    image = np.full((200, 300), 100.0, np.float32)
    image[90:110, 140:160] = 4000.0  # a bright 20x20 fragment at x 140-160, y 90-110
    crop = crop_model_input(scale_to_unit(image), (140.0, 90.0, 160.0, 110.0), _meta())
    assert crop.shape == (1, 32, 32) and crop.dtype == np.float32
    # side = 20 * 1.5 = 30 px of source over 32 crop pixels: the fragment fills the middle two thirds.
    scaled = crop[0] * 0.25 + 0.5  # undo the meta's normalisation: back to the [0, 1] window
    assert scaled[16, 16] == np.float32(1.0) and scaled[0, 0] == np.float32(0.0)
    bright = np.argwhere(scaled > 0.5)
    assert abs(bright.mean(axis=0) - 15.5).max() < 0.6


def test_channels_are_replicated_for_three_channel_models() -> None:
    image = np.random.default_rng(0).normal(1000, 50, (64, 64)).astype(np.float32)
    meta = _meta(channels=3, mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0])
    crop = crop_model_input(scale_to_unit(image), (10.0, 10.0, 30.0, 30.0), meta)
    assert crop.shape == (3, 32, 32)
    assert np.array_equal(crop[0], crop[1]) and np.array_equal(crop[1], crop[2])


def test_a_classifier_without_crop_geometry_is_refused() -> None:
    meta = parse_model_meta({**_meta().raw, "crop": None})
    with pytest.raises(ValueError, match="not a crop classifier"):
        crop_model_input(np.zeros((16, 16), np.float32), (1.0, 1.0, 5.0, 5.0), meta)
