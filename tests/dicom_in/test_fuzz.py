"""Fuzz: a few hundred mutated phantom files (fixed seed) through the index, header read and decode, and one run.

Byte flips, truncations, tag deletions, VR lies and length lies (tests/hostile_inputs.mutations) of phantom
radiographs in every transfer syntax the apps read (deflated and preamble-less copies included) and of an MR
slice. Every mutant gets its own study and SOP Instance UIDs before it is mutated, so each is judged alone.

* Per file, in a worker process watched with a per-file timeout: the index (index_folder), the header read
  (load_study) and the pixel read and decode (read_with_pixels, decode_image) never raise anything but their
  one-line refusals, never hang, never kill the process; the worker's peak memory stays bounded.
* One ankle_xray run over a batch of them: exit 0, peak memory under 2 GB, every file accounted for (in a
  study with a results.csv row, in failures.csv, or counted as skipped in run.json).
"""

from __future__ import annotations

import copy
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid

from bench.bombs import RUN_BUDGET_MB
from bench.measure import run_app
from dicom_in.image_file import read_with_pixels
from dicom_in.pixel_decode import PixelDataError, decode_image
from dicom_in.study_index import index_folder, load_study
from phantoms.ankle_xray import generate_ankle_xray_dataset
from tests.app_runner import REPO, read_rows
from tests.dicom_factory import mr_slice
from tests.hostile_inputs import mutations
from tests.model_fixtures import export_fixture_fragment_models

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]

SEED = 14
MUTANTS_PER_SOURCE = 28
FILE_TIMEOUT_S = 30.0  # per file; the slowest mutant (a JPEG 2000 decode after DALI's start) takes ~3 s
WORKER_RSS_BUDGET_KB = 2 * 2**20
APP_RUN_EVERY = 8  # every 8th radiograph mutant goes into the app run


def _sources(folder: Path) -> dict[str, pydicom.Dataset]:
    """Phantom datasets to mutate: a radiograph per transfer syntax, a deflated one and an MR slice."""
    truths = generate_ankle_xray_dataset(folder, patients=1, seed=SEED, syntax_variants=True)
    sources = {}
    for truth in (t for t in truths if t["patient_id"].startswith("AXV-")):  # one radiograph per syntax
        (image,) = truth["images"]
        sources[truth["patient_id"]] = pydicom.dcmread(folder / truth["patient_id"] / image["file"])
    deflated = copy.deepcopy(sources["AXV-EXPLICIT"])  # copy() would share its elements and file meta
    deflated.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    sources["AXV-DEFLATED"] = deflated
    sources["MR"] = mr_slice("1.2.3", "1.2.3.4")
    return sources


def _write_mutants(sources: dict[str, pydicom.Dataset], out: Path) -> list[Path]:
    """MUTANTS_PER_SOURCE mutants of each source (and of a preamble-less copy of the explicit radiograph)."""
    paths = []
    for number, (name, source) in enumerate(sorted(sources.items())):
        folder = out / name
        folder.mkdir(parents=True)
        for index in range(MUTANTS_PER_SOURCE):
            ds = copy.deepcopy(source)
            ds.StudyInstanceUID = generate_uid(entropy_srcs=[name, str(index), "study"])
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[name, str(index)])
            whole = folder / "whole.tmp"
            ds.save_as(whole, enforce_file_format=True)
            data = whole.read_bytes()
            whole.unlink()
            preamble_less = name == "AXV-EXPLICIT" and index % 2 == 1
            (mutant,) = mutations(data[132:] if preamble_less else data, 1, seed=SEED * 1000 + number * 100 + index)
            path = folder / f"{index:03d}{'_bare' if preamble_less else ''}.dcm"
            path.write_bytes(mutant.data)
            paths.append(path)
    return paths


def _outcome(path: Path) -> str:
    """What the apps' reading path makes of one file, in one line; raises only on a broken contract."""
    index = index_folder(path)
    if index.skipped:
        return f"skipped: {index.skipped}"
    if index.failures:
        return f"failed at the index: {index.failures[0].reason}"
    (uid,) = index.studies
    study = load_study(uid, index.studies[uid])
    if not study.series:
        return f"failed at the header: {study.failures[0].reason}"
    (instance,) = study.series[0].instances
    try:
        decode_image(read_with_pixels(instance.path, instance.header, instance.pixel_offset), device="cpu")
    except PixelDataError as exc:
        return f"refused at decode: {exc}"
    return "decoded"


