"""Pixel metrics with Wilson intervals and Dice on hand-made masks; the ablation table."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from training.segmentation_metrics import ablation_table, segmentation_metrics


def _cases() -> tuple[np.ndarray, np.ndarray]:
    truth = np.zeros((2, 10, 10), bool)
    pred = np.zeros((2, 10, 10), bool)
    truth[0, 0:4, 0:5] = True  # 20 pixels
    pred[0, 1:5, 0:5] = True  # 15 TP, 5 FP, 5 FN
    truth[1, 5:10, 5:10] = True  # 25 pixels, predicted exactly
    pred[1] = truth[1]
    return pred, truth


def test_known_counts() -> None:
    pred, truth = _cases()
    result = segmentation_metrics(pred, truth)
    assert result["confusion"] == {"tp": 40, "fp": 5, "fn": 5, "tn": 150}
    assert result["accuracy"]["value"] == pytest.approx(190 / 200)
    assert result["sensitivity"]["value"] == pytest.approx(40 / 45)
    assert result["specificity"]["value"] == pytest.approx(150 / 155)
    assert result["ppv"]["value"] == pytest.approx(40 / 45)
    assert result["dice"]["per_case"] == pytest.approx([30 / 40, 1.0])
    assert result["dice"]["mean"] == pytest.approx((0.75 + 1.0) / 2)
    low, high = proportion_confint(150, 155, method="wilson")
    assert (result["specificity"]["ci_low"], result["specificity"]["ci_high"]) == pytest.approx((low, high))
    for key in ("accuracy", "sensitivity", "specificity", "ppv"):
        entry = result[key]
        assert entry["ci_low"] < entry["value"] < entry["ci_high"]


def test_empty_masks() -> None:
    empty = np.zeros((1, 8, 8), bool)
    result = segmentation_metrics(empty, empty)
    assert result["dice"]["per_case"] == [1.0]
    assert result["sensitivity"]["value"] is None and result["ppv"]["value"] is None
    assert result["specificity"]["value"] == 1.0
    missed = segmentation_metrics(empty, np.ones((1, 8, 8), bool))
    assert missed["dice"]["per_case"] == [0.0] and missed["sensitivity"]["value"] == 0.0


def test_single_2d_case_and_shape_mismatch() -> None:
    pred, truth = _cases()
    assert segmentation_metrics(pred[1], truth[1])["n_cases"] == 1
    with pytest.raises(ValueError):
        segmentation_metrics(pred, truth[:1])


def test_ablation_table_rows() -> None:
    pred, truth = _cases()
    results = {"plain": segmentation_metrics(pred, truth), "geo-pixel": segmentation_metrics(truth, truth)}
    table = ablation_table(results)
    lines = table.strip().splitlines()
    assert lines[0].startswith("| Variant |") and "PPV" in lines[0] and "Dice" in lines[0]
    assert len(lines) == 4
    assert lines[2].startswith("| plain | 2 | 0.8750 | 95.00% (")
    assert lines[3].startswith("| geo-pixel | 2 | 1.0000 | 100.00% (")


def test_dice_over_crops_with_a_head_and_the_empty_crops_hit() -> None:
    # One stray pixel on a crop without a head costs a whole case of the plain Dice mean: counted apart.
    pred, truth = _cases()
    stray = np.zeros((1, *truth.shape[1:]), bool)
    stray[0, 0, 0] = True
    result = segmentation_metrics(np.concatenate([pred, stray]), np.concatenate([truth, np.zeros_like(stray)]))
    assert result["dice"]["per_case"][-1] == 0.0
    assert result["dice"]["mean"] == pytest.approx((0.75 + 1.0 + 0.0) / 3)
    assert result["dice"]["mean_with_head"] == pytest.approx((0.75 + 1.0) / 2)
    assert result["empty_cases"] == {"cases": 1, "with_predicted_pixels": 1}
