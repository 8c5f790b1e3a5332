"""A study's objects on disk: the key images of one SC series agree on the series' attributes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from dicom_out import codes
from dicom_out.findings import Algorithm, Finding, KeyImage, StudyReport
from dicom_out.study_objects import write_study_objects
from tests.dicom_factory import mr_slice
from tests.dicom_validation import dciodvfy_errors

STUDY = "1.2.826.0.2.10"


def _key(index: int, description: str) -> KeyImage:
    source = mr_slice(STUDY, "1.2.826.0.2.11", index=index)
    rgb = np.full((16, 16, 3), 40 * index, np.uint8)
    return KeyImage(source=source, rgb=rgb, description=description, name=f"key_{index}")


def test_key_images_share_one_series_description_and_keep_their_captions(tmp_path: Path) -> None:
    keys = [_key(0, "msk-maps test key slice T1 coronal"), _key(1, "msk-maps test key slice T2 coronal")]
    report = StudyReport(
        study_uid=STUDY,
        algorithm=Algorithm("msk-maps test", "1.0"),
        findings=[Finding("T1 coronal", codes.FINDING, False, source_images=[keys[0].source])],
        summary="nothing",
    )
    files = write_study_objects(tmp_path, "test", report, keys, [], keys[0].source)
    captures = [pydicom.dcmread(tmp_path / name) for name in files if name.endswith("_sc.dcm")]
    assert len(captures) == 2 and len({str(sc.SeriesInstanceUID) for sc in captures}) == 1
    # one value per series (OHIF labels the whole series with it), each picture's caption in ImageComments
    assert {str(sc.SeriesDescription) for sc in captures} == {"msk-maps test key images"}
    assert [str(sc.ImageComments) for sc in captures] == [k.description for k in keys]
    assert all(dciodvfy_errors(tmp_path / name) == [] for name in files if name.endswith("_sc.dcm"))

    single = tmp_path / "single"
    files = write_study_objects(single, "test", report, keys[:1], [], keys[0].source)
    [capture] = [pydicom.dcmread(single / name) for name in files if name.endswith("_sc.dcm")]
    assert capture.SeriesDescription == keys[0].description
