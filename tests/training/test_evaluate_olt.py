from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.olt_mri.result_details import OltDetails, SeriesDetails, StudyCallDetails
from training.evaluate_olt import evaluate_olt_run

REPO = Path(__file__).resolve().parents[2]
RULES = ("T1 coronal", "T1 sagittal", "T2 coronal", "T2 sagittal")


def _study(truth_root: Path, results: Path, index: int, lesion: bool, series_p: list[float] | None) -> None:
    """A phantom-like ground truth and, unless `series_p` is None, an olt_mri result.json calling it."""
    uid = f"1.2.3.{index}"
    series = [
        {"series_instance_uid": f"{uid}.{k}", "slices_with_lesion": [5, 6] if lesion and k != 1 else []}
        for k in range(4)
    ]
    folder = truth_root / f"OLT{index:04d}"
    folder.mkdir(parents=True)
    truth = {"kind": "ankle-mri", "patient_id": folder.name, "study_instance_uid": uid, "lesion": lesion}
    (folder / "ground_truth.json").write_text(json.dumps({**truth, "series": series}))
    if series_p is None:
        return
    calls = [
        SeriesDetails(rule, f"{uid}.{k}", rule, p >= 0.5, p, f"{uid}.{k}.1", [p], ["pydicom"], [])
        for k, (rule, p) in enumerate(zip(RULES, series_p, strict=True))
    ]
    positives = sum(c.present for c in calls)
    study = StudyCallDetails(positives >= 2, sorted(series_p)[-2], positives, 2, {"T1": 0.0, "T2": 0.0})
    out = results / uid
    out.mkdir(parents=True)
    result = {"status": "ok", "details": OltDetails(study, calls).to_json()}
    (out / "result.json").write_text(json.dumps(result))


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, Path]:
    truth, results = tmp_path / "truth", tmp_path / "out"
    _study(truth, results, 1, True, [0.9, 0.2, 0.95, 0.8])  # found
    _study(truth, results, 2, True, [0.9, 0.1, 0.3, 0.2])  # missed: one series only
    _study(truth, results, 3, False, [0.1, 0.2, 0.97, 0.3])  # a noisy series, not called
    _study(truth, results, 4, False, [0.7, 0.1, 0.6, 0.2])  # false call
    _study(truth, results, 5, False, None)  # not reported: counts as a wrong call
    return truth, results


def test_study_and_series_calls_are_scored_from_the_apps_own_output(run: tuple[Path, Path], tmp_path: Path) -> None:
    truth, results = run
    metrics = evaluate_olt_run(truth, results, tmp_path / "eval")
    study = metrics["study"]
    assert metrics["studies"] == 5 and metrics["not_reported"] == 1
    assert study["confusion_matrix"] == {"tn": 1, "fp": 2, "fn": 1, "tp": 1}
    assert study["accuracy"]["value"] == pytest.approx(2 / 5) and study["ci_methods"]["accuracy"] == "wilson"
    assert study["recall"]["value"] == 0.5 and study["specificity"]["value"] == pytest.approx(1 / 3)
    # T1 sagittal does not show these lesions (no slice with lesion): its label is 0 there.
    t1_sag = metrics["series"]["T1 sagittal"]
    assert t1_sag["n"] == 4 and t1_sag["confusion_matrix"]["tp"] == 0 and t1_sag["confusion_matrix"]["fp"] == 0
    assert metrics["series"]["T2 coronal"]["confusion_matrix"] == {"tn": 0, "fp": 2, "fn": 1, "tp": 1}
    assert (tmp_path / "eval" / "per_study.csv").read_text().count("\n") == 6
    assert (tmp_path / "eval" / "per_series.csv").read_text().count("\n") == 17


def test_cli_prints_the_study_figures(run: tuple[Path, Path], tmp_path: Path) -> None:
    truth, results = run
    command = [sys.executable, "-m", "training.evaluate_olt", "--truth", str(truth), "--results", str(results)]
    done = subprocess.run([*command, "--out", str(tmp_path / "e")], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("studies=5 accuracy=0.400 sensitivity=0.5 specificity=0.333")
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["not_reported"] == 1


def test_a_suite_run_folder_is_scored_like_the_apps_own(run: tuple[Path, Path], tmp_path: Path) -> None:
    """python -m apps writes OUT/olt_mri/<study>/: the suite's folder and the app's own give the same figures."""
    truth, results = run
    suite = tmp_path / "suite"
    (suite / "ankle_xray" / "1.2.3.1").mkdir(parents=True)  # another app's folder of the same study is not read
    (suite / "ankle_xray" / "1.2.3.1" / "result.json").write_text(json.dumps({"status": "ok", "details": {}}))
    results.rename(suite / "olt_mri")
    from_suite = evaluate_olt_run(truth, suite, tmp_path / "suite_eval")
    from_app = evaluate_olt_run(truth, suite / "olt_mri", tmp_path / "app_eval")
    assert json.dumps(from_suite) == json.dumps(from_app)  # NaN-safe: undefined intervals compare equal
    assert from_suite["not_reported"] == 1 and from_suite["study"]["confusion_matrix"]["tp"] == 1
