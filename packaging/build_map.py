"""Build one MONAI Application Package (OCI image) per app of the suite, without Docker: debootstrap + buildah.

Layers: one shared base (Debian rootfs, Python venv with requirements.txt, non-root user, MAP folders) built
once and cached under a key of its inputs, then per app one thin layer (manifests, app code, models, docs,
entrypoint). Output: OCI archives in dist/ and a table of sizes (dist/packages.json keeps it, with timings).

Run by path (a top-level `packaging` package would shadow PyPI's `packaging`):
    python packaging/build_map.py [--apps olt_mri ...] [--models-dir models] [--dist dist] [--gpu]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from map_manifest import (  # noqa: E402
    AppSpec,
    MapPaths,
    app_spec,
    image_environment,
    list_apps,
    oci_labels,
    write_manifests,
)

__all__ = [
    "BuildConfig",
    "storage_driver",
    "container_cmd",
    "SdkVersions",
    "sdk_versions",
    "base_key",
    "find_torch_wheel",
    "missing_inputs",
    "app_packages",
    "stage_app",
    "build_rootfs",
    "build_base",
    "build_app",
    "archive_layers",
    "main",
]

logger = logging.getLogger("build_map")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PATHS = MapPaths()
DEBIAN_SUITE = "bookworm"  # Debian 12: its python3 is 3.11, the same minor as the host venv and the torch wheel
ROOTFS_PACKAGES = ("python3", "python3-venv", "ca-certificates", "passwd")
GPU_SUFFIX = "-gpu"


@dataclass
class BuildConfig:
    """Where things are and which variant to build."""

    suite_yaml: Path = REPO / "app.yaml"
    models_dir: Path = REPO / "models"
    dist: Path = REPO / "dist"
    work: Path = REPO / "build" / "map"
    cache: Path = Path(os.environ.get("MAP_CACHE", "/var/tmp/msk-maps/cache"))
    storage: Path = Path(os.environ.get("MAP_STORAGE", "/var/tmp/msk-maps/storage"))
    mirror: str = "http://deb.debian.org/debian"
    gpu: bool = False
    torch_wheel: Path | None = None
    python: str = sys.executable
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def tag_suffix(self) -> str:
        """Image tag suffix of the variant."""
        return GPU_SUFFIX if self.gpu else ""

    @property
    def platform_config(self) -> str:
        """pkg.json#platformConfig of the variant (holoscan-cli's values)."""
        return "dgpu" if self.gpu else "cpu"


@dataclass(frozen=True)
class SdkVersions:
    """The SDK versions a MAP records (app.json#sdkVersion, labels, HOLOSCAN_VERSION)."""

    monai_deploy: str = "0.0.0"
    holoscan: str = "0.0.0"


@functools.cache
def storage_driver() -> str:
    """$MAP_STORAGE_DRIVER, else overlay where this kernel mounts it, else vfs.

    vfs needs no mounts but copies the whole image for every container and layer: creating one container of a
    3 GB image took 90 s here, against under a second with overlay (and an app layer's commit 110-250 s).
    """
    chosen = os.environ.get("MAP_STORAGE_DRIVER")
    if chosen:
        return chosen
    if os.geteuid() != 0 or "overlay" not in Path("/proc/filesystems").read_text():
        return "vfs"
    with tempfile.TemporaryDirectory(prefix="msk-maps-overlay-") as tmp:
        dirs = {name: Path(tmp, name) for name in ("lower", "upper", "work", "merged")}
        for folder in dirs.values():
            folder.mkdir()
        options = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}"
        probe = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(dirs["merged"])], capture_output=True
        )
        if probe.returncode != 0:
            return "vfs"
        subprocess.run(["umount", str(dirs["merged"])], capture_output=True)
    return "overlay"


