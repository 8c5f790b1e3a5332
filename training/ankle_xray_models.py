"""`make models` for ankle_xray: radiograph phantoms → RetinaNet detector + MobileNetV2 classifier → app check.

Demo recipe (stated in the model cards): ankle radiograph phantoms (python -m phantoms ankle-xray) in every
transfer syntax, patient-level 60/20/20 split (seed 0; train and val patients train, test patients are held
out); the detector and the classifier are trained as `training.train_fragments` does; then the app itself runs
on the held-out patients and `training.evaluate_fragments` scores it: recall and AP at IoU 0.5, LMAF-vs-SFO
AUC (DeLong CI), accuracy/sensitivity/specificity (Wilson CIs). `--comparators` also trains the paper's
comparison architectures on the same crops and tables their held-out AUC.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from string import Template
from typing import Any

import torch
from sklearn.metrics import roc_auc_score

from phantoms.ankle_xray import generate_ankle_xray_dataset
from training.evaluate_fragments import evaluate_fragment_run
from training.export import export_torchscript
from training.fragment_detector import DetectorConfig
from training.metrics import format_metric
from training.mobilenet_v2 import COMPARATORS
from training.splits import move_patients, patient_split
from training.train_fragments import (
    ClassifierConfig,
    XraySample,
    classifier_meta,
    detector_meta,
    jittered_crops,
    load_studies,
    train_detector,
    train_fragment_classifier,
)

__all__ = ["build_ankle_xray_models", "DETECTOR", "CLASSIFIER"]

logger = logging.getLogger(__name__)

DETECTOR = "ankle_xray_detector"
CLASSIFIER = "ankle_xray_classifier"
PATIENTS = 160
SEED = 2718
VERSION = "0.1.0"
TARGETS = {"recall": 0.90, "auc": 0.90}
CARD_TEMPLATE = Path(__file__).with_name("ankle_xray_model_card.md.tmpl")


def _comparators(train: list[XraySample], test: list[XraySample], config: ClassifierConfig) -> dict[str, float]:
    """Held-out AUC on exact ground-truth crops for each comparison architecture, trained on the same crops."""
    crops, labels = jittered_crops(train, config)
    test_crops, test_labels = jittered_crops(test, config, copies=0)
    table = {}
    for arch in ("mobilenet_v2", *COMPARATORS):
        model, _ = train_fragment_classifier(crops, labels, config, arch)
        with torch.no_grad():
            probabilities, _ = model.eval()(torch.from_numpy(test_crops))
        table[arch] = float(roc_auc_score(test_labels, probabilities[:, 1].numpy()))
        logger.info("comparator %s: held-out crop AUC %.3f", arch, table[arch])
    return table


def build_ankle_xray_models(
    models_dir: Path, work_dir: Path, patients: int = PATIENTS, comparators: bool = False
) -> dict[str, Any]:
    """Train and export both models, run the app on held-out patients, gate on the targets, write model cards."""
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    data_dir = work_dir / "ankle_xray"
    for stale in ("ankle_xray", "train", "test", "app_output"):  # a rebuild starts from fresh phantoms
        shutil.rmtree(work_dir / stale, ignore_errors=True)
    truths = generate_ankle_xray_dataset(data_dir, patients=patients, seed=SEED)
    split = patient_split([t["patient_id"] for t in truths], seed=0)
    train_ids = sorted(p for p, subset in split.items() if subset != "test")
    test_ids = sorted(p for p, subset in split.items() if subset == "test")
    train_dir = move_patients(data_dir, work_dir / "train", train_ids)
    test_dir = move_patients(data_dir, work_dir / "test", test_ids)
    det_config, cls_config = DetectorConfig(seed=0), ClassifierConfig(seed=0)
    samples = load_studies(train_dir, det_config.input_size)
    fragments = sum(len(s.labels) for s in samples)
    training_data = (
        f"SYNTHETIC ONLY: {len(train_ids)} ankle radiograph phantom patients (python -m phantoms ankle-xray, seed "
        f"{SEED}), {len(samples)} CR/DX radiographs, {fragments} fragments; no real patient data"
    )
    network, det_record = train_detector(samples, det_config)
    export_torchscript(
        network,
        models_dir / DETECTOR / f"{DETECTOR}.ts",
        detector_meta(det_config, DETECTOR, VERSION, training_data, demo=True),
    )
    crops, labels = jittered_crops(samples, cls_config)
    classifier, cls_record = train_fragment_classifier(crops, labels, cls_config, "mobilenet_v2")
    export_torchscript(
        classifier,
        models_dir / CLASSIFIER / f"{CLASSIFIER}.ts",
        classifier_meta(cls_config, "mobilenet_v2", CLASSIFIER, VERSION, training_data, demo=True),
    )
    app_out = work_dir / "app_output"
    command = [sys.executable, "-m", "apps.ankle_xray", "-i", str(test_dir), "-o", str(app_out), "-m", str(models_dir)]
    subprocess.run([*command, "--no-progress"], check=True)
    evaluation_dir = models_dir / CLASSIFIER / "evaluation"
    metrics = evaluate_fragment_run(test_dir, app_out, evaluation_dir)
    table = _comparators(samples, load_studies(test_dir, det_config.input_size), cls_config) if comparators else None
    if table:
        (evaluation_dir / "comparators.json").write_text(json.dumps(table, indent=1), encoding="utf-8")
    summary = {
        "recall": metrics["detection"]["recall"],
        "ap": metrics["detection"]["ap"],
        "auc": metrics["classification"]["auc"]["value"],
        "detector_seconds_per_epoch": det_record["seconds_per_epoch"],
        "classifier_seconds_per_epoch": cls_record["seconds_per_epoch"],
    }
    write_model_cards(models_dir, metrics, training_data, len(test_ids), det_config, cls_config, table)
    logger.info("ankle_xray on held-out phantoms: %s", summary)
    failed = {k: summary[k] for k, target in TARGETS.items() if summary[k] is None or summary[k] < target}
    if failed:
        raise SystemExit(f"ankle_xray: held-out phantom metrics below target {TARGETS}: {failed}")
    return summary


def write_model_cards(
    models_dir: Path,
    metrics: dict[str, Any],
    training_data: str,
    test_patients: int,
    det_config: DetectorConfig,
    cls_config: ClassifierConfig,
    comparators: dict[str, float] | None,
) -> None:
    """One card per model from the shared template, with the held-out end-to-end metrics."""
    detection, classification = metrics["detection"], metrics["classification"]
    found = detection["num_gt"] - detection["false_negatives"]
    comparison = (
        "\n".join(
            ["| architecture | held-out crop AUC |", "|---|---|"]
            + [f"| {a} | {v:.3f} |" for a, v in comparators.items()]
        )
        if comparators
        else "Not run for this build (`python -m training.ankle_xray_models --comparators` trains them)."
    )
    values = {
        "version": VERSION,
        "training_data": training_data,
        "test_patients": test_patients,
        "detector_input": det_config.input_size,
        "detector_epochs": det_config.epochs,
        "crop_size": cls_config.crop_size,
        "crop_margin": cls_config.crop_margin,
        "width_mult": cls_config.width_mult,
        "classifier_epochs": cls_config.epochs,
        "num_gt": detection["num_gt"],
        "recall": f"{detection['recall']:.3f} ({found}/{detection['num_gt']})",
        "ap": f"{detection['ap']:.3f}",
        "precision": f"{detection['precision']:.3f}",
        "n_classified": classification["n"],
        "auc": format_metric(classification["auc"]),
        "auc_method": classification["ci_methods"]["auc"],
        "accuracy": format_metric(classification["accuracy"]),
        "sensitivity": format_metric(classification["recall"]),
        "specificity": format_metric(classification["specificity"]),
        "confusion": json.dumps(classification["confusion_matrix"]),
        "comparators": comparison,
    }
    template = Template(CARD_TEMPLATE.read_text(encoding="utf-8"))
    for name, role in (
        (DETECTOR, "the fragment detector (stage 1)"),
        (CLASSIFIER, "the LMAF-vs-SFO classifier (stage 2)"),
    ):
        card = template.substitute(values, name=name, role=role)
        (models_dir / name / "MODEL_CARD.md").write_text(card, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """CLI: python -m training.ankle_xray_models --models-dir models --work build/demo-training/ankle_xray."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--work", type=Path, default=Path("build/demo-training/ankle_xray"))
    parser.add_argument("--patients", type=int, default=PATIENTS)
    parser.add_argument("--comparators", action="store_true", help="also train ResNet18, DenseNet121, EfficientNet-B0")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("openjpeg").setLevel(logging.WARNING)  # one INFO line per encoded tile otherwise
    summary = build_ankle_xray_models(args.models_dir, args.work, args.patients, args.comparators)
    print(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
