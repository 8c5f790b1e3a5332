from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from dicom_in.series_selection import imaging_plane, mr_weighting
from phantoms.ankle_mri import GROUND_TRUTH_FILE, ORIENTATION, generate_ankle_mri_dataset, write_ankle_mri_study
from tests.dicom_validation import dciodvfy_errors

TR_TE_MS = {"T1": ((400, 700), (10, 20)), "T2": ((3000, 5000), (60, 100)), "PD": ((2000, 4000), (20, 40))}


@pytest.fixture(scope="module")
def lesion_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("ankle")
    return root, write_ankle_mri_study(root, "OLT0001", seed=3, has_lesion=True)


def _files(root: Path, truth: dict[str, Any], series: dict[str, Any]) -> list[Path]:
    return sorted((root / truth["patient_id"] / series["folder"]).glob("*.dcm"))


def _main_series(truth: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in truth["series"] if s["weighting"] in ("T1", "T2") and s["plane"] in ("coronal", "sagittal")]


def test_same_seed_gives_identical_bytes(tmp_path: Path, lesion_study: tuple[Path, dict[str, Any]]) -> None:
    root, truth = lesion_study
    again = write_ankle_mri_study(tmp_path, "OLT0001", seed=3, has_lesion=True)
    assert again == truth
    assert (tmp_path / "OLT0001" / GROUND_TRUTH_FILE).read_bytes() == (
        root / "OLT0001" / GROUND_TRUTH_FILE
    ).read_bytes()
    for series in truth["series"]:
        for a, b in zip(_files(root, truth, series), _files(tmp_path, again, series), strict=True):
            assert a.read_bytes() == b.read_bytes(), a
    other = write_ankle_mri_study(tmp_path / "other", "OLT0001", seed=4, has_lesion=True)
    assert other["study_instance_uid"] != truth["study_instance_uid"]


def test_ground_truth_lists_every_series_with_its_files(lesion_study: tuple[Path, dict[str, Any]]) -> None:
    root, truth = lesion_study
    assert json.loads((root / "OLT0001" / GROUND_TRUTH_FILE).read_text()) == truth
    kinds = {(s["weighting"], s["plane"]) for s in truth["series"]}
    assert kinds == {
        ("other", "localizer"),
        ("T1", "coronal"),
        ("T1", "sagittal"),
        ("T2", "coronal"),
        ("T2", "sagittal"),
        ("PD", "sagittal"),
        ("T1", "axial"),
    }
    uids = {s["series_instance_uid"] for s in truth["series"]}
    assert len(uids) == len(truth["series"])
    for series in truth["series"]:
        files = _files(root, truth, series)
        assert [f.name for f in files] == [f"{n:04d}.dcm" for n in range(1, series["slices"] + 1)]
        assert series["folder"].startswith(f"{series['series_number']:02d}_")


def test_headers_match_the_plane_weighting_and_bit_depth(lesion_study: tuple[Path, dict[str, Any]]) -> None:
    root, truth = lesion_study
    for series in truth["series"]:
        datasets = [pydicom.dcmread(f) for f in _files(root, truth, series)]
        first = datasets[0]
        assert first.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert first.SOPClassUID == MRImageStorage and first.Modality == "MR"
        assert first.StudyInstanceUID == truth["study_instance_uid"]
        assert first.SeriesInstanceUID == series["series_instance_uid"]
        assert first.Laterality == truth["laterality"] and first.BodyPartExamined == "ANKLE"
        assert (first.Rows, first.Columns) == (series["rows"], series["columns"])
        assert first.HighBit == first.BitsStored - 1 and first.BitsAllocated == 16
        for ds in datasets:
            pixels = ds.pixel_array
            assert pixels.min() >= 0 and pixels.max() <= (1 << ds.BitsStored) - 1
            assert pixels.max() > (1 << ds.BitsStored) // 8, "image should use its bit range"
        if series["plane"] == "localizer":
            assert "LOCALIZER" in first.ImageType
            assert {imaging_plane(ds) for ds in datasets} == {"coronal", "sagittal", "axial"}
            continue
        assert imaging_plane(first) == series["plane"]
        assert mr_weighting(first) == series["weighting"]
        assert [float(v) for v in first.ImageOrientationPatient] == list(ORIENTATION[series["plane"]])
        (tr_low, tr_high), (te_low, te_high) = TR_TE_MS[series["weighting"]]
        assert tr_low <= float(first.RepetitionTime) <= tr_high and te_low <= float(first.EchoTime) <= te_high
        orientation = np.asarray(first.ImageOrientationPatient, float)
        normal = np.cross(orientation[:3], orientation[3:])
        positions = np.asarray([ds.ImagePositionPatient for ds in datasets], float)
        steps = np.diff(positions, axis=0)
        expected = np.outer(np.ones(len(steps)), normal) * float(first.SpacingBetweenSlices)
        np.testing.assert_allclose(steps, expected, atol=1e-3)
        np.testing.assert_allclose([float(ds.SliceLocation) for ds in datasets], positions @ normal, atol=1e-3)


