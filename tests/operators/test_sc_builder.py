from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from operators.sc_builder import build_secondary_capture
from tests.dicom_factory import mr_slice
from tests.dicom_validation import dciodvfy_errors


def test_sc_is_valid_keeps_pixels_and_study(tmp_path: Path) -> None:
    source = mr_slice("1.2.826.0.2.1", "1.2.826.0.2.2", plane="sagittal", patient_id="PAT7")
    rgb = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    sc = build_secondary_capture(
        source,
        rgb,
        series_instance_uid="1.2.826.0.2.3",
        sop_instance_uid="1.2.826.0.2.4",
        series_number=9002,
        series_description="key slice",
    )
    path = tmp_path / "sc.dcm"
    sc.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []
    read = pydicom.dcmread(path)
    np.testing.assert_array_equal(read.pixel_array, rgb)
    assert (read.PatientID, read.StudyInstanceUID, read.Laterality) == ("PAT7", "1.2.826.0.2.1", "R")
    assert list(read.PatientOrientation) == ["P", "F"]  # sagittal rows run posterior, columns to the feet


def test_sc_rejects_a_grey_picture() -> None:
    source = mr_slice("1.2.3", "1.2.3.1")
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 picture, got \(4, 4\)"):
        build_secondary_capture(
            source,
            np.zeros((4, 4), np.uint8),
            series_instance_uid="1.2.3.2",
            sop_instance_uid="1.2.3.3",
            series_number=1,
            series_description="x",
        )
