"""The batch page from run files: calls per app, both output layouts, broken inputs, safe HTML, atomic rewrite."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from apps.ankle_xray.result_details import FragmentDetails, FragmentStudyDetails, RadiographDetails
from apps.olt_mri.result_details import OltDetails, SeriesDetails, StudyCallDetails
from apps.onfh_mri.result_details import HipDetails, OnfhDetails
from dicom_in.study import InputFailure
from report_page import PAGE_NAME, write_batch_page
from report_page.calls import study_call
from report_page.entries import MISSING, UNREADABLE, page_entry
from report_page.sources import StudyRow, study_rows
from run.ledger import RunLedger
from run.plan import RESULT_FILE, RunPlan, Shard, study_output_dir
from tests.app_runner import REPO


def _olt(probability: float) -> dict[str, Any]:
    present = probability >= 0.5
    series = SeriesDetails("T2 coronal", "1.9", "COR T2", present, probability, "1.9.1", [probability], [], [])
    details = OltDetails(StudyCallDetails(present, probability, int(present), 1, {"T2": probability}), [series])
    return {"app": "olt_mri", "status": "ok", "details": details.to_json(), "csv_row": details.csv_row()}


def _ankle(*fragments: tuple[str, float]) -> dict[str, Any]:
    found = [
        FragmentDetails(f"fragment {i}", "1.5.1", [1.0, 2.0, 9.0, 9.0], 0.9, label, p, {label: p})
        for i, (label, p) in enumerate(fragments, start=1)
    ]
    details = FragmentStudyDetails([RadiographDetails("1.5.1", "1.5", "native")], found)
    return {"app": "ankle_xray", "status": "ok", "details": details.to_json(), "csv_row": details.csv_row()}


def _hip(grade: str, ratio: float) -> HipDetails:
    return HipDetails("1.7.1", 3, 100, int(ratio), 300.0, 3.0 * ratio, ratio, ratio, grade, "see a surgeon", "otsu")


def _onfh(**hips: HipDetails) -> dict[str, Any]:
    details = OnfhDetails("1.7", hips)
    return {"app": "onfh_mri", "status": "ok", "details": details.to_json(), "csv_row": details.csv_row()}


def test_calls_come_from_each_apps_typed_details() -> None:
    olt = study_call("olt_mri", _olt(0.91))
    assert (olt.label, olt.value, olt.points) == ("positive", 0.91, (("positive", 0.91),))
    assert olt.text == "p=0.91 (T2 coronal 0.91)"
    assert study_call("olt_mri", _olt(0.2)).label == "negative"
    ankle = study_call("ankle_xray", _ankle(("SFO", 0.6), ("LMAF", 0.8)))
    assert (ankle.label, ankle.value) == ("LMAF+SFO", 0.8) and len(ankle.points) == 2
    assert study_call("ankle_xray", _ankle()).label == "no fragment"
    onfh = study_call("onfh_mri", _onfh(R=_hip("Mild", 5.0), L=_hip("Severe", 40.0)))
    assert (onfh.label, onfh.value) == ("Severe", 40.0)
    assert onfh.text == "left: Severe 40.00%; right: Mild 5.00%"
    # a study the app did not analyse, or an app the page does not know, has no call
    assert study_call("olt_mri", {"status": "no_matching_series", "details": {}}).label == ""
    assert study_call("new_app", _olt(0.9)).label == ""


def _write_result(folder: Path, result: dict[str, Any], files: dict[str, bytes] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in (files or {}).items():
        (folder / name).write_bytes(payload)
    result = {"summary": "s", "files": sorted(files or {}), **result}
    (folder / RESULT_FILE).write_text(json.dumps(result))
    return folder / RESULT_FILE


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_rows_of_an_app_run_with_shards_and_of_the_suite_layout(tmp_path: Path) -> None:
    app_run = tmp_path / "app"
    app_run.mkdir()
    _write_csv(app_run / "results.part0of2.csv", [{"study_instance_uid": "1.1", "status": "ok", "summary": ""}])
    _write_csv(app_run / "results.part1of2.csv", [{"study_instance_uid": "1.2", "status": "ok", "summary": ""}])
    rows = study_rows(app_run)
    assert [(r.study_uid, r.app, r.result_path) for r in rows] == [
        ("1.1", "", app_run / "1.1" / RESULT_FILE),
        ("1.2", "", app_run / "1.2" / RESULT_FILE),
    ]
    suite = tmp_path / "suite"
    suite.mkdir()
    _write_csv(
        suite / "results.csv",
        [
            {"study_instance_uid": "2.1", "app": "olt_mri", "status": "ok", "summary": "", "output_dir": "olt_mri/2.1"},
            {"study_instance_uid": "2.1", "app": "onfh_mri", "status": "ok", "summary": "", "output_dir": ""},
            {"study_instance_uid": "2.2", "app": "", "status": "no_matching_app", "summary": "no app reads it",
             "output_dir": ""},
            {"study_instance_uid": "2.3", "app": "olt_mri", "status": "ok", "summary": "", "output_dir": "../../x"},
        ],
    )  # fmt: skip
    rows = study_rows(suite)
    assert [r.result_path.relative_to(suite).as_posix() for r in rows] == [
        "olt_mri/2.1/result.json",  # output_dir, as the suite writes it
        "onfh_mri/2.1/result.json",  # without it: OUT/<app>/<study>
        "2.2/result.json",
        "olt_mri/2.3/result.json",  # an output_dir outside the run folder is not followed
    ]
    # a study without result.json keeps what results.csv said about it
    missing = page_entry(rows[2], suite)
    assert (missing.status, missing.summary, missing.result) == ("no_matching_app", "no app reads it", "")
    assert page_entry(rows[1], suite).status == MISSING  # results.csv says ok, but there is no result.json
    # the suite's page: its studies by app, the suite's run.json with each app's time per stage
    _write_result(suite / "olt_mri" / "2.1", _olt(0.8))
    suite_run = {"app": "suite", "apps": {"olt_mri": {"stage_seconds": {"inference": 4.5}}}, "counts": {}}
    (suite / "run.json").write_text(json.dumps(suite_run))
    text = write_batch_page(suite).read_text(encoding="utf-8")
    assert "<title>msk-maps batch: olt_mri, onfh_mri</title>" in text and "Time per stage (olt_mri)" in text
    assert [row[3] for row in _page_data(suite / PAGE_NAME)["studies"] if row[2] == "ok"] == ["positive"]


def test_entries_link_relative_and_survive_a_broken_result(tmp_path: Path) -> None:
    folder = study_output_dir(tmp_path, "1.2.3")
    path = _write_result(folder, _olt(0.97), {"key_T2_coronal.png": b"png", "report_sr.dcm": b"sr"})
    entry = page_entry(StudyRow("1.2.3", "", path), tmp_path)
    assert (entry.app, entry.status, entry.call) == ("olt_mri", "ok", "positive")
    assert entry.images == ["1.2.3/key_T2_coronal.png"] and entry.objects == ["1.2.3/report_sr.dcm"]
    assert entry.result == "1.2.3/result.json"
    path.write_text("{ not json")
    broken = page_entry(StudyRow("1.2.3", "", path), tmp_path)
    assert broken.status == UNREADABLE and broken.summary.startswith("result.json unreadable")
    path.write_text(json.dumps({"app": "onfh_mri", "status": "ok", "details": {"hips": "wrong"}}))
    odd = page_entry(StudyRow("1.2.3", "", path), tmp_path)
    assert (odd.status, odd.call) == ("ok", "")


def _page_data(page: Path) -> dict[str, Any]:
    text = page.read_text(encoding="utf-8")
    payload = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', text, re.S).group(1)
    return json.loads(payload.replace("<\\/", "</"))


def _ledger(root: Path, done: list[str], todo: list[str]) -> RunLedger:
    return RunLedger(root, "olt_mri", "0.1.0", RunPlan(todo, done, Shard()), [InputFailure("/in/a.txt", "not DICOM")])


def test_every_finalize_writes_the_page_and_a_resumed_run_rewrites_it(tmp_path: Path) -> None:
    evil = "</script><script>alert(1)</script>"
    _write_result(study_output_dir(tmp_path, "1.1"), {**_olt(0.9), "summary": evil}, {"key.png": b"x"})
    ledger = _ledger(tmp_path, [], ["1.1"])
    ledger.record_study("1.1", {"inference": 1.0}, [])
    ledger.finalize(wall_seconds=2.0)
    page = tmp_path / PAGE_NAME
    text = page.read_text(encoding="utf-8")
    assert evil not in text and "default-src 'none'" in text
    assert not re.search(r"(src|href)=\"https?:", text), "the page must not load anything from the network"
    data = _page_data(page)
    assert [row[0] for row in data["studies"]] == ["1.1"] and data["studies"][0][6] == evil
    assert data["failures"] == [["/in/a.txt", "", "not DICOM", "failures.csv"]]
    assert "olt_mri 0.1.0" in text and "inference" in text  # the run summary: app, version, time per stage
    assert "Skipped files" not in text  # none were

    _write_result(study_output_dir(tmp_path, "1.2"), _olt(0.1))
    resumed = _ledger(tmp_path, ["1.1"], ["1.2"])
    resumed.skipped_files = {"ground_truth.json": 3}
    resumed.record_study("1.2", {"inference": 1.0}, [])
    resumed.finalize(wall_seconds=1.0)
    assert sorted(row[0] for row in _page_data(page)["studies"]) == ["1.1", "1.2"]
    assert "Skipped files" in page.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_a_page_that_cannot_be_written_does_not_fail_the_run(tmp_path: Path) -> None:
    (tmp_path / PAGE_NAME).mkdir()  # something in the way
    _write_result(study_output_dir(tmp_path, "1.1"), _olt(0.9))
    ledger = _ledger(tmp_path, [], ["1.1"])
    ledger.record_study("1.1", {}, [])
    summary = ledger.finalize(wall_seconds=1.0)
    assert summary["counts"]["results"] == 1 and (tmp_path / "results.csv").is_file()
    assert write_batch_page(tmp_path) is None


def test_an_apps_image_without_the_other_apps_still_draws_its_page(tmp_path: Path) -> None:
    """A MAP ships only its own app folder: drawing an olt_mri page must not import the other apps."""
    _write_result(study_output_dir(tmp_path, "1.1"), _olt(0.9))
    _write_csv(tmp_path / "results.csv", [{"study_instance_uid": "1.1", "status": "ok", "summary": ""}])
    probe = (
        "import sys\n"
        "class Gone:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith(('apps.ankle_xray', 'apps.onfh_mri')):\n"
        "            raise ImportError(f'{name} is not in this image')\n"
        "sys.meta_path.insert(0, Gone())\n"
        "from report_page import write_batch_page\n"
        f"print(write_batch_page({str(tmp_path)!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith(PAGE_NAME), done.stderr[-2000:]
    assert [row[3] for row in _page_data(tmp_path / PAGE_NAME)["studies"]] == ["positive"]
