"""An app submitted to a real (one-node) Slurm as deploy/slurm/submit.sh does it, the study index built once by a
job the array depends on and read by every part, gives what one process gives: every study exactly once,
the same findings, the same unusable inputs, and run files per part.

Needs root (it starts munged, slurmctld and slurmd, installing slurm-wlm and munge when missing). The models are
fixture models (random weights: what is compared is the sharding, not the calls) unless MSK_MAPS_MODELS names a
folder of real ones. Runs in `make test` and `make cluster-test`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from dicom_in.index_file import read_index
from dicom_in.study_index import index_folder
from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.broken import write_broken_inputs
from tests.app_runner import REPO, run_app
from tests.cluster.local_slurm import DAEMONS, LocalSlurm, SlurmError
from tests.model_fixtures import export_fixture_classifier
from tests.output_compare import csv_rows, failure_rows, study_results

pytestmark = pytest.mark.cluster

APP = "olt_mri"
PARTS = 3


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running one-node Slurm, stopped by PID afterwards."""
    if os.geteuid() != 0:
        pytest.fail("the Slurm test starts munged, slurmctld and slurmd as root; run it as root")
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except SlurmError as exc:
        pytest.fail(f"no local Slurm: {exc}")
    yield cluster
    assert sorted(cluster.stop()) == sorted(DAEMONS)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """MSK_MAPS_MODELS, else olt_mri's two classifiers as fixture models."""
    given = os.environ.get("MSK_MAPS_MODELS")
    if given:
        return Path(given)
    folder = tmp_path_factory.mktemp("models")
    export_fixture_classifier(folder, "olt_mri_t1", seed=1)
    export_fixture_classifier(folder, "olt_mri_t2", seed=2)
    return folder


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> Path:
    """Five ankle MRI studies and a folder of broken inputs."""
    root = tmp_path_factory.mktemp("studies") / "in"
    generate_ankle_mri_dataset(root, 5, seed=11)
    write_broken_inputs(root / "broken", 11)
    return root


def _log_tails(folder: Path) -> str:
    return "".join(f"\n--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(folder.glob("*.out")))


def test_an_array_over_one_folder_equals_one_process(slurm, studies, models, tmp_path):
    for model in ("olt_mri_t1", "olt_mri_t2"):
        assert (models / model / f"{model}.ts").exists(), f"no {model} under {models}"
    out = tmp_path / "out"
    start = time.perf_counter()
    submitted = subprocess.run(
        [str(REPO / "deploy/slurm/submit.sh"), APP, str(studies), str(out), str(models), str(PARTS)]
        + ["--cpus-per-task=1"],  # two cores here: two parts at a time
        capture_output=True,
        text=True,
        env={**slurm.env, "MSK_PYTHON": os.environ.get("MSK_PYTHON", str(REPO / ".venv/bin/python"))},
        cwd=REPO,
    )
    assert submitted.returncode == 0, submitted.stderr
    index_job, array_job = re.search(r"index job (\d+), array job (\d+)", submitted.stdout).groups()
    states = slurm.wait([index_job, array_job], timeout=900)
    slurm_seconds = time.perf_counter() - start
    logs = out / "slurm-logs"
    assert set(states.values()) == {"COMPLETED"}, f"{states}{_log_tails(logs)}"
    assert len(states) == 1 + PARTS

    # The index was built once, by the job the array waited for, and every part read it.
    index_log = next(logs.glob("index-*.out")).read_text()
    stored = read_index(out / "study_index.json", studies)
    assert stored == index_folder(studies)
    assert f": {len(stored.studies)} studies" in index_log, index_log
    part_logs = sorted(logs.glob(f"part-{array_job}_*.out"))
    assert len(part_logs) == PARTS
    for log in part_logs:
        assert f"Study index read from {out / 'study_index.json'}" in log.read_text(), log.read_text()[-2000:]

    single = tmp_path / "single"
    code, stderr = run_app(APP, studies, single, models)
    assert code == 0, stderr[-3000:]

    # Every study exactly once, with the same findings.
    assert study_results(out) == study_results(single) and len(study_results(single)) >= 5
    rows = csv_rows(out, f"results.part*of{PARTS}.csv")
    assert sorted(r["study_instance_uid"] for r in rows) == sorted(study_results(single))
    key = "study_instance_uid"
    assert sorted(rows, key=lambda r: r[key]) == sorted(csv_rows(single, "results.csv"), key=lambda r: r[key])
    # The same unusable inputs (the folder's are reported by every part, a study's by its own).
    assert set(failure_rows(out, f"failures.part*of{PARTS}.csv", str(studies))) == set(
        failure_rows(single, "failures.csv", str(studies))
    )
    # Run files per part, each naming its shard, together covering every study.
    completed = 0
    for part in range(PARTS):
        run = json.loads((out / f"run.part{part}of{PARTS}.json").read_text())
        assert run["shard"] == {"num_parts": PARTS, "part_id": part}
        completed += run["counts"]["studies_completed"]
        assert (out / f"results.part{part}of{PARTS}.csv").exists()
    assert completed == len(study_results(single))
    print(f"\nslurm array ({PARTS} parts + index job): {slurm_seconds:.1f} s")
