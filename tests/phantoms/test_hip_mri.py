from __future__ import annotations

import argparse
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from apps.onfh_mri.grading import Grade, grade_from_counts
from dicom_in.series_selection import imaging_plane, mr_weighting
from phantoms.hip_mri import (
    GROUND_TRUTH_FILE,
    MASKS_FILE,
    ORIENTATION,
    TISSUES,
    Hip,
    Pelvis,
    SliceGrid,
    add_subcommand,
    generate_hip_mri_dataset,
    hip_labels,
    write_hip_mri_study,
)
from tests.dicom_validation import dciodvfy_errors

SEED = 11
LABELS = {"R": 1, "L": 2}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("hips")
    return root, generate_hip_mri_dataset(root, patients=12, seed=SEED)


def _series_files(root: Path, truth: dict[str, Any], folder: str) -> list[Path]:
    files = [pydicom.dcmread(f, stop_before_pixels=True) for f in (root / truth["patient_id"] / folder).glob("*.dcm")]
    order = sorted(range(len(files)), key=lambda i: int(files[i].InstanceNumber))
    paths = list((root / truth["patient_id"] / folder).glob("*.dcm"))
    return [paths[i] for i in order]


def _t1(root: Path, truth: dict[str, Any]) -> tuple[list[pydicom.Dataset], dict[str, np.ndarray]]:
    datasets = [pydicom.dcmread(f) for f in _series_files(root, truth, truth["t1_folder"])]
    with np.load(root / truth["patient_id"] / MASKS_FILE) as masks:
        return datasets, {name: masks[name] for name in ("head", "necrosis")}


def _all_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    first = generate_hip_mri_dataset(tmp_path / "a", patients=1, seed=5)
    again = generate_hip_mri_dataset(tmp_path / "b", patients=1, seed=5)
    assert first == again
    files_a, files_b = _all_files(tmp_path / "a"), _all_files(tmp_path / "b")
    assert MASKS_FILE in {Path(name).name for name in files_a}
    assert len(files_a) > 40 and files_a == files_b
    other = generate_hip_mri_dataset(tmp_path / "c", patients=1, seed=6)
    assert other[0]["study_instance_uid"] != first[0]["study_instance_uid"]
    assert other[0]["patient_id"] == "HP0000"


def test_ground_truth_file_and_uids_describe_the_t1_series(dataset: tuple[Path, list[dict[str, Any]]]) -> None:
    root, truths = dataset
    assert [t["patient_id"] for t in truths] == [f"HP{i:04d}" for i in range(12)]
    for truth in truths:
        assert json.loads((root / truth["patient_id"] / GROUND_TRUTH_FILE).read_text()) == truth
        assert truth["kind"] == "hip-mri" and set(truth["hips"]) == {"R", "L"}
        datasets, masks = _t1(root, truth)
        assert [int(ds.InstanceNumber) for ds in datasets] == list(range(1, len(datasets) + 1))
        assert [ds.SOPInstanceUID for ds in datasets] == truth["sop_instance_uids"]
        assert {ds.SeriesInstanceUID for ds in datasets} == {truth["t1_series_instance_uid"]}
        assert masks["head"].shape == masks["necrosis"].shape == (len(datasets), datasets[0].Rows, datasets[0].Columns)
        assert masks["head"].dtype == masks["necrosis"].dtype == np.uint8
        for hip in truth["hips"].values():
            assert truth["sop_instance_uids"][hip["key_slice_index"]] == hip["key_slice_sop_instance_uid"]
            assert hip["pixel_spacing_mm"] == float(datasets[0].PixelSpacing[0])


def test_masks_lie_in_the_head_on_the_right_side_and_necrosis_is_dark(
    dataset: tuple[Path, list[dict[str, Any]]],
) -> None:
    root, truths = dataset
    checked = 0
    for truth in truths:
        datasets, masks = _t1(root, truth)
        head, necrosis = masks["head"], masks["necrosis"].astype(bool)
        assert set(np.unique(head)) <= {0, 1, 2} and set(np.unique(masks["necrosis"])) <= {0, 1}
        assert not np.any(necrosis & (head == 0)), "necrosis outside the femoral head"
        assert [float(v) for v in datasets[0].ImageOrientationPatient] == list(ORIENTATION["axial"])
        columns = np.arange(head.shape[2])
        for side, label in LABELS.items():
            hip = truth["hips"][side]
            mean_column = float(columns[np.nonzero(head == label)[2]].mean())
            # Standard axial display: columns run to patient left, so the right hip sits on the image's left.
            assert (mean_column < head.shape[2] / 2) == (side == "R")
            # The head centre from the header geometry falls inside this hip's mask on its key slice.
            ds = datasets[hip["key_slice_index"]]
            origin, spacing = np.asarray(ds.ImagePositionPatient, float), float(ds.PixelSpacing[0])
            col = int(round((hip["head_center_mm"][0] - origin[0]) / spacing))
            row = int(round((hip["head_center_mm"][1] - origin[1]) / spacing))
            assert head[hip["key_slice_index"], row, col] == label
            assert abs(hip["head_center_mm"][2] - origin[2]) <= float(ds.SpacingBetweenSlices) / 2 + 1e-6
            if hip["necrosis_pixels_volume"] == 0:
                continue
            image = ds.pixel_array.astype(float)
            key = hip["key_slice_index"]
            mine, dead = head[key] == label, necrosis[key] & (head[key] == label)
            if dead.sum() >= 20:
                assert image[dead].mean() < 0.6 * image[mine & ~dead].mean(), (truth["patient_id"], side)
                checked += 1
            elif dead.any():
                assert image[dead].mean() < 0.85 * image[mine & ~dead].mean(), (truth["patient_id"], side)
    assert checked >= 8


