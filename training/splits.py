"""Patient-level train/validation/test splits with a fixed seed (no patient spans two subsets)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

__all__ = ["patient_split", "move_patients"]


def patient_split(
    patient_ids: list[str], fractions: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 0
) -> dict[str, str]:
    """Map each distinct patient to "train", "val" or "test" by a seeded shuffle, in the given fractions."""
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    patients = sorted(set(patient_ids))
    order = np.random.default_rng(seed).permutation(len(patients))
    n_train = int(round(fractions[0] * len(patients)))
    n_val = int(round(fractions[1] * len(patients)))
    subsets = {}
    for rank, idx in enumerate(order):
        subsets[patients[idx]] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return subsets


def move_patients(source: Path, target: Path, patient_ids: list[str]) -> Path:
    """Move each patient's study folder from `source` to `target` (so the app and `rglob` see plain folders)."""
    target.mkdir(parents=True, exist_ok=True)
    for pid in patient_ids:
        if (source / pid).exists():
            shutil.move(str(source / pid), str(target / pid))
    return target
