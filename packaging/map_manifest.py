"""MAP manifests (/etc/holoscan/app.json, /etc/holoscan/pkg.json) generated from the suite and app app.yaml files.

Field names and defaults follow the MONAI Application Package spec (Project-MONAI/monai-deploy,
guidelines/monai-application-package.md, manifest schema 1.0.0: camelCase keys) and what holoscan-cli <= 4.2.0
(the packager behind `monai-deploy package`) writes and its runner and `tools` read, so the same app.yaml
feeds both packaging routes and no manifest is kept by hand:

* app.yaml `application` keys are kebab-case (`input-formats`: the packager reads only those spellings);
  app.yaml `resources` are camelCase (`gpuMemory`, `sharedMemory`): the packager copies that object verbatim
  into pkg.json, where the spec and `holoscan run --shm-size config` read camelCase.
* `command` is a JSON array in a string (`'["python3", "-u", "/opt/holoscan/app/"]'`), as holoscan-cli writes
  it and its `tools` parse it (`jq '.command | fromjson'`); `command_argv` also reads a plain shell string.
* `platformConfig` is one of holoscan-cli's `cpu`, `dgpu`, `igpu`; the CPU image asks for no GPU.

Run by path (a top-level `packaging` package would shadow PyPI's `packaging`):
    python packaging/map_manifest.py olt_mri --out build/manifests/olt_mri
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "MAP_API_VERSION",
    "SDK_NAME",
    "PLATFORM_CONFIGS",
    "MapPaths",
    "AppSpec",
    "load_suite",
    "app_spec",
    "list_apps",
    "app_manifest",
    "package_manifest",
    "oci_labels",
    "image_environment",
    "command_argv",
    "write_manifests",
]

MAP_API_VERSION = "1.0.0"
SDK_NAME = "monai-deploy"
# holoscan-cli's PlatformConfiguration values (common/enum_types.py); its runner treats igpu specially.
PLATFORM_CONFIGS = ("cpu", "dgpu", "igpu")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(Mi|Gi)$")
# What `holoscan run` gives /dev/shm when it is not told a size (its DEFAULT_SHM_SIZE): never ask for less.
MIN_SHARED_MEMORY_BYTES = 1 << 30
_RESOURCE_KEYS = (
    "cpu",
    "cpuLimit",
    "gpu",
    "gpuLimit",
    "memory",
    "memoryLimit",
    "gpuMemory",
    "gpuMemoryLimit",
    "sharedMemory",
    "sharedMemoryLimit",
)


@dataclass(frozen=True)
class MapPaths:
    """The fixed paths of the MAP layout (spec: Table of Important Paths)."""

    app: str = "/opt/holoscan/app"
    models: str = "/opt/holoscan/models"
    docs: str = "/opt/holoscan/docs"
    workdir: str = "/var/holoscan"
    input: str = "/var/holoscan/input"
    output: str = "/var/holoscan/output"
    logs: str = "/var/holoscan/logs"
    config: str = "/var/holoscan/app.yaml"
    app_manifest: str = "/etc/holoscan/app.json"
    pkg_manifest: str = "/etc/holoscan/pkg.json"
    entrypoint: str = "/opt/holoscan/entrypoint.sh"
    tools: str = "/var/holoscan/tools"  # where holoscan-cli's MAPs keep their entrypoint (show, env, extract)
    model_cache: str = "/opt/holoscan/cache"  # frozen models and model hashes made at build time (read-only)


@dataclass(frozen=True)
class AppSpec:
    """One app as the suite manifest lists it, plus its own packager manifest (app.yaml) parsed."""

    name: str
    module: str
    manifest_path: Path
    models: tuple[str, ...]
    suite_name: str
    suite_version: str
    suite_description: str
    manifest: dict[str, Any]

    @property
    def image(self) -> str:
        """Repository name of the app's image, e.g. msk-maps/olt_mri."""
        return f"{self.suite_name}/{self.name}"

    @property
    def version(self) -> str:
        """The app's version: app.yaml's application.version, else the suite's."""
        return str(self.manifest.get("application", {}).get("version") or self.suite_version)

    @property
    def title(self) -> str:
        """Human-readable title from app.yaml (falls back to the image name)."""
        return str(self.manifest.get("application", {}).get("title") or self.image)


def load_suite(suite_yaml: Path) -> dict[str, Any]:
    """Read the suite manifest (top-level app.yaml) and check it has a suite and an apps list."""
    data = yaml.safe_load(Path(suite_yaml).read_text())
    if not isinstance(data, dict) or "suite" not in data or not isinstance(data.get("apps"), list):
        raise ValueError(f"{suite_yaml}: expected a 'suite' mapping and an 'apps' list")
    return data


def list_apps(suite_yaml: Path) -> list[str]:
    """Names of the apps the suite manifest lists, in its order."""
    return [str(a["name"]) for a in load_suite(suite_yaml)["apps"]]


