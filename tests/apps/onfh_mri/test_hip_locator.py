from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from apps.onfh_mri.hip_locator import locate_femoral_heads, patient_x_of_columns
from apps.onfh_mri.hip_regions import head_mask, hip_regions
from dicom_in.pixel_decode import decode_image
from inference.model_meta import SegmenterMeta, parse_model_meta
from phantoms.hip_mri import generate_hip_mri_dataset


def _segmenter_meta() -> SegmenterMeta:
    meta = {
        "name": "seg",
        "version": "1",
        "task": "segmentation",
        "labels": ["background", "femoral_head"],
        "input_size": [64, 64],
        "channels": 1,
        "crop_mm": 100.0,
        "normalisation": "test",
        "outputs": ["logits"],
        "threshold": 0.5,
    }
    return parse_model_meta(meta)


def test_patient_x_runs_left_along_a_standard_axial_row() -> None:
    x = patient_x_of_columns([1, 0, 0, 0, 1, 0], [-100.0, -50.0, 0.0], (1.0, 0.5), 5)
    assert np.allclose(x, [-100.0, -99.5, -99.0, -98.5, -98.0])
    flipped = patient_x_of_columns([-1, 0, 0, 0, 1, 0], [100.0, -50.0, 0.0], (1.0, 0.5), 3)
    assert np.allclose(flipped, [100.0, 99.5, 99.0])


@pytest.fixture(scope="module")
def hips(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict, np.ndarray, np.ndarray, tuple, np.ndarray]]:
    root = tmp_path_factory.mktemp("hips")
    cases = []
    for truth in generate_hip_mri_dataset(root, patients=3, seed=21):
        folder = Path(root) / truth["patient_id"] / truth["t1_folder"]
        files = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID): f for f in folder.glob("*.dcm")}
        volume = np.stack([decode_image(files[u]).pixels for u in truth["sop_instance_uids"]])
        header = pydicom.dcmread(files[truth["sop_instance_uids"][0]], stop_before_pixels=True)
        spacing = (float(header.PixelSpacing[0]), float(header.PixelSpacing[1]))
        columns = patient_x_of_columns(
            list(header.ImageOrientationPatient), list(header.ImagePositionPatient), spacing, int(header.Columns)
        )
        masks = np.load(Path(root) / truth["patient_id"] / "ground_truth_masks.npz")["head"]
        cases.append((truth, volume, masks, spacing, columns))
    return cases


def test_both_heads_are_found_inside_the_true_head_on_the_right_side(hips) -> None:
    for truth, volume, masks, spacing, columns in hips:
        found = locate_femoral_heads(volume, spacing, columns)
        assert set(found) == {"R", "L"}, truth["patient_id"]
        for side, label in (("R", 1), ("L", 2)):
            location = found[side]
            r, c = (int(round(v)) for v in location.center_rc)
            assert masks[location.slice_index, r, c] == label, (truth["patient_id"], side, location)


def test_a_volume_without_hips_finds_nothing(hips) -> None:
    _, volume, _, spacing, columns = hips[0]
    flat = np.full_like(volume, float(np.median(volume)))
    assert locate_femoral_heads(flat, spacing, columns) == {}


def test_hip_regions_crop_both_hips_into_one_batch_and_head_mask_maps_each_back(hips) -> None:
    truth, volume, masks, spacing, columns = hips[0]
    meta = _segmenter_meta()
    regions, crops = hip_regions(volume.astype(np.float32), spacing, columns, meta)
    assert set(regions) == {"R", "L"} and crops.shape == (2 * len(volume), 1, 64, 64)
    assert sorted((r.first, r.count) for r in regions.values()) == [(0, len(volume)), (len(volume), len(volume))]
    # Logits that are exactly the true head on each hip's crop grid must come back as that hip's head.
    logits = np.full(crops.shape, -20.0, np.float32)
    for side, label in (("R", 1), ("L", 2)):
        region = regions[side]
        for k, plane in enumerate(masks == label):
            logits[region.first + k, 0][region.crop.crop(plane.astype(np.float32)) >= 0.5] = 20.0
    for side, label in (("R", 1), ("L", 2)):
        back = head_mask(regions[side], logits, volume.shape[1:], threshold=0.5)
        true = masks == label
        dice = 2 * np.logical_and(back, true).sum() / (back.sum() + true.sum())
        assert dice > 0.9, (side, dice)


def test_hip_regions_of_a_volume_without_hips_is_an_empty_batch(hips) -> None:
    _, volume, _, spacing, columns = hips[0]
    flat = np.full_like(volume, float(np.median(volume)), dtype=np.float32)
    regions, crops = hip_regions(flat, spacing, columns, _segmenter_meta())
    assert regions == {} and crops.shape == (0, 1, 64, 64)
