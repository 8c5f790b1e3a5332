"""Each MAP image, loaded from its OCI archive and run with podman the ways platforms run it, finds what a direct
`python -m apps.<app>` run finds on the same phantom studies; `show`, `env` and `extract` work as holoscan-cli's
tools do.

Launches:
* the image's own entrypoint (`podman run IMAGE`), over a plain folder of studies;
* exactly as the MONAI Deploy Workflow Manager's Docker plugin does (MONAI Deploy Express' workflows):
  entrypoint `/bin/bash -c`, command `python3 -u /opt/holoscan/app/`, `--user 1000:1000`,
  HOLOSCAN_INPUT_PATH/HOLOSCAN_OUTPUT_PATH as env, input mounted read-only, no network, over the
  Informatics Gateway's layout (`dcm/<study>/<series>/<sop>.dcm` + `.dcm.json` sidecars);
* as the pods of deploy/kubernetes/ (olt_mri): the index Job's container, then each Indexed Job pod's.

Needs root, buildah/podman/runc and jq on PATH (`make package-tools`) and dist/<suite>_<app>-<version>.oci.tar
(from `make package`); with MAP_TEST_BUILD=1 (`make package-test` sets it) a missing archive is built first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.output_compare import csv_rows, failure_rows, study_results
from tests.packaging._load import REPO, load_script
from tests.packaging.ig_layout import write_ig_layout

mm = load_script("map_manifest")
bm = load_script("build_map")

pytestmark = pytest.mark.package
logger = logging.getLogger(__name__)

# Phantom kind (python -m phantoms <kind>) that feeds each app.
PHANTOM_KIND = {"olt_mri": "ankle-mri", "ankle_xray": "ankle-xray", "onfh_mri": "hip-mri"}
STORAGE = Path(os.environ.get("MAP_STORAGE", str(bm.BuildConfig.storage)))
DIST = Path(os.environ.get("MAP_DIST", str(REPO / "dist")))
MODELS = Path(os.environ.get("MAP_MODELS", str(REPO / "models")))
K8S = REPO / "deploy" / "kubernetes" / "msk-maps-olt_mri.yaml"
IN, OUT = "/var/holoscan/input", "/var/holoscan/output"
STACK = ["/bin/sh", "-c", 'ulimit -s 32768 2>/dev/null; exec "$@"', "sh"]


def _podman(*args: str) -> list[str]:
    return bm.container_cmd("podman", STORAGE) + ["--cgroup-manager", "cgroupfs", "--runtime", "runc", *args]


def _run_args() -> list[str]:
    """`podman run` flags: no network, and rlimits no higher than this process's. Podman's rootful defaults
    (nofile and nproc of 1M+) fail where the host lacks CAP_SYS_RESOURCE, as in sandboxed build machines."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 65536 if nofile == resource.RLIM_INFINITY else min(nofile, 65536)
    nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc // 2, 32768)
    limits = ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]
    return ["run", "--rm", "--network", "none", *limits]


def _workflow_manager_run(ref: str, inp: Path, out: Path, *app_flags: str) -> list[str]:
    """The container the Workflow Manager's Docker plugin creates for a MONAI Deploy Express workflow task
    (`entrypoint: "/bin/bash,-c"`, `command: "python3 -u /opt/holoscan/app/"`, `user: "1000:1000"`, env_*)."""
    command = " ".join(["python3 -u /opt/holoscan/app/", *app_flags])
    return _podman(
        *_run_args(),
        "--user",
        "1000:1000",
        "--entrypoint",
        json.dumps(["/bin/bash", "-c"]),
        "-e",
        f"HOLOSCAN_INPUT_PATH={IN}",
        "-e",
        f"HOLOSCAN_OUTPUT_PATH={OUT}",
        "-v",
        f"{inp}:{IN}:ro",
        "-v",
        f"{out}:{OUT}",
        ref,
        command,
    )


def _archive(spec) -> Path:
    return DIST / f"{spec.suite_name}_{spec.name}-{spec.version}.oci.tar"


