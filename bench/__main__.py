"""`make bench`: throughput, overhead, batch gain, decode speed and memory of the apps on phantom studies.

python -m bench [--studies N] [--apps olt_mri] [--models models] [--work build/bench] [--cold-only]
Writes bench/results/<date>.json and .md and prints the table with the ratios:
end-to-end / model floor (overhead), per-study launch / end-to-end (batch gain), DALI / pydicom decode,
RSS(10N) / RSS(N), and per app a cold one-study run's start-up overhead / a bare `import torch` (bench.cold_start;
--cold-only measures just that). It also checks that the optimised run's findings equal an unoptimised run's.
python -m bench --bombs: only the peak RSS of an ankle_xray run with each bomb kind against the 2 GB budget
(bench/bombs.py; written to bench/results/<date>-bombs.{json,md}).
The GPU columns: python -m bench.gpu (on a machine with a CUDA device).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from apps.ankle_xray.result_details import FragmentStudyDetails
from apps.olt_mri.result_details import OltDetails
from apps.onfh_mri.result_details import OnfhDetails
from bench.bombs import bomb_runs, bombs_markdown
from bench.cold_start import cold_one_study
from bench.decode import decode_by_syntax, decode_speed
from bench.floor_variants import floor_variants
from bench.floors import REPEATS, model_floor
from bench.measure import REPO, run_app
from bench.pacs import bench_pacs, pacs_markdown
from bench.timing_models import PAPER_SIZE_APPS, export_paper_size_models
from dicom_out.result_json import read_details
from inference.model_store import pick_device
from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.ankle_xray import generate_ankle_xray_dataset
from phantoms.hip_mri import generate_hip_mri_dataset

__all__ = ["main"]


def _olt_images(result: dict[str, Any]) -> int:
    details = read_details(result, OltDetails)
    return sum(len(s.slice_probabilities) for s in details.series) if details else 0


def _olt_findings(result: dict[str, Any]) -> dict[str, tuple[bool, float]]:
    details = read_details(result, OltDetails)
    return {s.rule: (s.present, s.probability) for s in details.series} if details else {}


def _xray_images(result: dict[str, Any]) -> int:
    details = read_details(result, FragmentStudyDetails)
    return len(details.radiographs) if details else 0


def _xray_findings(result: dict[str, Any]) -> dict[str, tuple[str, float]]:
    details = read_details(result, FragmentStudyDetails)
    return {f.tracking_id: (f.label, f.class_probability) for f in details.fragments} if details else {}


def _onfh_images(result: dict[str, Any]) -> int:
    details = read_details(result, OnfhDetails)
    return len(details.hips) if details else 0


def _onfh_findings(result: dict[str, Any]) -> dict[str, tuple[str, float]]:
    # The ratio (in %) is the hip's continuous output; 1e-3 points is far below any grade boundary's concern.
    details = read_details(result, OnfhDetails)
    return {side: (h.grade, h.ratio_key_percent / 100.0) for side, h in details.hips.items()} if details else {}


APPS: dict[str, dict[str, Any]] = {
    "olt_mri": {
        "generate": lambda out, n, seed: generate_ankle_mri_dataset(out, n, seed),
        "images": _olt_images,
        "findings": _olt_findings,
        "unit": "slices",
    },
    "ankle_xray": {
        "generate": lambda out, n, seed: generate_ankle_xray_dataset(out, n, seed),
        "images": _xray_images,
        "findings": _xray_findings,
        "unit": "radiographs",
    },
    "onfh_mri": {
        "generate": lambda out, n, seed: generate_hip_mri_dataset(out, n, seed),
        "images": _onfh_images,
        "findings": _onfh_findings,
        "unit": "hips",
    },
}
PROBABILITY_TOLERANCE = 1e-3  # optimised (frozen/fused) vs exported model, per finding probability


def _results(output: Path) -> dict[str, dict[str, Any]]:
    return {p.parent.name: json.loads(p.read_text()) for p in output.glob("*/result.json")}


def _details(output: Path) -> dict[str, Any]:
    return {uid: r["details"] for uid, r in _results(output).items()}


def _images(app: str, output: Path) -> int:
    return sum(APPS[app]["images"](r) for r in _results(output).values())


def _findings(app: str, output: Path) -> dict[str, dict[str, Any]]:
    return {uid: APPS[app]["findings"](r) for uid, r in _results(output).items()}


def _compare(a: dict, b: dict) -> tuple[bool, float]:
    worst = 0.0
    same = a.keys() == b.keys()
    for study in a.keys() & b.keys():
        same &= a[study].keys() == b[study].keys()
        for rule in a[study].keys() & b[study].keys():
            same &= a[study][rule][0] == b[study][rule][0]
            worst = max(worst, abs(a[study][rule][1] - b[study][rule][1]))
    return same and worst <= PROBABILITY_TOLERANCE, worst


def overlap_limits(stage_seconds: dict[str, float], cores: int) -> tuple[float, float]:
    """The most overlapping can gain over a serial run with this stage split, start-up excluded: (low, high).

    The models already use every core, so the serial run spends I (inference) + P (all other stages, one core
    each). Overlapped perfectly, the C cores still have C*I + P core-seconds of work: at best I + P/C (high).
    The other stages are Python and share one GIL; where all of P holds it, P itself is a floor (low). Parts of
    P release the GIL (zlib, DALI, numpy), so the truth lies between the two.
    """
    inference = stage_seconds.get("inference", 0.0)
    other = sum(v for k, v in stage_seconds.items() if k != "inference")
    serial = inference + other
    cores_bound = inference + other / cores
    return round(serial / max(cores_bound, other), 3), round(serial / cores_bound, 3)


def overlap_gain_after_start_up(serial_seconds: float, stage_seconds: dict[str, float], pipelined: float) -> float:
    """Serial over pipelined wall time with the start-up taken out of both, to compare with `overlap_limits`.

    Start-up (imports, model load, indexing, Holoscan) is the serial run's wall time outside its stages; the
    pipelined run pays the same, and overlapping cannot touch it.
    """
    work = sum(stage_seconds.values())
    start_up = max(serial_seconds - work, 0.0)
    return round(work / max(pipelined - start_up, 1e-9), 3)


def marginal_over_floor(
    seconds_n: float, seconds_10n: float, floor_n: dict[str, float], floor_10n: dict[str, float]
) -> float:
    """End-to-end seconds the 10N run adds to the N run, over the model floor of the images it adds.

    The added images are costed at the 10N floor's rate per image rather than as the difference of two floors:
    the short N floor moved by a third between minutes on this shared machine, and a difference amplifies that.
    """
    added = floor_10n["seconds"] * (floor_10n["images"] - floor_n["images"]) / floor_10n["images"]
    return round((seconds_10n - seconds_n) / added, 3)


def _small_input(app: str, studies: int, work: Path) -> Path:
    """The bench's N-study input of `app` (generated once)."""
    small = work / app / f"input_{studies}"
    if not small.exists():
        APPS[app]["generate"](small, studies, 7)
    return small


