"""Route 2 (`monai-deploy package`, i.e. holoscan-cli <= 4.2.0's packager) and route 1 (packaging/build_map.py)
write the same pkg.json from each app's app.yaml, and app.json commands that start the same application.

holoscan-cli 4.2.0's own manifest code (packager/config_reader.py) runs on our app.yaml: its wheel is fetched
from PyPI (pip download, no dependencies) into build/. Its Docker client (python_on_whales) and psutil are
imported at module level by code the manifests never call; stand-in modules keep Docker out of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from tests.packaging._load import REPO, load_script

mm = load_script("map_manifest")

pytestmark = pytest.mark.package

HOLOSCAN_CLI = "4.2.0"  # the last holoscan-cli with a packager (MONAI Deploy App SDK 4.0's `monai-deploy package`)
CACHE = REPO / "build" / f"holoscan-cli-{HOLOSCAN_CLI}"

# What `monai-deploy package apps/<app> -c apps/<app>/app.yaml -m <models> --platform x64-workstation` does
# to make app.json and pkg.json (packager/arguments.py), minus the SDK and image lookups.
ROUTE2 = """
import json, sys, types
from pathlib import Path
sys.modules["python_on_whales"] = types.SimpleNamespace(docker=None)
sys.modules["psutil"] = types.ModuleType("psutil")
from holoscan_cli.common.enum_types import PlatformConfiguration
from holoscan_cli.packager.config_reader import ApplicationConfiguration
from holoscan_cli.packager.models import Models
from holoscan_cli.packager.parameters import PackageBuildParameters

app_dir, config, models = (Path(a) for a in sys.argv[1:4])
params = PackageBuildParameters()
params.application = app_dir
params.models = Models().build(models)
reader = ApplicationConfiguration()
reader.read(config)
app = reader.populate_app_manifest(params)
pkg = reader.populate_package_manifest(params)
pkg.platform_config = PlatformConfiguration.dGPU.value  # --platform-config' default
print(json.dumps({"app": app.data, "pkg": pkg.data}, default=str))
"""


@pytest.fixture(scope="module")
def holoscan_cli() -> Path:
    """holoscan-cli 4.2.0's package folder (its wheel, unpacked)."""
    unpacked = CACHE / "unpacked"
    if not (unpacked / "holoscan_cli" / "packager" / "config_reader.py").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        fetch = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(CACHE)]
        done = subprocess.run([*fetch, f"holoscan-cli=={HOLOSCAN_CLI}"], capture_output=True, text=True)
        assert done.returncode == 0, f"pip download holoscan-cli=={HOLOSCAN_CLI} failed: {done.stderr[-1000:]}"
        wheel = next(CACHE.glob(f"holoscan_cli-{HOLOSCAN_CLI}-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(unpacked)
    return unpacked


def _route2(holoscan_cli: Path, name: str, tmp_path: Path) -> dict:
    spec = mm.app_spec(REPO / "app.yaml", name)
    models = tmp_path / "models"  # the app's own models only, as our MAP's `extract` gives them
    for model in spec.models:
        (models / model).mkdir(parents=True)
        (models / model / f"{model}.ts").write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-c", ROUTE2, str(REPO / "apps" / name), str(spec.manifest_path), str(models)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(holoscan_cli), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", mm.list_apps(REPO / "app.yaml"))
def test_both_routes_write_the_same_pkg_json(holoscan_cli, name, tmp_path):
    spec = mm.app_spec(REPO / "app.yaml", name)
    theirs = _route2(holoscan_cli, name, tmp_path)["pkg"]
    ours = mm.package_manifest(spec, platform="dgpu")  # route 2 always builds the GPU image
    for key in ("apiVersion", "applicationRoot", "modelRoot", "resources", "version", "platformConfig"):
        assert ours[key] == theirs[key], key
    assert theirs["platformConfig"] in mm.PLATFORM_CONFIGS and theirs["resources"]["gpu"] >= 1
    # holoscan-cli writes {name: absolute path}, the spec an array of {name, path relative to modelRoot}.
    assert {m["name"]: f"{ours['modelRoot']}/{m['path']}" for m in ours["models"]} == theirs["models"]


@pytest.mark.parametrize("name", mm.list_apps(REPO / "app.yaml"))
def test_both_routes_app_json_start_the_same_application(holoscan_cli, name, tmp_path):
    spec = mm.app_spec(REPO / "app.yaml", name)
    theirs, ours = _route2(holoscan_cli, name, tmp_path)["app"], mm.app_manifest(spec)
    argv_theirs, argv_ours = mm.command_argv(theirs["command"]), mm.command_argv(ours["command"])
    assert argv_theirs[0] == argv_ours[0] == "python3"
    assert PurePosixPath(argv_theirs[-1]) == PurePosixPath(argv_ours[-1]) == PurePosixPath(mm.MapPaths().app)
    assert json.loads(theirs["command"]) == argv_theirs  # both are JSON arrays in a string
    for key in ("apiVersion", "version", "workingDirectory", "timeout"):
        assert str(ours[key]).rstrip("/") == str(theirs[key]).rstrip("/"), key
    for variable, value in theirs["environment"].items():
        resolved = value if value.startswith("/") else f"{theirs['workingDirectory'].rstrip('/')}/{value}"
        assert ours["environment"][variable].rstrip("/") == resolved.rstrip("/"), variable
    assert [f["type"] for f in ours["input"]["formats"]] == theirs["input"]["formats"]
