"""Evaluation CLI for olt_mri: python -m training.evaluate_olt --truth PHANTOMS --results APP_OUT --out DIR.

Scores an app run at the level a reader sees it, from the app's own result.json per study against the phantoms'
ground_truth.json: the study call (OLT suspected or not; label = the patient has a lesion) and every series call
(label = the lesion shows on that series). Accuracy, sensitivity and specificity of the app's own calls carry
Wilson 95% intervals; the AUC of the study and series probabilities its DeLong interval. A study the app did not
report on counts as a wrong call. Writes metrics.json, per_study.csv, per_series.csv and the study ROC and
confusion plots.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from apps.olt_mri.result_details import OltDetails
from dicom_out.result_json import read_details
from training.app_evaluation import parse_evaluation_args, truths_with_results, write_rows
from training.metrics import binary_classification_metrics
from training.plots import plot_confusion_matrix, plot_roc

__all__ = ["evaluate_olt_run", "main"]

logger = logging.getLogger(__name__)


def _call_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics of the app's calls in `rows` (label, call, probability); no ROC points, they go to the plot."""
    labels = np.array([r["label"] for r in rows])
    metrics = binary_classification_metrics(
        labels,
        np.array([r["probability"] for r in rows]),
        predicted=np.array([r["call"] for r in rows]),
        groups=np.array([r["patient_id"] for r in rows]),
    )
    return metrics


def _study_rows(truth_root: Path, results_root: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One row per phantom study and one per (study, analysed series)."""
    studies, series = [], []
    for _, truth, result, _ in truths_with_results(truth_root, results_root, "ankle-mri", "olt_mri"):
        details = read_details(result, OltDetails)
        label = int(truth["lesion"])
        if details is None:  # not reported: the opposite of the truth, so it counts against the app
            wrong = {"call": 1 - label, "probability": float(1 - label), "reported": False}
            studies.append({"patient_id": truth["patient_id"], "label": label, **wrong})
            continue
        studies.append(
            {
                "patient_id": truth["patient_id"],
                "label": label,
                "call": int(details.study_call.present),
                "probability": details.study_call.probability,
                "reported": True,
            }
        )
        shown = {s["series_instance_uid"]: bool(s["slices_with_lesion"]) and truth["lesion"] for s in truth["series"]}
        for entry in details.series:
            series.append(
                {
                    "patient_id": truth["patient_id"],
                    "rule": entry.rule,
                    "label": int(shown.get(entry.series_instance_uid, False)),
                    "call": int(entry.present),
                    "probability": entry.probability,
                }
            )
    return studies, series


def evaluate_olt_run(truth_root: Path, results_root: Path, out_dir: Path) -> dict[str, Any]:
    """Study- and series-level metrics of an olt_mri run against ankle MRI phantom ground truth."""
    studies, series = _study_rows(truth_root, results_root)
    if not studies:
        raise ValueError(f"no ankle-mri ground truth under {truth_root}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    study = _call_metrics(studies)
    metrics: dict[str, Any] = {
        "studies": len(studies),
        "not_reported": sum(not r["reported"] for r in studies),
        "study": {k: v for k, v in study.items() if k != "roc"},
        "series": {},
    }
    for rule in sorted({r["rule"] for r in series}):
        rows = [r for r in series if r["rule"] == rule]
        metrics["series"][rule] = {k: v for k, v in _call_metrics(rows).items() if k != "roc"}
    if series:
        metrics["series"]["all"] = {k: v for k, v in _call_metrics(series).items() if k != "roc"}
    if study["roc"] is not None:
        auc = study["auc"]
        plot_roc(study["roc"]["fpr"], study["roc"]["tpr"], f"AUC {auc['value']:.3f}", out_dir / "roc.png", "OLT study")
    cm = study["confusion_matrix"]
    plot_confusion_matrix(
        cm["tn"], cm["fp"], cm["fn"], cm["tp"], ("no OLT", "OLT"), out_dir / "confusion_matrix.png", "OLT study call"
    )
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    write_rows(studies, out_dir / "per_study.csv")
    if series:
        write_rows(series, out_dir / "per_series.csv")
    return metrics


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    args = parse_evaluation_args(__doc__, argv)
    metrics = evaluate_olt_run(args.truth, args.results, args.out)
    study = metrics["study"]
    print(
        f"studies={metrics['studies']} accuracy={study['accuracy']['value']:.3f} "
        f"sensitivity={study['recall']['value']} specificity={study['specificity']['value']} "
        f"AUC={study['auc']['value']}; wrote {args.out / 'metrics.json'}"
    )


if __name__ == "__main__":
    main()
