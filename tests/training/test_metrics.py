from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from training.metrics import binary_classification_metrics, bootstrap_ci, delong_auc_ci, wilson_interval


def test_wilson_matches_the_textbook_value() -> None:
    # 23/28 (the paper's T1 recall): Wilson 95% interval 0.644-0.921.
    low, high = wilson_interval(23, 28)
    assert (round(low, 3), round(high, 3)) == (0.644, 0.921)


def test_delong_agrees_with_bootstrap_on_a_large_sample() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 600)
    scores = np.clip(labels * 0.3 + rng.normal(0.4, 0.25, 600), 0, 1)
    auc, low, high = delong_auc_ci(labels, scores)
    assert auc == pytest.approx(roc_auc_score(labels, scores))
    b_low, b_high = bootstrap_ci(lambda y, s: roc_auc_score(y, s), labels, scores, n=400)
    assert abs(low - b_low) < 0.02 and abs(high - b_high) < 0.02


def test_confusion_counts_and_edge_cases() -> None:
    labels = np.array([1, 1, 0, 0, 0])
    probabilities = np.array([0.9, 0.4, 0.6, 0.1, 0.2])
    metrics = binary_classification_metrics(labels, probabilities, bootstrap=50)
    assert metrics["confusion_matrix"] == {"tn": 2, "fp": 1, "fn": 1, "tp": 1}
    assert metrics["accuracy"]["value"] == pytest.approx(0.6) and metrics["ci_methods"]["auc"] == "DeLong"
    none_predicted = binary_classification_metrics(labels, np.zeros(5), bootstrap=10)
    assert (
        none_predicted["precision"]["value"] is None
        and "no predicted positives" in none_predicted["precision"]["reason"]
    )
    one_class = binary_classification_metrics(np.zeros(3, int), np.array([0.1, 0.2, 0.3]), bootstrap=10)
    assert one_class["auc"]["value"] is None and one_class["auc"]["reason"] == "only one class present"


def test_clustered_rows_use_a_patient_bootstrap_and_bad_inputs_fail() -> None:
    labels = np.array([1, 1, 0, 0, 1, 0])
    groups = np.array(["a", "a", "b", "b", "c", "d"])
    metrics = binary_classification_metrics(
        labels, np.array([0.8, 0.7, 0.3, 0.2, 0.6, 0.4]), groups=groups, bootstrap=100
    )
    assert metrics["ci_methods"]["auc"].startswith("bootstrap") and metrics["n_patients"] == 4
    with pytest.raises(ValueError, match=r"labels must be 0 or 1, got \[0, 1, 2\]"):
        binary_classification_metrics(np.array([0, 1, 2]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match=r"probabilities must lie in \[0, 1\]"):
        binary_classification_metrics(np.array([0, 1]), np.array([0.1, 1.5]))
