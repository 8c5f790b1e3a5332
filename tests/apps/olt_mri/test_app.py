"""olt_mri end to end on phantom studies mixed with broken inputs: results, failures, DICOM validity, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import highdicom as hd
import pydicom
import pytest

from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.broken import write_broken_inputs
from tests.app_runner import read_rows, start_app
from tests.dicom_validation import dciodvfy_errors
from tests.model_fixtures import export_fixture_classifier

pytestmark = pytest.mark.slow


def _run_app(input_dir: Path, output_dir: Path, models: Path, *extra: str) -> subprocess.Popen:
    return start_app("olt_mri", input_dir, output_dir, models, *extra)


_rows = read_rows


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("olt")
    input_dir, models = root / "input", root / "models"
    truths = generate_ankle_mri_dataset(input_dir / "good", patients=2, seed=11)
    broken = write_broken_inputs(input_dir / "broken", seed=11, source_file=None)
    export_fixture_classifier(models, "olt_mri_t1", seed=1)
    export_fixture_classifier(models, "olt_mri_t2", seed=2)
    output = root / "out"
    proc = _run_app(input_dir, output, models)
    stdout, stderr = proc.communicate(timeout=600)
    return {
        "root": root,
        "input": input_dir,
        "models": models,
        "output": output,
        "truths": truths,
        "broken": broken,
        "returncode": proc.returncode,
        "stderr": stderr,
    }


def test_batch_finishes_and_accounts_for_every_input(batch: dict) -> None:
    assert batch["returncode"] == 0, batch["stderr"][-3000:]
    results = {r["study_instance_uid"]: r for r in _rows(batch["output"] / "results.csv")}
    for truth in batch["truths"]:
        assert results[truth["study_instance_uid"]]["status"] == "ok"
    statuses = sorted(r["status"] for r in results.values())
    assert "no_matching_series" in statuses
    failures = _rows(batch["output"] / "failures.csv")
    failed_items = {Path(f["item"]).name for f in failures}
    for path in batch["broken"]:
        if Path(path).suffix == ".bin" or "trunc" in Path(path).name or "lying" in Path(path).name:
            assert Path(path).name in failed_items, (path, failed_items)
    assert all(f["reason"] and "\n" not in f["reason"] for f in failures)
    run = json.loads((batch["output"] / "run.json").read_text())
    assert run["skipped_files"]["text"] == 1  # the README.txt: a companion file, skipped and counted
    assert run["counts"]["studies_completed"] == len(results)
    assert set(run["models"]) == {"olt_mri_t1", "olt_mri_t2"}


def test_outputs_are_valid_dicom_and_match_result_json(batch: dict) -> None:
    truth = batch["truths"][0]
    study_dir = batch["output"] / truth["study_instance_uid"]
    result = json.loads((study_dir / "result.json").read_text())
    dicom_files = [study_dir / f for f in result["files"] if f.endswith(".dcm")]
    assert any(f.name == "report_sr.dcm" for f in dicom_files) and len(dicom_files) >= 2
    for path in dicom_files:
        assert dciodvfy_errors(path) == [], path.name
    sr = hd.sr.srread(study_dir / "report_sr.dcm")
    source = pydicom.dcmread(next(batch["input"].rglob("*.dcm")), stop_before_pixels=True)
    assert sr.StudyInstanceUID == truth["study_instance_uid"]
    assert str(sr.PatientID) == truth["patient_id"] or sr.PatientID == source.PatientID
    groups = sr.content.get_planar_roi_measurement_groups() + sr.content.get_image_measurement_groups()
    tracking = sorted(str(g.tracking_identifier) for g in groups)
    expected = sorted(f["tracking_id"] for f in result["report"]["findings"])
    assert tracking == expected
    assert {s["rule"] for s in result["details"]["series"]} <= {
        "T1 coronal",
        "T1 sagittal",
        "T2 coronal",
        "T2 sagittal",
    }
    sc = pydicom.dcmread(study_dir / "key_T1_coronal_sc.dcm")
    assert sc.StudyInstanceUID == truth["study_instance_uid"] and sc.SamplesPerPixel == 3


def test_kill_then_resume_matches_an_uninterrupted_run(batch: dict) -> None:
    output = batch["root"] / "resumed"
    proc = _run_app(batch["input"], output, batch["models"])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(output.glob("*/result.json")):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    done_before = len(list(output.glob("*/result.json")))
    resumed = _run_app(batch["input"], output, batch["models"], "--resume")
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr[-3000:]
    run = json.loads((output / "run.json").read_text())
    assert run["counts"]["studies_already_done"] == done_before >= 1
    assert not [p for p in output.rglob("*") if p.name.endswith(".partial")]
    reference = batch["output"]
    for result in reference.glob("*/result.json"):
        assert (output / result.parent.name / "result.json").read_text() == result.read_text()
    assert sorted(p.name for p in output.iterdir()) == sorted(p.name for p in reference.iterdir())
    assert _rows(output / "results.csv") == _rows(reference / "results.csv")


def test_missing_model_or_input_stops_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    proc = _run_app(tmp_path / "in", tmp_path / "out", tmp_path / "no_models")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert stderr.strip().splitlines()[-1].startswith("error: Model 'olt_mri_t1' not found")
    proc = _run_app(tmp_path / "absent", tmp_path / "out", tmp_path / "no_models")
    _, stderr = proc.communicate(timeout=300)
    assert (
        proc.returncode == 2 and stderr.strip().splitlines()[-1] == f"error: input {tmp_path / 'absent'} does not exist"
    )