def worker(folder: str) -> None:
    """The worker process: one START line before and one DONE line after each file, then its peak RSS."""
    import resource

    for path in sorted(Path(folder).rglob("*.dcm")):
        print("START", path, flush=True)
        try:
            outcome = _outcome(path)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - reported to the parent as a crash of this file
            outcome = f"CRASH {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        print("DONE", path, outcome.replace("\n", " "), flush=True)
    print("RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)


def _run_worker(folder: Path) -> tuple[dict[str, str], int]:
    """({path: outcome}, peak RSS KiB) of the worker over `folder`; fails on a hang or a dead worker."""
    command = [sys.executable, "-c", f"from tests.dicom_in.test_fuzz import worker; worker({str(folder)!r})"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    outcomes: dict[str, str] = {}
    current, rss = "", -1
    try:
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], FILE_TIMEOUT_S)
            if not ready:
                pytest.fail(f"hang: no answer within {FILE_TIMEOUT_S} s on {current}")
            line = proc.stdout.readline()
            if not line:
                break
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "START":
                current = rest
            elif kind == "DONE":
                path, _, outcome = rest.partition(" ")
                outcomes[path] = outcome
            elif kind == "RSS":
                rss = int(rest)
    finally:
        proc.kill()
        proc.wait()
    assert rss > 0, f"the worker died (status {proc.returncode}) on {current}"
    return outcomes, rss


@pytest.fixture(scope="module")
def mutants(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("fuzz")
    return _write_mutants(_sources(root / "sources"), root / "mutants")


def test_every_mutant_is_read_or_refused_in_one_line_without_crash_or_hang(mutants: list[Path]) -> None:
    start = time.perf_counter()
    outcomes, rss_kb = _run_worker(mutants[0].parents[1])
    crashes = {path: outcome for path, outcome in outcomes.items() if outcome.startswith("CRASH")}
    assert crashes == {}
    assert sorted(outcomes) == sorted(str(p) for p in mutants)  # every file accounted for
    assert rss_kb < WORKER_RSS_BUDGET_KB
    kinds = {outcome.split(":")[0] for outcome in outcomes.values()}
    # The mutations reach every stage: some files still decode, others fail at each step.
    assert {"decoded", "failed at the index", "refused at decode"} <= kinds, kinds
    print(f"{len(outcomes)} mutants in {time.perf_counter() - start:.1f} s, worker peak {rss_kb // 1024} MB: {kinds}")


def test_an_app_run_over_mutants_accounts_for_every_file(mutants: list[Path], tmp_path: Path) -> None:
    batch = tmp_path / "input"
    chosen = [p for p in mutants if p.parent.name.startswith("AXV")][::APP_RUN_EVERY]
    for path in chosen:
        target = batch / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    models = tmp_path / "models"
    export_fixture_fragment_models(models)
    run = run_app("ankle_xray", batch, tmp_path / "out", models, rss_guard_mb=2 * RUN_BUDGET_MB)
    assert run.returncode == 0 and run.killed_over_mb is None, run.stderr_tail
    assert run.peak_rss_mb < RUN_BUDGET_MB

    index = index_folder(batch)
    studies = {str(p): uid for uid, series in index.studies.items() for paths in series.values() for p in paths}
    failed = {row["item"] for row in read_rows(tmp_path / "out" / "failures.csv")}
    reported = {row["study_instance_uid"] for row in read_rows(tmp_path / "out" / "results.csv")}
    skipped = json.loads((tmp_path / "out" / "run.json").read_text())["skipped_files"]
    assert skipped == index.skipped
    unaccounted = [
        path
        for path in (str(batch / p.parent.name / p.name) for p in chosen)
        if path not in failed and studies.get(path) not in reported | failed
    ]
    assert len(unaccounted) == sum(skipped.values())
