"""Detection metrics at an IoU threshold: greedy score-ordered matching, recall, precision and average precision.

IoU comes from `monai.data.box_utils.box_iou` (boxes xyxy, continuous pixel coordinates). MONAI's
`monai.apps.detection.metrics` (nnDetection's COCO code) imports without torchvision but reports neither the
matched ground-truth index nor VOC-style AP, so matching and AP are written here (the test cross-checks the
TP/FP flags against MONAI's `matching_batch`). AP is the area under the precision envelope (all-point
interpolation, PASCAL VOC 2010+), pooled over all images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.data.box_utils import box_iou

__all__ = ["match_detections", "average_precision", "detection_metrics"]


def _boxes(array: np.ndarray | Sequence) -> np.ndarray:
    return np.asarray(array, dtype=np.float64).reshape(-1, 4)


def match_detections(
    pred_boxes: np.ndarray, pred_scores: np.ndarray, gt_boxes: np.ndarray, iou_threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Per detection (input order): TP flag and the matched ground-truth index (-1 for a false positive).

    Detections are taken by descending score; each takes the unmatched ground truth it overlaps most with
    IoU ≥ `iou_threshold`, so a second detection of an already-found object is a false positive.
    """
    pred, gt = _boxes(pred_boxes), _boxes(gt_boxes)
    scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(pred):
        raise ValueError(f"{len(pred)} boxes but {len(scores)} scores")
    matched_gt = np.full(len(pred), -1, dtype=np.int64)
    if len(pred) == 0 or len(gt) == 0:
        return matched_gt >= 0, matched_gt
    iou = np.asarray(box_iou(pred, gt), dtype=np.float64)
    taken = np.zeros(len(gt), dtype=bool)
    for d in np.argsort(-scores, kind="stable"):
        candidates = np.where(taken, -1.0, iou[d])
        best = int(np.argmax(candidates))
        if candidates[best] >= iou_threshold:
            matched_gt[d] = best
            taken[best] = True
    return matched_gt >= 0, matched_gt


def average_precision(scores: np.ndarray, true_positive: np.ndarray, num_gt: int) -> float:
    """All-point interpolated AP from pooled detections (scores, TP flags) and the number of ground truths."""
    if num_gt == 0:
        return float("nan")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) == 0:
        return 0.0
    tp = np.asarray(true_positive, dtype=bool)[np.argsort(-scores, kind="stable")]
    cum_tp = np.cumsum(tp)
    recall = cum_tp / num_gt
    precision = cum_tp / np.arange(1, len(tp) + 1)
    # Precision envelope: the best precision at any recall at least this high.
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    recall_steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(recall_steps * envelope))


def detection_metrics(
    predictions: Sequence[tuple[np.ndarray, np.ndarray]],
    ground_truths: Sequence[np.ndarray],
    iou_threshold: float = 0.5,
    score_threshold: float | None = None,
) -> dict[str, float | int]:
    """AP (all detections) and recall / precision (detections with score ≥ `score_threshold`) over a set of images.

    `predictions[i]` is (boxes (N, 4), scores (N,)) for image i and `ground_truths[i]` its boxes (M, 4), all xyxy.
    """
    if len(predictions) != len(ground_truths):
        raise ValueError(f"{len(predictions)} predictions for {len(ground_truths)} images")
    all_scores, all_tp = [], []
    num_gt = found = kept = kept_tp = 0
    for (boxes, scores), gt in zip(predictions, ground_truths, strict=True):
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        tp, _ = match_detections(boxes, scores, gt, iou_threshold)
        all_scores.append(scores)
        all_tp.append(tp)
        num_gt += len(_boxes(gt))
        # Recall at the operating point: re-match using only the kept detections.
        keep = scores >= score_threshold if score_threshold is not None else np.ones(len(scores), dtype=bool)
        tp_kept, matched = match_detections(_boxes(boxes)[keep], scores[keep], gt, iou_threshold)
        found += int(np.unique(matched[matched >= 0]).size)
        kept += int(keep.sum())
        kept_tp += int(tp_kept.sum())
    scores_cat = np.concatenate(all_scores) if all_scores else np.zeros(0)
    tp_cat = np.concatenate(all_tp) if all_tp else np.zeros(0, dtype=bool)
    return {
        "ap": average_precision(scores_cat, tp_cat, num_gt),
        "recall": found / num_gt if num_gt else float("nan"),
        "precision": kept_tp / kept if kept else float("nan"),
        "num_images": len(ground_truths),
        "num_gt": num_gt,
        "num_detections": kept,
        "true_positives": kept_tp,
        "false_positives": kept - kept_tp,
        "false_negatives": num_gt - found,
        "iou_threshold": iou_threshold,
    }