def _prerequisites(name: str) -> str | None:
    """Why this app's image test cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (rootful podman with a private store)"
    missing = [t for t in ("podman", "buildah", "runc", "jq") if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not on PATH (make package-tools)"
    spec = mm.app_spec(REPO / "app.yaml", name)
    if name not in PHANTOM_KIND:
        return f"no phantom kind known for {name}"
    if _archive(spec).exists():
        return None
    if os.environ.get("MAP_TEST_BUILD") != "1":
        return f"{_archive(spec)} missing: run `make package` (or set MAP_TEST_BUILD=1 to build it here)"
    lacks = bm.missing_inputs(spec, MODELS)
    if lacks:
        return f"cannot build {name}: missing {', '.join(lacks)}"
    if shutil.which("debootstrap") is None:
        return "debootstrap not on PATH"
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _writable_dir(path: Path) -> Path:
    """A host folder the container's non-root user can write."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    return path


def _readable(root: Path) -> Path:
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def _run(command: list[str], what: str, timings: dict[str, float]) -> subprocess.CompletedProcess:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    timings[what] = timings.get(what, 0.0) + time.perf_counter() - start
    assert done.returncode == 0, f"{what}: {done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module", params=mm.list_apps(REPO / "app.yaml"))
def image(request):
    """(spec, image ref, timings) of one app's MAP, loaded into the private store from its OCI archive."""
    name = request.param
    reason = _prerequisites(name)
    if reason and os.environ.get("MAP_TEST_BUILD") == "1":
        pytest.fail(f"{name}: {reason}")  # `make package-test` promised to build and run it
    if reason:
        pytest.skip(f"{name}: {reason}")
    spec = mm.app_spec(REPO / "app.yaml", name)
    timings: dict[str, float] = {}
    if not _archive(spec).exists():
        start = time.perf_counter()
        args = ["--apps", name, "--models-dir", str(MODELS), "--dist", str(DIST), "--storage", str(STORAGE)]
        assert bm.main(args) == 0
        timings["build"] = time.perf_counter() - start
    ref = f"localhost/{spec.image}:{spec.version}"
    _run(_podman("load", "-i", str(_archive(spec))), "load", timings)
    assert subprocess.run(_podman("image", "exists", ref)).returncode == 0
    return spec, ref, timings


@dataclass(frozen=True)
class Runs:
    """One app's phantom input (plain and in the Gateway's layout), the containers' and direct runs' outputs."""

    spec: object
    ref: str
    plain: Path
    gateway: Path
    entrypoint_out: Path
    workflow_out: Path
    direct_plain: Path
    direct_gateway: Path
    export: Path


@pytest.fixture(scope="module")
def runs(image, tmp_path_factory) -> Runs:
    spec, ref, timings = image
    tmp = tmp_path_factory.mktemp(f"map_{spec.name}")
    plain, gateway = tmp / "input", tmp / "gateway"
    phantom = [sys.executable, "-m", "phantoms", PHANTOM_KIND[spec.name], "--out", str(plain)]
    subprocess.run(STACK + phantom + ["--patients", "2", "--seed", "1"], cwd=REPO, check=True, capture_output=True)
    assert write_ig_layout(plain, gateway) > 0
    _readable(plain), _readable(gateway)

    entrypoint_out = _writable_dir(tmp / "out_entrypoint")
    mounts = ["-v", f"{plain}:{IN}:ro", "-v", f"{entrypoint_out}:{OUT}"]
    done = _run(_podman(*_run_args(), *mounts, ref, "--no-progress"), "container (entrypoint)", timings)
    assert "below the recommended minimum" not in done.stderr  # Holoscan's warning: the stack was raised
    workflow_out = _writable_dir(tmp / "out_workflow_manager")
    done = _run(_workflow_manager_run(ref, gateway, workflow_out), "container (workflow manager)", timings)
    assert "below the recommended minimum" not in done.stderr  # app/__main__.py raised it, no entrypoint did

    export = _writable_dir(tmp / "export")
    _run(_podman(*_run_args(), "-v", f"{export}:/var/run/holoscan/export", ref, "extract"), "extract", timings)
    direct = {}
    for name, source in (("direct_plain", plain), ("direct_gateway", gateway)):
        direct[name] = tmp / name
        command = [sys.executable, "-m", spec.module, "-i", str(source), "-o", str(direct[name])]
        command += ["-m", str(export / "models"), "--no-progress"]
        start = time.perf_counter()
        subprocess.run(STACK + command, cwd=REPO, check=True, capture_output=True)
        timings[name] = time.perf_counter() - start
    logger.info("%s timings: %s", spec.name, {k: round(v, 1) for k, v in timings.items()})
    return Runs(spec, ref, plain, gateway, entrypoint_out, workflow_out, **direct, export=export)


