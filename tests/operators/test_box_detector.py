from __future__ import annotations

import pytest

from operators.box_detector import to_source_box


def test_boxes_map_back_per_axis_and_clip_to_the_image() -> None:
    # A 256x256 model input made from a 512-row, 384-column radiograph.
    assert to_source_box((64.0, 32.0, 128.0, 96.0), (256, 256), (512, 384)) == pytest.approx((96, 64, 192, 192))
    assert to_source_box((-5.0, 250.0, 10.0, 300.0), (256, 256), (512, 384)) == pytest.approx((0, 500, 15, 512))
