"""onfh_mri end to end on hip phantoms mixed with an ankle study and broken files, with a fixture U-Net."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest

from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.broken import write_broken_inputs
from phantoms.hip_mri import generate_hip_mri_dataset
from tests.app_runner import read_rows, run_app
from tests.dicom_validation import dciodvfy_errors
from tests.model_fixtures import export_fixture_segmenter
from training.evaluate_onfh import evaluate_onfh_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("onfh")
    input_dir, models, output = root / "input", root / "models", root / "out"
    truths = generate_hip_mri_dataset(input_dir / "hips", patients=2, seed=5)
    ankle = generate_ankle_mri_dataset(input_dir / "ankle", patients=1, seed=5)
    broken = write_broken_inputs(input_dir / "broken", seed=5)
    export_fixture_segmenter(models)
    returncode, stderr = run_app("onfh_mri", input_dir, output, models)
    return {
        "input": input_dir,
        "output": output,
        "truths": truths,
        "ankle": ankle,
        "broken": broken,
        "returncode": returncode,
        "stderr": stderr,
    }


def test_mixed_batch_accounts_for_every_input(batch: dict) -> None:
    assert batch["returncode"] == 0, batch["stderr"][-3000:]
    results = {r["study_instance_uid"]: r for r in read_rows(batch["output"] / "results.csv")}
    for truth in batch["truths"]:
        assert results[truth["study_instance_uid"]]["status"] == "ok"
    assert results[batch["ankle"][0]["study_instance_uid"]]["status"] == "no_matching_series"
    failed = {Path(f["item"]).name for f in read_rows(batch["output"] / "failures.csv")}
    # Files that are not DICOM at all fail at indexing; a truncated ankle slice belongs to a study this app
    # selects nothing from, so it is accounted for by that study's no_matching_series row instead.
    unreadable = [Path(p).name for p in batch["broken"] if Path(p).suffix == ".bin" or "random" in p]
    assert unreadable and set(unreadable) <= failed
    # The README.txt beside them and each phantom's ground_truth_masks.npz are companion files: skipped and
    # counted in run.json, not failures.
    skipped = json.loads((batch["output"] / "run.json").read_text())["skipped_files"]
    assert skipped["text"] == 1 and skipped["array"] == len(batch["truths"]) == 2
    assert not any(name.endswith(".npz") for name in failed)


def test_seg_sr_sc_are_valid_and_agree_with_result_json(batch: dict) -> None:
    truth = batch["truths"][0]
    study_dir = batch["output"] / truth["study_instance_uid"]
    result = json.loads((study_dir / "result.json").read_text())
    for name in result["files"]:
        if name.endswith(".dcm"):
            assert dciodvfy_errors(study_dir / name) == [], name
    hips = result["details"]["hips"]
    assert hips, "the locator should find at least one femoral head on a hip phantom"
    seg = hd.seg.segread(study_dir / "segmentation_seg.dcm")
    labels = {seg.get_segment_description(n).segment_label: n for n in seg.segment_numbers}
    for side, hip in hips.items():
        name = {"R": "Right", "L": "Left"}[side]
        frames = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[hip["key_slice_sop_instance_uid"]],
            segment_numbers=[labels[f"{name} femoral head"], labels[f"{name} femoral head necrosis"]],
            ignore_spatial_locations=True,
        )
        assert int(frames[0, ..., 0].sum()) == hip["head_pixels_key"]
        assert int(frames[0, ..., 1].sum()) == hip["necrosis_pixels_key"]
        assert np.all(frames[0, ..., 0] >= frames[0, ..., 1]), "necrosis must lie inside the head"
    sr = hd.sr.srread(study_dir / "report_sr.dcm")
    groups = sr.content.get_image_measurement_groups()
    assert sorted(str(g.tracking_identifier) for g in groups) == sorted(
        f"{ {'R': 'Right', 'L': 'Left'}[s] } femoral head" for s in hips
    )
    ratios = {m.name.meaning: m.value for g in groups for m in g.get_measurements()}
    assert any(name.startswith("Necrotic area ratio") for name in ratios)


def test_evaluation_cli_scores_every_hip(batch: dict, tmp_path: Path) -> None:
    metrics = evaluate_onfh_run(batch["input"] / "hips", batch["output"], tmp_path)
    assert metrics["hips"] == 2 * len(batch["truths"])
    assert 0.0 <= metrics["femoral_head_dice"]["mean"] <= 1.0
    assert (tmp_path / "per_hip.csv").read_text().count("\n") == metrics["hips"] + 1