def _same_findings(ours: Path, theirs: Path, ours_input: str, theirs_input: str) -> None:
    assert study_results(ours) and study_results(ours) == study_results(theirs)
    assert csv_rows(ours, "results.csv") == csv_rows(theirs, "results.csv")
    assert (ours / "run.json").exists()
    # Unusable inputs too, by path relative to the input folder (mounted elsewhere in the container).
    assert failure_rows(ours, "failures.csv", ours_input) == failure_rows(theirs, "failures.csv", theirs_input)


def test_the_images_entrypoint_finds_what_a_direct_run_finds(runs):
    _same_findings(runs.entrypoint_out, runs.direct_plain, IN, str(runs.plain))


def test_launched_as_the_workflow_manager_does_it_finds_what_a_direct_run_finds(runs):
    _same_findings(runs.workflow_out, runs.direct_gateway, IN, str(runs.gateway))


def test_over_the_gateways_layout_every_study_is_analysed_and_no_sidecar_is_a_failure(runs):
    studies = {p.name for p in (runs.gateway / "dcm").iterdir()}
    # The Gateway's copy holds the same studies and the same findings as the plain folder.
    assert set(study_results(runs.workflow_out)) == studies
    assert study_results(runs.workflow_out) == study_results(runs.entrypoint_out)
    sidecars = [item for item, _ in failure_rows(runs.workflow_out, "failures.csv", IN) if item.endswith(".dcm.json")]
    assert not sidecars, f"{len(sidecars)} .dcm.json sidecars reported as failures, e.g. {sidecars[:2]}"


def _shown(output: str) -> dict[str, dict]:
    """holoscan-cli tools' `show` output: a banner per manifest, then its JSON."""
    parts = re.split(r"^=+ (app|pkg)\.json =+$", output, flags=re.MULTILINE)
    return {parts[i]: json.loads(parts[i + 1]) for i in range(1, len(parts), 2)}


def test_show_env_and_the_command_work_as_holoscan_clis_tools_expect(image, tmp_path):
    spec, ref, _ = image
    shown = _shown(subprocess.run(_podman(*_run_args(), ref, "show"), capture_output=True, text=True).stdout)
    assert shown["app"] == mm.app_manifest(spec, sdk_version=shown["app"]["sdkVersion"])
    assert shown["pkg"] == mm.package_manifest(spec)
    tools = _podman(*_run_args(), "--entrypoint", "/var/holoscan/tools", ref)
    for part in ("app", "pkg"):
        only = _shown(subprocess.run([*tools, "show", part], capture_output=True, text=True, check=True).stdout)
        assert list(only) == [part] and only[part] == shown[part]
    env = subprocess.run([*tools, "env"], capture_output=True, text=True, check=True).stdout.splitlines()
    assert f"HOLOSCAN_APPLICATION={mm.MapPaths().app}" in env and "HOLOSCAN_TIMEOUT=0" in env
    # tools.sh launches the app with `jq -r '.command | fromjson | join(" ")'` on app.json.
    app_json = tmp_path / "app.json"
    app_json.write_text(json.dumps(shown["app"]))
    jq = subprocess.run(["jq", "-r", '.command | fromjson | join(" ")', str(app_json)], capture_output=True, text=True)
    assert jq.returncode == 0 and jq.stdout.strip() == "python3 -u /opt/holoscan/app/"
    # That command starts the app (its --help here) inside the image, as tools.sh's `eval` would.
    helped = subprocess.run(
        _podman(*_run_args(), "--entrypoint", json.dumps(["/bin/bash", "-c"]), ref, jq.stdout.strip() + " --help"),
        capture_output=True,
        text=True,
    )
    assert helped.returncode == 0 and "--index" in helped.stdout, helped.stderr[-2000:]


