"""The DICOM node and the suite on this machine: C-STORE receive throughput of the node vs Orthanc's own, the
latency from a study's last instance to its results stored in Orthanc (warm models), and one suite process
vs the three apps' own runs over one folder.

Throughput: the same sender (dcmtk storescu, one association) sends R fresh sets of phantom MR slices to
Orthanc, to the node (each instance flushed to the disk before it is acknowledged, its default) and to a node
with `fsync: false`, the order rotating; instances/s from the median time of each, and the ratios, all in one
run. The nodes only spool here (their quiet time is an hour); Orthanc stores and indexes.
Latency: from the node's own clock, the last instance of a study received -> the destination acknowledged the
last result object; the quiet time the node waits to call a study complete is part of it and shown apart.
Each app's first study is sent and finished first, so every timed study meets warm models.
Suite: wall and CPU seconds (CPU is what a shared machine can't blur) of one `python -m apps` against the
three `python -m apps.<app>` runs over the same mixed folder.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import run_child
from pacs.node_process import NodeProcess, read_records, write_node_config
from pacs.orthanc import OrthancServer, free_port
from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.ankle_xray import generate_ankle_xray_dataset
from phantoms.hip_mri import generate_hip_mri_dataset

__all__ = ["bench_pacs", "pacs_markdown"]

NODE_AE = "MSKMAPS"
SENDER_AE = "BENCH"
GENERATORS = {
    "olt_mri": lambda out, n, seed: generate_ankle_mri_dataset(out, n, seed),
    "ankle_xray": lambda out, n, seed: generate_ankle_xray_dataset(out, n, seed),
    "onfh_mri": lambda out, n, seed: generate_hip_mri_dataset(out, n, seed),
}


def _dicom_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.dcm") if p.is_file())


def _storescu_seconds(files: list[Path], called_ae: str, port: int) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        ["storescu", "-aet", SENDER_AE, "-aec", called_ae, "127.0.0.1", str(port), *map(str, files)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"storescu to {called_ae} failed: {done.stderr[-500:]}")
    return seconds


def receive_throughput(work: Path, models: Path, sets: int = 3, patients: int = 4) -> dict[str, Any]:
    """Instances/s that Orthanc and the node (each instance on the disk before the answer, and not) take from one
    storescu association, R fresh sets each, the order rotating."""
    batches = []
    for k in range(sets):
        folder = work / f"set{k}"
        if not folder.exists():
            generate_hip_mri_dataset(folder, patients, 100 + k)
        batches.append(_dicom_files(folder))
    shutil.rmtree(work / "orthanc", ignore_errors=True)
    orthanc = OrthancServer(work / "orthanc")
    nodes = {}
    for name, fsync in (("node", True), ("node_no_fsync", False)):
        port, storage = free_port(), work / f"{name}_storage"
        shutil.rmtree(storage, ignore_errors=True)
        settings = {"calling_ae_titles": [SENDER_AE], "quiet_seconds": 3600, "fsync": fsync}
        config = write_node_config(work / f"{name}.yaml", storage, port, models, **settings)
        nodes[name] = (NodeProcess(config, work / f"{name}.out"), port, storage)
    times: dict[str, list[float]] = {"orthanc": [], **{name: [] for name in nodes}}
    try:
        orthanc.start()
        for node, port, _ in nodes.values():
            node.start(port, NODE_AE, SENDER_AE)
        targets = [("orthanc", orthanc.aet, orthanc.dicom_port)] + [(n, NODE_AE, p) for n, (_, p, _) in nodes.items()]
        for k, files in enumerate(batches):
            for name, ae, port in targets[k % len(targets) :] + targets[: k % len(targets)]:
                times[name].append(_storescu_seconds(files, ae, port))
        spooled = {name: len(list((storage / "spool").rglob("*.dcm"))) for name, (_, _, storage) in nodes.items()}
    finally:
        for node, _, _ in nodes.values():
            node.stop()
        orthanc.stop()
    sizes = [len(files) for files in batches]
    rates = {
        name: float(np.median([n / t for n, t in zip(sizes, seconds, strict=True)])) for name, seconds in times.items()
    }
    return {
        "instances_per_set": sizes,
        "sets": sets,
        "megabytes_per_set": round(sum(p.stat().st_size for p in batches[0]) / 2**20, 1),
        "seconds": {name: [round(s, 3) for s in seconds] for name, seconds in times.items()},
        "instances_per_s": {name: round(rate, 1) for name, rate in rates.items()},
        "node_over_orthanc": round(rates["node"] / rates["orthanc"], 3),
        "node_no_fsync_over_orthanc": round(rates["node_no_fsync"] / rates["orthanc"], 3),
        "node_spooled_every_instance": all(count == sum(sizes) for count in spooled.values()),
    }


def study_latency(work: Path, models: Path, per_app: int = 2, quiet_seconds: float = 1.0) -> dict[str, Any]:
    """Per app: seconds from a study's last instance received to its results acknowledged by Orthanc (warm)."""
    studies: dict[str, list[str]] = {}
    for app, generate in GENERATORS.items():
        folder = work / "studies" / app
        if not folder.exists():
            generate(folder, per_app + 1, 200)
        studies[app] = [truth["study_instance_uid"] for truth in _truths(folder)]
    port = free_port()
    storage = work / "latency_storage"
    shutil.rmtree(storage, ignore_errors=True)
    shutil.rmtree(work / "latency_orthanc", ignore_errors=True)
    orthanc = OrthancServer(work / "latency_orthanc", modalities={"NODE": (NODE_AE, "127.0.0.1", port)})
    latencies: dict[str, list[float]] = {app: [] for app in studies}
    try:
        orthanc.start()
        orthanc.upload_folder(work / "studies")
        config = write_node_config(work / "latency.yaml", storage, port, models, orthanc, quiet_seconds=quiet_seconds)
        node = NodeProcess(config, work / "latency_node.out").start(port)
        try:
            for app, uids in studies.items():
                for number, uid in enumerate(uids):
                    orthanc.send_study(uid, "NODE")
                    record = _wait_done(storage, uid)
                    if number == 0:
                        continue  # the app's first study: its models' first calls are not "warm"
                    latencies[app].append(record["sends"]["orthanc"]["sent_at"] - record["last_received"])
        finally:
            node.stop()
    finally:
        orthanc.stop()
    return {
        "quiet_seconds": quiet_seconds,
        "studies_timed_per_app": per_app,
        "seconds": {app: [round(s, 3) for s in values] for app, values in latencies.items()},
        "median_seconds": {app: round(float(np.median(values)), 3) for app, values in latencies.items()},
        "median_after_quiet_seconds": {
            app: round(float(np.median(values)) - quiet_seconds, 3) for app, values in latencies.items()
        },
    }


