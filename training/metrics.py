"""Binary classification metrics with confidence intervals: Wilson for proportions, DeLong or a
patient-level bootstrap for AUC and F1."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve
from statsmodels.stats.proportion import proportion_confint

__all__ = [
    "wilson_interval",
    "delong_auc_ci",
    "bootstrap_ci",
    "proportion",
    "binary_classification_metrics",
    "format_metric",
]


def wilson_interval(successes: int, total: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for successes/total."""
    low, high = proportion_confint(successes, total, alpha=alpha, method="wilson")
    return float(low), float(high)


def _midrank(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=float)
    i = 0
    while i < len(x):
        j = i
        while j < len(x) and sorted_x[j] == sorted_x[i]:
            j += 1
        ranks[i:j] = 0.5 * (i + j - 1) + 1
        i = j
    out = np.empty(len(x), dtype=float)
    out[order] = ranks
    return out


def delong_auc_ci(labels: np.ndarray, scores: np.ndarray, alpha: float = 0.05) -> tuple[float, float, float]:
    """(AUC, low, high) with DeLong's variance (fast algorithm of Sun & Xu 2014), clipped to [0, 1]."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, float)
    pos, neg = scores[labels == 1], scores[labels == 0]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        raise ValueError(f"AUC needs both classes; got {m} positives and {n} negatives")
    tx, ty, tz = _midrank(pos), _midrank(neg), _midrank(np.concatenate([pos, neg]))
    auc = (tz[:m].sum() / m - (m + 1) / 2.0) / n
    v01 = (tz[:m] - tx) / n
    v10 = 1.0 - (tz[m:] - ty) / m
    variance = np.var(v01, ddof=1) / m + np.var(v10, ddof=1) / n if m > 1 and n > 1 else 0.0
    half = stats.norm.ppf(1 - alpha / 2) * np.sqrt(max(variance, 0.0))
    return float(auc), float(max(0.0, auc - half)), float(min(1.0, auc + half))


def bootstrap_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    labels: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray | None = None,
    n: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap interval, resampling groups (patients) when given so clustered rows stay together."""
    labels, scores = np.asarray(labels), np.asarray(scores, float)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    unique, first, counts = np.unique(groups, return_index=True, return_counts=True)
    members = [np.flatnonzero(groups == g) for g in unique]
    singletons = bool(np.all(counts == 1))  # one row per group: a draw of groups is a draw of rows
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        drawn = rng.choice(len(unique), size=len(unique), replace=True)
        idx = first[drawn] if singletons else np.concatenate([members[g] for g in drawn])
        if len(np.unique(labels[idx])) < 2:
            continue
        value = statistic(labels[idx], scores[idx])
        if not np.isnan(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def proportion(successes: int, total: int, what: str = "cases") -> dict[str, object]:
    """successes/total with its Wilson 95% interval and the counts; value None (and why) when total is 0."""
    if total == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "reason": f"no {what}"}
    low, high = wilson_interval(successes, total)
    return {
        "value": successes / total,
        "ci_low": low,
        "ci_high": high,
        "successes": successes,
        "total": total,
    }


def _f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    tp = np.sum((predicted == 1) & (labels == 1))
    denominator = 2 * tp + np.sum((predicted == 1) & (labels == 0)) + np.sum((predicted == 0) & (labels == 1))
    return float(2 * tp / denominator) if denominator else float("nan")


def _rank_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUC as the Mann-Whitney statistic (ties count half), equal to sklearn's roc_auc_score and far cheaper."""
    ranks = stats.rankdata(scores)
    positives = labels == 1
    m, n = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - m * (m + 1) / 2) / (m * n))


