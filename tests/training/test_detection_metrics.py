from __future__ import annotations

import numpy as np
import pytest
from monai.apps.detection.metrics.matching import matching_batch
from monai.data.box_utils import box_iou

from training.detection_metrics import average_precision, detection_metrics, match_detections

GT_A = np.array([[10, 10, 20, 20]], np.float32)
GT_B = np.array([[50, 50, 70, 60]], np.float32)


def test_perfect_detections() -> None:
    preds = [(GT_A.copy(), np.array([0.9])), (GT_B.copy(), np.array([0.8]))]
    result = detection_metrics(preds, [GT_A, GT_B])
    assert result["ap"] == 1.0 and result["recall"] == 1.0 and result["precision"] == 1.0
    assert result["false_positives"] == 0 and result["false_negatives"] == 0


def test_one_miss_halves_recall_and_ap() -> None:
    preds = [(GT_A + 1, np.array([0.9])), (np.zeros((0, 4)), np.zeros(0))]
    result = detection_metrics(preds, [GT_A, GT_B])
    assert result["recall"] == 0.5 and result["ap"] == pytest.approx(0.5) and result["false_negatives"] == 1


def test_duplicate_detection_is_a_false_positive() -> None:
    boxes = np.concatenate([GT_A, GT_A + 0.5])
    tp, matched = match_detections(boxes, np.array([0.9, 0.8]), GT_A)
    assert tp.tolist() == [True, False] and matched.tolist() == [0, -1]
    result = detection_metrics([(boxes, np.array([0.9, 0.8]))], [GT_A])
    # AP is unaffected (full recall reached at precision 1); precision at the operating point is 1/2
    assert result["ap"] == 1.0 and result["precision"] == 0.5 and result["false_positives"] == 1


def test_higher_scored_false_positive_gives_known_ap() -> None:
    # ranks: FP (0.9), TP (0.8), TP (0.7) over two ground truths → precisions 0, 1/2, 2/3 → AP = 2/3
    preds = [(np.array([[100, 100, 110, 110], [10, 10, 20, 20]]), np.array([0.9, 0.8])), (GT_B, np.array([0.7]))]
    assert detection_metrics(preds, [GT_A, GT_B])["ap"] == pytest.approx(2 / 3)


def test_iou_threshold_and_score_threshold() -> None:
    shifted = GT_A + np.array([5, 0, 5, 0])  # IoU = 50 / 150 = 1/3
    assert detection_metrics([(shifted, np.array([0.9]))], [GT_A])["recall"] == 0.0
    assert detection_metrics([(shifted, np.array([0.9]))], [GT_A], iou_threshold=0.3)["recall"] == 1.0
    low = detection_metrics([(GT_A, np.array([0.2]))], [GT_A], score_threshold=0.5)
    assert low["recall"] == 0.0 and low["ap"] == 1.0 and low["num_detections"] == 0


def test_matched_index_picks_best_unmatched_ground_truth() -> None:
    gt = np.concatenate([GT_A, GT_A + np.array([8, 0, 8, 0])])
    tp, matched = match_detections(np.array([[17, 10, 27, 20], [10, 10, 20, 20]]), np.array([0.9, 0.5]), gt)
    assert matched.tolist() == [1, 0] and tp.all()


def test_matching_agrees_with_monai() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        gt = rng.uniform(0, 80, (3, 2))
        gt = np.concatenate([gt, gt + rng.uniform(5, 20, (3, 2))], axis=1)
        pred = np.concatenate([gt, gt[:2] + rng.uniform(-4, 4, (2, 4)), rng.uniform(0, 100, (2, 4))])
        pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
        scores = rng.uniform(0, 1, len(pred))
        tp, _ = match_detections(pred, scores, gt)
        monai = matching_batch(
            box_iou,
            [0.5],
            [pred],
            [np.zeros(len(pred), int)],
            [scores],
            [gt],
            [np.zeros(len(gt), int)],
            max_detections=100,
        )[0][0]
        order = np.argsort(-scores, kind="stable")
        assert np.array_equal(monai["dtMatches"][0].astype(bool), tp[order])


def test_edge_cases() -> None:
    assert np.isnan(average_precision(np.array([0.5]), np.array([False]), 0))
    assert average_precision(np.zeros(0), np.zeros(0, bool), 2) == 0.0
    with pytest.raises(ValueError, match="scores"):
        match_detections(GT_A, np.array([0.1, 0.2]), GT_A)
