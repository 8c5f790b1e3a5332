"""Run-level records: results.csv, failures.csv and run.json, written atomically at the end of a run.

A per-app run keeps one `RunLedger`; the suite (`python -m apps`) keeps one per app it runs and a
`SuiteLedger` that writes one set of run files for all of them. After the run files are written, every
function in `END_OF_RUN` is called with the output folder and the run summary (e.g. a viewer's index).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import platform
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from dicom_in.study import InputFailure
from dicom_in.study_index import shard_of
from report_page import page_at_end_of_run
from run.atomic_io import atomic_write_json, atomic_write_text
from run.plan import RESULT_FILE, RunPlan, Shard, study_folder_name, study_output_dir

__all__ = [
    "RunLedger",
    "SuiteLedger",
    "RunFiles",
    "END_OF_RUN",
    "package_versions",
    "one_line",
    "printable_item",
    "failure_rows",
    "in_shard",
    "NO_MATCHING_APP",
]

logger = logging.getLogger(__name__)

_VERSIONED = (
    "monai-deploy-app-sdk",
    "holoscan-cu13",
    "torch",
    "monai",
    "highdicom",
    "pydicom",
    "nvidia-dali-cuda130",
)
_BASE_COLUMNS = ["study_instance_uid", "status", "summary", "output_dir"]
_SUITE_COLUMNS = ["study_instance_uid", "app", "status", "summary", "output_dir"]
_FAILURE_COLUMNS = ["item", "study_instance_uid", "reason"]
NO_MATCHING_APP = "no_matching_app"  # a suite row: no app's selection accepts the study
REASON_CHARS = 500  # a decoder's error text can run to pages; failures.csv keeps one bounded line

# Called as writer(output_root, summary) after the run files are written; append yours.
END_OF_RUN: list[Callable[[Path, dict[str, Any]], None]] = [page_at_end_of_run]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: object, limit: int = REASON_CHARS) -> str:
    """`text` as one line: control characters and runs of white space become one space; at most `limit` chars."""
    line = " ".join(_CONTROL.sub(" ", str(text)).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def printable_item(item: str) -> str:
    """A path or UID as one printable line that still names it: control characters and undecodable bytes escaped."""
    raw = str(item).encode("utf-8", "surrogateescape")
    text = raw.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def failure_rows(failures: Iterable[InputFailure], **extra: str) -> list[dict[str, str]]:
    """failures.csv rows: every item printable, every reason one line (the one place reasons are cleaned)."""
    rows = []
    for f in failures:
        row = {"item": printable_item(f.item), "study_instance_uid": printable_item(f.study_uid)}
        rows.append({**row, "reason": one_line(f.reason), **extra})
    return rows


def in_shard(failure: InputFailure, shard: Shard) -> bool:
    """Whether a failure belongs to this shard's failures.csv: its study's shard; a file with no study: part 0."""
    if not failure.study_uid:
        return shard.part_id == 0
    return shard_of(failure.study_uid, shard.num_parts) == shard.part_id


def package_versions() -> dict[str, str]:
    """Versions of the stack this run used, for run.json."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunFiles:
    """The run-level files of one output folder and shard: results.csv, failures.csv, run.json (+ .partKofN)."""

    output_root: Path
    shard: Shard

    @property
    def names(self) -> list[str]:
        """The file names this shard writes."""
        suffix = self.shard.suffix
        return [f"results{suffix}.csv", f"failures{suffix}.csv", f"run{suffix}.json"]

    def clear_partials(self) -> None:
        """Remove temp files a killed run of this shard left while writing its run files (not other shards')."""
        for name in self.names:
            for stale in self.output_root.glob(f".{name}.*.partial"):
                stale.unlink(missing_ok=True)

    def write(
        self,
        results: list[dict[str, Any]],
        base_columns: list[str],
        failures: list[dict[str, str]],
        failure_columns: list[str],
        summary: dict[str, Any],
    ) -> None:
        """Write the three files atomically, then call every END_OF_RUN writer."""
        extra = list(dict.fromkeys(key for row in results for key in row if key not in base_columns))
        results_name, failures_name, run_name = self.names
        atomic_write_text(self.output_root / results_name, _csv_text(results, base_columns + extra))
        atomic_write_text(self.output_root / failures_name, _csv_text(failures, failure_columns))
        atomic_write_json(self.output_root / run_name, summary)
        for writer in END_OF_RUN:
            writer(self.output_root, summary)


