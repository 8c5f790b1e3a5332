"""Compare two runs' outputs finding for finding: every study's result.json and the run-level CSV rows, with
run-dependent values (times, timestamps, UIDs minted for new objects, input locations) left out."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

__all__ = ["VOLATILE_KEY", "comparable", "study_results", "csv_rows", "failure_rows"]

# Run-dependent values: wall times and timestamps, and the UIDs minted for each new DICOM object.
VOLATILE_KEY = re.compile(r"(seconds|_s$|time|started|finished|elapsed|duration|created|output_.*uid)", re.I)


def comparable(value: Any) -> Any:
    """A result with run-dependent fields dropped and floats rounded, for finding-by-finding comparison."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if not VOLATILE_KEY.search(k)}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, float):
        return round(value, 5)
    return value


def study_results(output: Path) -> dict[str, Any]:
    """Every study folder's result.json under `output`, comparable, by folder name."""
    return {p.parent.name: comparable(json.loads(p.read_text())) for p in sorted(output.glob("*/result.json"))}


def csv_rows(output: Path, pattern: str) -> list[dict[str, str]]:
    """The rows of every CSV matching `pattern` in `output` (one run's file or all parts' files), comparable."""
    rows = []
    for path in sorted(output.glob(pattern)):
        with open(path, newline="", encoding="utf-8") as handle:
            rows += [comparable(row) for row in csv.DictReader(handle)]
    return rows


def failure_rows(output: Path, pattern: str, input_root: str) -> list[tuple[str, str]]:
    """(item with the input folder written IN, reason) of every failures CSV matching `pattern`, sorted."""
    return sorted((row["item"].replace(input_root, "IN"), row["reason"]) for row in csv_rows(output, pattern))
