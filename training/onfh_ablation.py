"""`make ablation`, onfh_mri part: the plain U-Net against the paper's geometric + pixel supervision, with spread.

Both variants train on the `make models` crops (training.onfh_models: same phantoms, same split, same recipe) with
each of SEEDS, and segment the femoral-head crops of the unseen phantom set (training.onfh_models.ONFH_CHECK;
six slices through each head and one beside it, as in training). Per run: the paper's Table 1 metrics over pooled
pixels (accuracy, sensitivity, specificity, PPV), Dice over the crops that show a head, how many crops without a
head got any predicted pixel, the best epoch and the loss terms there. Per variant: mean and range over the seeds.
Nothing is tuned on these results. Writes models/onfh_mri_femoral_head/ABLATION.md (committed; the card quotes it)
and ablation.json next to the evaluation.

CLI: python -m training.onfh_ablation --models-dir models --work build/ablation/onfh_mri [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from phantoms.hip_mri import generate_hip_mri_dataset
from training.cpu_threads import use_training_threads
from training.markdown_tables import markdown_table
from training.onfh_models import ABLATION_FILE, MODEL_NAME, ONFH_CHECK, base_config, hip_crops, onfh_datasets
from training.segmentation_metrics import PROPORTIONS, segmentation_metrics
from training.train_segmenter import predict_masks, train_segmenter

__all__ = ["run_ablation", "ablation_markdown", "SEEDS", "VARIANTS", "DIAGNOSTICS"]

logger = logging.getLogger(__name__)

SEEDS = (0, 1, 2)
# Row name -> (SegmenterConfig.variant, changes to the demo recipe). The ablation proper:
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"plain": ("plain", {}), "geo-pixel": ("geo-pixel", {})}
# `--diagnostics`: why the extra supervision does or does not help here (loss weights, SDF scale, schedule).
DIAGNOSTICS: dict[str, tuple[str, dict[str, Any]]] = {
    "geo-pixel, geometric weight 0.2": ("geo-pixel", {"geometric_weight": 0.2}),
    "geo-pixel, geometric weight 3": ("geo-pixel", {"geometric_weight": 3.0}),
    "geo-pixel, SDF clipped at 16 px": ("geo-pixel", {"sdf_clip_px": 16.0}),
    "plain, 32 epochs": ("plain", {"epochs": 32}),
    "geo-pixel, 32 epochs": ("geo-pixel", {"epochs": 32}),
}


def _unseen_crops(work_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Head-centred crops and masks of every hip of the unseen phantom set."""
    folder = work_dir / "unseen_input"
    shutil.rmtree(folder, ignore_errors=True)
    truths = generate_hip_mri_dataset(folder, ONFH_CHECK.patients, ONFH_CHECK.seed)
    rng = np.random.default_rng(3)
    parts = [hip_crops(folder / t["patient_id"], t, rng) for t in truths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _run_record(metrics: dict[str, Any], report: dict[str, Any], seconds: float) -> dict[str, Any]:
    best = report["history"][report["best_epoch"] - 1]
    return {
        "dice_with_head": metrics["dice"]["mean_with_head"],
        "dice_all_crops": metrics["dice"]["mean"],
        "empty_crops_with_pixels": metrics["empty_cases"]["with_predicted_pixels"],
        "empty_crops": metrics["empty_cases"]["cases"],
        **{key: metrics[key]["value"] for key in PROPORTIONS},
        "best_epoch": report["best_epoch"],
        "loss_terms_at_best_epoch": {k: v for k, v in best.items() if k.startswith("train_")},
        "cpu_seconds": seconds,
    }


def run_ablation(
    models_dir: Path,
    work_dir: Path,
    seeds: tuple[int, ...] = SEEDS,
    variants: dict[str, tuple[str, dict[str, Any]]] = VARIANTS,
) -> dict[str, Any]:
    """Train every variant with every seed on the same crops; score each on the unseen set's crops."""
    train_x, train_y, _, _, train_patients = onfh_datasets(work_dir)
    test_x, test_y = _unseen_crops(work_dir)
    results: dict[str, Any] = {
        "training_crops": len(train_x),
        "unseen_crops": len(test_x),
        "unseen_seed": ONFH_CHECK.seed,
        "seeds": list(seeds),
        "runs": {name: [] for name in variants},
        "changes": {name: {"variant": v, **changes} for name, (v, changes) in variants.items()},
    }
    for name, (variant, changes) in variants.items():
        for seed in seeds:
            config = replace(base_config(train_patients, len(train_x)), variant=variant, seed=seed, **changes)
            started = time.process_time()
            model, report = train_segmenter(train_x, train_y, config)
            predicted = predict_masks(model, test_x, config.batch_size, config.threshold)
            record = _run_record(segmentation_metrics(predicted, test_y > 0), report, time.process_time() - started)
            results["runs"][name].append({"seed": seed, **record})
            logger.info(
                "%s seed %d: %s", name, seed, {k: v for k, v in record.items() if k != "loss_terms_at_best_epoch"}
            )
    results["config"] = {k: v for k, v in vars(base_config(train_patients, len(train_x))).items() if k != "variant"}
    evaluation_dir = models_dir / MODEL_NAME / "evaluation"
    evaluation_dir.mkdir(parents=True, exist_ok=True)
    (evaluation_dir / "ablation.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    (models_dir / MODEL_NAME / ABLATION_FILE).write_text(ablation_markdown(results), encoding="utf-8")
    return results


def _spread(values: list[float], percent: bool) -> str:
    scale, unit = (100.0, "%") if percent else (1.0, "")
    mean, low, high = (scale * float(f(values)) for f in (np.mean, np.min, np.max))
    digits = 2 if percent else 4
    return f"{mean:.{digits}f}{unit} [{low:.{digits}f}–{high:.{digits}f}]"


def ablation_markdown(results: dict[str, Any]) -> str:
    """Mean [min–max] over the seeds per variant: Dice, the empty crops hit, then Table 1's columns."""
    header = ["Variant", "Dice, crops with a head", "Empty crops with pixels", *PROPORTIONS.values(), "Best epoch"]
    rows = []
    for variant, runs in results["runs"].items():
        empty = [r["empty_crops_with_pixels"] for r in runs]
        rows.append(
            [
                variant,
                _spread([r["dice_with_head"] for r in runs], percent=False),
                f"{np.mean(empty):.1f} of {runs[0]['empty_crops']} [{min(empty)}–{max(empty)}]",
                *(_spread([r[key] for r in runs], percent=True) for key in PROPORTIONS),
                ", ".join(str(r["best_epoch"]) for r in runs),
            ]
        )
    intro = (
        f"{len(results['seeds'])} training seeds ({', '.join(map(str, results['seeds']))}) per variant, the same "
        f"{results['training_crops']} training crops; scored on {results['unseen_crops']} head-centred crops of the "
        f"unseen set (seed {results['unseen_seed']}). Mean [min–max] over the seeds. From "
        "`python -m training.onfh_ablation` (`make ablation`)."
    )
    return intro + "\n\n" + markdown_table(header, rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--work", type=Path, default=Path("build/ablation/onfh_mri"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--diagnostics", action="store_true", help="also the loss-weight, SDF-scale, schedule runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    use_training_threads()
    variants = {**VARIANTS, **DIAGNOSTICS} if args.diagnostics else VARIANTS
    print(ablation_markdown(run_ablation(args.models_dir, args.work, tuple(args.seeds), variants)))


if __name__ == "__main__":
    main()
