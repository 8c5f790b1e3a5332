"""A finished run of all three apps for the browser tests: the demo's (make view-test) or a small one made here.

`MSK_VIEW_RUN=demo` (set by `make view-test` after `make demo`) points at a folder with `input/` and `output/`
(one run folder, or one per app). Unset, the tests make their own: one phantom study per app, fixture models
(random weights: the calls mean nothing, the objects are real). `MSK_VIEW_SCREENSHOTS` keeps the screenshots
(default: the test's temporary folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.ankle_xray import generate_ankle_xray_dataset
from phantoms.broken import write_broken_inputs
from phantoms.hip_mri import generate_hip_mri_dataset
from report_page.sources import run_folders
from tests.app_runner import run_app
from tests.model_fixtures import export_fixture_classifier, export_fixture_fragment_models, export_fixture_segmenter

APPS = ("olt_mri", "ankle_xray", "onfh_mri")


@dataclass(frozen=True)
class FinishedRun:
    """A run's input folder and its run folders (each with results*.csv, failures*.csv, run*.json)."""

    input: Path
    outputs: list[Path]


def _small_run(root: Path) -> FinishedRun:
    input_dir, models, output = root / "input", root / "models", root / "output"
    generate_ankle_mri_dataset(input_dir / "ankle_mri", patients=1, seed=11, lesion_fraction=1.0)
    generate_ankle_xray_dataset(input_dir / "ankle_xray", patients=1, seed=11, fragment_fraction=1.0)
    generate_hip_mri_dataset(input_dir / "hip_mri", patients=1, seed=11)
    write_broken_inputs(input_dir / "broken", seed=11)
    export_fixture_classifier(models, "olt_mri_t1", seed=1)
    export_fixture_classifier(models, "olt_mri_t2", seed=2)
    export_fixture_fragment_models(models)
    export_fixture_segmenter(models)
    for app in APPS:
        returncode, stderr = run_app(app, input_dir, output / app, models)
        assert returncode == 0, f"{app}: {stderr[-2000:]}"
    return FinishedRun(input_dir, run_folders(output))


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    given = os.environ.get("MSK_VIEW_RUN")
    if given:
        root = Path(given)
        run = FinishedRun(root / "input", run_folders(root / "output"))
        assert run.outputs, f"MSK_VIEW_RUN={given}: no run folder (with run.json) under {root / 'output'}"
        return run
    return _small_run(tmp_path_factory.mktemp("view-run"))


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("MSK_VIEW_SCREENSHOTS")
    folder = Path(given) if given else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
