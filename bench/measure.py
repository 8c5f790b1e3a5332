"""Measurement helpers for the benchmark: timed child processes with their own peak RSS, model floors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from run.batch import holoscan_stack_limit

__all__ = ["ChildRun", "run_child", "run_app", "REPO"]

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ChildRun:
    """Wall time, exit code and peak resident memory of one child process."""

    seconds: float
    returncode: int
    peak_rss_mb: float
    stderr_tail: str


def run_child(args: list[str], env: dict[str, str] | None = None) -> ChildRun:
    """Run a command to completion; its own peak RSS comes from wait4, not from the whole process tree."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=holoscan_stack_limit,
    )
    stderr = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    # ru_maxrss of this child alone (KiB on Linux); RUSAGE_CHILDREN would be the maximum over all of them.
    return ChildRun(seconds, proc.returncode, usage.ru_maxrss / 1024.0, stderr[-2000:])


def run_app(
    app: str, input_dir: Path, output_dir: Path, models: Path, *extra: str, env: dict[str, str] | None = None
) -> ChildRun:
    """One batch run of `python -m apps.<app>` (`env`: variables added to this process's)."""
    return run_child(
        [
            sys.executable,
            "-m",
            f"apps.{app}",
            "-i",
            str(input_dir),
            "-o",
            str(output_dir),
            "-m",
            str(models),
            "--no-progress",
            "-l",
            "WARN",
            *extra,
        ],
        env,
    )


def per_image_seconds(samples: list[float]) -> float:
    """Median of repeated timings (robust to a noisy shared machine)."""
    return float(np.median(samples))