def container_cmd(tool: str, storage: Path, driver: str | None = None) -> list[str]:
    """buildah/podman with our private store (private: no clash with other users' drivers), one per driver."""
    driver = driver or storage_driver()
    root = storage / driver
    return [tool, "--root", str(root / "root"), "--runroot", str(root / "run"), "--storage-driver", driver]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, logging it; raise on failure."""
    logger.debug("$ %s", " ".join(cmd))
    env = {**os.environ, "BUILDAH_ISOLATION": "chroot"}
    return subprocess.run(cmd, check=True, env=env, **kwargs)


def _out(cmd: list[str]) -> str:
    """Run a command and return its stripped stdout."""
    return _run(cmd, capture_output=True, text=True).stdout.strip()


@contextmanager
def _timed(cfg: BuildConfig, step: str) -> Iterator[None]:
    """Record the wall time of one build step."""
    start = time.perf_counter()
    logger.info("step %s ...", step)
    yield
    cfg.timings[step] = round(time.perf_counter() - start, 1)
    logger.info("step %s done in %.1f s", step, cfg.timings[step])


def _pinned_torch(requirements: Path) -> str | None:
    """The torch version pinned in requirements.txt."""
    match = re.search(r"^torch==([^\s;#]+)", requirements.read_text(), re.MULTILINE)
    return match.group(1) if match else None


def find_torch_wheel(cfg: BuildConfig) -> Path | None:
    """A local CPU torch wheel of the pinned version (given, found in /opt/wheels or the cache, or pip-downloaded)."""
    if cfg.gpu:
        return None  # the GPU variant takes PyPI's default torch build, which is the CUDA one
    if cfg.torch_wheel:
        return cfg.torch_wheel
    version = _pinned_torch(REPO / "requirements.txt")
    if version is None:
        return None
    wheel_dir = cfg.cache / "wheels"
    for folder in (Path("/opt/wheels"), wheel_dir):
        found = sorted(folder.glob(f"torch-{version}*.whl"))
        if found:
            return found[0]
    wheel_dir.mkdir(parents=True, exist_ok=True)
    _run([cfg.python, "-m", "pip", "download", "--quiet", f"torch=={version}", "--no-deps", "-d", str(wheel_dir)])
    found = sorted(wheel_dir.glob(f"torch-{version}*.whl"))
    return found[0] if found else None


def base_key(requirements: bytes, setup_script: bytes, wheel_names: list[str], gpu: bool) -> str:
    """Cache key of the base image: changes when anything that goes into it changes."""
    digest = hashlib.sha256()
    for part in (requirements, setup_script, DEBIAN_SUITE.encode(), " ".join(ROOTFS_PACKAGES).encode()):
        digest.update(part + b"\0")
    digest.update(("|".join(sorted(wheel_names)) + f"|gpu={gpu}").encode())
    return digest.hexdigest()[:12]


def _image_exists(cfg: BuildConfig, ref: str) -> bool:
    """Whether our store holds the image."""
    cmd = container_cmd("buildah", cfg.storage) + ["inspect", "--type", "image", ref]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def build_rootfs(cfg: BuildConfig) -> Path:
    """A minimal Debian rootfs tarball from debootstrap, cached."""
    key = hashlib.sha256(f"{DEBIAN_SUITE}|{','.join(ROOTFS_PACKAGES)}|{cfg.mirror}".encode()).hexdigest()[:12]
    tarball = cfg.cache / f"rootfs-{DEBIAN_SUITE}-{key}.tar"
    if tarball.exists():
        logger.info("rootfs cached: %s", tarball)
        return tarball
    target = cfg.cache / f"rootfs-{key}"
    shutil.rmtree(target, ignore_errors=True)
    cfg.cache.mkdir(parents=True, exist_ok=True)
    include = ",".join(ROOTFS_PACKAGES)
    _run(["debootstrap", "--variant=minbase", f"--include={include}", DEBIAN_SUITE, str(target), cfg.mirror])
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"):
        for child in (target / junk).glob("*"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            elif child.name != "lock":
                child.unlink()
    partial = tarball.with_suffix(".partial")
    _run(["tar", "-C", str(target), "--numeric-owner", "-cf", str(partial), "."])
    partial.rename(tarball)
    shutil.rmtree(target)
    return tarball


def _host_pip_ca() -> Path | None:
    """The CA bundle the host's pip trusts (PIP_CERT, else SSL_CERT_FILE), for pip inside the build."""
    for var in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        path = os.environ.get(var)
        if path and Path(path).is_file():
            return Path(path)
    return None


