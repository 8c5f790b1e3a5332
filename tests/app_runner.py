"""Start an app as users do (python -m apps.<app>) over a folder, for the end-to-end tests of every app."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from run.batch import holoscan_stack_limit

__all__ = ["REPO", "start_module", "start_app", "run_app", "read_rows"]

REPO = Path(__file__).resolve().parents[1]


def start_module(module: str, input_dir: Path, output_dir: Path, models: Path, *extra: str) -> subprocess.Popen:
    """`python -m <module>` (an app, or the suite `apps`) in a child process with Holoscan's stack limit set,
    stdout/stderr piped as text."""
    command = [sys.executable, "-m", module, "-i", str(input_dir), "-o", str(output_dir), "-m", str(models)]
    return subprocess.Popen(
        [*command, "--no-progress", "--batch-size", "8", *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=holoscan_stack_limit,
    )


def start_app(app: str, input_dir: Path, output_dir: Path, models: Path, *extra: str) -> subprocess.Popen:
    """The app running in a child process (Holoscan's stack limit set), stdout/stderr piped as text."""
    return start_module(f"apps.{app}", input_dir, output_dir, models, *extra)


def run_app(app: str, input_dir: Path, output_dir: Path, models: Path, *extra: str) -> tuple[int, str]:
    """Run the app to the end; (exit status, stderr)."""
    proc = start_app(app, input_dir, output_dir, models, *extra)
    _, stderr = proc.communicate(timeout=900)
    return proc.returncode, stderr


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV the apps write (results.csv, failures.csv)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
