"""Run-level records: results.csv, failures.csv and run.json, written atomically at the end of a run."""

from __future__ import annotations

import csv
import io
import json
import logging
import platform
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from dicom_in.study import InputFailure
from run.atomic_io import atomic_write_json, atomic_write_text
from run.plan import RESULT_FILE, RunPlan, study_output_dir

__all__ = ["RunLedger", "package_versions"]

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
_BASE_COLUMNS = ["study_instance_uid", "status", "summary"]


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


@dataclass
class RunLedger:
    """Collects what happened to every input of one run and writes the run-level files."""

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
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
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

    def _result_rows(self) -> list[dict[str, Any]]:
        """One row per complete study of this shard, this run's and earlier (resumed) ones alike."""
        rows = []
        for uid in sorted(set(self.processed) | set(self.plan.already_done)):
            path = study_output_dir(self.output_root, uid) / RESULT_FILE
            if not path.is_file():
                continue
            result = json.loads(path.read_text(encoding="utf-8"))
            rows.append(
                {
                    "study_instance_uid": uid,
                    **result.get("csv_row", {}),
                    **{"status": result["status"], "summary": result.get("summary", "")},
                }
            )
        return rows

    def finalize(self, wall_seconds: float) -> dict[str, Any]:
        """Write results.csv, failures.csv and run.json; returns the run summary."""
        suffix = self.plan.shard.suffix
        rows = self._result_rows()
        extra = list(dict.fromkeys(key for row in rows for key in row if key not in _BASE_COLUMNS))
        atomic_write_text(self.output_root / f"results{suffix}.csv", _csv_text(rows, _BASE_COLUMNS + extra))
        failures = [
            {"item": f.item, "study_instance_uid": f.study_uid, "reason": f.reason}
            for f in self.index_failures + self.failures
        ]
        columns = ["item", "study_instance_uid", "reason"]
        atomic_write_text(self.output_root / f"failures{suffix}.csv", _csv_text(failures, columns))
        summary = {
            "app": self.app,
            "app_version": self.app_version,
            "started": self.started,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(wall_seconds, 3),
            "shard": {"num_parts": self.plan.shard.num_parts, "part_id": self.plan.shard.part_id},
            "counts": {
                "studies_planned": len(self.plan.todo),
                "studies_completed": len(self.processed),
                "studies_already_done": len(self.plan.already_done),
                "studies_failed": len({f.study_uid for f in self.failures if f.item == f.study_uid}),
                "failures": len(failures),
                "results": len(rows),
            },
            "skipped_files": self.skipped_files,
            "stage_seconds": {stage: round(seconds, 3) for stage, seconds in sorted(self.timings.items())},
            "models": self.models,
            "versions": package_versions(),
        }
        atomic_write_json(self.output_root / f"run{suffix}.json", summary)
        return summary