def test_ratios_and_grades_equal_those_from_the_mask_counts(dataset: tuple[Path, list[dict[str, Any]]]) -> None:
    root, truths = dataset
    for truth in truths:
        _, masks = _t1(root, truth)
        head, necrosis = masks["head"], masks["necrosis"].astype(bool)
        for side, label in LABELS.items():
            hip = truth["hips"][side]
            mine = head == label
            per_slice = mine.sum(axis=(1, 2))
            key = int(np.argmax(per_slice))
            head_key, dead_key = int(per_slice[key]), int((necrosis[key] & mine[key]).sum())
            assert (hip["key_slice_index"], hip["head_pixels_key"], hip["necrosis_pixels_key"]) == (
                key,
                head_key,
                dead_key,
            )
            assert hip["ratio_key_percent"] == 100.0 * dead_key / head_key
            assert hip["grade_key"] == grade_from_counts(dead_key, head_key).value
            assert hip["head_pixels_volume"] == int(mine.sum())
            assert hip["necrosis_pixels_volume"] == int((necrosis & mine).sum())
            assert hip["ratio_volume_percent"] == 100.0 * hip["necrosis_pixels_volume"] / hip["head_pixels_volume"]
            # A sphere of the recorded radius: the key-slice area is close to the great circle's.
            great_circle = np.pi * hip["head_radius_mm"] ** 2 / hip["pixel_spacing_mm"] ** 2
            assert 0.85 * great_circle < head_key <= 1.02 * great_circle
            assert 21.0 <= hip["head_radius_mm"] <= 26.0


def test_dataset_spans_every_grade_and_hits_the_boundaries(dataset: tuple[Path, list[dict[str, Any]]]) -> None:
    _, truths = dataset
    hips = [hip for truth in truths for hip in truth["hips"].values()]
    assert {hip["grade_key"] for hip in hips} == {grade.value for grade in Grade}
    ratios = [(Fraction(100 * h["necrosis_pixels_key"], h["head_pixels_key"]), h["grade_key"]) for h in hips]
    assert (Fraction(15), Grade.MODERATE.value) in ratios
    assert (Fraction(30), Grade.MODERATE.value) in ratios
    assert (Fraction(1, 10), Grade.MILD.value) in ratios
    assert any(Fraction(30) < r < Fraction(31) and g == Grade.SEVERE.value for r, g in ratios)
    assert any(Fraction(14) < r < Fraction(15) and g == Grade.MILD.value for r, g in ratios)
    # Necrosis of one pixel that still grades as Without ONFH, and heads with no necrosis at all.
    assert any(0 < r < Fraction(1, 10) and g == Grade.WITHOUT.value for r, g in ratios)
    assert sum(h["necrosis_pixels_volume"] == 0 for h in hips) >= 2


