"""Evaluation CLI: python -m training.evaluate --predictions FILE.csv --out DIR.

The CSV has columns patient_id,label,probability (label 1 = positive; extra columns are ignored). Rows may be
images, several per patient: metrics are per row, and the bootstrap intervals (AUC when a patient has
several rows, F1 always) resample patients, so correlated images do not narrow them dishonestly.
Writes metrics.json, roc.png and confusion_matrix.png.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from training.metrics import binary_classification_metrics
from training.plots import plot_confusion_matrix, plot_roc

__all__ = ["read_predictions", "evaluate_predictions_csv", "main"]

REQUIRED = ("patient_id", "label", "probability")


def read_predictions(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(patient ids, labels, probabilities) from a predictions CSV; errors name what is missing or wrong."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks columns {missing}; found {reader.fieldnames}")
        rows = list(reader)
    if not rows:
        raise ValueError(f"{path} has no rows")
    try:
        labels = np.array([int(float(r["label"])) for r in rows])
        probabilities = np.array([float(r["probability"]) for r in rows])
    except ValueError as exc:
        raise ValueError(f"{path}: label and probability must be numbers ({exc})") from exc
    return np.array([r["patient_id"] for r in rows]), labels, probabilities


def _fmt(metric: dict[str, Any]) -> str:
    if metric.get("value") is None:
        return f"n/a ({metric.get('reason', '')})"
    return f"{metric['value']:.3f} [{metric['ci_low']:.3f}, {metric['ci_high']:.3f}]"


def evaluate_predictions_csv(
    csv_path: Path,
    out_dir: Path,
    threshold: float = 0.5,
    title: str | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
    class_names: tuple[str, str] = ("negative", "positive"),
) -> dict[str, Any]:
    """Compute the metrics of a predictions CSV and write metrics.json, roc.png, confusion_matrix.png."""
    patients, labels, probabilities = read_predictions(csv_path)
    metrics = binary_classification_metrics(labels, probabilities, threshold, patients, bootstrap, seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    if metrics["roc"] is not None:
        auc = metrics["auc"]
        plot_roc(metrics["roc"]["fpr"], metrics["roc"]["tpr"], f"AUC {_fmt(auc)}", out_dir / "roc.png", title or "")
    cm = metrics["confusion_matrix"]
    plot_confusion_matrix(
        cm["tn"], cm["fp"], cm["fn"], cm["tp"], class_names, out_dir / "confusion_matrix.png", title or ""
    )
    return metrics


def main(argv: list[str] | None = None) -> None:
    """Parse flags, evaluate, print a short table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--title", default=None)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    metrics = evaluate_predictions_csv(
        args.predictions, args.out, args.threshold, args.title, args.bootstrap, args.seed
    )
    for name in ("accuracy", "precision", "recall", "specificity", "f1", "auc"):
        print(f"{name:12s} {_fmt(metrics[name])}  ({metrics['ci_methods'][name]})")
    print(f"confusion    {metrics['confusion_matrix']}  -> {args.out / 'metrics.json'}")


if __name__ == "__main__":
    main()
