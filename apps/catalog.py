"""The suite's apps at run time: each app's name, version, models (with the contract each must carry), rules.

What the apps read at run time lives here and in each app's own folder (its packager manifest
`apps/<app>/app.yaml` gives the version, which the MAP ships); the suite manifest `app.yaml` (packaging) lists
the same apps and models, and `tests/apps/test_catalog.py` ties the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from inference.model_meta import ClassifierMeta, DetectorMeta, ModelMeta, SegmenterMeta

__all__ = ["AppInfo", "APP_MODELS", "app_info", "app_names"]

APPS_DIR = Path(__file__).resolve().parent

# Each app's models and the kind of contract each must carry (checked when the run starts).
APP_MODELS: dict[str, dict[str, type[ModelMeta]]] = {
    "olt_mri": {"olt_mri_t1": ClassifierMeta, "olt_mri_t2": ClassifierMeta},
    "ankle_xray": {"ankle_xray_detector": DetectorMeta, "ankle_xray_classifier": ClassifierMeta},
    "onfh_mri": {"onfh_mri_femoral_head": SegmenterMeta},
}


@dataclass(frozen=True)
class AppInfo:
    """One app: its name, version (from its app.yaml), models and their kinds, and its selection rules file."""

    name: str
    version: str
    models: Mapping[str, type[ModelMeta]]
    folder: Path

    @property
    def algorithm_name(self) -> str:
        """The name its reports give the algorithm, e.g. "msk-maps olt_mri"."""
        return f"msk-maps {self.name}"

    @property
    def selection_rules(self) -> Path:
        """The app's own selection rules file."""
        return self.folder / "selection_rules.json"

    @property
    def manifest(self) -> Path:
        """The app's packager manifest (Holoscan app.yaml)."""
        return self.folder / "app.yaml"


def app_names() -> list[str]:
    """Every app of the suite, in the order the suite lists them."""
    return list(APP_MODELS)


@cache
def app_info(name: str) -> AppInfo:
    """The app `name`; raises KeyError naming the known apps."""
    if name not in APP_MODELS:
        raise KeyError(f"unknown app {name!r}; the suite has {app_names()}")
    folder = APPS_DIR / name
    manifest = yaml.safe_load((folder / "app.yaml").read_text(encoding="utf-8"))
    return AppInfo(name=name, version=str(manifest["application"]["version"]), models=APP_MODELS[name], folder=folder)