@dataclass
class RunLedger:
    """Collects what happened to every input of one app's run; writes the run files of a per-app run."""

    output_root: Path
    app: str
    app_version: str
    plan: RunPlan
    index_failures: list[InputFailure]
    skipped_files: dict[str, int] = field(default_factory=dict)  # non-DICOM companions per kind (StudyIndex)
    failures: list[InputFailure] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    started: str = field(default_factory=_now)
    on_study: Callable[[], object] | None = None  # called once per study finished (progress bar)

    def record_study(self, study_uid: str, timings: dict[str, float], failures: list[InputFailure]) -> None:
        """Note a study this run finished (result.json written) and its per-file failures."""
        self.processed.append(study_uid)
        self.failures.extend(failures)
        for stage, seconds in timings.items():
            self.timings[stage] += seconds
        if self.on_study:
            self.on_study()

    def record_failure(self, failure: InputFailure, timings: dict[str, float] | None = None) -> None:
        """Note an input (file or whole study) that produced no result."""
        self.failures.append(failure)
        if timings is None:
            return
        for stage, seconds in timings.items():
            self.timings[stage] += seconds
        if self.on_study:
            self.on_study()

    def _complete(self) -> list[tuple[str, dict[str, Any]]]:
        """(uid, result.json) of every complete study of this shard, this run's and earlier (resumed) ones."""
        done = []
        for uid in sorted(set(self.processed) | set(self.plan.already_done)):
            path = study_output_dir(self.output_root, uid) / RESULT_FILE
            if path.is_file():
                done.append((uid, json.loads(path.read_text(encoding="utf-8"))))
        return done

    def result_rows(self, folder_prefix: str = "") -> list[dict[str, Any]]:
        """One results.csv row per complete study; `output_dir` is its folder, under `folder_prefix`."""
        return [
            {
                "study_instance_uid": uid,
                **result.get("csv_row", {}),
                "status": result["status"],
                "summary": result.get("summary", ""),
                "output_dir": folder_prefix + study_folder_name(uid),
            }
            for uid, result in self._complete()
        ]

    def study_failures(self) -> list[InputFailure]:
        """This run's failures, then those an earlier run found in the studies this one resumed past."""
        resumed = set(self.plan.already_done)
        earlier = [
            InputFailure(item["item"], item["reason"], uid)
            for uid, result in self._complete()
            if uid in resumed
            for item in result.get("input_failures", [])
        ]
        return self.failures + earlier

    def counts(self, results: int) -> dict[str, int]:
        """run.json's counts for this app."""
        return {
            "studies_planned": len(self.plan.todo),
            "studies_completed": len(self.processed),
            "studies_already_done": len(self.plan.already_done),
            "studies_failed": len({f.study_uid for f in self.failures if f.item == f.study_uid}),
            "results": results,
        }

    def finalize(self, wall_seconds: float) -> dict[str, Any]:
        """Write results.csv, failures.csv and run.json of a per-app run; returns the run summary."""
        shard = self.plan.shard
        rows = self.result_rows()
        index = [f for f in self.index_failures if in_shard(f, shard)]
        failures = failure_rows(index + self.study_failures())
        summary = {
            "app": self.app,
            "app_version": self.app_version,
            "started": self.started,
            "finished": _now(),
            "wall_seconds": round(wall_seconds, 3),
            "shard": {"num_parts": shard.num_parts, "part_id": shard.part_id},
            "counts": {**self.counts(len(rows)), "failures": len(failures)},
            "skipped_files": self.skipped_files,
            "stage_seconds": _rounded(self.timings),
            "models": self.models,
            "versions": package_versions(),
        }
        RunFiles(self.output_root, shard).write(rows, _BASE_COLUMNS, failures, _FAILURE_COLUMNS, summary)
        return summary


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {stage: round(seconds, 3) for stage, seconds in sorted(timings.items())}


