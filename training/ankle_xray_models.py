"""`make models` for ankle_xray: radiograph phantoms → RetinaNet detector + MobileNetV2 classifier → the gate.

Demo recipe (stated in the model cards): ankle radiograph phantoms (python -m phantoms ankle-xray, the hard ones:
2-4 mm fragments, fragments over the malleolus or talus, faint-rimmed SFOs and smooth LMAFs, low-dose noise,
rotated and off-centre views, look-alikes) in every transfer syntax, patient-level 60/20/20 split (seed 0; the
train and validation patients train, the test patients give held-out crop figures); the detector and the
classifier are trained as `training.train_fragments` does. The gate is the app itself: ankle_xray runs over
UNSEEN_PATIENTS phantom studies generated with a seed no build uses (training.study_gates) and
`training.evaluate_fragments` scores what a reader gets: each fragment found on some view and its class, false
positives per radiograph. The build fails below the gates of XRAY_CHECK. The paper's four-network comparison is
`make ablation` (training.ankle_xray_comparators); the cards cite its last committed results.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import torch

from phantoms.ankle_xray import generate_ankle_xray_dataset
from training.cpu_threads import use_training_threads
from training.evaluate_fragments import evaluate_fragment_run
from training.export import export_torchscript
from training.fragment_detector import DetectorConfig
from training.metrics import binary_classification_metrics, format_metric
from training.splits import move_patients, patient_split
from training.study_gates import Gate, UnseenCheck, gate_table, missed
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

__all__ = [
    "build_ankle_xray_models",
    "xray_training_data",
    "DETECTOR",
    "CLASSIFIER",
    "COMPARATORS_FILE",
    "XRAY_CHECK",
]

logger = logging.getLogger(__name__)

DETECTOR = "ankle_xray_detector"
CLASSIFIER = "ankle_xray_classifier"
PATIENTS = 160
SEED = 2718
VERSION = "0.1.0"
# Issue 15's targets on the unseen set.
XRAY_CHECK = UnseenCheck(
    "ankle_xray",
    "ankle-xray",
    "evaluate_fragments",
    generate_ankle_xray_dataset,
    evaluate_fragment_run,
    (
        Gate("fragments found on at least one view (recall, hit at IoU 0.3)", ("fragment_recall",), 0.90),
        Gate("false positives per radiograph (no hit)", ("false_positives_per_radiograph",), 0.5, at_least=False),
        Gate("LMAF-vs-SFO AUC of the found fragments", ("classification", "auc"), 0.90),
    ),
)
CARD_TEMPLATE = Path(__file__).with_name("ankle_xray_model_card.md.tmpl")
# Written by `make ablation` (training.ankle_xray_comparators) and committed; the cards quote it.
COMPARATORS_FILE = "COMPARATORS.md"


def xray_training_data(work_dir: Path, patients: int = PATIENTS) -> tuple[Path, Path, list[str], list[str]]:
    """Fresh phantoms split by patient: (train folder, held-out test folder, train ids, test ids)."""
    data_dir = work_dir / "ankle_xray"
    for stale in ("ankle_xray", "train", "test"):  # a rebuild starts from fresh phantoms
        shutil.rmtree(work_dir / stale, ignore_errors=True)
    truths = generate_ankle_xray_dataset(data_dir, patients=patients, seed=SEED)
    split = patient_split([t["patient_id"] for t in truths], seed=0)
    train_ids = sorted(p for p, subset in split.items() if subset != "test")
    test_ids = sorted(p for p, subset in split.items() if subset == "test")
    return (
        move_patients(data_dir, work_dir / "train", train_ids),
        move_patients(data_dir, work_dir / "test", test_ids),
        train_ids,
        test_ids,
    )


def _held_out_crops(classifier: torch.nn.Module, test: list[XraySample], config: ClassifierConfig) -> dict[str, Any]:
    """LMAF-vs-SFO metrics of the classifier on exact ground-truth crops of the held-out test patients."""
    crops, labels = jittered_crops(test, config, copies=0)
    with torch.no_grad():
        probabilities = classifier.eval()(torch.from_numpy(crops))[0][:, 1].numpy()
    metrics = binary_classification_metrics(labels, probabilities.astype(np.float64))
    return {k: v for k, v in metrics.items() if k != "roc"}


def build_ankle_xray_models(models_dir: Path, work_dir: Path, patients: int = PATIENTS) -> dict[str, Any]:
    """Train and export both models, score held-out crops, run the app on unseen phantoms (the gate), write cards."""
    train_dir, test_dir, train_ids, test_ids = xray_training_data(work_dir, patients)
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
    evaluation_dir = models_dir / CLASSIFIER / "evaluation"
    evaluation_dir.mkdir(parents=True, exist_ok=True)
    held_out = _held_out_crops(classifier, load_studies(test_dir, det_config.input_size), cls_config)
    (evaluation_dir / "held_out_crops.json").write_text(json.dumps(held_out, indent=1), encoding="utf-8")
    metrics, rows = XRAY_CHECK.run(models_dir, work_dir, evaluation_dir / "unseen")
    shutil.rmtree(models_dir / DETECTOR / "evaluation", ignore_errors=True)
    shutil.copytree(evaluation_dir, models_dir / DETECTOR / "evaluation")
    write_model_cards(models_dir, metrics, rows, held_out, training_data, len(test_ids), det_config, cls_config)
    summary = {
        "unseen_gates": rows,
        "held_out_crop_auc": held_out["auc"]["value"],
        "detector_seconds_per_epoch": det_record["seconds_per_epoch"],
        "classifier_seconds_per_epoch": cls_record["seconds_per_epoch"],
    }
    logger.info("ankle_xray on unseen phantoms: %s", rows)
    missed("ankle_xray", rows)
    return summary


def _comparators_text(models_dir: Path) -> str:
    """The committed `make ablation` comparison, or how to produce it."""
    path = models_dir / CLASSIFIER / COMPARATORS_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    return "Not run yet: `make ablation` trains the four networks on the same crops and writes it here."


def write_model_cards(
    models_dir: Path,
    metrics: dict[str, Any],
    rows: list[dict[str, Any]],
    held_out: dict[str, Any],
    training_data: str,
    test_patients: int,
    det_config: DetectorConfig,
    cls_config: ClassifierConfig,
) -> None:
    """One card per model from the shared template: the unseen gate first, then the detail and held-out figures."""
    classification, study = metrics["classification"], metrics["study_fragment_found"]
    lateral = metrics["detection_lateral"]
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
        "unseen_seed": XRAY_CHECK.seed,
        "unseen_studies": metrics["studies"],
        "radiographs": metrics["radiographs"],
        "fragments": metrics["fragments"],
        "gate_table": gate_table(rows),
        "study_sensitivity": format_metric(study["recall"], counts=True),
        "study_specificity": format_metric(study["specificity"], counts=True),
        "false_positives": metrics["false_positives"],
        "frontal_recall": f"{metrics['detection_frontal']['recall']:.3f}",
        "lateral_recall": f"{lateral['recall']:.3f}" if lateral else "n/a",
        "ap": f"{metrics['detection']['ap']:.3f}",
        "recall_iou50": format_metric(metrics["fragment_recall_iou50"], counts=True),
        "fp_iou50": f"{metrics['false_positives_per_radiograph_iou50']:.3f}",
        "n_classified": classification["n"],
        "accuracy": format_metric(classification["accuracy"], counts=True),
        "sensitivity": format_metric(classification["recall"], counts=True),
        "specificity": format_metric(classification["specificity"], counts=True),
        "auc": format_metric(classification["auc"]),
        "confusion": json.dumps(classification["confusion_matrix"]),
        "held_out_n": held_out["n"],
        "held_out_auc": format_metric(held_out["auc"]),
        "held_out_accuracy": format_metric(held_out["accuracy"], counts=True),
        "reproduce": XRAY_CHECK.reproduce(),
        "comparators": _comparators_text(models_dir),
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("openjpeg").setLevel(logging.WARNING)  # one INFO line per encoded tile otherwise
    use_training_threads()
    summary = build_ankle_xray_models(args.models_dir, args.work, args.patients)
    print(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
