from __future__ import annotations

import numpy as np

from operators.crop_classifier import crop_model_input
from operators.preprocess import scale_to_unit

META = {"input_size": [32, 32], "channels": 1, "mean": [0.5], "std": [0.25], "crop": {"margin": 0.5}}


def test_crop_is_centred_on_the_box_windowed_and_normalised() -> None:
    image = np.full((200, 300), 100.0, np.float32)
    image[90:110, 140:160] = 4000.0  # a bright 20x20 fragment at x 140-160, y 90-110
    crop = crop_model_input(scale_to_unit(image), (140.0, 90.0, 160.0, 110.0), META)
    assert crop.shape == (1, 32, 32) and crop.dtype == np.float32
    # side = 20 * 1.5 = 30 px of source over 32 crop pixels: the fragment fills the middle two thirds.
    scaled = crop[0] * 0.25 + 0.5  # undo the meta's normalisation: back to the [0, 1] window
    assert scaled[16, 16] == np.float32(1.0) and scaled[0, 0] == np.float32(0.0)
    bright = np.argwhere(scaled > 0.5)
    assert abs(bright.mean(axis=0) - 15.5).max() < 0.6


def test_channels_are_replicated_for_three_channel_models() -> None:
    image = np.random.default_rng(0).normal(1000, 50, (64, 64)).astype(np.float32)
    meta = {**META, "channels": 3, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    crop = crop_model_input(scale_to_unit(image), (10.0, 10.0, 30.0, 30.0), meta)
    assert crop.shape == (3, 32, 32)
    assert np.array_equal(crop[0], crop[1]) and np.array_equal(crop[1], crop[2])