def _region_means(ds: pydicom.Dataset, voxel: list[float], radius_mm: float) -> tuple[float, float]:
    """Mean of the lesion core and of the talar marrow a few mm beneath it, in one slice."""
    image = ds.pixel_array.astype(float)
    spacing = float(ds.PixelSpacing[0])
    rows, cols = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    d_col, d_row = (cols - voxel[0]) * spacing, (rows - voxel[1]) * spacing
    depth = (ds.InstanceNumber - 1 - voxel[2]) * float(ds.SpacingBetweenSlices)
    in_plane = np.sqrt(max(radius_mm**2 - depth**2, 0.0))
    core = np.hypot(d_col, d_row) < 0.6 * in_plane
    # Rows grow inferiorly in coronal and sagittal images: this band is deeper in the talar body.
    beneath = (np.abs(d_col) < 2.0) & (d_row > radius_mm + 2.5) & (d_row < radius_mm + 5.5)
    assert core.sum() >= 4 and beneath.sum() >= 4
    return float(image[core].mean()), float(image[beneath].mean())


def test_lesion_is_dark_on_t1_and_bright_on_t2(lesion_study: tuple[Path, dict[str, Any]]) -> None:
    root, truth = lesion_study
    assert truth["lesion"] and truth["lesion_side"] in ("medial", "lateral")
    for series in _main_series(truth):
        lesion_slices = series["slices_with_lesion"]
        assert 2 <= len(lesion_slices) <= 4, series
        assert set(lesion_slices) <= set(series["talus_slices"])
        voxel = series["lesion_center_voxel"]
        nearest = int(round(voxel[2])) + 1
        assert nearest in lesion_slices
        ds = pydicom.dcmread(_files(root, truth, series)[nearest - 1])
        lesion, marrow = _region_means(ds, voxel, truth["lesion_radius_mm"])
        if series["weighting"] == "T1":
            assert lesion < 0.5 * marrow, (series["description"], lesion, marrow)
        else:
            assert lesion > 2.0 * marrow, (series["description"], lesion, marrow)


def test_lesion_free_patient_has_no_lesion_anywhere(tmp_path: Path) -> None:
    truth = write_ankle_mri_study(tmp_path, "OLT0002", seed=3, has_lesion=False)
    assert not truth["lesion"] and truth["lesion_center_mm"] is None
    for series in truth["series"]:
        assert series["slices_with_lesion"] == [] and series["lesion_center_voxel"] is None
    assert all(len(s["talus_slices"]) >= 4 for s in _main_series(truth))


def test_dataset_draws_the_lesion_fraction_and_distractor_only_study(tmp_path: Path) -> None:
    truths = generate_ankle_mri_dataset(tmp_path, patients=2, seed=8, lesion_fraction=0.5, include_t2=False)
    assert [t["patient_id"] for t in truths] == ["OLT0001", "OLT0002"]
    assert sorted(t["lesion"] for t in truths) == [False, True]
    assert all(s["weighting"] != "T2" for t in truths for s in t["series"])
    distractors = write_ankle_mri_study(tmp_path, "DIS0001", seed=8, has_lesion=False, distractors_only=True)
    assert {s["plane"] for s in distractors["series"]} == {"localizer", "axial"}
    with pytest.raises(ValueError, match=r"lesion_fraction in \[0, 1\], got 1.5"):
        generate_ankle_mri_dataset(tmp_path, patients=2, seed=8, lesion_fraction=1.5)
    with pytest.raises(ValueError, match="at least 1 patient, got 0"):
        generate_ankle_mri_dataset(tmp_path, patients=0, seed=8)


def test_one_file_of_every_series_type_passes_dciodvfy(lesion_study: tuple[Path, dict[str, Any]]) -> None:
    root, truth = lesion_study
    for series in truth["series"]:
        assert dciodvfy_errors(_files(root, truth, series)[0]) == [], series["description"]
