"""Each MAP image, loaded from its OCI archive and run with podman (no network, non-root, mounted folders),
finds what a direct `python -m apps.<app>` run finds on the same phantom studies; `show` and `extract` work.

Needs root, buildah/podman/runc on PATH and dist/<suite>_<app>-<version>.oci.tar (from `make package`);
with MAP_TEST_BUILD=1 (`make package-test` sets it) a missing archive is built first. Skipped otherwise.
"""

from __future__ import annotations

import csv
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
from pathlib import Path

import pytest

from tests.packaging._load import REPO, load_script

mm = load_script("map_manifest")
bm = load_script("build_map")

pytestmark = pytest.mark.package
logger = logging.getLogger(__name__)

# Phantom kind (python -m phantoms <kind>) that feeds each app.
PHANTOM_KIND = {"olt_mri": "ankle-mri", "ankle_xray": "ankle-xray", "onfh_mri": "hip-mri"}
STORAGE = Path(os.environ.get("MAP_STORAGE", str(bm.BuildConfig.storage)))
DIST = Path(os.environ.get("MAP_DIST", str(REPO / "dist")))
MODELS = Path(os.environ.get("MAP_MODELS", str(REPO / "models")))
# Run-dependent values: wall times and timestamps, and the UIDs minted for each new DICOM object.
VOLATILE_KEY = re.compile(r"(seconds|_s$|time|started|finished|elapsed|duration|created|output_.*uid)", re.I)


def _podman(*args: str) -> list[str]:
    return bm.container_cmd("podman", STORAGE) + ["--cgroup-manager", "cgroupfs", "--runtime", "runc", *args]


