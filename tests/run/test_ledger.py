from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dicom_in.study import InputFailure
from dicom_in.study_index import shard_of
from run import ledger as ledger_module
from run.ledger import NO_MATCHING_APP, RunLedger, SuiteLedger, one_line, printable_item
from run.plan import RESULT_FILE, RunPlan, Shard, study_folder_name, study_output_dir


def _result(root: Path, uid: str, status: str, input_failures: list[dict] | None = None, **row: object) -> None:
    folder = study_output_dir(root, uid)
    folder.mkdir(parents=True)
    payload = {"status": status, "summary": f"s {uid}", "csv_row": row, "input_failures": input_failures or []}
    (folder / RESULT_FILE).write_text(json.dumps(payload))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_finalize_writes_results_failures_and_run_json(tmp_path: Path) -> None:
    _result(tmp_path, "1.1", "ok", call="positive", probability=0.9)
    _result(tmp_path, "1.2", "no_matching_series", call="", probability="")
    _result(tmp_path, "1.0", "ok", call="negative", probability=0.1)  # done by an earlier run
    plan = RunPlan(todo=["1.1", "1.2", "1.3"], already_done=["1.0"], shard=Shard(1, 0))
    ticks = []
    ledger = RunLedger(
        tmp_path,
        "app",
        "1.0",
        plan,
        [InputFailure("/in/x.txt", "not a DICOM file")],
        on_study=lambda: ticks.append(1),
    )
    ledger.record_study("1.1", {"inference": 2.0}, [InputFailure("/in/s1.dcm", "truncated", "1.1")])
    ledger.record_study("1.2", {"inference": 0.0}, [])
    ledger.record_failure(InputFailure("1.3", "decode failed", "1.3"), {"inference": 1.0})

    summary = ledger.finalize(wall_seconds=5.0)

    rows = _rows(tmp_path / "results.csv")
    assert [r["study_instance_uid"] for r in rows] == ["1.0", "1.1", "1.2"]
    assert rows[1]["call"] == "positive" and rows[1]["status"] == "ok"
    assert [r["output_dir"] for r in rows] == ["1.0", "1.1", "1.2"]
    failures = _rows(tmp_path / "failures.csv")
    assert [f["item"] for f in failures] == ["/in/x.txt", "/in/s1.dcm", "1.3"]
    assert summary["counts"]["studies_failed"] == 1 and summary["counts"]["results"] == 3
    assert summary["stage_seconds"]["inference"] == 3.0
    assert len(ticks) == 3
    assert json.loads((tmp_path / "run.json").read_text())["app"] == "app"


def test_results_csv_names_the_folder_of_a_hostile_uid(tmp_path: Path) -> None:
    uids = ["1.2.3/4", "1.2.3_4", "results.csv", "1." + "9" * 298]
    for uid in uids:
        _result(tmp_path, uid, "ok")
    ledger = RunLedger(tmp_path, "app", "1.0", RunPlan(todo=uids, already_done=[], shard=Shard()), [])
    for uid in uids:
        ledger.record_study(uid, {}, [])

    ledger.finalize(1.0)

    rows = {r["study_instance_uid"]: r["output_dir"] for r in _rows(tmp_path / "results.csv")}
    assert set(rows) == set(uids) and len(set(rows.values())) == len(uids)
    for uid, folder in rows.items():
        assert folder == study_folder_name(uid) and (tmp_path / folder / RESULT_FILE).is_file()
    assert (tmp_path / "results.csv").is_file() and not (tmp_path / "results.csv").is_dir()


def test_resume_keeps_the_failures_an_earlier_run_found(tmp_path: Path) -> None:
    earlier = [{"item": "/in/a/broken.dcm", "reason": "unreadable DICOM header (EOF)"}]
    _result(tmp_path, "1.1", "ok", input_failures=earlier)  # complete before this run
    ledger = RunLedger(tmp_path, "app", "1.0", RunPlan(todo=[], already_done=["1.1"], shard=Shard()), [])

    ledger.finalize(1.0)

    failures = _rows(tmp_path / "failures.csv")
    assert failures == [{"item": "/in/a/broken.dcm", "study_instance_uid": "1.1", "reason": earlier[0]["reason"]}]
    assert json.loads((tmp_path / "run.json").read_text())["counts"]["failures"] == 1


def test_failures_are_split_by_shard_and_orphans_go_to_part_zero(tmp_path: Path) -> None:
    studies = [f"1.2.{i}" for i in range(12)]
    index_failures = [InputFailure(f"/in/{uid}/no_pixels.dcm", "no pixel data", uid) for uid in studies]
    index_failures += [InputFailure("/in/README", "not a DICOM file"), InputFailure("/in/x.bin", "not DICOM")]
    seen = []
    for part in range(3):
        shard = Shard(3, part)
        mine = [uid for uid in studies if shard_of(uid, 3) == part]
        ledger = RunLedger(tmp_path, "app", "1.0", RunPlan(todo=mine, already_done=[], shard=shard), index_failures)
        for uid in mine:
            ledger.record_failure(InputFailure(uid, "decode failed", uid), {})
        ledger.finalize(1.0)
        rows = _rows(tmp_path / f"failures{shard.suffix}.csv")
        assert {r["study_instance_uid"] for r in rows} - {""} == set(mine)
        orphans = [r["item"] for r in rows if not r["study_instance_uid"]]
        assert orphans == (["/in/README", "/in/x.bin"] if part == 0 else [])
        seen += [r["item"] for r in rows]
    # every failure in exactly one part
    assert sorted(seen) == sorted([f.item for f in index_failures] + studies)


