from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from dicom_out.sc_builder import build_secondary_capture, patient_orientation
from tests.dicom_factory import mr_slice
from tests.dicom_validation import PATIENT_AND_STUDY, dciodvfy_errors


def _write(source: Dataset, rgb: np.ndarray, path: Path) -> Path:
    sc = build_secondary_capture(
        source,
        rgb,
        series_instance_uid="1.2.826.0.2.3",
        sop_instance_uid="1.2.826.0.2.4",
        series_number=9002,
        series_description="msk-maps olt_mri key slice (DEMO)",
    )
    sc.save_as(path, enforce_file_format=True)
    return path


def test_sc_is_valid_keeps_pixels_and_study(tmp_path: Path) -> None:
    source = mr_slice("1.2.826.0.2.1", "1.2.826.0.2.2", plane="sagittal", patient_id="PAT7")
    rgb = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    path = _write(source, rgb, tmp_path / "sc.dcm")
    assert dciodvfy_errors(path) == []
    read = pydicom.dcmread(path)
    np.testing.assert_array_equal(read.pixel_array, rgb)
    for keyword in PATIENT_AND_STUDY:
        assert read.get(keyword) == source.get(keyword), keyword
    assert read.SeriesInstanceUID == "1.2.826.0.2.3" and read.Laterality == "R"
    assert read.SeriesDescription == "msk-maps olt_mri key slice (DEMO)"
    assert list(read.PatientOrientation) == ["P", "F"]  # sagittal rows run posterior, columns to the feet


def test_sc_of_a_source_without_laterality_or_geometry_leaves_them_unknown(tmp_path: Path) -> None:
    source = mr_slice("1.2.826.0.2.1", "1.2.826.0.2.2")
    del source.Laterality, source.ImageOrientationPatient, source.ImagePositionPatient
    path = _write(source, np.zeros((8, 8, 3), np.uint8), tmp_path / "sc.dcm")
    assert dciodvfy_errors(path) == []
    read = pydicom.dcmread(path)
    assert read.Laterality == "" and read.PatientOrientation == ""


def test_sc_of_pydicom_mr_small_is_valid(tmp_path: Path) -> None:
    source = pydicom.dcmread(pydicom.data.get_testdata_file("MR_small.dcm"))
    rgb = np.full((16, 24, 3), (10, 200, 30), np.uint8)
    path = _write(source, rgb, tmp_path / "sc.dcm")
    assert dciodvfy_errors(path) == []
    read = pydicom.dcmread(path)
    np.testing.assert_array_equal(read.pixel_array, rgb)
    assert read.StudyInstanceUID == source.StudyInstanceUID


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"ImageOrientationPatient": [1, 0, 0, 0, 1, 0]}, ("L", "P")),  # axial
        ({"ImageOrientationPatient": [-1, 0, 0, 0, 0, -1]}, ("R", "F")),  # coronal, flipped rows
        ({"ImageOrientationPatient": [0.9, 0.1, 0, 0, 0.2, -0.98]}, ("L", "F")),  # oblique: dominant axes
        ({"PatientOrientation": ["A", "FR"]}, ("A", "F")),  # the source's own, first letter
        ({}, None),
    ],
)
def test_patient_orientation(attributes: dict, expected: tuple[str, str] | None) -> None:
    source = Dataset()
    for keyword, value in attributes.items():
        setattr(source, keyword, value)
    assert patient_orientation(source) == expected


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
