from __future__ import annotations

import csv
import json
from pathlib import Path

from dicom_in.study import InputFailure
from run.ledger import RunLedger
from run.plan import RESULT_FILE, RunPlan, Shard, study_output_dir


def _result(root: Path, uid: str, status: str, **row: object) -> None:
    folder = study_output_dir(root, uid)
    folder.mkdir(parents=True)
    (folder / RESULT_FILE).write_text(json.dumps({"status": status, "summary": f"s {uid}", "csv_row": row}))


def test_finalize_writes_results_failures_and_run_json(tmp_path: Path) -> None:
    _result(tmp_path, "1.1", "ok", call="positive", probability=0.9)
    _result(tmp_path, "1.2", "no_matching_series", call="", probability="")
    _result(tmp_path, "1.0", "ok", call="negative", probability=0.1)  # done by an earlier run
    plan = RunPlan(todo=["1.1", "1.2", "1.3"], already_done=["1.0"], shard=Shard(2, 1))
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

    with open(tmp_path / "results.part1of2.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["study_instance_uid"] for r in rows] == ["1.0", "1.1", "1.2"]
    assert rows[1]["call"] == "positive" and rows[1]["status"] == "ok"
    with open(tmp_path / "failures.part1of2.csv", newline="") as handle:
        failures = list(csv.DictReader(handle))
    assert [f["item"] for f in failures] == ["/in/x.txt", "/in/s1.dcm", "1.3"]
    assert summary["counts"]["studies_failed"] == 1 and summary["counts"]["results"] == 3
    assert summary["stage_seconds"]["inference"] == 3.0
    assert len(ticks) == 3
    assert json.loads((tmp_path / "run.part1of2.json").read_text())["app"] == "app"
