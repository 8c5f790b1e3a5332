"""Pixel-level segmentation metrics of the ONFH paper's Table 1 (accuracy, sensitivity, specificity, PPV) with
Wilson 95% intervals over pooled pixels, plus Dice per case, and a Markdown ablation table.

Pooled pixels are not independent (neighbours are correlated), so the Wilson intervals are narrower than the
case-to-case variation; the per-case Dice list shows that spread.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.markdown_tables import markdown_table
from training.metrics import proportion

__all__ = ["segmentation_metrics", "ablation_table", "PROPORTIONS"]

# Name in the result -> column title in the ablation table, in Table 1's order.
PROPORTIONS = {"accuracy": "Pixel accuracy", "sensitivity": "Sensitivity", "specificity": "Specificity", "ppv": "PPV"}


def _as_cases(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array).astype(bool)
    return array[None] if array.ndim == 2 else array


def segmentation_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Pooled-pixel accuracy/sensitivity/specificity/PPV (Wilson 95%) and Dice (mean, per case) for (N,H,W) masks.

    Dice is also averaged over the cases that show a head only: on a case without one it is all or nothing (1 for
    an empty prediction, 0 for a single stray pixel), so a few such cases can swing the plain mean; how many of
    the empty cases got any predicted pixel is counted apart.
    """
    pred_cases, truth_cases = _as_cases(pred), _as_cases(truth)
    if pred_cases.shape != truth_cases.shape:
        raise ValueError(f"pred {pred_cases.shape} and truth {truth_cases.shape} differ in shape")
    axes = tuple(range(1, pred_cases.ndim))
    tp_case = np.sum(pred_cases & truth_cases, axis=axes)
    fp_case = np.sum(pred_cases & ~truth_cases, axis=axes)
    fn_case = np.sum(~pred_cases & truth_cases, axis=axes)
    tp, fp, fn = int(tp_case.sum()), int(fp_case.sum()), int(fn_case.sum())
    tn = int(pred_cases.size) - tp - fp - fn
    denominator = 2 * tp_case + fp_case + fn_case
    # Two empty masks agree perfectly; counting that as Dice 1 keeps a correct "no head" prediction from scoring 0.
    dice = np.where(denominator > 0, 2 * tp_case / np.maximum(denominator, 1), 1.0)
    with_head = np.sum(truth_cases, axis=axes) > 0
    empty_hit = ~with_head & (np.sum(pred_cases, axis=axes) > 0)
    return {
        "n_cases": int(pred_cases.shape[0]),
        "n_pixels": int(pred_cases.size),
        "accuracy": proportion(tp + tn, tp + tn + fp + fn),
        "sensitivity": proportion(tp, tp + fn),
        "specificity": proportion(tn, tn + fp),
        "ppv": proportion(tp, tp + fp),
        "dice": {
            "mean": float(dice.mean()),
            "mean_with_head": float(dice[with_head].mean()) if with_head.any() else None,
            "per_case": [float(d) for d in dice],
        },
        "empty_cases": {"cases": int((~with_head).sum()), "with_predicted_pixels": int(empty_hit.sum())},
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "ci_method": "wilson 95% over pooled pixels",
    }


def _percent_with_ci(entry: dict[str, Any]) -> str:
    if entry["value"] is None:
        return "n/a"
    return f"{100 * entry['value']:.2f}% ({100 * entry['ci_low']:.2f}–{100 * entry['ci_high']:.2f})"


def ablation_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table, one row per variant (segmentation_metrics results), Dice first then Table 1's columns."""
    header = ["Variant", "Cases", "Dice (mean)", *PROPORTIONS.values()]
    rows = [
        [variant, str(m["n_cases"]), f"{m['dice']['mean']:.4f}", *(_percent_with_ci(m[key]) for key in PROPORTIONS)]
        for variant, m in results.items()
    ]
    return markdown_table(header, rows) + "\n"
