from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pictures.overlay import (
    caption,
    draw_boxes,
    draw_contours,
    enlarge,
    heatmap_overlay,
    png_bytes,
    window_to_uint8,
)


def test_window_maps_percentiles_to_full_range() -> None:
    image = np.linspace(0, 4095, 10000, dtype=np.float32).reshape(100, 100)
    out = window_to_uint8(image)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255


def test_window_refuses_an_inverted_window() -> None:
    with pytest.raises(ValueError, match=r"low_pct < high_pct.*got 90, 10"):
        window_to_uint8(np.zeros((4, 4)), low_pct=90, high_pct=10)


def test_heat_peak_is_red_where_the_heat_is() -> None:
    gray = np.full((64, 64), 128, np.uint8)
    heat = np.zeros((8, 8), np.float32)
    heat[1, 6] = 1.0  # top right
    rgb = heatmap_overlay(gray, heat, alpha=0.6)
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    r, g, b = rgb[12, 52].astype(int)
    assert r > 100 and r > 2 * b and r > 2 * g  # jet's hot end is red
    np.testing.assert_array_equal(rgb[60, 4], [128, 128, 128])  # no heat: the grey image unchanged


def test_heat_is_normalised_whatever_its_scale() -> None:
    gray = np.zeros((16, 16), np.uint8)
    heat = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_array_equal(heatmap_overlay(gray, heat * 1000 - 5), heatmap_overlay(gray, heat))


def test_heat_overlay_refuses_a_colour_base_image() -> None:
    with pytest.raises(ValueError, match=r"\(H, W\) uint8 grey image, got \(4, 4, 3\)"):
        heatmap_overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2)))


def test_boxes_are_drawn_where_asked() -> None:
    rgb = np.zeros((50, 80, 3), np.uint8)
    boxed = draw_boxes(rgb, np.array([[10, 20, 30, 40]]), ["LMAF 0.91"])
    assert tuple(boxed[30, 10]) == (255, 255, 0) and tuple(boxed[30, 30]) == (255, 255, 0)
    assert tuple(boxed[30, 20]) == (0, 0, 0)  # inside the box: untouched
    assert rgb.max() == 0  # the input is not drawn on
    with pytest.raises(ValueError, match="one label per box, got 1 boxes and 2 labels"):
        draw_boxes(rgb, np.array([[1, 1, 5, 5]]), ["a", "b"])


def test_contours_outline_the_mask() -> None:
    rgb = np.zeros((20, 20, 3), np.uint8)
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    out = draw_contours(rgb, mask, color=(255, 0, 0))
    painted = (out == [255, 0, 0]).all(axis=2)
    assert painted[5, 5:15].all() and painted[14, 5:15].all() and painted[5:15, 5].all()
    assert not painted[10, 10] and not painted[4, 4]  # inside and outside stay
    assert painted.sum() == 36  # the 10x10 square's one-pixel border
    with pytest.raises(ValueError, match=r"mask of the picture's shape \(20, 20\), got \(10, 10\)"):
        draw_contours(rgb, np.ones((10, 10), bool), (0, 0, 0))


def test_caption_and_png() -> None:
    rgb = np.zeros((50, 80, 3), np.uint8)
    captioned = caption(rgb, "DEMO")
    assert captioned.shape == (64, 80, 3) and captioned[:14].max() > 200
    np.testing.assert_array_equal(captioned[14:], rgb)
    wrapped = caption(rgb, "DEMO MODEL - NOT FOR CLINICAL USE | T1 coronal: no OLT p=0.03")
    assert wrapped.shape[0] >= 50 + 3 * 14  # three or more lines on an 80-pixel-wide image
    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(captioned))))
    np.testing.assert_array_equal(decoded, captioned)


def test_enlarge_only_scales_up_small_images() -> None:
    small = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert enlarge(small, min_size=8).shape == (8, 8)
    big = np.zeros((500, 400), np.uint8)
    assert enlarge(big, min_size=384) is big
