from __future__ import annotations

import pytest

from training.splits import patient_split


def test_split_is_patient_level_seeded_and_60_20_20() -> None:
    patients = [f"P{i:03d}" for i in range(50) for _ in range(3)]  # three images per patient
    split = patient_split(patients, seed=7)
    assert split == patient_split(list(reversed(patients)), seed=7)
    counts = {name: sum(1 for s in split.values() if s == name) for name in ("train", "val", "test")}
    assert counts == {"train": 30, "val": 10, "test": 10}
    assert split != patient_split(patients, seed=8)


def test_fractions_must_sum_to_one() -> None:
    with pytest.raises(ValueError, match="must sum to 1"):
        patient_split(["a"], fractions=(0.5, 0.2, 0.2))