def _f1_interval(
    labels: np.ndarray, predicted: np.ndarray, groups: np.ndarray | None, n: int, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of F1 over (label, call) pairs; patients resampled when they have several rows."""
    if groups is not None:  # the call is packed into the score's sign, so the pairs travel together
        packed = np.where(predicted == 1, 1.0, -1.0)
        return bootstrap_ci(lambda y, s: _f1(y, (s > 0).astype(int)), labels, packed, groups, n, seed)
    draws = np.random.default_rng(seed).integers(0, len(labels), size=(n, len(labels)))
    y, c = labels[draws] == 1, predicted[draws] == 1
    both = y.any(axis=1) & ~y.all(axis=1)  # as bootstrap_ci: draws with one class only are skipped
    tp, fp, fn = (y & c).sum(axis=1), (~y & c).sum(axis=1), (y & ~c).sum(axis=1)
    denominator = 2 * tp + fp + fn
    values = (2 * tp / np.maximum(denominator, 1))[both & (denominator > 0)]
    if values.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def binary_classification_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    threshold: float = 0.5,
    groups: np.ndarray | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
    predicted: np.ndarray | None = None,
) -> dict[str, object]:
    """Accuracy, precision, recall, specificity (Wilson CIs), F1 and AUC (CI methods named), confusion, ROC.

    `predicted` (0/1 per row) gives the calls when they do not come from `probabilities >= threshold` (an app's
    own decision rule); the probabilities then only rank the rows for the AUC and ROC.
    """
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, float)
    if set(np.unique(labels)) - {0, 1}:
        raise ValueError(f"labels must be 0 or 1, got {np.unique(labels).tolist()}")
    if probabilities.min() < 0 or probabilities.max() > 1:
        raise ValueError(f"probabilities must lie in [0, 1], got {probabilities.min()}..{probabilities.max()}")
    thresholded = predicted is None
    predicted = (probabilities >= threshold).astype(int) if predicted is None else np.asarray(predicted).astype(int)
    if predicted.shape != labels.shape:
        raise ValueError(f"need one call per label: {predicted.shape} calls for {labels.shape} labels")
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(labels, predicted, labels=[0, 1]).ravel())
    one_per_group = groups is None or len(np.unique(groups)) == len(labels)
    result: dict[str, object] = {
        "n": int(len(labels)),
        "n_patients": int(len(np.unique(groups))) if groups is not None else int(len(labels)),
        "threshold": threshold if thresholded else "the app's own calls",
        "accuracy": proportion(tp + tn, len(labels), "rows"),
        "precision": proportion(tp, tp + fp, "predicted positives"),
        "recall": proportion(tp, tp + fn, "positives"),
        "specificity": proportion(tn, tn + fp, "negatives"),
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }
    f1 = _f1(labels, predicted)
    f1_ci = _f1_interval(labels, predicted, None if one_per_group else groups, bootstrap, seed)
    result["f1"] = {"value": None if np.isnan(f1) else f1, "ci_low": f1_ci[0], "ci_high": f1_ci[1]}
    methods = {k: "wilson" for k in ("accuracy", "precision", "recall", "specificity")}
    methods["f1"] = "bootstrap percentile (patients resampled)"
    if len(np.unique(labels)) < 2:
        result["auc"] = {"value": None, "ci_low": None, "ci_high": None, "reason": "only one class present"}
        methods["auc"] = "undefined"
        result["roc"] = None
    else:
        if one_per_group:
            auc, low, high = delong_auc_ci(labels, probabilities)
            methods["auc"] = "DeLong"
        else:
            auc = float(roc_auc_score(labels, probabilities))
            low, high = bootstrap_ci(_rank_auc, labels, probabilities, groups, bootstrap, seed)
            methods["auc"] = "bootstrap percentile (patients resampled)"
        result["auc"] = {"value": auc, "ci_low": low, "ci_high": high}
        fpr, tpr, thresholds = roc_curve(labels, probabilities)
        result["roc"] = {
            "fpr": fpr.tolist(),
            "tpr": tpr.tolist(),
            "thresholds": [min(float(t), 1.0) for t in thresholds],
        }
    result["ci_methods"] = methods
    return result


def format_metric(metric: dict[str, object], counts: bool = False) -> str:
    """ "0.931 (95% CI 0.864–0.966)" for a metric dict with value/ci_low/ci_high ("n/a" without a value)."""
    if metric.get("value") is None:
        return "n/a"
    text = f"{metric['value']:.3f} (95% CI {metric['ci_low']:.3f}–{metric['ci_high']:.3f}"
    if counts and "successes" in metric:
        text += f"; {metric['successes']}/{metric['total']}"
    return text + ")"
