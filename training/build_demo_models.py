"""`make models`: generate phantom training data and train the demo models, deterministically, on a CPU.

Demo recipe (stated in each model card): the paper's protocol — ResNet50 with every layer trained, ImageNet
normalisation, class-weighted cross-entropy, lr 1e-3, patient-level 60/20/20 split (seed 0), h-flip and ±10°
rotation on the training split only — with three deviations that a 2-core CPU and no ImageNet weights force:
random (seeded) initialisation, 64x64 input instead of 224x224 (recorded in the model's meta, so the apps
resize to it), and DEMO_EPOCHS epochs instead of 60 (the epoch with the lowest validation loss is kept).
Measured alternative that failed: frozen random features with only the last layer trained reached 0.58
accuracy on held-out phantoms; full training at 64x64 reaches >0.95.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from string import Template
from typing import Any

from apps.olt_mri.lesion_call import call_series
from dicom_in.pixel_decode import decode_image
from inference.model_meta import ClassifierMeta, ModelMeta
from inference.model_store import ModelStore
from inference.preprocess import PreprocessSpec
from inference.preprocessor import make_preprocessor
from phantoms.ankle_mri import generate_ankle_mri_dataset
from training.app_evaluation import write_rows
from training.evaluate import evaluate_predictions_csv
from training.metrics import format_metric
from training.olt_manifest import olt_manifest_rows, write_manifest
from training.splits import patient_split
from training.train_classifier import TrainConfig, train_classifier

__all__ = ["build_olt_models", "main"]

logger = logging.getLogger(__name__)

OLT_PATIENTS = 40
OLT_SEED = 1234
DEMO_EPOCHS = 20
DEMO_INPUT_SIZE = 64
MIN_ACCURACY = 0.90  # the demo models' acceptance bar on held-out phantom patients
CARD_TEMPLATE = Path(__file__).with_name("olt_model_card.md.tmpl")


def write_model_card(
    models_dir: Path,
    name: str,
    weighting: str,
    metrics: dict[str, Any],
    meta: ModelMeta,
    series_metrics: dict[str, Any],
) -> Path:
    """models/<name>/MODEL_CARD.md from the template, with the measured test metrics."""
    card = Template(CARD_TEMPLATE.read_text(encoding="utf-8")).substitute(
        name=name,
        weighting=weighting,
        version=meta.version,
        patients=OLT_PATIENTS,
        seed=OLT_SEED,
        split=json.dumps(meta.training["split_images"]),
        best_epoch=meta.training["best_epoch"],
        epochs=meta.training["epochs"],
        size=meta.input_size[0],
        accuracy=format_metric(metrics["accuracy"]),
        precision=format_metric(metrics["precision"]),
        recall=format_metric(metrics["recall"]),
        specificity=format_metric(metrics["specificity"]),
        f1=format_metric(metrics["f1"]),
        auc=format_metric(metrics["auc"]),
        auc_method=metrics["ci_methods"]["auc"],
        cm=json.dumps(metrics["confusion_matrix"]),
        n=metrics["n"],
        s_n=series_metrics["n"],
        s_patients=series_metrics["n_patients"],
        s_accuracy=format_metric(series_metrics["accuracy"]),
        s_recall=format_metric(series_metrics["recall"]),
        s_specificity=format_metric(series_metrics["specificity"]),
        s_auc=format_metric(series_metrics["auc"]),
        s_auc_method=series_metrics["ci_methods"]["auc"],
        s_cm=json.dumps(series_metrics["confusion_matrix"]),
    )
    path = models_dir / name / "MODEL_CARD.md"
    path.write_text(card, encoding="utf-8")
    return path


def build_olt_models(models_dir: Path, work_dir: Path, patients: int = OLT_PATIENTS) -> dict[str, Any]:
    """Phantoms → manifests → T1 and T2 models with model cards; returns the test metrics per model."""
    from inference.model_store import read_meta

    data_dir = work_dir / "ankle_mri"
    truths = generate_ankle_mri_dataset(data_dir, patients=patients, seed=OLT_SEED)
    results = {}
    for weighting in ("T1", "T2"):
        name = f"olt_mri_{weighting.lower()}"
        manifest = write_manifest(olt_manifest_rows(data_dir, truths, weighting), work_dir / f"{name}.csv")
        config = TrainConfig(
            name=name,
            labels=("no_olt", "olt"),
            trainable_from="conv1",
            epochs=DEMO_EPOCHS,
            input_size=DEMO_INPUT_SIZE,
            demo=True,
            training_data=(
                f"SYNTHETIC ONLY: {patients} ankle MRI phantom patients (python -m phantoms ankle-mri, "
                f"seed {OLT_SEED}), {weighting} coronal+sagittal slices; no real patient data"
            ),
        )
        metrics = train_classifier(manifest, models_dir / name, config)
        series_metrics = evaluate_series_calls(models_dir, name, data_dir, truths, weighting)
        meta = read_meta(models_dir / name / f"{name}.ts")
        write_model_card(models_dir, name, weighting, metrics, meta, series_metrics)
        results[name] = {
            "slice_accuracy": metrics["accuracy"]["value"],
            "slice_auc": metrics["auc"]["value"],
            "series_accuracy": series_metrics["accuracy"]["value"],
            "series_auc": series_metrics["auc"]["value"],
        }
        logger.info("%s: %s", name, results[name])
        # The acceptance bar is the evaluation CLI's slice-level accuracy on held-out patients; the series-level
        # call (16 series in the demo test split, so one series is 6 points) is reported in the card, not gated.
        accuracy = metrics["accuracy"]["value"]
        if accuracy < MIN_ACCURACY:
            raise SystemExit(f"{name}: held-out slice-level accuracy {accuracy:.3f} < {MIN_ACCURACY}")
        if series_metrics["accuracy"]["value"] < MIN_ACCURACY:
            logger.warning("%s: held-out series-level accuracy %.3f", name, series_metrics["accuracy"]["value"])
    return results


def _series_probabilities(
    model, preprocess, data_dir: Path, truths: list[dict[str, Any]], weighting: str, patients: set[str]
) -> list[dict[str, Any]]:
    """One row per coronal/sagittal `weighting` series of `patients`: the app's max-over-slices probability."""
    rows = []
    for truth in truths:
        if truth["patient_id"] not in patients:
            continue
        for series in truth["series"]:
            if series["weighting"] != weighting or series["plane"] not in ("coronal", "sagittal"):
                continue
            files = sorted((data_dir / truth["patient_id"] / series["folder"]).glob("*.dcm"))
            pixels = [decode_image(f).pixels for f in files]
            probabilities = model.predict(preprocess(pixels))["probabilities"][:, 1].numpy()
            call = call_series(f"{weighting} {series['plane']}", probabilities, model.meta.threshold)
            rows.append(
                {
                    "patient_id": truth["patient_id"],
                    "label": int(truth["lesion"]),
                    "probability": round(call.probability, 6),
                    "series": series["description"],
                }
            )
    return rows


def evaluate_series_calls(
    models_dir: Path, name: str, data_dir: Path, truths: list[dict[str, Any]], weighting: str
) -> dict[str, Any]:
    """The app's own series rule (apps/olt_mri/lesion_call.py) on the test-split patients' whole series."""
    model = ModelStore(models_dir, "cpu").get(name, ClassifierMeta)
    preprocess = make_preprocessor(PreprocessSpec.from_meta(model.meta))
    split = patient_split([t["patient_id"] for t in truths], seed=0)
    test = {p for p, s in split.items() if s == "test"}
    rows = _series_probabilities(model, preprocess, data_dir, truths, weighting, test)
    out = models_dir / name / "evaluation" / "series_level"
    predictions = write_rows(rows, out / "series_predictions.csv")
    return evaluate_predictions_csv(predictions, out, threshold=model.meta.threshold, title=f"{name}: series (test)")


def main(argv: list[str] | None = None) -> None:
    """CLI: python -m training.build_demo_models --models-dir models --work build/demo-training."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--work", type=Path, default=Path("build/demo-training"))
    parser.add_argument("--olt-patients", type=int, default=OLT_PATIENTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    results = build_olt_models(args.models_dir, args.work, args.olt_patients)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
