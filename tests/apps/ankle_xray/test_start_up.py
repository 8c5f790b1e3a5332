"""ankle_xray's start-up: a fresh process that runs a study through the detector never imports MONAI.

Importing anything under `monai` imports all of MONAI (seconds of a process-per-study launch; bench --cold-only
measures it), so the app detects boxes with inference.retinanet_boxes. This guards the win from coming back by
way of any import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from phantoms.ankle_xray import generate_ankle_xray_dataset
from run.batch import holoscan_stack_limit
from tests.app_runner import REPO, read_rows
from tests.model_fixtures import export_fixture_fragment_models

_CHILD = """
import json, sys
from apps.ankle_xray.app import AnkleXrayApp
from run.batch import run_batch
code = run_batch(AnkleXrayApp, sys.argv[1:])
print(json.dumps({"code": code, "monai": sorted(m for m in sys.modules if m.split(".")[0] == "monai")}))
"""


def test_a_one_study_run_detects_boxes_without_importing_monai(tmp_path: Path) -> None:
    [truth] = generate_ankle_xray_dataset(tmp_path / "in", patients=1, seed=5, fragment_fraction=1.0)
    models = tmp_path / "models"
    export_fixture_fragment_models(models)  # score threshold 0: the detector's boxes go all the way through
    out = tmp_path / "out"
    args = ["-i", str(tmp_path / "in"), "-o", str(out), "-m", str(models), "--no-progress"]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=holoscan_stack_limit,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr[-3000:]
    [row] = read_rows(out / "results.csv")
    assert row["study_instance_uid"] == truth["study_instance_uid"] and row["status"] == "ok"
    result = json.loads((out / truth["study_instance_uid"] / "result.json").read_text())
    assert result["details"]["fragments"], "the detector found no box: the check below would prove nothing"
    assert report["monai"] == []
