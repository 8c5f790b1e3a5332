"""What a page is built from: (study, app, result.json) rows, failure rows and run summaries, found in run folders.

A run folder holds `results*.csv`, `failures*.csv` and `run*.json` (one of each per shard, `.partKofN`). Two
layouts are read: an app's own run (`OUT/<study>/result.json`, the app named in result.json) and the suite's
(`OUT/<app>/<study>/result.json`, results.csv with `app` and `output_dir` columns). The page itself takes the rows,
not a layout.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicom_in.study import InputFailure
from run.plan import RESULT_FILE, study_output_dir

__all__ = ["StudyRow", "run_folders", "study_rows", "failure_rows", "run_summaries"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyRow:
    """One study as one app saw it: where its result.json is, and what results.csv said (for a study without one)."""

    study_uid: str
    app: str  # "" when only result.json can tell
    result_path: Path
    status: str = ""
    summary: str = ""


def run_folders(path: Path) -> list[Path]:
    """`path` when it is a run folder (has a run*.json), else its subfolders that are (one per app, as the demo)."""
    path = Path(path)
    if any(path.glob("run*.json")):
        return [path]
    return sorted(folder for folder in path.iterdir() if folder.is_dir() and any(folder.glob("run*.json")))


def _csv_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        logger.warning("%s: unreadable (%s); left off the page", path, exc)
        return []


def _result_path(run_folder: Path, line: dict[str, str]) -> Path:
    """Where a results.csv row's result.json is: its `output_dir` (the suite's column) when it names a folder
    inside the run folder, else the layout's rule: OUT/<app>/<study> for a row with an app, OUT/<study> without."""
    uid, app, given = line.get("study_instance_uid", ""), line.get("app", ""), line.get("output_dir", "")
    if given:
        folder = (run_folder / given).resolve()
        if folder.is_relative_to(run_folder.resolve()):
            return folder / RESULT_FILE
    return study_output_dir(run_folder / app if app else run_folder, uid) / RESULT_FILE


def study_rows(run_folder: Path) -> list[StudyRow]:
    """Every study listed in the folder's results*.csv (shards included), once per (study, app)."""
    rows: dict[tuple[str, str], StudyRow] = {}
    for table in sorted(Path(run_folder).glob("results*.csv")):
        for line in _csv_rows(table):
            uid, app = line.get("study_instance_uid", ""), line.get("app", "") or ""
            if uid:
                path = _result_path(Path(run_folder), line)
                rows.setdefault((uid, app), StudyRow(uid, app, path, line.get("status", ""), line.get("summary", "")))
    return list(rows.values())


def failure_rows(run_folder: Path) -> list[tuple[InputFailure, str]]:
    """Every row of the folder's failures*.csv, with where it came from (the file, and the suite's app column)."""
    return [
        (
            InputFailure(line.get("item", ""), line.get("reason", ""), line.get("study_instance_uid", "")),
            f"{table.name} ({line['app']})" if line.get("app") else table.name,
        )
        for table in sorted(Path(run_folder).glob("failures*.csv"))
        for line in _csv_rows(table)
    ]


def run_summaries(run_folder: Path) -> dict[Path, dict[str, Any]]:
    """Every run*.json of the folder that parses as a JSON object, by path."""
    found = {}
    for path in sorted(Path(run_folder).glob("run*.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.warning("%s: unreadable (%s); left off the page", path, exc)
            continue
        if isinstance(summary, dict):
            found[path] = summary
    return found