def test_image_config_labels_user_and_environment(image):
    spec, ref, _ = image
    info = json.loads(
        subprocess.run(_podman("image", "inspect", ref), capture_output=True, text=True, check=True).stdout
    )[0]
    config = info["Config"]
    assert config["User"] not in ("", "root", "0", "0:0")
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["HOLOSCAN_INPUT_PATH"] == IN and env["HOLOSCAN_MODEL_PATH"] == "/opt/holoscan/models"
    sdk = bm.sdk_versions(sys.executable)
    assert env["HOLOSCAN_TIMEOUT"] == "0" and env["HOLOSCAN_VERSION"] == sdk.holoscan
    for key, value in mm.oci_labels(spec, sdk.monai_deploy, sdk.holoscan).items():
        assert config["Labels"][key] == value
    assert config["Labels"]["org.monai.deploy.app-sdk"] == sdk.monai_deploy != "0.0.0"
    # The image's user is not root and may raise its stack to what Holoscan wants.
    probe = subprocess.run(
        _podman(*_run_args(), "--entrypoint", "/bin/sh", ref, "-c", "id -u; ulimit -s 32768; ulimit -s"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert probe[0] != "0"
    assert probe[-1] in ("32768", "unlimited")
    # Each model's frozen module and hash, made at build time where MSK_MAPS_MODEL_CACHE points (read-only).
    cache = env["MSK_MAPS_MODEL_CACHE"]
    listed = subprocess.run(
        _podman(*_run_args(), "--entrypoint", "/bin/sh", ref, "-c", f"ls {cache}; test -w {cache} || echo read-only"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for model in spec.models:
        assert sorted(Path(n).suffix for n in listed if n.startswith(f"{model}-")) == [".json", ".ts"], listed
    assert listed[-1] == "read-only"


def test_extract_copies_app_models_docs_and_manifests(runs):
    spec, export = runs.spec, runs.export
    module_dir = Path(*spec.module.split("."))
    assert (export / "app" / module_dir / "app.py").exists()
    assert (export / "app" / "__main__.py").read_text() == (REPO / "packaging" / "app_main.py").read_text()
    for model in spec.models:
        extracted = export / "models" / model / f"{model}.ts"
        assert extracted.exists()
        if (MODELS / model / f"{model}.ts").exists():
            assert _sha256(extracted) == _sha256(MODELS / model / f"{model}.ts")
        assert (export / "docs" / "models" / model / "MODEL_CARD.md").exists()
    assert (export / "docs" / "README.md").exists()
    assert json.loads((export / "config" / "pkg.json").read_text()) == mm.package_manifest(spec)
    assert (export / "config" / "app.yaml").read_text() == spec.manifest_path.read_text()


def _pod_run(ref: str, container: dict, volumes: dict[str, Path], env: dict[str, str]) -> list[str]:
    """podman run of one Kubernetes container spec: its command, args, workingDir, mounts, the pod's user."""
    mounts = []
    for mount in container.get("volumeMounts", []):
        if mount["name"] in volumes:
            suffix = ":ro" if mount.get("readOnly") else ""
            mounts += ["-v", f"{volumes[mount['name']]}:{mount['mountPath']}{suffix}"]
    flags = [*mounts, "--user", "1000:1000", "--entrypoint", json.dumps(container["command"])]
    flags += ["-w", container.get("workingDir", "/var/holoscan")]
    for key, value in env.items():
        flags += ["-e", f"{key}={value}"]
    return _podman(*_run_args(), *flags, ref, *container.get("args", []))


def test_the_kubernetes_pods_commands_run_the_image_and_the_parts_equal_one_run(image, runs, tmp_path):
    spec, ref, timings = image
    if spec.name != "olt_mri":
        pytest.skip("deploy/kubernetes/ shows olt_mri")
    index_job, app_job = yaml.safe_load_all(K8S.read_text())
    out = _writable_dir(tmp_path / "out")
    volumes = {"input": runs.plain, "output": out}
    index = index_job["spec"]["template"]["spec"]["containers"][0]
    _run(_pod_run(ref, index, volumes, {}), "kubernetes index job", timings)
    pod = app_job["spec"]["template"]["spec"]
    wait = pod["initContainers"][0]
    parts = app_job["spec"]["completions"]
    for part in range(parts):
        _run(_pod_run(ref, wait, volumes, {}), "kubernetes init container", timings)
        done = _run(_pod_run(ref, pod["containers"][0], volumes, {"JOB_COMPLETION_INDEX": str(part)}), "pod", timings)
        assert "Study index read from" in done.stderr
    assert study_results(out) == study_results(runs.direct_plain)
    for part in range(parts):
        assert json.loads((out / f"run.part{part}of{parts}.json").read_text())["shard"]["part_id"] == part