def test_distractor_series_carry_their_plane_and_weighting(dataset: tuple[Path, list[dict[str, Any]]]) -> None:
    root, truths = dataset
    for truth in truths[:3]:
        by_kind = {(s["contrast"], s["plane"]): s for s in truth["series"]}
        assert len(by_kind) == 4 and ("LOC", "localizer") in by_kind and ("T1", "coronal") in by_kind
        assert ("T2FS", "axial") in by_kind or ("STIR", "axial") in by_kind
        for series in truth["series"]:
            files = _series_files(root, truth, series["folder"])
            datasets = [pydicom.dcmread(f) for f in files]
            first = datasets[0]
            assert first.Modality == "MR" and first.StudyInstanceUID == truth["study_instance_uid"]
            assert first.BodyPartExamined == "PELVIS"
            assert all(ds.pixel_array.max() > (1 << ds.BitsStored) // 8 for ds in datasets[:2])
            if series["plane"] == "localizer":
                assert "LOCALIZER" in first.ImageType
                assert {imaging_plane(ds) for ds in datasets} == {"axial", "coronal", "sagittal"}
                continue
            assert "LOCALIZER" not in first.ImageType
            assert imaging_plane(first) == series["plane"]
            assert [float(v) for v in first.ImageOrientationPatient] == list(ORIENTATION[series["plane"]])
            assert mr_weighting(first) == series["weighting"]
            tr, te = float(first.RepetitionTime), float(first.EchoTime)
            if series["contrast"] == "T1":
                assert first.ScanningSequence == "SE" and 450 <= tr <= 650 and 10 <= te <= 20
                assert first.ScanOptions == ""
            elif series["contrast"] == "STIR":
                assert first.ScanningSequence == "IR" and 140 <= float(first.InversionTime) <= 180
            else:
                assert first.ScanOptions == "FS" and tr >= 3000 and te >= 60
            if series["folder"] == truth["t1_folder"]:
                assert series["plane"] == "axial" and 320 <= first.Rows == first.Columns <= 384
                assert 1.0 <= float(first.PixelSpacing[0]) <= 1.25 and float(first.SliceThickness) == 4.0
                assert 14 <= len(datasets) <= 20
            orientation = np.asarray(first.ImageOrientationPatient, float)
            normal = np.cross(orientation[:3], orientation[3:])
            positions = np.asarray([ds.ImagePositionPatient for ds in datasets], float)
            steps = np.abs(np.diff(positions, axis=0) @ normal)
            np.testing.assert_allclose(steps, float(first.SpacingBetweenSlices), atol=1e-3)


def test_one_file_of_every_series_passes_dciodvfy(dataset: tuple[Path, list[dict[str, Any]]]) -> None:
    root, truths = dataset
    truth = truths[0]
    for series in truth["series"]:
        assert dciodvfy_errors(_series_files(root, truth, series["folder"])[0]) == [], series["description"]


def test_subcommand_registers_on_a_fresh_parser(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_subcommand(parser.add_subparsers(dest="kind", required=True))
    args = parser.parse_args(["hip-mri", "--out", str(tmp_path), "--patients", "1", "--seed", "3"])
    assert (args.out, args.patients, args.seed) == (tmp_path, 1, 3)
    message = args.run(args)
    assert message.startswith(f"wrote 1 hip MRI studies to {tmp_path}")
    truth = json.loads((tmp_path / "HP0000" / GROUND_TRUTH_FILE).read_text())
    assert truth["patient_id"] == "HP0000" and (tmp_path / "HP0000" / MASKS_FILE).is_file()
    with pytest.raises(SystemExit):
        parser.parse_args(["hip-mri", "--patients", "1"])  # --out is required


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1 patient, got 0"):
        generate_hip_mri_dataset(tmp_path, patients=0, seed=1)
    with pytest.raises(ValueError, match="Unknown necrosis scenario 'huge'"):
        write_hip_mri_study(tmp_path, "HP0000", seed=1, scenarios=("huge", "healthy"))


def _hand_made_pelvis(threshold: float) -> Pelvis:
    def hip(side: str, lateral: float) -> Hip:
        return Hip(
            side=side,
            center=(lateral * 90.0, 0.0, 0.0),
            radius=23.0,
            cortex_mm=1.5,
            neck_direction=(lateral * 0.77, -0.17, -0.62),
            neck_length=40.0,
            necrosis_point=(lateral * 92.0, -16.0, 10.0),  # anterior (-y) and superior (+z) in the head
            wobble=(0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0),
            threshold=threshold if side == "L" else None,
        )

    return Pelvis((0.0, 5.0), (170.0, 110.0), 20.0, (0.0, -35.0, 5.0), (28.0, 25.0, 28.0), (0.0, 70.0, 40.0),
                  (hip("R", -1.0), hip("L", 1.0)))  # fmt: skip


def test_renderer_is_a_pure_function_of_the_anatomy() -> None:
    pelvis = _hand_made_pelvis(threshold=14.0)
    grid = SliceGrid(("axial",), (400, 400), 1.0, 4.0, 4.0, ((-199.5, -199.5, 0.0),))
    labels, head = hip_labels(grid.points(0), pelvis)
    again_labels, again_head = hip_labels(grid.points(0), pelvis)
    assert np.array_equal(labels, again_labels) and np.array_equal(head, again_head)
    tissue = TISSUES.index
    # Pixel (row r, column c) sits at x = c - 199.5, y = r - 199.5 mm.
    assert labels[200 - 35, 200] == tissue("fluid") and labels[200, 200] == tissue("muscle")
    assert labels[200, 200 + 165] == tissue("fat") and labels[200, 5] == tissue("background")
    for label, column in ((1, 200 - 90), (2, 200 + 90)):
        assert head[200, column] == label and labels[200, column] == tissue("marrow")
        assert abs(int((head == label).sum()) - np.pi * 23.0**2) < 0.02 * np.pi * 23.0**2
    necrotic = np.isin(labels, (tissue("necrosis"), tissue("band")))
    assert necrotic.any() and np.all(head[necrotic] == 2), "only the left head carries necrosis"
    rows = np.nonzero(necrotic)[0]
    assert rows.mean() < 200 - 5, "necrosis lies anteriorly (-y: upper rows)"
    assert (labels == tissue("band")).sum() < necrotic.sum()
    healthy_labels, _ = hip_labels(grid.points(0), _hand_made_pelvis(threshold=0.0))
    assert not np.isin(healthy_labels, (tissue("necrosis"), tissue("band"))).any()
