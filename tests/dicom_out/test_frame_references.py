"""SR image references and SEG source references name frames where the source is a multi-frame image."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.uid import ComputedRadiographyImageStorage, generate_uid

from dicom_in.frames import frame_headers
from dicom_out import codes as dc
from dicom_out.findings import Algorithm, Finding, Segment, SegmentationResult, StudyReport
from dicom_out.seg_builder import build_segmentation
from dicom_out.sr_builder import build_measurement_report
from dicom_out.sr_content import box_region
from tests.dicom_factory import mr_slice
from tests.dicom_validation import dciodvfy_errors
from tests.multiframe import legacy_converted

STUDY = "1.2.826.0.1.88"
ALGORITHM = Algorithm("msk-maps test", "1.0")


@pytest.fixture(scope="module")
def frames() -> list[pydicom.Dataset]:
    series = generate_uid(entropy_srcs=["references"])
    rng = np.random.default_rng(4)
    slices = [mr_slice(STUDY, series, index=i, pixels=rng.integers(0, 4096, (32, 32))) for i in range(5)]
    return frame_headers(legacy_converted(slices))


def _sr(findings: list[Finding], source: pydicom.Dataset, path: Path) -> hd.sr.Comprehensive3DSR:
    report = StudyReport(STUDY, ALGORITHM, findings, "summary")
    sr = build_measurement_report(
        report, source, series_instance_uid="1.2.826.0.1.88.1", sop_instance_uid="1.2.826.0.1.88.2", series_number=9
    )
    sr.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []
    return hd.sr.srread(path)


def test_sr_regions_and_source_images_carry_frame_numbers(frames: list[pydicom.Dataset], tmp_path: Path) -> None:
    key, other = frames[2], frames[4]
    uid = str(key.SOPInstanceUID)
    with_box = Finding("box", dc.LESION, True, 0.9, region=box_region(uid, (2, 3, 10, 12)), source_images=[key])
    on_two = Finding("two frames", dc.LESION, False, source_images=[key, other])
    sr = _sr([with_box, on_two], key, tmp_path / "sr.dcm")
    region = sr.content.get_planar_roi_measurement_groups()[0].roi
    reference = region.ContentSequence[0].ReferencedSOPSequence[0]
    assert reference.ReferencedSOPInstanceUID == uid and reference.ReferencedFrameNumber == 3
    (source,) = sr.content.get_image_measurement_groups()[0].source_images  # one reference for both frames
    assert source.referenced_sop_instance_uid == uid and source.referenced_frame_numbers == [3, 5]


def test_seg_references_the_multi_frame_source_by_frame(frames: list[pydicom.Dataset], tmp_path: Path) -> None:
    masks = np.zeros((len(frames), 32, 32, 1), bool)
    masks[1, 4:9, 5:12, 0] = True
    result = SegmentationResult(frames, masks, [Segment("head", dc.ANATOMICAL_STRUCTURE, dc.FEMORAL_HEAD)], "seg")
    seg = build_segmentation(
        result, ALGORITHM, series_instance_uid="1.2.826.0.1.88.3", sop_instance_uid="1.2.826.0.1.88.4", series_number=10
    )
    seg.save_as(tmp_path / "seg.dcm", enforce_file_format=True)
    assert dciodvfy_errors(tmp_path / "seg.dcm") == []
    read = hd.seg.segread(tmp_path / "seg.dcm")
    source = read.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
    assert source.ReferencedSOPInstanceUID == frames[0].SOPInstanceUID and source.ReferencedFrameNumber == 2
    uid = str(frames[0].SOPInstanceUID)
    # Frames without a segment are omitted; a reader asks for them as empty.
    on_frame = read.get_pixels_by_source_frame(
        uid, source_frame_numbers=[2, 3], ignore_spatial_locations=True, assert_missing_frames_are_empty=True
    )
    assert int(on_frame[0].sum()) == 35 and int(on_frame[1].sum()) == 0


def test_frames_of_a_file_whose_iod_has_none_are_referenced_by_instance(tmp_path: Path) -> None:
    ds = mr_slice(STUDY, "1.2.826.0.1.88.7", pixels=np.zeros((16, 16)))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = ComputedRadiographyImageStorage
    ds.Modality, ds.NumberOfFrames = "CR", 2  # several frames in a CR file: outside the standard, seen in archives
    views = frame_headers(ds)
    finding = Finding(
        "box", dc.LESION, True, 0.5, region=box_region(str(ds.SOPInstanceUID), (1, 1, 5, 5)), source_images=[views[1]]
    )
    sr = _sr([finding], views[1], tmp_path / "sr.dcm")
    reference = sr.content.get_planar_roi_measurement_groups()[0].roi.ContentSequence[0].ReferencedSOPSequence[0]
    assert reference.ReferencedSOPInstanceUID == ds.SOPInstanceUID and "ReferencedFrameNumber" not in reference