def cold_row(app: str, studies: int, models: Path, work: Path) -> dict[str, Any]:
    """The cold one-study figures of `app`, over the first study of its N-study input."""
    study = sorted(p for p in _small_input(app, studies, work).iterdir() if p.is_dir())[0]
    return cold_one_study(app, study, models, work / app / "cold")


def bench_app(app: str, studies: int, models: Path, work: Path) -> dict[str, Any]:
    """All figures for one app."""
    spec = APPS[app]
    small, large = _small_input(app, studies, work), work / app / f"input_{10 * studies}"
    if not large.exists():
        spec["generate"](large, 10 * studies, 8)
    outputs = work / app / "outputs"
    shutil.rmtree(outputs, ignore_errors=True)

    batch = run_app(app, small, outputs / "batch", models)
    if batch.returncode != 0:
        raise SystemExit(f"{app} batch run failed: {batch.stderr_tail}")
    run = json.loads((outputs / "batch" / "run.json").read_text())
    images = _images(app, outputs / "batch")
    floor = model_floor(app, small, models)

    per_study = []
    for i, patient in enumerate(sorted(p for p in small.iterdir() if p.is_dir())):
        per_study.append(run_app(app, patient, outputs / f"single_{i}", models).seconds)
    plain = run_app(app, small, outputs / "unoptimised", models, "--no-optimize")
    same, worst = _compare(_findings(app, outputs / "batch"), _findings(app, outputs / "unoptimised"))
    big = run_app(app, large, outputs / "large", models)
    # The floor of the 10N studies themselves (one pass: 30 studies are long enough to time), so the marginal
    # ratio compares like with like: phantom studies differ in slice count (the 30 hips have 4 % fewer files
    # per study than the 3).
    floor_10n = model_floor(app, large, models, repeats=1)
    # The 10N run again on one scheduler thread: what overlapping reading, inference and writing buys, in the
    # steady state. Its stage split is the one reported: overlapped stages slow each other, so their times
    # add up to more than the wall time.
    serial = run_app(app, large, outputs / "serial", models, "--workers", "1")
    stages = json.loads((outputs / "serial" / "run.json").read_text())["stage_seconds"]

    return {
        "studies": studies,
        "images": images,
        "image_unit": spec["unit"],
        "end_to_end": {
            "seconds": round(batch.seconds, 3),
            "studies_per_s": round(studies / batch.seconds, 4),
            "images_per_s": round(images / batch.seconds, 3),
            "stage_seconds_pipelined": run["stage_seconds"],
        },
        "serial_10n": {
            "seconds": round(serial.seconds, 3),
            "stage_seconds": stages,
            # Threads must not change a single number: every study's details, compared exactly.
            "details_identical": _details(outputs / "serial") == _details(outputs / "large"),
        },
        "model_floor": {"seconds": round(floor["seconds"], 3), "images": floor["images"]},
        "model_floor_10n": {"seconds": round(floor_10n["seconds"], 3), "images": floor_10n["images"]},
        "per_study_launch": {
            "seconds": round(float(np.sum(per_study)), 3),
            "per_study": [round(s, 3) for s in per_study],
        },
        "unoptimised": {"seconds": round(plain.seconds, 3), "findings_equal": same, "max_probability_diff": worst},
        "memory": {"rss_mb_n": round(batch.peak_rss_mb, 1), "rss_mb_10n": round(big.peak_rss_mb, 1)},
        "cold_one_study": cold_row(app, studies, models, work),
        "end_to_end_10n": {"seconds": round(big.seconds, 3), "studies_per_s": round(10 * studies / big.seconds, 4)},
        "ratios": {
            "overhead_end_to_end_over_floor": round(batch.seconds / floor["seconds"], 3),
            # The same overhead with the process start taken out: what the added studies (N -> 10N) cost end to
            # end over what their model calls cost, at the 10N floor's rate per image.
            "marginal_overhead_over_floor": marginal_over_floor(batch.seconds, big.seconds, floor, floor_10n),
            "batch_gain_per_study_launch_over_batch": round(float(np.sum(per_study)) / batch.seconds, 3),
            # One process start is shared by every study of a batch, so the gain grows with N; at 10N it shows
            # what a real folder gets (per-study launch cost extrapolated from the N single runs).
            "batch_gain_at_10n": round(float(np.mean(per_study)) * 10 * studies / big.seconds, 3),
            "optimised_speedup_over_unoptimised": round(plain.seconds / batch.seconds, 3),
            "overlap_gain_after_start_up_10n": overlap_gain_after_start_up(serial.seconds, stages, big.seconds),
            "overlap_limits_10n": overlap_limits(stages, os.cpu_count() or 1),
            "rss_10n_over_n": round(big.peak_rss_mb / batch.peak_rss_mb, 3),
        },
    }


