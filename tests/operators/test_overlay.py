from __future__ import annotations

import io

import numpy as np
from PIL import Image

from operators.overlay import caption, draw_boxes, enlarge, heatmap_overlay, png_bytes, window_to_uint8


def test_window_maps_percentiles_to_full_range() -> None:
    image = np.linspace(0, 4095, 10000, dtype=np.float32).reshape(100, 100)
    out = window_to_uint8(image)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255


def test_heat_peak_is_red_where_the_heat_is() -> None:
    gray = np.full((64, 64), 128, np.uint8)
    heat = np.zeros((8, 8), np.float32)
    heat[1, 6] = 1.0  # top right
    rgb = heatmap_overlay(gray, heat, alpha=0.6)
    assert rgb.shape == (64, 64, 3)
    r, g, b = rgb[12, 52].astype(int)
    assert r > 100 and r > 2 * b and r > 2 * g  # jet's hot end is red
    np.testing.assert_array_equal(rgb[60, 4], [128, 128, 128])  # no heat: the grey image unchanged


def test_boxes_caption_and_png() -> None:
    rgb = np.zeros((50, 80, 3), np.uint8)
    boxed = draw_boxes(rgb, np.array([[10, 20, 30, 40]]), ["LMAF 0.91"])
    assert tuple(boxed[30, 10]) == (255, 255, 0) and tuple(boxed[30, 20]) == (0, 0, 0)
    captioned = caption(boxed, "DEMO")
    assert captioned.shape == (64, 80, 3) and captioned[:14].max() > 200
    wrapped = caption(boxed, "DEMO MODEL - NOT FOR CLINICAL USE | T1 coronal: no OLT p=0.03")
    assert wrapped.shape[0] >= 50 + 3 * 14  # three or more lines on an 80-pixel-wide image
    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(captioned))))
    np.testing.assert_array_equal(decoded, captioned)


def test_enlarge_only_scales_up_small_images() -> None:
    small = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert enlarge(small, min_size=8).shape == (8, 8)
    big = np.zeros((500, 400), np.uint8)
    assert enlarge(big, min_size=384) is big