def build_base(cfg: BuildConfig) -> str:
    """The shared base image (OS, Python, pinned stack, user, MAP folders); rebuilt only when its inputs change."""
    wheel = find_torch_wheel(cfg)
    requirements = (REPO / "requirements.txt").read_bytes()
    setup = (HERE / "base_setup.sh").read_bytes()
    key = base_key(requirements, setup, [wheel.name] if wheel else [], cfg.gpu)
    ref = f"localhost/msk-maps/base:{key}{cfg.tag_suffix}"
    if _image_exists(cfg, ref):
        logger.info("base image cached: %s", ref)
        cfg.timings["base (cached)"] = 0.0
        return ref
    with _timed(cfg, "rootfs (debootstrap)"):
        rootfs = build_rootfs(cfg)
    buildah = container_cmd("buildah", cfg.storage)
    with _timed(cfg, "base (venv + pip install + commit)"):
        ctx = cfg.work / "base-context"
        shutil.rmtree(ctx, ignore_errors=True)
        (ctx / "wheels").mkdir(parents=True)
        shutil.copy2(REPO / "requirements.txt", ctx / "requirements.txt")
        shutil.copy2(HERE / "base_setup.sh", ctx / "base_setup.sh")
        if wheel:
            shutil.copy2(wheel, ctx / "wheels" / wheel.name)
        ca = _host_pip_ca()
        if ca:
            shutil.copy2(ca, ctx / "pip-ca.crt")
        ctr = _out(buildah + ["from", "--name", f"msk-maps-base-{key}", "scratch"])
        try:
            _run(buildah + ["add", ctr, str(rootfs), "/"])
            _run(buildah + ["copy", ctr, str(ctx), "/tmp/msk-build"])
            _run(buildah + ["run", ctr, "--", "/bin/sh", "/tmp/msk-build/base_setup.sh"])
            path = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            labels = ["--label", f"msk-maps.base-key={key}"]
            _run(buildah + ["config", "--env", f"PATH={path}", "--env", "LANG=C.UTF-8", *labels, ctr])
            # One layer: the three app images then share it byte for byte.
            _run(buildah + ["commit", "--format", "oci", "--squash", "--rm", ctr, ref])
        except subprocess.CalledProcessError:
            if os.environ.get("MAP_KEEP_FAILED") == "1":
                logger.error("kept the failed build container %s for a look (buildah run %s -- sh)", ctr, ctr)
            else:
                subprocess.run(buildah + ["rm", ctr], capture_output=True)
            raise
    return ref


def missing_inputs(spec: AppSpec, models_dir: Path) -> list[str]:
    """What an app lacks to be packaged (its manifest, its module, its model files); empty when ready."""
    missing = []
    if not spec.manifest_path.exists():
        missing.append(f"manifest {spec.manifest_path}")
    module_dir = REPO / Path(*spec.module.split("."))
    if not module_dir.is_dir():
        missing.append(f"module {spec.module}")
    for model in spec.models:
        if not (models_dir / model / f"{model}.ts").exists():
            missing.append(f"model {models_dir / model / (model + '.ts')}")
    return missing


