"""ROC and confusion-matrix figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

__all__ = ["plot_roc", "plot_confusion_matrix"]


def plot_roc(fpr: list[float], tpr: list[float], auc_text: str, path: Path, title: str = "") -> Path:
    """ROC curve with the chance diagonal."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.plot(fpr, tpr, lw=2, label=auc_text)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01), title=title or "ROC")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion_matrix(
    tn: int, fp: int, fn: int, tp: int, labels: tuple[str, str], path: Path, title: str = ""
) -> Path:
    """Confusion matrix with counts."""
    fig, ax = plt.subplots(figsize=(4.5, 4.0), dpi=120)
    ConfusionMatrixDisplay(np.array([[tn, fp], [fn, tp]]), display_labels=list(labels)).plot(ax=ax, colorbar=False)
    ax.set_title(title or "Confusion matrix")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
