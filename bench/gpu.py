"""`python -m bench.gpu`: the bench's GPU columns in one prepared run, for a machine with an NVIDIA GPU.

What it measures (all on the GPU, in one process tree, written to bench/results/<date>-gpu.{json,md}):
* decode: DALI's GPU decoders ("mixed") against pydicom on the CPU, and whether their pixels are exact,
  on 16-bit JPEG 2000 images and per radiograph transfer syntax (bench.decode);
* per app: model floors on the GPU, end-to-end runs of N and 10N studies, per-study launches, a run on one
  scheduler thread, memory, and the cold one-study row (bench.__main__.bench_app), every app child process
  started with MSK_MAPS_DEVICE=cuda so none of them silently falls back to the CPU.

It refuses to start, with one line per missing piece and exit status 2, where it cannot measure a GPU: no CUDA
device visible to torch, a CPU-only torch build, DALI without CUDA, no demo models. On such a machine nothing
is measured and nothing is written.

    python -m bench.gpu [--apps olt_mri ...] [--studies 3] [--models models] [--work build/bench-gpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["gpu_problems", "main"]

REPO = Path(__file__).resolve().parents[1]
APP_NAMES = ("olt_mri", "ankle_xray", "onfh_mri")


def gpu_problems(models: Path, apps: list[str]) -> list[str]:
    """What keeps this machine from measuring the GPU columns (empty when nothing does)."""
    problems = []
    import torch

    if torch.version.cuda is None:
        problems.append(
            f"torch {torch.__version__} is a CPU-only build (torch.version.cuda is None): install the CUDA build "
            "of the pinned torch (pip's default index serves it) in this environment"
        )
    elif not torch.cuda.is_available():
        problems.append("no CUDA device: torch.cuda.is_available() is False (driver, CUDA_VISIBLE_DEVICES?)")
    try:
        from nvidia.dali.backend import GetCUDADeviceCount

        if GetCUDADeviceCount() < 1:
            problems.append("DALI sees no CUDA device (nvidia.dali.backend.GetCUDADeviceCount() == 0)")
    except (ImportError, RuntimeError, OSError) as exc:
        problems.append(f"DALI cannot use CUDA here: {type(exc).__name__}: {exc}".splitlines()[0])
    from apps.catalog import app_info

    for app in apps:
        for model in app_info(app).models:
            if not (models / model / f"{model}.ts").exists():
                problems.append(f"model {models / model / (model + '.ts')} missing: run `make models`")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the GPU columns; 2 (with the reasons on stderr) where there is no GPU to measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", nargs="+", default=list(APP_NAMES), choices=APP_NAMES)
    parser.add_argument("--studies", type=int, default=3, help="N (the app rows also run 10N)")
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench-gpu")
    args = parser.parse_args(argv)
    problems = gpu_problems(args.models, args.apps)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print("error: no GPU columns measured (python -m bench.gpu needs a CUDA machine)", file=sys.stderr)
        return 2
    os.environ["MSK_MAPS_DEVICE"] = "cuda"  # every app child process and the floors insist on the GPU
    import torch

    from bench.__main__ import _markdown, bench_app
    from bench.decode import decode_by_syntax, decode_speed

    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.cuda.get_device_name(0)}, "
        f"torch {torch.__version__} (CUDA {torch.version.cuda}); apps and floors on cuda",
        "models": str(args.models),
        "apps": {},
    }
    results["decode"] = decode_speed(args.work / "decode")
    results["decode_by_syntax"] = decode_by_syntax(args.work / "decode_syntax")
    if "dali_gpu_s" not in results["decode"]:
        print("error: the decode bench found no GPU although torch did; nothing written", file=sys.stderr)
        return 2
    for app in args.apps:
        results["apps"][app] = bench_app(app, args.studies, args.models.resolve(), args.work)
    results["seconds"] = round(time.perf_counter() - started, 1)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{results['date']}-gpu.json").write_text(json.dumps(results, indent=1))
    markdown = _markdown(results)
    (out / f"{results['date']}-gpu.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
