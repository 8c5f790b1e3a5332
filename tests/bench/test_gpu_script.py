"""`python -m bench.gpu` runs the GPU columns where there is a GPU, and elsewhere refuses clearly: exit 2, one line
per missing piece, nothing measured, nothing written."""

from __future__ import annotations

import subprocess
import sys

import torch

from bench.gpu import gpu_problems
from tests.app_runner import REPO


def test_without_a_gpu_it_says_why_and_writes_nothing(tmp_path):
    if torch.cuda.is_available():
        assert gpu_problems(REPO / "models", ["olt_mri"]) == []  # a GPU machine: the script would run
        return
    before = set((REPO / "bench" / "results").glob("*"))
    done = subprocess.run(
        [sys.executable, "-m", "bench.gpu", "--apps", "olt_mri", "--models", str(tmp_path), "--work", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert any("CPU-only build" in line or "no CUDA device" in line for line in lines), lines
    assert any("olt_mri_t1.ts missing" in line for line in lines)
    assert lines[-1] == "error: no GPU columns measured (python -m bench.gpu needs a CUDA machine)"
    assert set((REPO / "bench" / "results").glob("*")) == before
