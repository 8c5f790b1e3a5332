from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from operators.series_selection import imaging_plane, mr_weighting
from phantoms.ankle_mri import ORIENTATION, write_ankle_mri_study
from tests.dicom_validation import dciodvfy_errors


@pytest.fixture(scope="module")
def lesion_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("ankle")
    return root, write_ankle_mri_study(root, "OLT0001", seed=3, has_lesion=True)


def _files(root: Path, truth: dict, series: dict) -> list[Path]:
    return sorted((root / truth["patient_id"] / series["folder"]).glob("*.dcm"))


def test_same_seed_same_bytes(tmp_path: Path, lesion_study) -> None:
    root, truth = lesion_study
    again = write_ankle_mri_study(tmp_path, "OLT0001", seed=3, has_lesion=True)
    assert again == truth
    series = truth["series"][1]
    for a, b in zip(_files(root, truth, series), _files(tmp_path, again, series), strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_headers_match_what_the_series_claims(lesion_study) -> None:
    root, truth = lesion_study
    for series in truth["series"]:
        files = _files(root, truth, series)
        ds = pydicom.dcmread(files[0])
        assert ds.StudyInstanceUID == truth["study_instance_uid"] and ds.Modality == "MR"
        pixels = ds.pixel_array
        assert pixels.min() >= 0 and pixels.max() <= (1 << ds.BitsStored) - 1
        if series["plane"] in ORIENTATION:
            assert imaging_plane(ds) == series["plane"]
            assert mr_weighting(ds) == series["weighting"]
            assert len(files) >= 10
        positions = [np.asarray(pydicom.dcmread(f).ImagePositionPatient, float) for f in files[:3]]
        if series["plane"] != "localizer":
            steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
            np.testing.assert_allclose(steps, float(ds.SpacingBetweenSlices), rtol=1e-3)


def test_lesion_is_dark_on_t1_and_bright_on_t2(lesion_study) -> None:
    root, truth = lesion_study
    centre = np.asarray(truth["lesion_center_mm"])
    for series in truth["series"]:
        if series["plane"] != "coronal" or series["weighting"] not in ("T1", "T2"):
            continue
        assert series["slices_with_lesion"], series
        middle = series["slices_with_lesion"][len(series["slices_with_lesion"]) // 2]
        ds = pydicom.dcmread(_files(root, truth, series)[middle - 1])
        image = ds.pixel_array.astype(float)
        origin, spacing = np.asarray(ds.ImagePositionPatient, float), float(ds.PixelSpacing[0])
        col, row = (
            int(round((centre[0] - origin[0]) / spacing)),
            int(round((origin[2] - centre[2]) / spacing)),
        )
        lesion = image[row - 1 : row + 2, col - 1 : col + 2].mean()
        marrow = image[row + 12 : row + 15, col - 1 : col + 2].mean()  # deeper in the talar body
        if series["weighting"] == "T1":
            assert lesion < 0.5 * marrow
        else:
            assert lesion > 2.0 * marrow


def test_a_lesion_free_patient_has_no_lesion_slices(tmp_path: Path) -> None:
    truth = write_ankle_mri_study(tmp_path, "OLT0002", seed=3, has_lesion=False)
    assert not truth["lesion"] and all(not s["slices_with_lesion"] for s in truth["series"])
    assert json.loads((tmp_path / "OLT0002" / "ground_truth.json").read_text()) == truth


def test_every_series_type_passes_dciodvfy(lesion_study) -> None:
    root, truth = lesion_study
    for series in truth["series"]:
        assert dciodvfy_errors(_files(root, truth, series)[0]) == [], series["description"]
