"""RetinaNetBoxes (torch only) against MONAI's RetinaNetDetector, the reference: same boxes, scores and order.

Here on a random-weight detector (every anchor a candidate); tests/training/test_fragment_detector.py checks the
same on a trained one, crowded settings included.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from inference.box_detection import box_detector, detect_boxes
from inference.model_meta import DetectorGeometry, DetectorMeta
from inference.model_store import ModelStore
from inference.retinanet_boxes import RetinaNetBoxes, cell_anchors
from phantoms.ankle_xray import render_ankle_radiograph
from tests.model_fixtures import export_fixture_fragment_models, small_detector_geometry
from training.fragment_detector import anchor_generator, build_detector

# (rows, columns, fragment): the demo input size, and sizes that are not multiples of the coarsest stride (16),
# so the detector pads them and clips boxes to the unpadded image.
RADIOGRAPHS = [(256, 256, "LMAF"), (256, 256, "SFO"), (250, 203, "LMAF"), (190, 260, "SFO"), (131, 97, None)]


def _radiographs(rows: int, columns: int, fragment: str | None, seed: int) -> torch.Tensor:
    """A (2, 1, rows, columns) batch: a phantom mortise view and its mirror image."""
    rng = np.random.default_rng(seed)
    image = render_ankle_radiograph(
        rng, view="MORTISE", rows=rows, columns=columns, pixel_spacing_mm=300 / max(rows, columns), fragment=fragment
    ).image
    return torch.from_numpy(np.stack([image, np.ascontiguousarray(image[:, ::-1])]))[:, None]


def _assert_same_detections(network: torch.nn.Module, geometry: DetectorGeometry, images: torch.Tensor) -> int:
    """Both paths on one batch; returns how many boxes they found."""
    expected = detect_boxes(build_detector(network, geometry), images)
    found = detect_boxes(box_detector(network, geometry), images)
    assert len(found) == len(expected) == images.shape[0]
    for (boxes, scores), (ref_boxes, ref_scores) in zip(found, expected, strict=True):
        assert boxes.shape == ref_boxes.shape and scores.shape == ref_scores.shape
        np.testing.assert_allclose(boxes, ref_boxes, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(scores, ref_scores)  # same scores in the same order
    return sum(len(boxes) for boxes, _ in found)


@pytest.fixture(scope="module")
def fixture_detector(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, DetectorGeometry]:
    models = tmp_path_factory.mktemp("fragment_models")
    export_fixture_fragment_models(models, seed=3)
    model = ModelStore(models, "cpu", optimize=False).get("ankle_xray_detector", DetectorMeta)
    return model.module, model.meta.detector


@pytest.mark.parametrize(("rows", "columns", "fragment"), RADIOGRAPHS)
def test_fixture_detector_gives_monais_detections(
    fixture_detector, rows: int, columns: int, fragment: str | None
) -> None:
    network, geometry = fixture_detector
    assert geometry.score_thresh == 0.0  # random weights: every anchor is a candidate, top-k and NMS decide
    images = _radiographs(rows, columns, fragment, seed=7 * rows + columns)
    found = _assert_same_detections(network, geometry, images)
    assert found == images.shape[0] * geometry.detections_per_img
    _assert_same_detections(network, replace(geometry, topk_candidates_per_level=7, nms_thresh=0.5), images)


def test_cell_anchors_equal_monais_anchor_generator() -> None:
    geometry = small_detector_geometry((8, 16, 32), ((8.0, 8.0), (12.0, 6.0), (5.0, 9.0)))
    reference = anchor_generator(geometry).cell_anchors
    ours = cell_anchors(geometry)
    assert len(ours) == len(reference) == 3
    for mine, theirs in zip(ours, reference, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    # half of 5 px rounds to even (2): a 5 px anchor is 4 px wide at stride 8, 10 px at stride 16 (as MONAI's)
    assert [(c[:, 2] - c[:, 0]).tolist() for c in ours][:2] == [[8.0, 12.0, 4.0], [16.0, 24.0, 10.0]]


class _ListHead(torch.nn.Module):
    """A network without MONAI's attributes that returns [logits per level..., regressions per level...]."""

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        b, _, dim0, dim1 = images.shape
        generator = torch.Generator().manual_seed(dim0 * 1000 + dim1)
        logits = [torch.randn(b, 2, dim0 // s, dim1 // s, generator=generator) for s in (8, 16)]
        regressions = [0.3 * torch.randn(b, 8, dim0 // s, dim1 // s, generator=generator) for s in (8, 16)]
        return logits + regressions


def test_a_list_output_network_without_attributes_takes_the_geometry() -> None:
    geometry = small_detector_geometry((8, 16), ((8.0, 8.0), (12.0, 12.0)))
    assert RetinaNetBoxes(_ListHead(), geometry).size_divisible == (16, 16)
    images = torch.rand(3, 1, 75, 90)
    assert _assert_same_detections(_ListHead(), geometry, images) > 0


def test_a_network_with_another_anchor_count_is_refused() -> None:
    geometry = small_detector_geometry((8,), ((8.0, 8.0),))
    network = _ListHead()
    network.num_anchors = 2
    with pytest.raises(ValueError, match=r"feature map channels \(2\).*anchors at each location \(1\)"):
        RetinaNetBoxes(network, geometry)
