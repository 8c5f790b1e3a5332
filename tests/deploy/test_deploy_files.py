"""deploy/: the Kubernetes manifest agrees with the MAP it runs and with itself; the Slurm scripts parse.

Both are run for real elsewhere: the Slurm scripts by tests/cluster (a one-node Slurm), the Kubernetes
containers' commands by tests/packaging/test_map_image.py (each pod's container run with podman).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.packaging._load import REPO, load_script

mm = load_script("map_manifest")

K8S = REPO / "deploy" / "kubernetes" / "msk-maps-olt_mri.yaml"
SLURM = REPO / "deploy" / "slurm"


def _jobs() -> tuple[dict, dict]:
    docs = list(yaml.safe_load_all(K8S.read_text()))
    assert [d["kind"] for d in docs] == ["Job", "Job"]
    return docs[0], docs[1]


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_indexed_job_reads_the_index_the_index_job_writes_with_as_many_parts_as_pods():
    index_job, app_job = _jobs()
    index = index_job["spec"]["template"]["spec"]["containers"][0]
    app_spec = app_job["spec"]
    app = app_spec["template"]["spec"]["containers"][0]
    assert app_spec["completionMode"] == "Indexed"
    assert app_spec["completions"] == app_spec["parallelism"] == int(_flag(app["args"], "--num-parts"))
    written = _flag(index["args"], "--out")
    assert _flag(app["args"], "--index") == written
    wait = app_spec["template"]["spec"]["initContainers"][0]["command"][-1]
    assert f"[ -s {written} ]" in wait
    assert index["command"][-2:] == ["-m", "run.index"] and _flag(index["args"], "-i") == "/var/holoscan/input"


def test_the_pods_run_the_maps_own_command_image_user_and_resources():
    spec = mm.app_spec(REPO / "app.yaml", "olt_mri")
    app_json, pkg_json = mm.app_manifest(spec), mm.package_manifest(spec)
    index_job, app_job = _jobs()
    for job in (index_job, app_job):
        pod = job["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 1000  # the image's user (packaging/base_setup.sh)
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert container["image"] == f"localhost/{spec.image}:{spec.version}"
        for container in pod["containers"]:
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert mounts[app_json["environment"]["HOLOSCAN_INPUT_PATH"]].get("readOnly") is True
            assert app_json["environment"]["HOLOSCAN_OUTPUT_PATH"] in mounts
    app_pod = app_job["spec"]["template"]["spec"]
    app = app_pod["containers"][0]
    assert app["command"] == mm.command_argv(app_json["command"])
    assert app["resources"]["requests"] == {
        "cpu": str(pkg_json["resources"]["cpu"]),
        "memory": pkg_json["resources"]["memory"],
    }
    shm = next(v for v in app_pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": pkg_json["resources"]["sharedMemory"]}


@pytest.mark.parametrize("script", sorted(p.name for p in SLURM.iterdir()))
def test_the_slurm_scripts_parse_and_are_executable(script):
    path = SLURM / script
    assert path.stat().st_mode & 0o111
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_submit_without_its_arguments_says_how_to_call_it():
    done = subprocess.run([str(SLURM / "submit.sh")], capture_output=True, text=True)
    assert done.returncode == 2 and "submit.sh APP INPUT OUTPUT MODELS PARTS" in done.stderr


def test_the_array_script_gives_the_part_its_index_only_when_there_is_one(tmp_path: Path):
    # Run the script's body with a stand-in python that prints its arguments (no Slurm needed for this).
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "MSK_PYTHON": str(fake), "MSK_REPO": str(tmp_path), "MSK_APP": "olt_mri"}
    env |= {"MSK_INPUT": "/in", "MSK_OUTPUT": "/out", "MSK_MODELS": "/m"}
    with_index = subprocess.run(
        ["bash", str(SLURM / "msk-maps-array.sbatch"), "--resume"],
        env={**env, "MSK_INDEX": "/out/i.json"},
        capture_output=True,
        text=True,
    )
    assert with_index.returncode == 0, with_index.stderr
    assert with_index.stdout.split() == [
        *"-m apps.olt_mri -i /in -o /out -m /m --index /out/i.json --no-progress --resume".split()
    ]
    without = subprocess.run(["bash", str(SLURM / "msk-maps-array.sbatch")], env=env, capture_output=True, text=True)
    assert "--index" not in without.stdout.split()
