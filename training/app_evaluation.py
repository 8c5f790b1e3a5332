"""What the app-level evaluation CLIs share: phantom truths paired with an app run's results, CSV rows, flags."""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from run.plan import RESULT_FILE, study_folder_name

__all__ = ["StudyPair", "study_results_dir", "truths_with_results", "write_rows", "parse_evaluation_args"]


class StudyPair(NamedTuple):
    """A phantom study's truth and what the app wrote for it (result None when it wrote nothing)."""

    truth_path: Path
    truth: dict[str, Any]
    result: dict[str, Any] | None
    study_dir: Path


def study_results_dir(results_root: Path, app: str, study_uid: str) -> Path:
    """The study's output folder: OUT/<study> of an app's run, or OUT/<app>/<study> of the suite's (python -m apps)."""
    folder = study_folder_name(study_uid)
    own = Path(results_root) / folder
    in_suite = Path(results_root) / app / folder
    return in_suite if not own.is_dir() and in_suite.is_dir() else own


def truths_with_results(truth_root: Path, results_root: Path, kind: str, app: str) -> Iterator[StudyPair]:
    """Every phantom study of `kind` under truth_root with `app`'s result.json from an app or suite run folder."""
    for truth_path in sorted(Path(truth_root).rglob("ground_truth.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        if truth.get("kind") != kind:
            continue
        study_dir = study_results_dir(results_root, app, truth["study_instance_uid"])
        result_path = study_dir / RESULT_FILE
        result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.is_file() else None
        yield StudyPair(truth_path, truth, result, study_dir)


def write_rows(rows: list[dict[str, Any]], path: Path) -> Path:
    """A CSV of dict rows (columns from the first row)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def parse_evaluation_args(description: str, argv: list[str] | None) -> argparse.Namespace:
    """--truth (phantom folder), --results (the app's output folder), --out (where the metrics go)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--truth", type=Path, required=True, help="phantom folder with ground_truth.json files")
    parser.add_argument(
        "--results", type=Path, required=True, help="the app's output folder, or the suite's (python -m apps)"
    )
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args(argv)
