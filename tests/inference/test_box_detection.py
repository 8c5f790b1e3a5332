from __future__ import annotations

import numpy as np
import pytest
import torch

from operators.fragment_detection import (
    DETECTOR_META_KEY,
    anchor_generator_from_meta,
    crop_fragment,
    detect_boxes,
    detector_from_meta,
    to_detector_layout,
)


def _ramp(height: int = 40, width: int = 60) -> np.ndarray:
    """value = 1000 * row + column: any crop reveals where it came from."""
    rows, cols = np.mgrid[0:height, 0:width]
    return (1000.0 * rows + cols).astype(np.float32)


def test_crop_without_resampling_is_the_exact_window() -> None:
    image = _ramp()
    # box 10 px wide, 6 high, margin 0 → side 10, centred at (25, 18): columns 20..29, rows 13..22
    crop = crop_fragment(image, (20, 15, 30, 21), size=10, margin=0.0)
    np.testing.assert_allclose(crop, image[13:23, 20:30], atol=1e-2)


def test_crop_margin_resize_and_padding() -> None:
    image = _ramp()
    # side 10 * 1.2 = 12 sampled at 6 px: every other pixel centre lands half-way between two pixels
    crop = crop_fragment(image, (20, 15, 30, 25), size=6, margin=0.2)
    np.testing.assert_allclose(crop[0], 1000 * 14.5 + np.arange(19.5, 31, 2), atol=1e-2)
    # a box at the corner: what falls outside the image is zero, what falls inside is the image
    corner = crop_fragment(image, (0, 0, 4, 4), size=8, margin=1.0)
    np.testing.assert_allclose(corner[:2], 0, atol=1e-2)
    np.testing.assert_allclose(corner[:, :2], 0, atol=1e-2)
    np.testing.assert_allclose(corner[2:, 2:], image[:6, :6], atol=1e-2)
    with pytest.raises(ValueError, match="2D"):
        crop_fragment(image[None], (0, 0, 4, 4), size=8, margin=0.0)


def test_anchor_geometry_from_meta() -> None:
    meta = {"feature_map_strides": [8, 16], "base_anchor_shapes": [[8, 8], [12, 6]]}
    generator = anchor_generator_from_meta(meta)
    widths = [(c[:, 2] - c[:, 0]).tolist() for c in generator.cell_anchors]
    assert widths == [[8.0, 12.0], [16.0, 24.0]]
    images = torch.zeros(1, 1, 32, 64)
    assert to_detector_layout(images).shape == (1, 1, 64, 32)


class _FixedHead(torch.nn.Module):
    """A 'network' that fires one anchor: tells whether detect_boxes returns x = column."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial_dims, self.num_classes, self.size_divisible, self.num_anchors = 2, 1, (8, 8), 1
        self.cls_key, self.box_reg_key = "classification", "box_regression"

    def forward(self, images: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        b, _, dim0, dim1 = images.shape
        logits = torch.full((b, 1, dim0 // 8, dim1 // 8), -10.0)
        logits[:, 0, 5, 1] = 10.0  # dim0 index 5 = column cell 5 after the transpose
        return {self.cls_key: [logits], self.box_reg_key: [torch.zeros(b, 4, dim0 // 8, dim1 // 8)]}


def test_detect_boxes_returns_column_x_and_uses_meta_thresholds() -> None:
    geometry = {
        "feature_map_strides": [8],
        "base_anchor_shapes": [[8, 8]],
        "score_thresh": 0.5,
        "nms_thresh": 0.3,
        "detections_per_img": 3,
        "topk_candidates_per_level": 10,
    }
    detector = detector_from_meta(_FixedHead(), {DETECTOR_META_KEY: geometry})
    assert detector.box_selector.score_thresh == 0.5 and detector.box_selector.detections_per_img == 3
    [(boxes, scores)] = detect_boxes(detector, torch.zeros(1, 1, 32, 64))  # H=32, W=64
    # cell (column 5, row 1) of stride 8 → centre (44, 12), anchor 8x8
    np.testing.assert_allclose(boxes, [[40, 8, 48, 16]])
    assert scores.shape == (1,) and scores[0] > 0.99
    with pytest.raises(ValueError, match="B, C, H, W"):
        detect_boxes(detector, torch.zeros(1, 32, 64))
