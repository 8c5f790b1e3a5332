"""MAP manifests generated from app.yaml: the spec's fields, names and formats; the builder's layout (no containers)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from tests.packaging._load import REPO, load_script

mm = load_script("map_manifest")
bm = load_script("build_map")

SEMVER = re.compile(r"^\d+\.\d+\.\d+")
SPEC_ENV = {
    "HOLOSCAN_INPUT_PATH": "/var/holoscan/input",
    "HOLOSCAN_OUTPUT_PATH": "/var/holoscan/output",
    "HOLOSCAN_WORKDIR": "/var/holoscan",
    "HOLOSCAN_MODEL_PATH": "/opt/holoscan/models",
    "HOLOSCAN_CONFIG_PATH": "/var/holoscan/app.yaml",
    "HOLOSCAN_APP_MANIFEST_PATH": "/etc/holoscan/app.json",
    "HOLOSCAN_PKG_MANIFEST_PATH": "/etc/holoscan/pkg.json",
    "HOLOSCAN_DOCS": "/opt/holoscan/docs",
    "HOLOSCAN_LOGS": "/var/holoscan/logs",
}


def _suite(tmp_path: Path, app_yaml: dict | None, models=("m_a", "m_b"), version="2.3.4") -> Path:
    """A suite app.yaml with one app `demo` (and its app.yaml unless None) in tmp_path."""
    suite = {
        "suite": {"name": "suite-x", "version": version, "description": "demo suite"},
        "apps": [{"name": "demo", "module": "apps.demo", "manifest": "apps/demo/app.yaml", "models": list(models)}],
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(suite))
    if app_yaml is not None:
        (tmp_path / "apps" / "demo").mkdir(parents=True)
        (tmp_path / "apps" / "demo" / "app.yaml").write_text(yaml.safe_dump(app_yaml))
    return tmp_path / "app.yaml"


APP_YAML = {
    "application": {"title": "Demo app", "version": "1.2.0", "input-formats": ["file"], "output-formats": ["file"]},
    "resources": {"cpu": 2, "gpu": 1, "memory": "4Gi", "gpuMemory": "2Gi", "sharedMemory": "1Gi"},
}


def test_app_json_has_the_spec_fields_from_app_yaml(tmp_path):
    spec = mm.app_spec(_suite(tmp_path, APP_YAML), "demo")
    app = mm.app_manifest(spec, sdk_version="4.0.0")
    # A JSON array in a string, as holoscan-cli writes it and its tools read it (jq '.command | fromjson').
    assert isinstance(app["command"], str)
    assert json.loads(app["command"]) == ["python3", "-u", "/opt/holoscan/app/"]
    assert app["type"] == "application"
    assert SEMVER.match(app["apiVersion"]) and app["sdkVersion"] == "4.0.0" and app["sdk"] == "monai-deploy"
    assert app["version"] == "1.2.0"  # the app's own version wins over the suite's
    assert app["input"] == {"path": "input/", "formats": [{"type": "file"}]}
    assert app["output"]["path"] == "output/" and app["output"]["format"] == [{"type": "file"}]
    assert app["workingDirectory"] == "/var/holoscan" and app["timeout"] == 0
    for name, value in SPEC_ENV.items():
        assert app["environment"][name] == value
    assert app["environment"]["MSK_MAPS_APP_MODULE"] == "apps.demo"


def test_pkg_json_of_the_gpu_image_carries_app_yaml_resources_verbatim(tmp_path):
    spec = mm.app_spec(_suite(tmp_path, APP_YAML, models=("t1_model", "t2_model")), "demo")
    pkg = mm.package_manifest(spec, platform="dgpu")
    assert pkg["applicationRoot"] == "/opt/holoscan/app" and pkg["modelRoot"] == "/opt/holoscan/models"
    assert pkg["models"] == [{"name": "t1_model", "path": "t1_model"}, {"name": "t2_model", "path": "t2_model"}]
    # What holoscan-cli copies from app.yaml, so both packaging routes write the same resources.
    assert pkg["resources"] == APP_YAML["resources"]
    assert pkg["platformConfig"] == "dgpu"
    assert pkg["version"] == "1.2.0" and SEMVER.match(pkg["apiVersion"])


def test_pkg_json_of_the_cpu_image_asks_for_no_gpu(tmp_path):
    pkg = mm.package_manifest(mm.app_spec(_suite(tmp_path, APP_YAML), "demo"))
    assert pkg["platformConfig"] == "cpu"
    assert pkg["resources"] == {"cpu": 2, "gpu": 0, "memory": "4Gi", "sharedMemory": "1Gi"}


@pytest.mark.parametrize("platform", ["x64-workstation", "gpu", ""])
def test_platform_config_outside_holoscan_clis_values_is_refused(tmp_path, platform):
    spec = mm.app_spec(_suite(tmp_path, APP_YAML), "demo")
    with pytest.raises(ValueError, match="cpu, dgpu, igpu"):
        mm.package_manifest(spec, platform=platform)


def test_gpu_image_that_asks_for_no_gpu_is_refused(tmp_path):
    no_gpu = {**APP_YAML, "resources": {**APP_YAML["resources"], "gpu": 0}}
    with pytest.raises(ValueError, match="must ask for a GPU"):
        mm.package_manifest(mm.app_spec(_suite(tmp_path, no_gpu), "demo"), platform="dgpu")


@pytest.mark.parametrize("shm", [None, "64Mi", "512Mi", "0.5Gi"])
def test_shared_memory_below_the_runners_default_is_refused(tmp_path, shm):
    resources = {k: v for k, v in APP_YAML["resources"].items() if k != "sharedMemory"}
    if shm is not None:
        resources["sharedMemory"] = shm
    spec = mm.app_spec(_suite(tmp_path, {**APP_YAML, "resources": resources}), "demo")
    with pytest.raises(ValueError, match="sharedMemory.*at least 1Gi"):
        mm.package_manifest(spec)


def test_kebab_case_resource_is_refused_because_the_packager_copies_it_verbatim(tmp_path):
    bad = {**APP_YAML, "resources": {**APP_YAML["resources"], "gpu-memory": "2Gi"}}
    with pytest.raises(ValueError, match="write 'gpuMemory'"):
        mm.package_manifest(mm.app_spec(_suite(tmp_path, bad), "demo"), platform="dgpu")


def test_camel_case_application_key_is_refused_because_the_sdk_packager_ignores_it(tmp_path):
    bad = {"application": {"version": "1.0.0", "inputFormats": ["file"]}, "resources": {}}
    with pytest.raises(ValueError, match="input-formats"):
        mm.app_manifest(mm.app_spec(_suite(tmp_path, bad), "demo"))


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ('["python3", "/opt/holoscan/app"]', ["python3", "/opt/holoscan/app"]),  # holoscan-cli's
        ("python3 -u /opt/holoscan/app/", ["python3", "-u", "/opt/holoscan/app/"]),  # the spec's shell command
        ("  /bin/sh -c 'echo a b'", ["/bin/sh", "-c", "echo a b"]),
    ],
)
def test_command_argv_reads_a_json_array_string_and_a_shell_command(command, argv):
    assert mm.command_argv(command) == argv


def test_command_argv_refuses_a_json_value_that_is_no_argument_list():
    with pytest.raises(ValueError, match="not a JSON array of strings"):
        mm.command_argv('["python3", 3]')


def test_labels_and_environment_name_the_sdks_as_holoscan_clis_maps_do(tmp_path):
    spec = mm.app_spec(_suite(tmp_path, APP_YAML), "demo")
    labels = mm.oci_labels(spec, monai_deploy_sdk="4.0.0", holoscan_sdk="4.6.0")
    assert labels["org.monai.deploy.app-sdk"] == "4.0.0" and labels["org.nvidia.holoscan"] == "4.6.0"
    env = mm.image_environment(spec, holoscan_sdk="4.6.0")
    assert env["HOLOSCAN_TIMEOUT"] == "0" and env["HOLOSCAN_VERSION"] == "4.6.0"
    assert env["HOLOSCAN_APPLICATION"] == "/opt/holoscan/app" and env["PYTHONPATH"] == "/opt/holoscan/app"


def test_version_falls_back_to_suite_and_must_be_semver(tmp_path):
    spec = mm.app_spec(_suite(tmp_path, {"application": {"title": "t"}}), "demo")
    assert mm.app_manifest(spec)["version"] == "2.3.4"
    assert mm.oci_labels(spec)["org.opencontainers.image.version"] == "2.3.4"
    with pytest.raises(ValueError, match="semantic"):
        mm.app_manifest(mm.app_spec(_suite(tmp_path / "b", {"application": {"version": "v1"}}), "demo"))


def test_bad_memory_size_is_refused(tmp_path):
    bad = {"application": {"version": "1.0.0"}, "resources": {"memory": "4GB", "sharedMemory": "1Gi"}}
    with pytest.raises(ValueError, match="memory"):
        mm.package_manifest(mm.app_spec(_suite(tmp_path, bad), "demo"))


def test_unlisted_app_raises_and_unlanded_app_is_reported_missing(tmp_path):
    suite = _suite(tmp_path, None)
    with pytest.raises(KeyError):
        mm.app_spec(suite, "nope")
    spec = mm.app_spec(suite, "demo")
    missing = bm.missing_inputs(spec, tmp_path / "models")
    assert any(m.startswith("manifest") for m in missing)
    assert sum(m.startswith("model ") for m in missing) == 2


def test_write_manifests_writes_valid_json(tmp_path):
    spec = mm.app_spec(_suite(tmp_path, APP_YAML), "demo")
    app_path, pkg_path = mm.write_manifests(spec, tmp_path / "out", sdk_version="4.0.0")
    assert json.loads(app_path.read_text()) == mm.app_manifest(spec, sdk_version="4.0.0")
    assert json.loads(pkg_path.read_text()) == mm.package_manifest(spec)


@pytest.mark.parametrize("name", mm.list_apps(REPO / "app.yaml"))
def test_every_landed_suite_app_generates_manifests(name):
    spec = mm.app_spec(REPO / "app.yaml", name)
    if not spec.manifest_path.exists():
        pytest.skip(f"{name}: {spec.manifest_path} not written yet")
    app, pkg = mm.app_manifest(spec), mm.package_manifest(spec)
    assert mm.package_manifest(spec, platform="dgpu")["resources"]["gpu"] >= 1
    assert app["environment"]["MSK_MAPS_APP_MODULE"] == spec.module
    assert [m["name"] for m in pkg["models"]] == list(spec.models)
    assert mm.oci_labels(spec)["org.opencontainers.image.version"] == app["version"] == pkg["version"]
    for model in pkg["models"]:  # spec: no whitespace/control characters, at most 128 bytes
        assert not re.search(r"\s", model["name"]) and len(model["name"].encode()) <= 128


def test_base_key_changes_with_each_input():
    key = bm.base_key(b"torch==1", b"setup", ["torch.whl"], gpu=False)
    assert key == bm.base_key(b"torch==1", b"setup", ["torch.whl"], gpu=False)
    others = {
        bm.base_key(b"torch==2", b"setup", ["torch.whl"], gpu=False),
        bm.base_key(b"torch==1", b"setup2", ["torch.whl"], gpu=False),
        bm.base_key(b"torch==1", b"setup", [], gpu=False),
        bm.base_key(b"torch==1", b"setup", ["torch.whl"], gpu=True),
    }
    assert key not in others and len(others) == 4


def test_stage_app_lays_out_the_map_folders(tmp_path):
    spec = mm.app_spec(REPO / "app.yaml", "olt_mri")
    models = tmp_path / "models"
    for model in spec.models:
        (models / model).mkdir(parents=True)
        (models / model / f"{model}.ts").write_bytes(model.encode())
    cfg = bm.BuildConfig(models_dir=models, work=tmp_path / "work", gpu=True)
    stage = bm.stage_app(spec, cfg, ["apps", "operators", "run"], bm.SdkVersions("4.0.0", "4.6.0"))
    assert json.loads((stage / "etc/holoscan/app.json").read_text())["sdkVersion"] == "4.0.0"
    pkg = json.loads((stage / "etc/holoscan/pkg.json").read_text())
    assert pkg["models"][0]["name"] == spec.models[0] and pkg["platformConfig"] == "dgpu"
    app_root = stage / "opt/holoscan/app"
    # `python3 -u /opt/holoscan/app/` (the platforms' command) finds a __main__.py there.
    assert (app_root / "__main__.py").read_text() == (REPO / "packaging/app_main.py").read_text()
    assert (app_root / "apps/olt_mri/app.py").exists() and (app_root / "run/batch.py").exists()
    assert (app_root / "operators/__init__.py").exists()
    assert sorted(p.name for p in (app_root / "apps").iterdir() if p.is_dir()) == ["olt_mri"]  # no other apps
    assert not list(app_root.rglob("__pycache__"))
    for model in spec.models:
        assert (stage / f"opt/holoscan/models/{model}/{model}.ts").read_bytes() == model.encode()
        assert (stage / f"opt/holoscan/docs/models/{model}/MODEL_CARD.md").exists()
    assert (stage / "opt/holoscan/docs/README.md").exists()
    assert (stage / "var/holoscan/app.yaml").read_text() == spec.manifest_path.read_text()
    assert os.access(stage / "opt/holoscan/entrypoint.sh", os.X_OK)