def app_packages(spec: AppSpec, python: str = sys.executable) -> list[str]:
    """Top-level repo packages the app imports (found by importing it), so its layer carries only those."""
    probe = (
        "import importlib, sys; from pathlib import Path; root = Path.cwd().resolve()\n"
        f"importlib.import_module({spec.module + '.app'!r})\n"
        "names = set()\n"
        "for m in list(sys.modules.values()):\n"
        "    f = getattr(m, '__file__', None)\n"
        "    if f and Path(f).resolve().is_relative_to(root) and '.venv' not in Path(f).parts:\n"
        "        names.add(Path(f).resolve().relative_to(root).parts[0])\n"
        "print(' '.join(sorted(n for n in names if (root / n / '__init__.py').exists())))\n"
    )
    env = {**os.environ, "HOLOSCAN_LOG_LEVEL": "ERROR", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        ["/bin/sh", "-c", 'ulimit -s 32768 2>/dev/null; exec "$0" -c "$1"', python, probe],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out or ["apps", "operators"]


_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


def stage_app(spec: AppSpec, cfg: BuildConfig, packages: list[str], sdk: SdkVersions) -> Path:
    """Lay out the app layer's files as they will sit in the image (etc/holoscan, opt/holoscan, var/holoscan)."""
    stage = cfg.work / spec.name / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    app_root = stage / PATHS.app.lstrip("/")
    app_root.mkdir(parents=True)
    app_folder = Path(*spec.module.split("."))
    for pkg in packages:
        if pkg == app_folder.parts[0]:
            # Only this app's folder plus the shared modules beside it, not the other apps.
            (app_root / pkg).mkdir()
            for f in (REPO / pkg).glob("*.py"):
                shutil.copy2(f, app_root / pkg / f.name)
            shutil.copytree(REPO / app_folder, app_root / app_folder, ignore=_IGNORE)
        else:
            shutil.copytree(REPO / pkg, app_root / pkg, ignore=_IGNORE)
    # `python3 -u /opt/holoscan/app/`, the platforms' launch command, runs this.
    shutil.copy2(HERE / "app_main.py", app_root / "__main__.py")
    models_root = stage / PATHS.models.lstrip("/")
    docs = stage / PATHS.docs.lstrip("/")
    (docs / "models").mkdir(parents=True)
    for model in spec.models:
        src = cfg.models_dir / model
        (models_root / model).mkdir(parents=True)
        shutil.copy2(src / f"{model}.ts", models_root / model / f"{model}.ts")
        card = src / "MODEL_CARD.md"
        if not card.exists():
            card = REPO / "models" / model / "MODEL_CARD.md"
        if card.exists():
            shutil.copy2(card, models_root / model / "MODEL_CARD.md")
            (docs / "models" / model).mkdir()
            shutil.copy2(card, docs / "models" / model / "MODEL_CARD.md")
    for doc in ("README.md", "LICENSE", "LICENSE.txt", "CHANGELOG.md"):
        if (REPO / doc).exists():
            shutil.copy2(REPO / doc, docs / doc)
    shutil.copy2(HERE / "README.md", docs / "PACKAGING.md")
    write_manifests(spec, stage / "etc" / "holoscan", sdk_version=sdk.monai_deploy, platform=cfg.platform_config)
    (stage / "var" / "holoscan").mkdir(parents=True)
    shutil.copy2(spec.manifest_path, stage / PATHS.config.lstrip("/"))
    shutil.copy2(HERE / "entrypoint.sh", stage / PATHS.entrypoint.lstrip("/"))
    (stage / PATHS.entrypoint.lstrip("/")).chmod(0o755)
    return stage


def sdk_versions(python: str) -> SdkVersions:
    """The installed MONAI Deploy App SDK and Holoscan SDK versions (Holoscan's wheel is named per CUDA)."""
    code = (
        "from importlib.metadata import version, PackageNotFoundError\n"
        "def v(*names):\n"
        "    for n in names:\n"
        "        try:\n"
        "            return version(n)\n"
        "        except PackageNotFoundError:\n"
        "            pass\n"
        "    return '0.0.0'\n"
        "print(v('monai-deploy-app-sdk'), v('holoscan-cu13', 'holoscan-cu12', 'holoscan'))\n"
    )
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    except (subprocess.CalledProcessError, OSError):
        return SdkVersions()
    return SdkVersions(monai_deploy=out[0], holoscan=out[1])


def build_app(spec: AppSpec, base_ref: str, cfg: BuildConfig) -> tuple[str, Path]:
    """Build the app image on the base and export it as an OCI archive; return (image ref, archive path)."""
    buildah = container_cmd("buildah", cfg.storage)
    ref = f"localhost/{spec.image}:{spec.version}{cfg.tag_suffix}"
    archive = cfg.dist / f"{spec.suite_name}_{spec.name}-{spec.version}{cfg.tag_suffix}.oci.tar"
    with _timed(cfg, f"{spec.name}: stage"):
        sdk = sdk_versions(cfg.python)
        stage = stage_app(spec, cfg, app_packages(spec, cfg.python), sdk)
    with _timed(cfg, f"{spec.name}: app layer + commit"):
        ctr = _out(buildah + ["from", base_ref])
        try:
            for sub in ("etc/holoscan", "opt/holoscan"):
                _run(buildah + ["copy", ctr, str(stage / sub), "/" + sub])
            _run(buildah + ["copy", ctr, str(stage / PATHS.config.lstrip("/")), PATHS.config])
            # Byte-compile as root now: the non-root runtime user cannot write __pycache__ there. And put the
            # entrypoint where holoscan-cli's MAPs keep theirs.
            setup = (
                f"/opt/venv/bin/python -m compileall -q {PATHS.app} >/dev/null"
                f" && ln -sf {PATHS.entrypoint} {PATHS.tools}"
            )
            _run(buildah + ["run", ctr, "--", "/bin/sh", "-c", setup])
            # What every start would redo per model (freeze, hash), done once here: the image ships it.
            warm = (
                "from inference.model_meta import ModelMeta; from inference.model_store import ModelStore; "
                f"ModelStore({PATHS.models!r}, 'cpu').get_all({{m: ModelMeta for m in {list(spec.models)!r}}})"
            )
            env = [f"--env=PYTHONPATH={PATHS.app}", f"--env=MSK_MAPS_MODEL_CACHE={PATHS.model_cache}"]
            _run(buildah + ["run", *env, ctr, "--", "/opt/venv/bin/python", "-c", warm], stdout=subprocess.DEVNULL)
            config = [f"--env={k}={v}" for k, v in image_environment(spec, sdk.holoscan).items()]
            for key, value in oci_labels(spec, sdk.monai_deploy, sdk.holoscan).items():
                config += [f"--label={key}={value}", f"--annotation={key}={value}"]
            config += [
                "--workingdir",
                PATHS.workdir,
                "--user",
                "holoscan:holoscan",
                "--entrypoint",
                json.dumps([PATHS.entrypoint]),
                "--cmd",
                "",
                "--label",
                f"msk-maps.base={base_ref}",
            ]
            _run(buildah + ["config", *config, ctr])
            _run(buildah + ["commit", "--format", "oci", "--rm", ctr, ref])
            # A rebuilt app leaves its previous image untagged; vfs keeps a full copy of each, so drop them.
            subprocess.run(buildah + ["rmi", "--prune"], capture_output=True)
        except subprocess.CalledProcessError:
            subprocess.run(buildah + ["rm", ctr], capture_output=True)
            raise
    with _timed(cfg, f"{spec.name}: export OCI archive"):
        cfg.dist.mkdir(parents=True, exist_ok=True)
        partial = archive.with_name(archive.name + ".partial")
        partial.unlink(missing_ok=True)
        dest = f"oci-archive:{partial}:{spec.image}:{spec.version}{cfg.tag_suffix}"
        _run(buildah + ["push", "--format", "oci", ref, dest])  # layers gzip-compressed (buildah's default)
        partial.rename(archive)
    return ref, archive


def archive_layers(archive: Path) -> list[dict]:
    """Layers of the (single) image in an OCI archive: digest, diff_id, size in bytes."""
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))

        def blob(digest: str) -> dict:
            return json.load(tar.extractfile("blobs/" + digest.replace(":", "/")))

        manifest = blob(index["manifests"][0]["digest"])
        config = blob(manifest["config"]["digest"])
    diff_ids = config["rootfs"]["diff_ids"]
    return [
        {"digest": layer["digest"], "diff_id": diff, "size": layer["size"]}
        for layer, diff in zip(manifest["layers"], diff_ids, strict=True)
    ]


