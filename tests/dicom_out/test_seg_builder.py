from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pytest

from dicom_out import codes as dc
from dicom_out.findings import Algorithm, Segment, SegmentationResult
from dicom_out.seg_builder import build_segmentation
from tests.dicom_factory import mr_slice
from tests.dicom_validation import dciodvfy_errors

STUDY, SERIES = "1.2.826.0.1.7", "1.2.826.0.1.7.1"
SEGMENTS = [
    Segment("Right femoral head", dc.ANATOMICAL_STRUCTURE, dc.FEMORAL_HEAD, dc.HIP_JOINT, dc.RIGHT),
    Segment(
        "Right femoral head necrosis", dc.MORPHOLOGICALLY_ABNORMAL_STRUCTURE, dc.NECROSIS, dc.FEMORAL_HEAD, dc.RIGHT
    ),
]


def _result(frames: int = 3) -> SegmentationResult:
    sources = [mr_slice(STUDY, SERIES, plane="axial", index=i, description="AX T1") for i in range(frames)]
    masks = np.zeros((frames, 16, 16, 2), bool)
    masks[1, 4:12, 4:12, 0] = True
    masks[1, 4:7, 4:7, 1] = True
    masks[2, 6:9, 6:9, 0] = True
    return SegmentationResult(sources, masks, SEGMENTS, "test segmentation")


def _build(result: SegmentationResult) -> hd.seg.Segmentation:
    return build_segmentation(
        result,
        Algorithm("msk-maps onfh_mri", "0.1.0"),
        series_instance_uid="1.2.826.0.1.7.9",
        sop_instance_uid="1.2.826.0.1.7.9.1",
        series_number=9003,
    )


def test_seg_is_valid_and_reads_back_frame_for_frame(tmp_path: Path) -> None:
    result = _result()
    path = tmp_path / "seg.dcm"
    _build(result).save_as(path)
    assert dciodvfy_errors(path) == []
    seg = hd.seg.segread(path)
    assert seg.StudyInstanceUID == STUDY and seg.SeriesNumber == 9003
    uids = [str(s.SOPInstanceUID) for s in result.source_images]
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, segment_numbers=[1, 2], ignore_spatial_locations=True
    )
    assert np.array_equal(pixels.astype(bool), result.masks)
    assert seg.NumberOfFrames == 3  # only (slice, segment) pairs with pixels; slice 0 reads back empty anyway
    labels = [seg.get_segment_description(n).segment_label for n in seg.segment_numbers]
    assert labels == [s.label for s in SEGMENTS]


def test_a_segment_with_no_pixels_is_still_described_and_reads_back_empty(tmp_path: Path) -> None:
    result = _result()
    result.masks[..., 1] = False
    path = tmp_path / "seg.dcm"
    _build(result).save_as(path)
    assert dciodvfy_errors(path) == []
    seg = hd.seg.segread(path)
    assert list(seg.segment_numbers) == [1, 2]
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[str(s.SOPInstanceUID) for s in result.source_images],
        segment_numbers=[2],
        ignore_spatial_locations=True,
    )
    assert not pixels.any()


def test_laterality_is_an_anatomic_region_modifier(tmp_path: Path) -> None:
    seg = _build(_result())
    region = seg.SegmentSequence[0].AnatomicRegionSequence[0]
    assert region.CodeValue == dc.HIP_JOINT.value
    assert region.AnatomicRegionModifierSequence[0].CodeValue == dc.RIGHT.value


def test_masks_of_the_wrong_shape_are_refused() -> None:
    result = _result()
    result.masks = result.masks[:, :8]
    with pytest.raises(ValueError, match="expected masks of shape"):
        _build(result)