def app_spec(suite_yaml: Path, name: str) -> AppSpec:
    """Resolve one app of the suite: its module, models and parsed app.yaml (paths relative to the suite file)."""
    suite = load_suite(suite_yaml)
    root = Path(suite_yaml).resolve().parent
    entry = next((a for a in suite["apps"] if a.get("name") == name), None)
    if entry is None:
        raise KeyError(f"app {name!r} is not listed in {suite_yaml}")
    manifest_path = root / entry.get("manifest", f"apps/{name}/app.yaml")
    # A listed app may not have landed yet: the builder then skips it, saying its manifest is missing.
    manifest = (yaml.safe_load(manifest_path.read_text()) or {}) if manifest_path.exists() else {}
    return AppSpec(
        name=name,
        module=str(entry.get("module", f"apps.{name}")),
        manifest_path=manifest_path,
        models=tuple(str(m) for m in entry.get("models", [])),
        suite_name=str(suite["suite"]["name"]),
        suite_version=str(suite["suite"]["version"]),
        suite_description=str(suite["suite"].get("description", "")),
        manifest=manifest,
    )


def _kebab(section: dict[str, Any], key: str, default: Any = None) -> Any:
    """Read a kebab-case key, refusing the camelCase spelling the SDK packager would silently ignore."""
    camel = re.sub(r"-(\w)", lambda m: m.group(1).upper(), key)
    if camel != key and camel in section:
        raise ValueError(f"app.yaml uses camelCase {camel!r}; the packager reads only {key!r}")
    return section.get(key, default)


def _formats(values: Any) -> list[dict[str, str]]:
    """app.yaml's ["file"] as the spec's array of format objects."""
    values = values or ["file"]
    return [{"type": str(v)} if not isinstance(v, dict) else v for v in values]


def command_argv(command: str) -> list[str]:
    """app.json#command as an argument list: holoscan-cli's JSON array string, or a plain shell command."""
    text = command.strip()
    if text.startswith("["):
        argv = json.loads(text)
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            raise ValueError(f"app.json command {command!r} is not a JSON array of strings")
        return argv
    return shlex.split(text)


def app_manifest(spec: AppSpec, paths: MapPaths = MapPaths(), sdk_version: str = "0.0.0") -> dict[str, Any]:
    """The Application Manifest (/etc/holoscan/app.json) for one app."""
    application = spec.manifest.get("application", {}) or {}
    if not _SEMVER.match(spec.version):
        raise ValueError(f"{spec.name}: version {spec.version!r} is not a semantic version")
    return {
        "apiVersion": MAP_API_VERSION,
        "type": "application",
        # What the platforms run (MONAI Deploy Express' workflows, holoscan-cli's generated command): the app
        # folder's __main__.py raises the stack limit Holoscan wants and runs the app's module.
        "command": json.dumps(["python3", "-u", paths.app + "/"]),
        "environment": {
            "HOLOSCAN_APPLICATION": paths.app,
            "HOLOSCAN_INPUT_PATH": paths.input,
            "HOLOSCAN_OUTPUT_PATH": paths.output,
            "HOLOSCAN_WORKDIR": paths.workdir,
            "HOLOSCAN_MODEL_PATH": paths.models,
            "HOLOSCAN_CONFIG_PATH": paths.config,
            "HOLOSCAN_APP_MANIFEST_PATH": paths.app_manifest,
            "HOLOSCAN_PKG_MANIFEST_PATH": paths.pkg_manifest,
            # The spec's table says HOLOSCAN_DOCS/HOLOSCAN_LOGS; holoscan-cli's MAPs set *_PATH: both.
            "HOLOSCAN_DOCS": paths.docs,
            "HOLOSCAN_LOGS": paths.logs,
            "HOLOSCAN_DOCS_PATH": paths.docs,
            "HOLOSCAN_LOGS_PATH": paths.logs,
            "MSK_MAPS_APP_MODULE": spec.module,
        },
        "input": {"path": "input/", "formats": _formats(_kebab(application, "input-formats"))},
        # The spec's table names it `format`; holoscan-cli writes `formats`: both, so either reader finds it.
        "output": {
            "path": "output/",
            "format": _formats(_kebab(application, "output-formats")),
            "formats": _formats(_kebab(application, "output-formats")),
        },
        "readiness": None,
        "liveness": None,
        "sdk": SDK_NAME,
        "sdkVersion": sdk_version,
        "timeout": int(_kebab(application, "timeout", 0) or 0),
        "version": spec.version,
        "workingDirectory": paths.workdir,
    }


def _memory_bytes(value: str) -> float:
    """A spec memory size ("512Mi", "1.5Gi") in bytes."""
    number, unit = float(value[:-2]), value[-2:]
    return number * (1 << 20 if unit == "Mi" else 1 << 30)


