"""Evaluation CLI for ankle_xray: python -m training.evaluate_fragments --truth PHANTOMS --results APP_OUT --out DIR.

Reads the app's result.json per study (every fragment's box on its source image, detection score and class
probabilities) and the phantoms' ground_truth.json, and scores what a reader gets:

* per fragment (one per phantom study, drawn on each of its views): found when a detection hits it on at least one
  radiograph; its class is that of the highest-scoring hit. Recall (Wilson CI). A hit is a match at IoU >= 0.3,
  the lesion-detection (FROC) convention: for a 2-4 mm fragment, 6-16 pixels across, IoU 0.5 asks for a box within
  a pixel or two, and a box on the fragment but two pixels off fails it. Recall at IoU 0.5 is reported too.
* false positives per radiograph: detections that hit no true fragment, over all radiographs (look-alikes too).
* per study: "fragment found" — a study with a fragment has a matching detection, a study without one has none
  (sensitivity, specificity, accuracy with Wilson CIs).
* LMAF vs SFO (LMAF positive) on the found fragments: accuracy, sensitivity, specificity (Wilson), AUC (DeLong).
* per radiograph: recall and average precision at IoU 0.5 and at the hit IoU over every true fragment on every
  image, and the recall of frontal and lateral views apart (the lateral view shows the fragment faintly by design).

The same metrics code as the other apps (`training.metrics`). Writes metrics.json, per_fragment.csv, per_study.csv
and the class ROC and confusion plots.
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
from training.metrics import binary_classification_metrics, proportion
from training.plots import plot_confusion_matrix, plot_roc

__all__ = ["evaluate_fragment_run", "main", "HIT_IOU", "IOU_THRESHOLD"]

logger = logging.getLogger(__name__)

HIT_IOU = 0.3  # a detection on the fragment (see above)
IOU_THRESHOLD = 0.5  # the stricter PASCAL match, reported alongside
POSITIVE = "LMAF"


def _predictions(result: dict[str, Any] | None) -> dict[str, list[FragmentDetails]]:
    """The app's fragments grouped by source SOPInstanceUID."""
    by_image: dict[str, list[FragmentDetails]] = {}
    details = read_details(result, FragmentStudyDetails)
    for fragment in details.fragments if details else []:
        by_image.setdefault(fragment.sop_instance_uid, []).append(fragment)
    return by_image


def _without_roc(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "roc"}


def _hits(
    detected: list[FragmentDetails], boxes: np.ndarray, scores: np.ndarray, gt: np.ndarray, iou: float
) -> tuple[list[FragmentDetails], int]:
    """(detections that match a true fragment at `iou`, how many match none)."""
    _, matched = match_detections(boxes, scores, gt, iou)
    return [f for f, index in zip(detected, matched, strict=True) if index >= 0], int((matched < 0).sum())