def _truths(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*/ground_truth.json"))]


def _wait_done(storage: Path, study_uid: str, timeout: float = 600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = read_records(storage).get(study_uid)
        if record and record["state"] == "done":
            if record["outcome"] != "sent":
                raise RuntimeError(f"study {study_uid} ended {record['outcome']}: {record.get('error')}")
            return record
        time.sleep(0.05)
    raise RuntimeError(f"study {study_uid} not done within {timeout:.0f} s")


def _timed(args: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s of the child and its children, peak RSS MB) of one run (CPU: robust on a shared machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = run_child(args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode:
        raise RuntimeError(f"{args[2:4]} failed: {run.stderr_tail}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return run.seconds, cpu, run.peak_rss_mb


def suite_vs_apps(work: Path, models: Path, patients: int = 2, repeats: int = 2) -> dict[str, Any]:
    """One `python -m apps` over a mixed folder vs the three apps' own runs over it: wall and CPU seconds, the
    median of `repeats` runs each, the order alternating."""
    folder = work / "mixed"
    for app, generate in GENERATORS.items():
        if not (folder / app).exists():
            generate(folder / app, patients, 300)
    outputs = work / "suite_outputs"
    common = ["-i", str(folder), "-m", str(models), "--no-progress", "-l", "WARN"]
    runs: dict[str, list[tuple[float, float, float]]] = {"suite": [], **{app: [] for app in GENERATORS}}
    for repeat in range(repeats):
        shutil.rmtree(outputs, ignore_errors=True)
        order = ["suite", *GENERATORS] if repeat % 2 == 0 else [*GENERATORS, "suite"]
        for name in order:
            module = "apps" if name == "suite" else f"apps.{name}"
            runs[name].append(_timed([sys.executable, "-m", module, *common, "-o", str(outputs / name)]))

    def median(name: str, field: int) -> float:
        return float(np.median([run[field] for run in runs[name]]))

    apps_wall = sum(median(app, 0) for app in GENERATORS)
    apps_cpu = sum(median(app, 1) for app in GENERATORS)
    return {
        "studies": patients * len(GENERATORS),
        "repeats": repeats,
        "apps_wall_seconds": {app: round(median(app, 0), 3) for app in GENERATORS},
        "apps_cpu_seconds": {app: round(median(app, 1), 3) for app in GENERATORS},
        "apps_total_wall_seconds": round(apps_wall, 3),
        "apps_total_cpu_seconds": round(apps_cpu, 3),
        "suite_wall_seconds": round(median("suite", 0), 3),
        "suite_cpu_seconds": round(median("suite", 1), 3),
        "apps_over_suite_wall": round(apps_wall / median("suite", 0), 3),
        "apps_over_suite_cpu": round(apps_cpu / median("suite", 1), 3),
        "suite_rss_mb": round(median("suite", 2), 1),
        "apps_rss_mb_max": round(max(median(app, 2) for app in GENERATORS), 1),
    }


def bench_pacs(work: Path, models: Path) -> dict[str, Any]:
    """Every figure of this module."""
    work.mkdir(parents=True, exist_ok=True)
    return {
        "receive": receive_throughput(work / "receive", models),
        "latency": study_latency(work / "latency", models),
        "suite": suite_vs_apps(work / "suite", models),
    }


def pacs_markdown(results: dict[str, Any]) -> list[str]:
    """The section's lines for the benchmark's Markdown."""
    receive, latency, suite = results["receive"], results["latency"], results["suite"]
    rates, seconds = receive["instances_per_s"], receive["seconds"]
    lines = [
        "",
        f"DICOM node: C-STORE receive, one storescu association, {receive['sets']} fresh sets of "
        f"{receive['instances_per_set']} MR instances (the first {receive['megabytes_per_set']} MB), the order "
        f"rotating; median over the sets (every instance spooled: {receive['node_spooled_every_instance']}):",
        "",
        "| receiver | instances/s | seconds per set | / Orthanc |",
        "|---|---|---|---|",
        f"| Orthanc | {rates['orthanc']} | {seconds['orthanc']} | 1 |",
        f"| node (fsync: each instance on disk before the answer) | {rates['node']} | {seconds['node']} | "
        f"{receive['node_over_orthanc']} |",
        f"| node, fsync false | {rates['node_no_fsync']} | {seconds['node_no_fsync']} | "
        f"{receive['node_no_fsync_over_orthanc']} |",
        "",
        f"Latency, last instance received -> results acknowledged by Orthanc, warm models "
        f"(quiet time {latency['quiet_seconds']} s included; {latency['studies_timed_per_app']} studies per app):",
        "",
        "| app | median s | median s after the quiet time | each s |",
        "|---|---|---|---|",
    ]
    for app, median in latency["median_seconds"].items():
        lines.append(f"| {app} | {median} | {latency['median_after_quiet_seconds'][app]} | {latency['seconds'][app]} |")
    lines += [
        "",
        f"Suite: one `python -m apps` over {suite['studies']} mixed studies vs the three apps' own runs over the "
        f"same folder (median of {suite['repeats']}, order alternating):",
        "",
        "| | wall s | CPU s | peak RSS MB |",
        "|---|---|---|---|",
        f"| suite | {suite['suite_wall_seconds']} | {suite['suite_cpu_seconds']} | {suite['suite_rss_mb']} |",
        f"| three apps | {suite['apps_total_wall_seconds']} | {suite['apps_total_cpu_seconds']} | "
        f"{suite['apps_rss_mb_max']} (largest) |",
        f"| apps / suite | {suite['apps_over_suite_wall']} | {suite['apps_over_suite_cpu']} | |",
    ]
    return lines
