from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.evaluate import read_predictions

REPO = Path(__file__).resolve().parents[2]


def _csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_cli_writes_metrics_and_plots(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = [
        {
            "patient_id": f"P{i}",
            "label": i % 2,
            "probability": round(float(np.clip(0.3 + 0.4 * (i % 2) + rng.normal(0, 0.2), 0, 1)), 4),
            "extra": "x",
        }
        for i in range(60)
    ]
    predictions = _csv(tmp_path / "p.csv", rows)
    out = tmp_path / "eval"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.evaluate",
            "--predictions",
            str(predictions),
            "--out",
            str(out),
            "--bootstrap",
            "200",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "precision", "recall", "f1", "specificity", "auc"):
        assert set(metrics[key]) >= {"value", "ci_low", "ci_high"}
        assert metrics[key]["ci_low"] <= metrics[key]["value"] <= metrics[key]["ci_high"]
    assert metrics["ci_methods"]["accuracy"] == "wilson" and metrics["ci_methods"]["auc"] == "DeLong"
    assert (out / "roc.png").stat().st_size > 1000 and (out / "confusion_matrix.png").stat().st_size > 1000
    assert "accuracy" in result.stdout


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = _csv(tmp_path / "bad.csv", [{"patient": "a", "label": 1}])
    with pytest.raises(
        ValueError, match=r"lacks columns \['patient_id', 'probability'\]; found \['patient', 'label'\]"
    ):
        read_predictions(path)