def _cold_markdown(results: dict[str, Any]) -> list[str]:
    """The cold one-study table (one row per app that has the figures)."""
    rows = {app: r["cold_one_study"] for app, r in results["apps"].items() if "cold_one_study" in r}
    if not rows:
        return []
    lines = [
        "",
        "Cold one-study runs (a process per study, as platforms launch MAPs; model cache warm, as a MAP ships it): "
        'start-up overhead = wall - the study\'s stage seconds; bare = `python -c "import torch"` in the same '
        "bench run; medians of fresh processes. Imports: -X importtime self seconds per top-level package.",
        "",
        "| app | wall s | stages s | start-up overhead s | bare import torch s | overhead / import torch (target <= 2) "
        "| imports s | largest imports s | MONAI imported |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for app, c in rows.items():
        top = ", ".join(f"{name} {seconds}" for name, seconds in list(c["imports"]["top_s"].items())[:5])
        lines.append(
            f"| {app} | {c['wall_s']} | {c['stage_s']} | {c['start_up_overhead_s']} | {c['bare_torch_import_s']} | "
            f"**{c['overhead_over_torch_import']}** | {c['imports']['total_s']} | {top} | "
            f"{c['imports']['monai_imported']} |"
        )
    return lines


def _markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# msk-maps benchmark {results['date']} ({results['machine']})",
        "",
        f"Models: {results['models']}",
        "",
        f"Floors: the median of {REPEATS} timed passes over the N studies' model calls, after a warm-up. "
        "marginal/floor: the end-to-end time the 10N run adds to the N run over the model floor of the images "
        "it adds, at the 10N studies' floor rate (timed in one pass).",
        "",
        "| app | N | images | e2e s | studies/s | images/s | floor s | e2e/floor | marginal/floor | launch/batch | "
        "launch/batch at 10N | serial/pipelined at 10N after start-up (limits: GIL-cores) | "
        "RSS N MB | RSS 10N MB | RSS 10N/N | findings = unoptimised |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    if not any("end_to_end" in r for r in results["apps"].values()):  # a --cold-only run
        lines = lines[:4]
    for app, r in results["apps"].items():
        if "end_to_end" not in r:
            continue
        e2e, ratios, memory = r["end_to_end"], r["ratios"], r["memory"]
        cells = [
            app,
            r["studies"],
            r["images"],
            e2e["seconds"],
            e2e["studies_per_s"],
            e2e["images_per_s"],
            r["model_floor"]["seconds"],
            ratios["overhead_end_to_end_over_floor"],
            ratios["marginal_overhead_over_floor"],
            ratios["batch_gain_per_study_launch_over_batch"],
            ratios["batch_gain_at_10n"],
            f"{ratios['overlap_gain_after_start_up_10n']} "
            f"({ratios['overlap_limits_10n'][0]}-{ratios['overlap_limits_10n'][1]})",
            memory["rss_mb_n"],
            memory["rss_mb_10n"],
            ratios["rss_10n_over_n"],
            f"{r['unoptimised']['findings_equal']} (max Δp {r['unoptimised']['max_probability_diff']:.1e}); "
            f"serial identical: {r['serial_10n']['details_identical']}",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        serial = r["serial_10n"]
        stages = ", ".join(f"{k} {v}s" for k, v in serial["stage_seconds"].items())
        lines.append(f"|  | stages (serial run of 10N, {serial['seconds']} s): {stages} |" + " |" * 14)
    lines += _cold_markdown(results)
    if "pacs" in results:
        lines += pacs_markdown(results["pacs"])
    if "decode" not in results:  # a --paper-size, --cold-only or --pacs run times the apps only
        return "\n".join(lines) + "\n"
    d = results["decode"]
    lines += [
        "",
        f"Decode ({d['images']} JPEG 2000 lossless 16-bit images, {d['shape']}): DALI {d['dali_s']} s, "
        f"pydicom {d['pydicom_s']} s, DALI/pydicom time ratio {d['dali_over_pydicom']} (exact: {d['exact']})"
        + (
            f"; GPU (DALI mixed) {d['dali_gpu_s']} s, pydicom/GPU {d['pydicom_over_gpu']} (exact: {d['gpu_exact']})"
            if "dali_gpu_s" in d
            else "; no GPU on this machine"
        ),
    ]
    lines += [
        "",
        "Decode per radiograph transfer syntax (one phantom radiograph enlarged 4x; DALI forced vs pydicom, mean of 5, "
        "CPU; the apps' decoder per syntax and device is dicom_in/pixel_decode.py DECODERS):",
        "",
        "| syntax | shape | bits | apps' CPU decoder | decoder on the DALI path | DALI path s | pydicom s | "
        "DALI/pydicom | exact | GPU decoder | GPU s | pydicom/GPU | GPU exact |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results.get("decode_by_syntax", []):
        has_gpu = row.get("dali_gpu_s") is not None
        gpu = [
            row.get(k) if has_gpu else "no GPU" for k in ("gpu_decoder", "dali_gpu_s", "pydicom_over_gpu", "gpu_exact")
        ]
        lines.append(
            f"| {row['syntax']} | {row['shape'][0]}x{row['shape'][1]} | {row['bits_stored']} | "
            f"{row.get('apps_decoder', '')} | {row['decoder']} | "
            f"{row['dali_path_s']} | {row['pydicom_s']} | {row['dali_over_pydicom']} | {row['exact']} | "
            + " | ".join(str(g) for g in gpu)
            + " |"
        )
    lines += [
        "",
        "Model floor options (ResNet50 CAM classifier, 3x224x224, batch 8, median of 5 after warm-up):",
        "",
        "| variant | threads | s/image | speed-up vs exported | max rel. CAM change | same results |",
        "|---|---|---|---|---|---|",
    ]
    for row in results.get("floor_variants", []):
        lines.append(
            f"| {row['variant']} | {row['threads']} | {row['s_per_image']} | {row['speedup_vs_exported']} | "
            f"{row['max_rel_diff']:.1e} | {row['same_results']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write bench/results/<date>.{json,md}."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=3, help="N (memory is also measured at 10N)")
    parser.add_argument("--apps", nargs="+", default=list(APPS), choices=list(APPS))
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench")
    parser.add_argument(
        "--paper-size",
        action="store_true",
        help="time olt_mri and onfh_mri with untrained models at the papers' input sizes instead of the demo "
        "models (results go to <date>-paper-size.*; decode and floor-option tables are skipped)",
    )
    parser.add_argument(
        "--bombs",
        action="store_true",
        help="only measure peak RSS of a run with each bomb kind (deflate, JPEG 2000 SIZ) against the 2 GB budget",
    )
    parser.add_argument("--cold-only", action="store_true", help="only the cold one-study rows (minutes, not an hour)")
    parser.add_argument(
        "--pacs",
        action="store_true",
        help="only the DICOM node and suite figures (bench/pacs.py): C-STORE receive node vs Orthanc, study "
        "latency with warm models, one suite process vs the apps' own runs (results go to <date>-pacs.*)",
    )
    args = parser.parse_args(argv)
    import platform

    if args.bombs:
        rows = bomb_runs(args.work / "bombs", args.models.resolve())
        _write_results(f"{date.today().isoformat()}-bombs", {"bombs": rows}, bombs_markdown(rows))
        return

    results = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, apps and floors on {pick_device()}",
        "apps": {},
        "started": time.strftime("%H:%M:%S"),
    }
    if args.cold_only:
        models = args.models.resolve()
        results["models"] = str(models.relative_to(REPO) if models.is_relative_to(REPO) else models)
        for app in args.apps:
            results["apps"][app] = {"cold_one_study": cold_row(app, args.studies, models, args.work)}
    elif args.pacs:
        models = args.models.resolve()
        results["models"] = str(models)
        results["pacs"] = bench_pacs(args.work / "pacs", models)
    elif args.paper_size:
        models = export_paper_size_models(args.work / "paper_size_models")
        results["models"] = "untrained, at the papers' input sizes (bench/timing_models.py)"
        for app in [a for a in args.apps if a in PAPER_SIZE_APPS]:
            results["apps"][app] = bench_app(app, args.studies, models, args.work)
    else:
        models = args.models.resolve()
        results["models"] = str(models.relative_to(REPO) if models.is_relative_to(REPO) else models)
        for app in args.apps:
            results["apps"][app] = bench_app(app, args.studies, models, args.work)
        results["decode"] = decode_speed(args.work / "decode")
        results["decode_by_syntax"] = decode_by_syntax(args.work / "decode_syntax")
        results["floor_variants"] = floor_variants()
        results["pacs"] = bench_pacs(args.work / "pacs", models)
    suffix = "-paper-size" if args.paper_size else "-cold" if args.cold_only else "-pacs" if args.pacs else ""
    stem = results["date"] + suffix
    _write_results(stem, results, _markdown(results))


def _write_results(stem: str, results: dict[str, Any], markdown: str) -> None:
    """bench/results/<stem>.json and .md, and the markdown on stdout."""
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.json").write_text(json.dumps(results, indent=1))
    (out_dir / f"{stem}.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