def test_every_reason_is_one_line_and_every_item_printable(tmp_path: Path) -> None:
    reason = "decode failed: OpenJPEG error\r\n  line 2\tcol\x00\x1b[31m red\u2028 sep\n" + "x" * 2000
    item = "/in/evil\nname\x1b.dcm"
    ledger = RunLedger(tmp_path, "app", "1.0", RunPlan(todo=[], already_done=[], shard=Shard()), [])
    ledger.record_failure(InputFailure(item, reason, "1.2"))
    ledger.record_failure(InputFailure("/in/\udcff.dcm", "bad", "1.2"))

    ledger.finalize(1.0)

    text = (tmp_path / "failures.csv").read_text(encoding="utf-8")
    assert len(text.splitlines()) == 3  # header + one physical line per failure
    rows = _rows(tmp_path / "failures.csv")
    assert rows[0]["reason"].startswith("decode failed: OpenJPEG error line 2 col [31m red sep x")
    assert len(rows[0]["reason"]) == ledger_module.REASON_CHARS and rows[0]["reason"].endswith("…")
    assert rows[0]["item"] == "/in/evil\\nname\\x1b.dcm" and rows[1]["item"] == "/in/\\xff.dcm"
    assert one_line("a\n\nb") == "a b" and printable_item("/in/ok.dcm") == "/in/ok.dcm"


def test_end_of_run_writers_are_called_after_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    writers = [
        lambda root, summary: calls.append((root, summary["app"])),
        lambda root, summary: calls.append(("run.json", (root / "run.json").is_file())),
    ]
    monkeypatch.setattr(ledger_module, "END_OF_RUN", writers)
    RunLedger(tmp_path, "app", "1.0", RunPlan([], [], Shard()), []).finalize(1.0)
    assert calls == [(tmp_path, "app"), ("run.json", True)]


def test_suite_ledger_merges_apps_and_lists_studies_no_app_reads(tmp_path: Path) -> None:
    for app, uid in (("olt_mri", "1.1"), ("ankle_xray", "1.2"), ("olt_mri", "1.2")):
        _result(tmp_path / app, uid, "ok", input_failures=[], call=f"{app} call")
    olt = RunLedger(tmp_path / "olt_mri", "olt_mri", "0.1", RunPlan(["1.1", "1.2"], [], Shard()), [])
    xray = RunLedger(tmp_path / "ankle_xray", "ankle_xray", "0.2", RunPlan(["1.2"], [], Shard()), [])
    shared_file = InputFailure("/in/1.2/trunc.dcm", "unreadable DICOM header (EOF)", "1.2")
    olt.record_study("1.1", {}, [])
    olt.record_study("1.2", {}, [shared_file])
    xray.record_study("1.2", {}, [shared_file])  # both apps read the study: the file is listed once
    suite = SuiteLedger(tmp_path, Shard(), [InputFailure("/in/README", "not a DICOM file")])
    suite.apps = {"olt_mri": olt, "ankle_xray": xray}
    suite.routed = {"olt_mri": ["1.1", "1.2"], "ankle_xray": ["1.2"]}
    suite.unrouted = {"1.9": "olt_mri: no series matches; ankle_xray: no series matches; onfh_mri: none"}

    summary = suite.finalize(2.0)

    rows = _rows(tmp_path / "results.csv")
    assert [(r["study_instance_uid"], r["app"], r["status"]) for r in rows] == [
        ("1.1", "olt_mri", "ok"),
        ("1.2", "ankle_xray", "ok"),
        ("1.2", "olt_mri", "ok"),
        ("1.9", "", NO_MATCHING_APP),
    ]
    assert [r["output_dir"] for r in rows] == ["olt_mri/1.1", "ankle_xray/1.2", "olt_mri/1.2", ""]
    assert rows[3]["summary"].startswith("olt_mri: no series matches; ankle_xray")
    assert rows[1]["call"] == "ankle_xray call"
    failures = _rows(tmp_path / "failures.csv")
    assert [(f["item"], f["app"]) for f in failures] == [("/in/README", ""), ("/in/1.2/trunc.dcm", "olt_mri")]
    assert summary["counts"]["studies_routed"] == {"olt_mri": 2, "ankle_xray": 1}
    assert summary["counts"]["studies_no_matching_app"] == 1 and summary["counts"]["studies"] == 3
    assert summary["apps"]["ankle_xray"]["app_version"] == "0.2"
