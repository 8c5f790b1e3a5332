"""What the app-level evaluation CLIs share: phantom truths paired with an app run's results, CSV rows, flags."""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["truths_with_results", "write_rows", "parse_evaluation_args"]


def truths_with_results(
    truth_root: Path, results_root: Path, kind: str
) -> Iterator[tuple[Path, dict[str, Any], dict[str, Any] | None]]:
    """(ground_truth.json path, truth, the app's result.json or None) for every phantom study of `kind`."""
    for truth_path in sorted(Path(truth_root).rglob("ground_truth.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        if truth.get("kind") != kind:
            continue
        result_path = Path(results_root) / truth["study_instance_uid"] / "result.json"
        result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.is_file() else None
        yield truth_path, truth, result


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
    parser.add_argument("--results", type=Path, required=True, help="the app's output folder")
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args(argv)