def _base_diff_ids(cfg: BuildConfig, base_ref: str) -> list[str]:
    """diff_ids of the base image's layers (to tell shared base layers from the app's own)."""
    info = json.loads(_out(container_cmd("buildah", cfg.storage) + ["inspect", "--type", "image", base_ref]))
    return list(info["OCIv1"]["rootfs"]["diff_ids"])


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    """CLI: build the base (if needed) and every listed app whose inputs exist; print sizes and skips."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", nargs="*", help="apps to package (default: every app in the suite app.yaml)")
    parser.add_argument("--suite", type=Path, default=BuildConfig.suite_yaml)
    parser.add_argument("--models-dir", type=Path, default=BuildConfig.models_dir)
    parser.add_argument("--dist", type=Path, default=BuildConfig.dist)
    parser.add_argument("--storage", type=Path, default=BuildConfig.storage, help="private buildah/podman store")
    parser.add_argument("--cache", type=Path, default=BuildConfig.cache, help="rootfs and wheel cache")
    parser.add_argument("--mirror", default=BuildConfig.mirror, help="Debian mirror for debootstrap")
    parser.add_argument("--gpu", action="store_true", help="GPU variant: CUDA torch from PyPI, images tagged -gpu")
    parser.add_argument("--torch-wheel", type=Path, help="torch wheel to install (default: the local CPU wheel)")
    parser.add_argument("--base-only", action="store_true", help="build (or find) the base image and stop")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")
    for tool in ("buildah", "debootstrap"):
        if shutil.which(tool) is None:
            print(f"error: {tool} not on PATH (apt-get install -y buildah podman runc debootstrap)", file=sys.stderr)
            return 2
    cfg = BuildConfig(
        suite_yaml=args.suite,
        models_dir=args.models_dir.resolve(),
        dist=args.dist.resolve(),
        storage=args.storage,
        cache=args.cache,
        mirror=args.mirror,
        gpu=args.gpu,
        torch_wheel=args.torch_wheel,
    )
    names = args.apps or list_apps(cfg.suite_yaml)
    ready, skipped = [], []
    for name in names:
        spec = app_spec(cfg.suite_yaml, name)
        missing = missing_inputs(spec, cfg.models_dir)
        (skipped.append((name, "missing " + ", ".join(missing))) if missing else ready.append(spec))
    for name, why in skipped:
        print(f"skip {name}: {why}")
    if not ready and not args.base_only:
        print("nothing to package", file=sys.stderr)
        return 1
    start = time.perf_counter()
    base_ref = build_base(cfg)
    if args.base_only:
        print(base_ref)
        return 0
    base_ids = set(_base_diff_ids(cfg, base_ref))
    rows = []
    for spec in ready:
        ref, archive = build_app(spec, base_ref, cfg)
        layers = archive_layers(archive)
        base_size = sum(la["size"] for la in layers if la["diff_id"] in base_ids)
        app_size = sum(la["size"] for la in layers if la["diff_id"] not in base_ids)
        rows.append(
            {
                "app": spec.name,
                "image": ref,
                "archive": str(archive),
                "layers": len(layers),
                "base_bytes": base_size,
                "app_layer_bytes": app_size,
                "archive_bytes": archive.stat().st_size,
            }
        )
    cfg.timings["total"] = round(time.perf_counter() - start, 1)
    report = {
        "base": base_ref,
        "variant": "gpu" if cfg.gpu else "cpu",
        "images": rows,
        "skipped": [{"app": n, "reason": r} for n, r in skipped],
        "timings_s": cfg.timings,
    }
    (cfg.dist / "packages.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'image':<34} {'base layer':>11} {'app layer':>10} {'archive':>10}  file")
    for r in rows:
        print(
            f"{r['image']:<34} {_mb(r['base_bytes']):>11} {_mb(r['app_layer_bytes']):>10} "
            f"{_mb(r['archive_bytes']):>10}  {Path(r['archive']).relative_to(cfg.dist.parent)}"
        )
    for name, why in skipped:
        print(f"{'skipped: ' + name:<34} {why}")
    print("step times: " + ", ".join(f"{k} {v:.0f}s" for k, v in cfg.timings.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