def evaluate_fragment_run(truth_root: Path, results_root: Path, out_dir: Path) -> dict[str, Any]:
    """Fragment-, study- and radiograph-level detection and LMAF-vs-SFO metrics of an app run against phantoms."""
    predictions, truths, views = [], [], []
    fragments, studies = [], []
    false_positives = {HIT_IOU: 0, IOU_THRESHOLD: 0}
    radiographs = 0
    for _, truth, result, _ in truths_with_results(truth_root, results_root, "ankle-xray", "ankle_xray"):
        found = _predictions(result)
        matches: dict[float, list[FragmentDetails]] = {HIT_IOU: [], IOU_THRESHOLD: []}
        detections = 0
        true_class = next((f["class"] for i in truth["images"] for f in i["fragments"]), None)
        views_by_uid = {i["sop_instance_uid"]: i["view"] for i in truth["images"]}
        for image in truth["images"]:
            detected = found.get(image["sop_instance_uid"], [])
            boxes = np.array([f.box for f in detected], float).reshape(-1, 4)
            scores = np.array([f.detection_score for f in detected], float)
            gt = np.array([f["box"] for f in image["fragments"]], float).reshape(-1, 4)
            predictions.append((boxes, scores))
            truths.append(gt)
            views.append(image["view"])
            for iou in matches:
                hits, misses = _hits(detected, boxes, scores, gt, iou)
                matches[iou] += hits
                false_positives[iou] += misses
            detections += len(detected)
            radiographs += 1
        studies.append(
            {
                "patient_id": truth["patient_id"],
                "label": int(true_class is not None),
                "call": int(bool(matches[HIT_IOU]) if true_class is not None else detections > 0),
                "reported": result is not None,
            }
        )
        if true_class is None:
            continue
        best = max(matches[HIT_IOU], key=lambda f: f.detection_score, default=None)
        fragments.append(
            {
                "patient_id": truth["patient_id"],
                "true_class": true_class,
                "found": best is not None,
                "found_on": ";".join(sorted({views_by_uid[m.sop_instance_uid] for m in matches[HIT_IOU]})),
                "found_iou50": bool(matches[IOU_THRESHOLD]),
                "predicted_class": best.label if best else "",
                "label": int(true_class == POSITIVE),
                "probability": best.probabilities[POSITIVE] if best else None,
                "detection_score": best.detection_score if best else None,
            }
        )
    if not truths:
        raise ValueError(f"no ankle-xray ground truth under {truth_root}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frontal = [i for i, v in enumerate(views) if v != "LATERAL"]
    lateral = [i for i, v in enumerate(views) if v == "LATERAL"]
    metrics: dict[str, Any] = {
        "studies": len(studies),
        "radiographs": radiographs,
        "fragments": len(fragments),
        "fragment_recall": proportion(sum(f["found"] for f in fragments), len(fragments)),
        "false_positives_per_radiograph": false_positives[HIT_IOU] / radiographs,
        "false_positives": false_positives[HIT_IOU],
        "fragment_recall_iou50": proportion(sum(f["found_iou50"] for f in fragments), len(fragments)),
        "false_positives_per_radiograph_iou50": false_positives[IOU_THRESHOLD] / radiographs,
        "study_fragment_found": _without_roc(
            binary_classification_metrics(
                np.array([s["label"] for s in studies]),
                np.array([float(s["call"]) for s in studies]),
                predicted=np.array([s["call"] for s in studies]),
            )
        ),
        "detection": detection_metrics(predictions, truths, IOU_THRESHOLD),
        "detection_hit": detection_metrics(predictions, truths, HIT_IOU),
        "detection_frontal": detection_metrics(
            [predictions[i] for i in frontal], [truths[i] for i in frontal], HIT_IOU
        ),
        "detection_lateral": detection_metrics([predictions[i] for i in lateral], [truths[i] for i in lateral], HIT_IOU)
        if lateral
        else None,
        "hit_iou": HIT_IOU,
        "iou_threshold": IOU_THRESHOLD,
    }
    classified = [f for f in fragments if f["found"]]
    if classified:
        labels = np.array([f["label"] for f in classified])
        classification = binary_classification_metrics(
            labels,
            np.array([f["probability"] for f in classified]),
            predicted=np.array([int(f["predicted_class"] == POSITIVE) for f in classified]),
        )
        metrics["classification"] = _without_roc(classification)
        if classification.get("roc"):
            auc = classification["auc"]
            plot_roc(
                classification["roc"]["fpr"],
                classification["roc"]["tpr"],
                f"AUC {auc['value']:.3f}",
                out_dir / "roc.png",
                "LMAF vs SFO, found fragments",
            )
        cm = classification["confusion_matrix"]
        plot_confusion_matrix(cm["tn"], cm["fp"], cm["fn"], cm["tp"], ("SFO", "LMAF"), out_dir / "confusion_matrix.png")
    if fragments:
        write_rows(fragments, out_dir / "per_fragment.csv")
    write_rows(studies, out_dir / "per_study.csv")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float), encoding="utf-8")
    return metrics


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    args = parse_evaluation_args(__doc__, argv)
    metrics = evaluate_fragment_run(args.truth, args.results, args.out)
    recall = metrics["fragment_recall"]
    line = (
        f"fragments={metrics['fragments']} found={recall['value']} "
        f"FP/radiograph={metrics['false_positives_per_radiograph']:.3f} (hits at IoU {HIT_IOU}; at {IOU_THRESHOLD}: "
        f"found={metrics['fragment_recall_iou50']['value']}) AP@{IOU_THRESHOLD}={metrics['detection']['ap']:.3f}"
    )
    if "classification" in metrics:
        line += f" AUC={metrics['classification']['auc']['value']}"
    print(f"{line}; wrote {args.out / 'metrics.json'}")


if __name__ == "__main__":
    main()
