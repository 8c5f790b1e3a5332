from __future__ import annotations

from pathlib import Path

import pytest

from training.splits import move_patients, patient_split


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


def test_move_patients_moves_only_the_named_folders(tmp_path: Path) -> None:
    for pid in ("P1", "P2", "P3"):
        (tmp_path / "all" / pid).mkdir(parents=True)
        (tmp_path / "all" / pid / "x.dcm").write_text(pid)
    target = move_patients(tmp_path / "all", tmp_path / "test", ["P2", "P9"])
    assert sorted(p.name for p in target.iterdir()) == ["P2"]
    assert (target / "P2" / "x.dcm").read_text() == "P2"
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["P1", "P3"]
