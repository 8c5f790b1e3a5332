from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.box_detection import box_detector, detect_boxes, to_detector_layout, to_source_box
from tests.model_fixtures import small_detector_geometry
from training.fragment_detector import build_detector


def test_images_go_to_the_detector_columns_first() -> None:
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


@pytest.mark.parametrize("build", [box_detector, build_detector], ids=["app", "monai"])
def test_detect_boxes_returns_column_x_and_uses_meta_thresholds(build) -> None:
    detector = build(_FixedHead(), small_detector_geometry())
    [(boxes, scores)] = detect_boxes(detector, torch.zeros(1, 1, 32, 64))  # H=32, W=64
    # cell (column 5, row 1) of stride 8 → centre (44, 12), anchor 8x8
    np.testing.assert_allclose(boxes, [[40, 8, 48, 16]])
    assert scores.shape == (1,) and scores[0] > 0.99
    with pytest.raises(ValueError, match="B, C, H, W"):
        detect_boxes(detector, torch.zeros(1, 32, 64))


def test_boxes_map_back_per_axis_and_clip_to_the_image() -> None:
    # A 256x256 model input made from a 512-row, 384-column radiograph.
    assert to_source_box((64.0, 32.0, 128.0, 96.0), (256, 256), (512, 384)) == pytest.approx((96, 64, 192, 192))
    assert to_source_box((-5.0, 250.0, 10.0, 300.0), (256, 256), (512, 384)) == pytest.approx((0, 500, 15, 512))