@dataclass
class SuiteLedger:
    """The suite's run: the routing, one RunLedger per app that got studies, one set of run files for all."""

    output_root: Path
    shard: Shard
    index_failures: list[InputFailure]
    skipped_files: dict[str, int] = field(default_factory=dict)  # non-DICOM companions per kind (StudyIndex)
    apps: dict[str, RunLedger] = field(default_factory=dict)
    unrouted: dict[str, str] = field(default_factory=dict)  # study UID -> why no app accepts it
    routing_failures: list[InputFailure] = field(default_factory=list)  # files/studies of unrouted studies
    routed: dict[str, list[str]] = field(default_factory=dict)  # app -> its studies in this shard
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    started: str = field(default_factory=_now)

    def result_rows(self) -> list[dict[str, Any]]:
        """Per app, its rows (with `app`), then one no_matching_app row per study no app accepts, by UID."""
        rows = [{"app": app, **row} for app, ledger in self.apps.items() for row in ledger.result_rows(f"{app}/")]
        rows += [
            {"study_instance_uid": uid, "app": "", "status": NO_MATCHING_APP, "summary": reason, "output_dir": ""}
            for uid, reason in sorted(self.unrouted.items())
        ]
        return sorted(rows, key=lambda row: (row["study_instance_uid"], row["app"]))

    def failure_rows(self) -> list[dict[str, str]]:
        """The index's failures of this shard, the unrouted studies', then each app's (a file two apps read once)."""
        rows = failure_rows([f for f in self.index_failures if in_shard(f, self.shard)], app="")
        rows += failure_rows(self.routing_failures, app="")
        seen = {(row["item"], row["reason"]) for row in rows}
        for app, ledger in self.apps.items():
            for row in failure_rows(ledger.study_failures(), app=app):
                if row["item"] == row["study_instance_uid"] or (row["item"], row["reason"]) not in seen:
                    seen.add((row["item"], row["reason"]))
                    rows.append(row)
        return rows

    def finalize(self, wall_seconds: float) -> dict[str, Any]:
        """Write the suite's results.csv (with `app`), failures.csv (with `app`) and run.json; the summary."""
        rows = self.result_rows()
        failures = self.failure_rows()
        per_app = {}
        for app, ledger in self.apps.items():
            app_rows = [row for row in rows if row["app"] == app]
            per_app[app] = {
                "app_version": ledger.app_version,
                "counts": ledger.counts(len(app_rows)),
                "stage_seconds": _rounded(ledger.timings),
            }
        summary = {
            "app": "suite",
            "apps": per_app,
            "started": self.started,
            "finished": _now(),
            "wall_seconds": round(wall_seconds, 3),
            "shard": {"num_parts": self.shard.num_parts, "part_id": self.shard.part_id},
            "counts": {
                "studies": len({row["study_instance_uid"] for row in rows} | set(self._failed_studies())),
                "studies_routed": {app: len(uids) for app, uids in self.routed.items()},
                "studies_no_matching_app": len(self.unrouted),
                "studies_failed": len(self._failed_studies()),
                "results": len(rows),
                "failures": len(failures),
            },
            "skipped_files": self.skipped_files,
            "models": self.models,
            "versions": package_versions(),
        }
        RunFiles(self.output_root, self.shard).write(
            rows, _SUITE_COLUMNS, failures, [*_FAILURE_COLUMNS, "app"], summary
        )
        return summary

    def _failed_studies(self) -> set[str]:
        failed = {f.study_uid for f in self.routing_failures if f.item == f.study_uid}
        for ledger in self.apps.values():
            failed |= {f.study_uid for f in ledger.failures if f.item == f.study_uid}
        return failed
