"""Measurement helpers for the benchmark: timed child processes with their own peak RSS, model floors."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
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
    killed_over_mb: float | None = None  # the guard it was killed at for passing it; None: it ran to its end


def _rss_mb(pid: int) -> float:
    """Resident memory of a running process (Linux /proc), 0.0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0.0
    return int(line.split()[1]) / 1024.0


def run_child(args: list[str], env: dict[str, str] | None = None, rss_guard_mb: float | None = None) -> ChildRun:
    """Run a command to completion; its own peak RSS comes from wait4, not from the whole process tree.

    With `rss_guard_mb` the child is killed once its resident memory passes that many MB (polled every 50 ms),
    so a run that would exhaust the machine's memory (an unrefused bomb) ends early and says so.
    """
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
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read() if proc.stderr else ""), daemon=True)
    reader.start()
    killed = None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG if rss_guard_mb and not killed else 0)
        if pid:
            break
        if _rss_mb(proc.pid) > rss_guard_mb:
            proc.kill()
            killed = rss_guard_mb
        time.sleep(0.05)
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    # ru_maxrss of this child alone (KiB on Linux); RUSAGE_CHILDREN would be the maximum over all of them.
    return ChildRun(seconds, proc.returncode, usage.ru_maxrss / 1024.0, "".join(stderr)[-2000:], killed)


def run_app(
    app: str,
    input_dir: Path,
    output_dir: Path,
    models: Path,
    *extra: str,
    rss_guard_mb: float | None = None,
    env: dict[str, str] | None = None,
) -> ChildRun:
    """One batch run of `python -m apps.<app>` (killed past `rss_guard_mb`, see `run_child`; `env`: variables
    added to this process's)."""
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
        rss_guard_mb=rss_guard_mb,
    )


def per_image_seconds(samples: list[float]) -> float:
    """Median of repeated timings (robust to a noisy shared machine)."""
    return float(np.median(samples))