def _resources(spec: AppSpec, platform: str) -> dict[str, Any]:
    """app.yaml's resources, checked, as pkg.json carries them (verbatim, as holoscan-cli copies them)."""
    res = dict(spec.manifest.get("resources", {}) or {})
    for key in res:
        if key not in _RESOURCE_KEYS:
            camel = re.sub(r"-(\w)", lambda m: m.group(1).upper(), key)
            hint = f" (write {camel!r}: the packager copies resources verbatim into pkg.json)" if camel != key else ""
            raise ValueError(f"{spec.name}: app.yaml resources key {key!r} is not a MAP resource{hint}")
    for key in ("memory", "memoryLimit", "sharedMemory", "sharedMemoryLimit", "gpuMemory", "gpuMemoryLimit"):
        if key in res and not _MEMORY.match(str(res[key])):
            raise ValueError(f"{spec.name}: resources {key}={res[key]!r} is not like 512Mi or 1.5Gi")
    for key in ("cpu", "cpuLimit", "gpu", "gpuLimit"):
        if key in res and (isinstance(res[key], bool) or not isinstance(res[key], int | float) or res[key] < 0):
            raise ValueError(f"{spec.name}: resources {key}={res[key]!r} must be a non-negative number")
    # `holoscan run --shm-size config` gives the container exactly this; without the flag it shares the
    # host's /dev/shm, and the spec's default when the key is missing is 64Mi.
    if "sharedMemory" not in res or _memory_bytes(str(res["sharedMemory"])) < MIN_SHARED_MEMORY_BYTES:
        raise ValueError(
            f"{spec.name}: resources sharedMemory={res.get('sharedMemory')!r}: set at least 1Gi "
            "(less shrinks /dev/shm below what the runner gives by default; 64Mi is the spec's default)"
        )
    if platform == "cpu":
        # The CPU image neither needs nor uses a GPU: ask for none, so a scheduler can place it anywhere.
        res = {k: v for k, v in res.items() if not k.startswith("gpu")} | {"gpu": 0}
    elif not res.get("gpu"):
        raise ValueError(f"{spec.name}: a {platform} image must ask for a GPU (resources gpu: 1 in app.yaml)")
    return res


def package_manifest(spec: AppSpec, paths: MapPaths = MapPaths(), platform: str = "cpu") -> dict[str, Any]:
    """The Package Manifest (/etc/holoscan/pkg.json) for one app on `platform` (cpu, dgpu or igpu)."""
    if platform not in PLATFORM_CONFIGS:
        raise ValueError(f"platformConfig {platform!r} is not one of {', '.join(PLATFORM_CONFIGS)}")
    return {
        "apiVersion": MAP_API_VERSION,
        "applicationRoot": paths.app,
        "modelRoot": paths.models,
        # The spec's array of {name, path relative to modelRoot}; holoscan-cli writes {name: absolute path},
        # which no launcher reads.
        "models": [{"name": m, "path": m} for m in spec.models],
        "resources": _resources(spec, platform),
        "version": spec.version,
        "platformConfig": platform,
    }


def oci_labels(spec: AppSpec, monai_deploy_sdk: str = "0.0.0", holoscan_sdk: str = "0.0.0") -> dict[str, str]:
    """OCI image labels/annotations; version equals app.json#version as the spec requires.

    `org.monai.deploy.app-sdk` and `org.nvidia.holoscan` are the labels holoscan-cli's Dockerfile sets (and
    tools that tell a MAP from a HAP look for).
    """
    return {
        "org.opencontainers.image.title": spec.title,
        "org.opencontainers.image.version": spec.version,
        "org.opencontainers.image.description": spec.suite_description,
        "org.opencontainers.image.vendor": spec.suite_name,
        "org.monai.deploy.app-sdk": monai_deploy_sdk,
        "org.nvidia.holoscan": holoscan_sdk,
    }


def image_environment(spec: AppSpec, holoscan_sdk: str = "0.0.0", paths: MapPaths = MapPaths()) -> dict[str, str]:
    """The image's environment: app.json#environment plus what holoscan-cli's Dockerfile also sets."""
    return {
        **app_manifest(spec, paths)["environment"],
        "HOLOSCAN_TIMEOUT": str(app_manifest(spec, paths)["timeout"]),
        "HOLOSCAN_VERSION": holoscan_sdk,
        "PYTHONPATH": paths.app,
        "MSK_MAPS_MODEL_CACHE": paths.model_cache,  # inference/model_cache.py: a process per study starts faster
    }


def write_manifests(
    spec: AppSpec, out_dir: Path, sdk_version: str = "0.0.0", platform: str = "cpu"
) -> tuple[Path, Path]:
    """Write app.json and pkg.json for one app into out_dir; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    app_json, pkg_json = out_dir / "app.json", out_dir / "pkg.json"
    app_json.write_text(json.dumps(app_manifest(spec, sdk_version=sdk_version), indent=2) + "\n")
    pkg_json.write_text(json.dumps(package_manifest(spec, platform=platform), indent=2) + "\n")
    return app_json, pkg_json


def main(argv: list[str] | None = None) -> int:
    """CLI: write app.json and pkg.json for one app of the suite."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app")
    parser.add_argument("--suite", type=Path, default=Path("app.yaml"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sdk-version", default="0.0.0")
    parser.add_argument("--platform-config", choices=PLATFORM_CONFIGS, default="cpu")
    args = parser.parse_args(argv)
    spec = app_spec(args.suite, args.app)
    for path in write_manifests(spec, args.out, args.sdk_version, args.platform_config):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
