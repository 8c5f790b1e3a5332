"""One source of truth per app: what the apps read at run time (apps.catalog) equals what packaging reads."""

from __future__ import annotations

import importlib

import pytest

from apps.catalog import app_info, app_names
from dicom_in.series_selection import SelectionRules
from tests.packaging._load import REPO, load_script

mm = load_script("map_manifest")


@pytest.mark.parametrize("name", app_names())
def test_catalog_and_suite_manifest_agree(name: str) -> None:
    info = app_info(name)
    spec = mm.app_spec(REPO / "app.yaml", name)
    assert spec.models == tuple(info.models)
    assert spec.version == info.version == mm.load_suite(REPO / "app.yaml")["suite"]["version"]
    assert spec.manifest_path.resolve() == info.manifest.resolve()
    assert spec.module == f"apps.{name}"


def test_the_suite_lists_exactly_the_catalog_apps() -> None:
    assert mm.list_apps(REPO / "app.yaml") == app_names()


@pytest.mark.parametrize("name", app_names())
def test_rules_name_only_the_apps_models_and_the_app_class_is_the_catalog_entry(name: str) -> None:
    info = app_info(name)
    rules = SelectionRules.from_file(info.selection_rules)
    assert {rule.model for rule in rules.rules} <= set(info.models)
    module = importlib.import_module(f"apps.{name}.app")
    apps = [v for v in vars(module).values() if isinstance(v, type) and getattr(v, "info", None) is info]
    assert len(apps) == 1


def test_an_unknown_app_is_named() -> None:
    with pytest.raises(KeyError, match="unknown app 'knee_ct'"):
        app_info("knee_ct")