def _run_args() -> list[str]:
    """`podman run` flags: no network, and rlimits no higher than this process's. Podman's rootful defaults
    (nofile and nproc of 1M+) fail where the host lacks CAP_SYS_RESOURCE, as in sandboxed build machines."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 65536 if nofile == resource.RLIM_INFINITY else min(nofile, 65536)
    nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc // 2, 32768)
    return [
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        f"nofile={nofile}:{nofile}",
        "--ulimit",
        f"nproc={nproc}:{nproc}",
    ]


def _archive(spec) -> Path:
    return DIST / f"{spec.suite_name}_{spec.name}-{spec.version}.oci.tar"


def _prerequisites(name: str) -> str | None:
    """Why this app's image test cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (rootful podman with a private vfs store)"
    missing = [t for t in ("podman", "buildah", "runc") if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not on PATH (apt-get install -y buildah podman runc debootstrap)"
    spec = mm.app_spec(REPO / "app.yaml", name)
    if name not in PHANTOM_KIND:
        return f"no phantom kind known for {name}"
    probe = subprocess.run(
        [sys.executable, "-m", "phantoms", PHANTOM_KIND[name], "--help"], cwd=REPO, capture_output=True
    )
    if probe.returncode != 0:
        return f"`python -m phantoms {PHANTOM_KIND[name]}` not available yet"
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


def _comparable(value):
    """A result with run-dependent fields dropped and floats rounded, for finding-by-finding comparison."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if not VOLATILE_KEY.search(k)}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, float):
        return round(value, 5)
    return value


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _writable_dir(path: Path) -> Path:
    """A host folder the container's non-root user can write."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    return path


@pytest.fixture(scope="module", params=mm.list_apps(REPO / "app.yaml"))
def image(request, tmp_path_factory):
    """(spec, image ref, timings) of one app's MAP, loaded into the private store from its OCI archive."""
    name = request.param
    reason = _prerequisites(name)
    if reason:
        pytest.skip(f"{name}: {reason}")
    spec = mm.app_spec(REPO / "app.yaml", name)
    timings: dict[str, float] = {}
    if not _archive(spec).exists():
        start = time.perf_counter()
        args = ["--apps", name, "--models-dir", str(MODELS), "--dist", str(DIST), "--storage", str(STORAGE)]
        assert bm.main(args) == 0
        timings["build"] = time.perf_counter() - start
    start = time.perf_counter()
    out = subprocess.run(_podman("load", "-i", str(_archive(spec))), capture_output=True, text=True, check=True)
    timings["load"] = time.perf_counter() - start
    ref = f"localhost/{spec.image}:{spec.version}"
    assert ref in out.stdout + out.stderr or subprocess.run(_podman("image", "exists", ref)).returncode == 0
    return spec, ref, timings


@pytest.fixture(scope="module")
def run_outputs(image, tmp_path_factory):
    """Phantom input, the container's output, the extracted package and a direct run's output on the extract."""
    spec, ref, timings = image
    tmp = tmp_path_factory.mktemp(f"map_{spec.name}")
    inp = tmp / "input"
    stack = ["/bin/sh", "-c", 'ulimit -s 32768 2>/dev/null; exec "$@"', "sh"]
    phantom = [sys.executable, "-m", "phantoms", PHANTOM_KIND[spec.name], "--out", str(inp)]
    subprocess.run(stack + phantom + ["--patients", "2", "--seed", "1"], cwd=REPO, check=True, capture_output=True)
    for path in [inp, *inp.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    out_ctr = _writable_dir(tmp / "out_container")
    start = time.perf_counter()
    run = subprocess.run(
        _podman(
            *_run_args(),
            "-v",
            f"{inp}:/var/holoscan/input:ro",
            "-v",
            f"{out_ctr}:/var/holoscan/output",
            ref,
            "--no-progress",
        ),
        capture_output=True,
        text=True,
    )
    timings["container run"] = time.perf_counter() - start
    assert run.returncode == 0, run.stderr[-3000:]
    assert "below the recommended minimum" not in run.stderr  # Holoscan's warning: the entrypoint raised the stack
    export = _writable_dir(tmp / "export")
    extract = subprocess.run(
        _podman(*_run_args(), "-v", f"{export}:/var/run/holoscan/export", ref, "extract"),
        capture_output=True,
        text=True,
    )
    assert extract.returncode == 0, extract.stderr
    out_direct = tmp / "out_direct"
    start = time.perf_counter()
    direct = [sys.executable, "-m", spec.module, "-i", str(inp), "-o", str(out_direct), "-m", str(export / "models")]
    subprocess.run(stack + direct + ["--no-progress"], cwd=REPO, check=True, capture_output=True)
    timings["direct run"] = time.perf_counter() - start
    logger.info("%s timings: %s", spec.name, {k: round(v, 1) for k, v in timings.items()})
    return spec, ref, inp, out_ctr, out_direct, export


def test_container_finds_what_a_direct_run_finds(run_outputs):
    spec, _, inp, out_ctr, out_direct, _ = run_outputs
    ctr_results = sorted(p.relative_to(out_ctr) for p in out_ctr.glob("*/result.json"))
    direct_results = sorted(p.relative_to(out_direct) for p in out_direct.glob("*/result.json"))
    assert ctr_results and ctr_results == direct_results
    for rel in ctr_results:
        ours = _comparable(json.loads((out_ctr / rel).read_text()))
        theirs = _comparable(json.loads((out_direct / rel).read_text()))
        assert ours == theirs, f"{spec.name}: {rel} differs"
    with open(out_ctr / "results.csv") as a, open(out_direct / "results.csv") as b:
        assert list(csv.DictReader(a)) == list(csv.DictReader(b))
    assert (out_ctr / "run.json").exists()
    # Unusable inputs too, by path relative to the input folder (mounted elsewhere in the container).
    assert _failures(out_ctr, "/var/holoscan/input") == _failures(out_direct, str(inp))


def _failures(out: Path, input_root: str) -> list[tuple[str, str]]:
    with open(out / "failures.csv") as f:
        return sorted((row["item"].replace(input_root, "IN"), row["reason"]) for row in csv.DictReader(f))


def test_show_prints_the_manifests_generated_from_app_yaml(image):
    spec, ref, _ = image
    out = subprocess.run(_podman(*_run_args(), ref, "show"), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    parts = re.split(r"^== .*$", out.stdout, flags=re.MULTILINE)
    app_json, pkg_json = json.loads(parts[1]), json.loads(parts[2])
    assert app_json == mm.app_manifest(spec, sdk_version=app_json["sdkVersion"])
    assert pkg_json == mm.package_manifest(spec)


def test_image_config_labels_user_and_environment(image):
    spec, ref, _ = image
    info = json.loads(
        subprocess.run(_podman("image", "inspect", ref), capture_output=True, text=True, check=True).stdout
    )[0]
    config = info["Config"]
    assert config["User"] not in ("", "root", "0", "0:0")
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["HOLOSCAN_INPUT_PATH"] == "/var/holoscan/input" and env["HOLOSCAN_MODEL_PATH"] == "/opt/holoscan/models"
    for key, value in mm.oci_labels(spec).items():
        assert config["Labels"][key] == value
    # The image's user is not root and may raise its stack to what Holoscan wants (the entrypoint does).
    probe = subprocess.run(
        _podman(*_run_args(), "--entrypoint", "/bin/sh", ref, "-c", "id -u; ulimit -s 32768; ulimit -s"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert probe[0] != "0"
    assert probe[-1] in ("32768", "unlimited")


def test_extract_copies_app_models_docs_and_manifests(run_outputs):
    spec, _, _, _, _, export = run_outputs
    module_dir = Path(*spec.module.split("."))
    assert (export / "app" / module_dir / "app.py").exists()
    for model in spec.models:
        extracted = export / "models" / model / f"{model}.ts"
        assert extracted.exists()
        if (MODELS / model / f"{model}.ts").exists():
            assert _sha256(extracted) == _sha256(MODELS / model / f"{model}.ts")
        assert (export / "docs" / "models" / model / "MODEL_CARD.md").exists()
    assert (export / "docs" / "README.md").exists()
    assert json.loads((export / "config" / "pkg.json").read_text()) == mm.package_manifest(spec)
    assert (export / "config" / "app.yaml").read_text() == spec.manifest_path.read_text()
