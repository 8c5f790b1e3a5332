"""Measurement helpers for the benchmark: timed child processes with their own peak RSS, model floors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from apps.batch import holoscan_stack_limit
from operators.image_preprocessor import decode_series
from operators.model_store import ModelStore
from operators.preprocess import PreprocessSpec, make_preprocessor
from operators.series_selection import SelectionRules, select_series
from operators.study_index import index_folder, load_study

__all__ = ["ChildRun", "run_child", "run_app", "model_floor", "REPO"]

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


def run_app(app: str, input_dir: Path, output_dir: Path, models: Path, *extra: str) -> ChildRun:
    """One batch run of `python -m apps.<app>`."""
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
        ]
    )


def model_floor(input_dir: Path, rules_path: Path, models: Path, batch_size: int = 16) -> dict[str, float]:
    """The models' forward passes alone over every selected slice, inputs already in memory."""
    store = ModelStore(models, "cpu")
    index = index_folder(input_dir)
    batches: list[tuple[str, torch.Tensor]] = []
    rules = SelectionRules.from_file(rules_path)
    for uid in index.study_uids:
        study = load_study(uid, index.studies[uid])
        for selected in select_series(study, rules):
            images = decode_series(selected, "cpu", [])
            if images.pixels:
                spec = PreprocessSpec.from_meta(store.get(selected.model).meta)
                batches.append((selected.model, make_preprocessor(spec)(images.pixels)))
    for name, tensor in batches[:2]:  # warm-up: first calls pay for graph optimisation
        store.get(name).predict(tensor[:1], batch_size)
    start = time.perf_counter()
    for name, tensor in batches:
        store.get(name).predict(tensor, batch_size)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "images": float(sum(len(t) for _, t in batches))}


def per_image_seconds(samples: list[float]) -> float:
    """Median of repeated timings (robust to a noisy shared machine)."""
    return float(np.median(samples))
