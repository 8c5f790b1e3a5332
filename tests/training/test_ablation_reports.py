"""The `make ablation` reports: spread over seeds for the onfh variants, the four-network table for ankle_xray."""

from __future__ import annotations

import pytest
import torch

from training.ankle_xray_comparators import comparators_markdown
from training.cpu_threads import TRAIN_THREADS_ENV, use_training_threads
from training.metrics import proportion
from training.onfh_ablation import ablation_markdown


def _run(seed: int, dice: float, empty_hit: int, best: int) -> dict:
    return {
        "seed": seed,
        "dice_with_head": dice,
        "empty_crops_with_pixels": empty_hit,
        "empty_crops": 80,
        "accuracy": 0.99,
        "sensitivity": 0.95 + seed / 100,
        "specificity": 0.999,
        "ppv": 0.97,
        "best_epoch": best,
    }


def test_ablation_table_gives_mean_and_range_over_seeds() -> None:
    results = {
        "training_crops": 600,
        "unseen_crops": 560,
        "unseen_seed": 11,
        "seeds": [0, 1, 2],
        "runs": {
            "plain": [_run(0, 0.96, 1, 14), _run(1, 0.95, 3, 16), _run(2, 0.97, 2, 15)],
            "geo-pixel": [_run(0, 0.97, 0, 16), _run(1, 0.96, 0, 12), _run(2, 0.98, 1, 16)],
        },
    }
    lines = ablation_markdown(results).strip().splitlines()
    assert "3 training seeds (0, 1, 2)" in lines[0] and "560 head-centred crops" in lines[0]
    assert lines[2].startswith("| Variant | Dice, crops with a head | Empty crops with pixels | Pixel accuracy |")
    plain = lines[4].split(" | ")
    assert plain[0] == "| plain" and plain[1] == "0.9600 [0.9500–0.9700]" and plain[2] == "2.0 of 80 [1–3]"
    assert plain[4] == "96.00% [95.00–97.00]" and lines[4].endswith("| 14, 16, 15 |")
    assert lines[5].startswith("| geo-pixel | 0.9700 [0.9600–0.9800] | 0.3 of 80 [0–1] |")


def test_comparator_table_lists_every_network_with_its_intervals() -> None:
    row = {"auc": {"value": 0.93, "ci_low": 0.88, "ci_high": 0.98}, "accuracy": proportion(50, 60)}
    results = {
        "training_crops": 1200,
        "training_patients": 128,
        "unseen_crops": 60,
        "unseen_seed": 12,
        "architectures": {
            name: {**row, "parameters": 2_000_000, "cpu_seconds_per_epoch": 3.25}
            for name in ("mobilenet_v2", "resnet18", "densenet121", "efficientnet-b0")
        },
    }
    text = comparators_markdown(results)
    assert "same 1200 jittered crops (128 training patients)" in text and "seed 12" in text
    assert text.count("| 2.00 M | 0.930 (95% CI 0.880–0.980) | 0.833 (95% CI") == 4
    assert "| densenet121 |" in text and text.rstrip().endswith("| 3.2 |")


def test_training_threads_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv(TRAIN_THREADS_ENV, raising=False)
        assert use_training_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv(TRAIN_THREADS_ENV, "2")
        assert use_training_threads() == 2
        monkeypatch.setenv(TRAIN_THREADS_ENV, "two")
        with pytest.raises(SystemExit, match="MSK_MAPS_TRAIN_THREADS must be a whole number of threads, got 'two'"):
            use_training_threads()
        monkeypatch.setenv(TRAIN_THREADS_ENV, "0")
        with pytest.raises(SystemExit, match="must be at least 1, got 0"):
            use_training_threads()
    finally:
        torch.set_num_threads(before)


def test_markdown_tables_need_one_cell_per_column() -> None:
    from training.markdown_tables import markdown_table

    assert markdown_table(["a", "b"], [["1", "2"], ["3", "4"]]) == "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |"
    with pytest.raises(ValueError, match=r"a row of 1 cells under 2 columns: \['1'\]"):
        markdown_table(["a", "b"], [["1"]])
