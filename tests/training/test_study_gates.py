from __future__ import annotations

import pytest

from training.metrics import proportion
from training.study_gates import (
    UNSEEN_PATIENTS,
    UNSEEN_SEEDS,
    Gate,
    UnseenCheck,
    check_gates,
    gate_table,
    missed,
)

METRICS = {
    "study": {"accuracy": proportion(38, 40), "specificity": proportion(17, 20)},
    "healthy_heads": {"graded_above_without": 0, "max_volume_ratio_percent": 0.8},
    "fpr": 0.25,
}


def test_gates_measure_proportions_and_plain_numbers_with_margins() -> None:
    gates = [
        Gate("study accuracy", ("study", "accuracy"), 0.90),
        Gate("specificity", ("study", "specificity"), 0.90),
        Gate("healthy graded above", ("healthy_heads", "graded_above_without"), 0.0, at_least=False),
        Gate("healthy volume ratio", ("healthy_heads", "max_volume_ratio_percent"), 0.5, at_least=False),
        Gate("false positives", ("fpr",), 0.5, at_least=False),
        Gate("absent", ("study", "auc"), 0.9),
    ]
    rows = {r["gate"]: r for r in check_gates(METRICS, gates)}
    assert rows["study accuracy"]["measured"] == 0.95 and rows["study accuracy"]["margin"] == pytest.approx(0.05)
    assert (
        rows["study accuracy"]["passed"]
        and rows["study accuracy"]["ci95"][0] < 0.95 < rows["study accuracy"]["ci95"][1]
    )
    assert not rows["specificity"]["passed"] and rows["specificity"]["margin"] == pytest.approx(-0.05)
    assert rows["healthy graded above"]["passed"] and rows["healthy graded above"]["margin"] == 0.0
    assert not rows["healthy volume ratio"]["passed"] and rows["healthy volume ratio"]["bar"] == "<= 0.5"
    assert rows["false positives"]["margin"] == pytest.approx(0.25) and rows["false positives"]["ci95"] is None
    assert rows["absent"]["measured"] is None and not rows["absent"]["passed"]
    table = gate_table(list(rows.values()))
    assert "| study accuracy | 0.950 (" in table and "| >= 0.9 | +0.050 |" in table
    assert "| specificity | 0.850 (" in table and "missed" in table
    with pytest.raises(
        SystemExit, match=r"olt_mri: unseen-phantom targets missed: specificity 0\.85 \(target >= 0\.9\)"
    ):
        missed("olt_mri", list(rows.values()))
    missed("olt_mri", [rows["study accuracy"]])  # nothing missed: returns


def test_unseen_seeds_are_distinct_and_reproducible_from_the_card() -> None:
    assert len(set(UNSEEN_SEEDS.values())) == 3 and min(UNSEEN_PATIENTS.values()) >= 40
    check = UnseenCheck("onfh_mri", "hip-mri", "evaluate_onfh", print, dict, ())
    assert (check.seed, check.patients) == (UNSEEN_SEEDS["onfh_mri"], UNSEEN_PATIENTS["onfh_mri"])
    lines = check.reproduce().splitlines()
    assert lines[0].endswith(f"hip-mri --out unseen/onfh_mri --patients 40 --seed {UNSEEN_SEEDS['onfh_mri']}")
    assert "-m apps.onfh_mri -i unseen/onfh_mri -o unseen/onfh_mri_out -m models" in lines[1]
    assert "training.evaluate_onfh --truth unseen/onfh_mri --results unseen/onfh_mri_out" in lines[2]


def test_no_other_code_generates_data_with_an_unseen_seed() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"\b(" + "|".join(str(s) for s in UNSEEN_SEEDS.values()) + r")\b")
    sources = [p for d in ("training", "phantoms", "apps", "bench", "run") for p in (root / d).rglob("*.py")]
    users = [p.relative_to(root) for p in [*sources, root / "Makefile"] if pattern.search(p.read_text())]
    assert users == [Path("training/study_gates.py")]
