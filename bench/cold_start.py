"""Cold one-study runs: what a platform that starts one process (one container) per study pays before and after
the study's own work, against the price of a bare `python -c "import torch"` measured in the same bench run.

start-up overhead = wall time of `python -m apps.<app>` over one study - that study's stage seconds (run.json)
ratio = overhead / bare torch import (target: <= 2)

Each figure is the median of `repeats` fresh processes, alternating the app and the bare import so a noisy
shared machine weighs on both alike. The model cache (inference/model_cache.py) is warmed first, as a MAP ships
it; so is the disk cache. The import breakdown is Python's -X importtime self time per top-level package.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import REPO, run_app, run_child
from run.batch import holoscan_stack_limit

__all__ = ["TARGET_RATIO", "torch_import_seconds", "import_breakdown", "cold_one_study"]

TARGET_RATIO = 2.0
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def torch_import_seconds() -> float:
    """Wall seconds of one fresh `python -c "import torch"`."""
    done = run_child([sys.executable, "-c", "import torch"])
    if done.returncode != 0:
        raise RuntimeError(f"python -c 'import torch' failed: {done.stderr_tail}")
    return done.seconds


def import_breakdown(app: str, top: int = 8) -> dict[str, Any]:
    """Self import time per top-level package when the app and the batch harness are imported (seconds)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import apps.{app}.app, run.batch"],
        cwd=REPO,
        capture_output=True,
        text=True,
        preexec_fn=holoscan_stack_limit,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing apps.{app} failed: {done.stderr[-2000:]}")
    per_package: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            per_package[match.group(4).split(".")[0]] += int(match.group(1)) / 1e6
    ranked = sorted(per_package.items(), key=lambda kv: -kv[1])
    return {
        "total_s": round(sum(per_package.values()), 3),
        "top_s": {name: round(seconds, 3) for name, seconds in ranked[:top]},
        "monai_imported": "monai" in per_package,
    }


def cold_one_study(app: str, study: Path, models: Path, work: Path, repeats: int = 3) -> dict[str, Any]:
    """Median start-up overhead of a one-study run over the median bare torch import, and where it goes."""
    cache = work / "model_cache"
    env = {"MSK_MAPS_MODEL_CACHE": str(cache)}
    warm = run_app(app, study, work / "warm", models, env=env)  # fills the model cache and the disk cache
    if warm.returncode != 0:
        raise RuntimeError(f"{app} one-study run failed: {warm.stderr_tail}")
    walls, overheads, stages, torch_imports = [], [], [], []
    for i in range(repeats):
        torch_imports.append(torch_import_seconds())
        out = work / f"cold_{i}"
        shutil.rmtree(out, ignore_errors=True)
        done = run_app(app, study, out, models, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{app} one-study run failed: {done.stderr_tail}")
        stage_seconds = json.loads((out / "run.json").read_text())["stage_seconds"]
        walls.append(done.seconds)
        stages.append(sum(stage_seconds.values()))
        overheads.append(done.seconds - stages[-1])
    torch_imports.append(torch_import_seconds())
    overhead, bare = float(np.median(overheads)), float(np.median(torch_imports))
    return {
        "repeats": repeats,
        "wall_s": round(float(np.median(walls)), 3),
        "stage_s": round(float(np.median(stages)), 3),
        "start_up_overhead_s": round(overhead, 3),
        "bare_torch_import_s": round(bare, 3),
        "overhead_over_torch_import": round(overhead / bare, 3),
        "target": TARGET_RATIO,
        "imports": import_breakdown(app),
    }
