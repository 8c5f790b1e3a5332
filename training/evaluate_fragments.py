"""Evaluation CLI for ankle_xray: python -m training.evaluate_fragments --truth PHANTOMS --results APP_OUT --out DIR.

Reads the app's result.json per study (every fragment's box on its source image, detection score and class
probabilities) and the phantoms' ground_truth.json. Detection: recall and average precision at IoU 0.5 over
all radiographs. Classification (LMAF = positive) of the detections that match a true fragment: accuracy,
sensitivity (recall), specificity with Wilson 95% intervals, AUC with its DeLong interval, ROC and confusion
plots — the same metrics code as the other apps (`training.metrics`). Writes metrics.json and per_fragment.csv.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from apps.ankle_xray.result_details import FragmentDetails, FragmentStudyDetails
from dicom_out.result_json import read_details
from training.app_evaluation import parse_evaluation_args, truths_with_results, write_rows
from training.detection_metrics import detection_metrics, match_detections
from training.metrics import binary_classification_metrics
from training.plots import plot_confusion_matrix, plot_roc

__all__ = ["evaluate_fragment_run", "main", "IOU_THRESHOLD"]

logger = logging.getLogger(__name__)

IOU_THRESHOLD = 0.5
POSITIVE = "LMAF"


def _predictions(result: dict[str, Any] | None) -> dict[str, list[FragmentDetails]]:
    """The app's fragments grouped by source SOPInstanceUID."""
    by_image: dict[str, list[FragmentDetails]] = {}
    details = read_details(result, FragmentStudyDetails)
    for fragment in details.fragments if details else []:
        by_image.setdefault(fragment.sop_instance_uid, []).append(fragment)
    return by_image


def evaluate_fragment_run(truth_root: Path, results_root: Path, out_dir: Path) -> dict[str, Any]:
    """Detection recall/AP and LMAF-vs-SFO classification metrics of an app run against phantom ground truth."""
    predictions, truths, rows = [], [], []
    for _, truth, result in truths_with_results(truth_root, results_root, "ankle-xray"):
        found = _predictions(result)
        for image in truth["images"]:
            fragments = found.get(image["sop_instance_uid"], [])
            boxes = np.array([f.box for f in fragments], float).reshape(-1, 4)
            scores = np.array([f.detection_score for f in fragments], float)
            gt = np.array([f["box"] for f in image["fragments"]], float).reshape(-1, 4)
            predictions.append((boxes, scores))
            truths.append(gt)
            _, matched = match_detections(boxes, scores, gt, IOU_THRESHOLD)
            for fragment, index in zip(fragments, matched, strict=True):
                if index < 0:
                    continue
                rows.append(
                    {
                        "patient_id": truth["patient_id"],
                        "sop_instance_uid": image["sop_instance_uid"],
                        "true_class": image["fragments"][index]["class"],
                        "predicted_class": fragment.label,
                        "label": int(image["fragments"][index]["class"] == POSITIVE),
                        "probability": fragment.probabilities[POSITIVE],
                        "detection_score": fragment.detection_score,
                    }
                )
    if not truths:
        raise ValueError(f"no ankle-xray ground truth under {truth_root}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, Any] = {"detection": detection_metrics(predictions, truths, IOU_THRESHOLD)}
    if rows:
        labels = np.array([r["label"] for r in rows])
        probabilities = np.array([r["probability"] for r in rows])
        groups = np.array([r["patient_id"] for r in rows])
        classification = binary_classification_metrics(labels, probabilities, groups=groups)
        metrics["classification"] = classification
        if classification.get("roc"):
            auc = classification["auc"]
            plot_roc(
                classification["roc"]["fpr"],
                classification["roc"]["tpr"],
                f"AUC {auc['value']:.3f}",
                out_dir / "roc.png",
                "LMAF vs SFO, detected fragments",
            )
        cm = classification["confusion_matrix"]
        plot_confusion_matrix(cm["tn"], cm["fp"], cm["fn"], cm["tp"], ("SFO", "LMAF"), out_dir / "confusion_matrix.png")
        write_rows(rows, out_dir / "per_fragment.csv")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float), encoding="utf-8")
    return metrics


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    args = parse_evaluation_args(__doc__, argv)
    metrics = evaluate_fragment_run(args.truth, args.results, args.out)
    detection = metrics["detection"]
    line = f"fragments={detection['num_gt']} recall@{IOU_THRESHOLD}={detection['recall']:.3f} AP={detection['ap']:.3f}"
    if "classification" in metrics:
        line += f" AUC={metrics['classification']['auc']['value']}"
    print(f"{line}; wrote {args.out / 'metrics.json'}")


if __name__ == "__main__":
    main()
