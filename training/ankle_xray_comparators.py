"""`make ablation`, ankle_xray part: seed 001's four networks trained on the same crops, scored on unseen phantoms.

MobileNetV2 (the app's classifier), ResNet18, DenseNet121 and EfficientNet-B0 are trained on the jittered crops
of the `make models` training patients with one recipe (training.train_fragments), then classify the exact
ground-truth crops of every fragment of the unseen phantom set (training.ankle_xray_models.XRAY_CHECK, frontal and
lateral views), LMAF positive. AUC with its DeLong 95% interval, accuracy with Wilson's, and the CPU seconds per
training epoch. Writes models/ankle_xray_classifier/COMPARATORS.md (committed; the model cards quote it) and
comparators.json next to the evaluation.

CLI: python -m training.ankle_xray_comparators --models-dir models --work build/ablation/ankle_xray
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from phantoms.ankle_xray import generate_ankle_xray_dataset
from training.ankle_xray_models import CLASSIFIER, COMPARATORS_FILE, XRAY_CHECK, xray_training_data
from training.cpu_threads import use_training_threads
from training.fragment_detector import DetectorConfig
from training.markdown_tables import markdown_table
from training.metrics import binary_classification_metrics, format_metric
from training.mobilenet_v2 import COMPARATORS
from training.train_fragments import ClassifierConfig, jittered_crops, load_studies, train_fragment_classifier

__all__ = ["compare_architectures", "main"]

logger = logging.getLogger(__name__)

ARCHITECTURES = ("mobilenet_v2", *COMPARATORS)


def compare_architectures(models_dir: Path, work_dir: Path) -> dict[str, Any]:
    """Train each architecture on the same crops; score each on the unseen set's ground-truth crops."""
    train_dir, _, train_ids, _ = xray_training_data(work_dir)
    config, input_size = ClassifierConfig(seed=0), DetectorConfig().input_size
    crops, labels = jittered_crops(load_studies(train_dir, input_size), config)
    unseen_dir = work_dir / "unseen_input"
    shutil.rmtree(unseen_dir, ignore_errors=True)
    generate_ankle_xray_dataset(unseen_dir, XRAY_CHECK.patients, XRAY_CHECK.seed)
    test_crops, test_labels = jittered_crops(load_studies(unseen_dir, input_size), config, copies=0)
    results: dict[str, Any] = {
        "training_patients": len(train_ids),
        "training_crops": len(crops),
        "unseen_seed": XRAY_CHECK.seed,
        "unseen_crops": len(test_crops),
        "architectures": {},
    }
    for arch in ARCHITECTURES:
        started = time.process_time()
        model, record = train_fragment_classifier(crops, labels, config, arch)
        with torch.no_grad():
            probabilities = model.eval()(torch.from_numpy(test_crops))[0][:, 1].numpy().astype(np.float64)
        metrics = binary_classification_metrics(test_labels, probabilities)
        results["architectures"][arch] = {
            "auc": metrics["auc"],
            "accuracy": metrics["accuracy"],
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "cpu_seconds_per_epoch": (time.process_time() - started) / max(config.epochs, 1),
            "final_training_loss": record["history"][-1]["loss"],
        }
        logger.info("%s: unseen crop AUC %s", arch, format_metric(metrics["auc"]))
    evaluation_dir = models_dir / CLASSIFIER / "evaluation"
    evaluation_dir.mkdir(parents=True, exist_ok=True)
    (evaluation_dir / "comparators.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    (models_dir / CLASSIFIER / COMPARATORS_FILE).write_text(comparators_markdown(results), encoding="utf-8")
    return results


def comparators_markdown(results: dict[str, Any]) -> str:
    """The comparison as the Markdown the model cards quote."""
    lines = [
        f"Trained on the same {results['training_crops']} jittered crops ({results['training_patients']} training "
        f"patients), scored on the exact ground-truth crops of the {results['unseen_crops']} fragments of the unseen "
        f"set (seed {results['unseen_seed']}, frontal and lateral views), LMAF positive. From "
        "`python -m training.ankle_xray_comparators` (`make ablation`).",
        "",
    ]
    rows = [
        [
            arch,
            f"{row['parameters'] / 1e6:.2f} M",
            format_metric(row["auc"]),
            format_metric(row["accuracy"], counts=True),
            f"{row['cpu_seconds_per_epoch']:.1f}",
        ]
        for arch, row in results["architectures"].items()
    ]
    header = ["network", "parameters", "AUC (DeLong 95% CI)", "accuracy at 0.5 (Wilson 95% CI)", "CPU s / epoch"]
    return "\n".join(lines) + "\n" + markdown_table(header, rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--work", type=Path, default=Path("build/ablation/ankle_xray"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("openjpeg").setLevel(logging.WARNING)
    use_training_threads()
    results = compare_architectures(args.models_dir, args.work)
    print(comparators_markdown(results))


if __name__ == "__main__":
    main()
