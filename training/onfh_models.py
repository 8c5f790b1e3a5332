"""`make models` for onfh_mri: hip phantoms → per-hip 256×256 crops → plain and geo-pixel U-Nets → app check.

Demo recipe (stated in the model card): hip MRI phantoms (python -m phantoms hip-mri), patient-level split;
training crops are centred on the true femoral head (jittered by a few mm, as the app's locator is) on every
axial T1 slice that shows the head plus a few that don't; the paper's network (U-Net with geometric and
pixel-level supervision) and the plain U-Net are trained on the same crops (the ablation), the geo-pixel one is
exported, and then the app itself is run on the held-out patients and scored by `training.evaluate_onfh`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pydicom

from apps.onfh_mri.hip_crop import NORMALISATION, HipCrop, normalise_crop
from dicom_in.pixel_decode import decode_image
from phantoms.hip_mri import generate_hip_mri_dataset
from training.evaluate_onfh import evaluate_onfh_run
from training.export import export_torchscript
from training.metrics import format_metric
from training.segmentation_metrics import ablation_table, segmentation_metrics
from training.splits import move_patients, patient_split
from training.train_segmenter import SegmenterConfig, predict_masks, segmenter_meta, train_segmenter

__all__ = ["build_onfh_model", "hip_crops", "MODEL_NAME", "CROP_MM"]

logger = logging.getLogger(__name__)

MODEL_NAME = "onfh_mri_femoral_head"
CROP_MM = 100.0  # physical side of a per-hip crop: a ~50 mm femoral head and its acetabulum
# Demo deviation from the paper's 256x256: 100 mm over 128 px is 0.78 mm per pixel, already finer than the
# phantoms' 1.0-1.25 mm, so 256 would only interpolate (at 4x the training cost). The size is in the meta.
DEMO_INPUT_SIZE = 128
DEMO_EPOCHS = 16
PATIENTS = 30
SEED = 4321
# More held-out patients for the app-level test than the split leaves (6): half of all phantom hips sit on a
# grade boundary by design, and the grade check needs enough hips clear of one. Never seen in training.
EXTRA_TEST_PATIENTS = 12
JITTER_MM = 4.0
HEAD_SLICES_PER_HIP = 6  # spread from pole to pole; more slices of the same head add little
EMPTY_SLICES_PER_HIP = 1
# Grade agreement is gated on the hips clear of a boundary; knife-edge hips are reported (see evaluate_onfh).
TARGETS = {
    "dice": 0.90,
    "ratio_within_3pp": 0.90,
    "grade_accuracy_clear_of_boundaries": 0.90,
    "key_slice_acceptable": 0.90,
}
CARD_TEMPLATE = Path(__file__).with_name("onfh_model_card.md.tmpl")


def _t1_volume(study_dir: Path, truth: dict[str, Any]) -> tuple[np.ndarray, tuple[float, float]]:
    files = {
        str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID): f
        for f in (study_dir / truth["t1_folder"]).glob("*.dcm")
    }
    volume = np.stack([decode_image(files[uid]).pixels for uid in truth["sop_instance_uids"]])
    header = pydicom.dcmread(files[truth["sop_instance_uids"][0]], stop_before_pixels=True)
    return volume, (float(header.PixelSpacing[0]), float(header.PixelSpacing[1]))


def hip_crops(
    study_dir: Path, truth: dict[str, Any], rng: np.random.Generator, size: int = DEMO_INPUT_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised crops and head masks of one study's hips: every slice showing a head, plus a few empty ones."""
    volume, spacing = _t1_volume(study_dir, truth)
    heads = np.load(study_dir / "ground_truth_masks.npz")["head"]
    images, masks = [], []
    for label in (1, 2):
        head = heads == label
        areas = head.reshape(len(head), -1).sum(axis=1)
        key = int(np.argmax(areas))
        rows, cols = np.nonzero(head[key])
        shown = np.nonzero(areas > 0)[0]
        shown = shown[np.unique(np.linspace(0, len(shown) - 1, HEAD_SLICES_PER_HIP).round().astype(int))]
        empty = np.nonzero(areas == 0)[0]
        picked = [*shown, *rng.choice(empty, size=min(EMPTY_SLICES_PER_HIP, len(empty)), replace=False)]
        for k in picked:
            jitter = rng.uniform(-JITTER_MM, JITTER_MM, 2) / np.asarray(spacing)
            crop = HipCrop((rows.mean() + jitter[0], cols.mean() + jitter[1]), CROP_MM, size, spacing)
            images.append(normalise_crop(crop.crop(volume[k])))
            masks.append((crop.crop(head[k].astype(np.float32)) >= 0.5).astype(np.uint8))
    return np.stack(images), np.stack(masks)


def _dataset(data_dir: Path, truths: list[dict], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    parts = [hip_crops(data_dir / t["patient_id"], t, rng) for t in truths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _run_app(models_dir: Path, input_dir: Path, output_dir: Path) -> None:
    env = {**os.environ, "MSK_MAPS_LOG": os.environ.get("MSK_MAPS_LOG", "WARNING")}
    command = [
        sys.executable,
        "-m",
        "apps.onfh_mri",
        "-i",
        str(input_dir),
        "-o",
        str(output_dir),
        "-m",
        str(models_dir),
        "--no-progress",
    ]
    subprocess.run(command, check=True, env=env)


def build_onfh_model(
    models_dir: Path, work_dir: Path, patients: int = PATIENTS, epochs: int | None = None
) -> dict[str, Any]:
    """Train both variants, export the geo-pixel one, run the app on held-out patients, write the model card."""
    data_dir = work_dir / "hip_mri"
    for stale in ("hip_mri", "hip_mri_test", "app_output"):  # a rebuild starts from fresh phantoms
        shutil.rmtree(work_dir / stale, ignore_errors=True)
    truths = generate_hip_mri_dataset(data_dir, patients=patients, seed=SEED)
    split = patient_split([t["patient_id"] for t in truths], seed=0)
    by_id = {t["patient_id"]: t for t in truths}
    # Train and val patients both feed the trainer, which holds out its own validation images.
    train_ids = sorted(p for p, subset in split.items() if subset != "test")
    test_ids = sorted(p for p, subset in split.items() if subset == "test")
    train_x, train_y = _dataset(data_dir, [by_id[i] for i in train_ids], seed=1)
    test_x, test_y = _dataset(data_dir, [by_id[i] for i in test_ids], seed=2)
    logger.info("onfh crops: %d train, %d test", len(train_x), len(test_x))
    base = SegmenterConfig(
        name=MODEL_NAME,
        input_size=DEMO_INPUT_SIZE,
        epochs=DEMO_EPOCHS,
        sdf_clip_px=8.0,  # the paper-scale 16 px at 256 input
        crop_mm=CROP_MM,
        normalisation=NORMALISATION,
        demo=True,
        training_data=(
            f"SYNTHETIC ONLY: {len(train_ids)} hip MRI phantom patients (python -m phantoms hip-mri, seed {SEED}), "
            f"{len(train_x)} per-hip axial T1 crops; no real patient data"
        ),
    )
    if epochs is not None:
        base = replace(base, epochs=epochs)
    ablation, models = {}, {}
    for variant in ("plain", "geo-pixel"):
        config = replace(base, variant=variant)
        model, report = train_segmenter(train_x, train_y, config)
        predicted = predict_masks(model, test_x, config.batch_size, config.threshold)
        ablation[variant] = segmentation_metrics(predicted, test_y.astype(bool))
        models[variant] = (model, config, report)
    model, config, report = models["geo-pixel"]
    meta = {**segmenter_meta(config, report), "ablation_test_crops": len(test_x)}
    export_torchscript(model, models_dir / MODEL_NAME / f"{MODEL_NAME}.ts", meta)
    test_dir = move_patients(data_dir, work_dir / "hip_mri_test", test_ids)  # the app sees only held-out patients
    generate_hip_mri_dataset(test_dir / "extra", patients=EXTRA_TEST_PATIENTS, seed=SEED + 1)
    app_out = work_dir / "app_output"
    _run_app(models_dir, test_dir, app_out)
    evaluation_dir = models_dir / MODEL_NAME / "evaluation"
    metrics = evaluate_onfh_run(test_dir, app_out, evaluation_dir)
    table = ablation_table(ablation)
    (evaluation_dir / "ablation.md").write_text(table, encoding="utf-8")
    (evaluation_dir / "ablation.json").write_text(json.dumps(ablation, indent=1, default=float), encoding="utf-8")
    write_model_card(
        models_dir, meta, metrics, table, len(train_ids), len(test_ids) + EXTRA_TEST_PATIENTS, len(train_x)
    )
    summary = {
        "dice": metrics["femoral_head_dice"]["mean"],
        "ratio_within_3pp": metrics["ratio_within_3pp"]["value"],
        "grade_accuracy": metrics["grade_accuracy"]["value"],
        "grade_accuracy_clear_of_boundaries": metrics["grade_accuracy_clear_of_boundaries"]["value"],
        "grade_accuracy_knife_edge": metrics["grade_accuracy_knife_edge"]["value"],
        "ratio_bias_pp": metrics["ratio_error_pp"]["mean_signed"],
        "key_slice_acceptable": metrics["key_slice_acceptable"]["value"],
    }
    logger.info("%s on held-out phantoms: %s", MODEL_NAME, summary)
    failed = {k: summary[k] for k, target in TARGETS.items() if summary[k] is None or summary[k] < target}
    if failed:
        raise SystemExit(f"{MODEL_NAME}: held-out phantom metrics below target {TARGETS}: {failed}")
    return summary


def write_model_card(
    models_dir: Path, meta: dict, metrics: dict, ablation: str, train_patients: int, test_patients: int, crops: int
) -> Path:
    """models/onfh_mri_femoral_head/MODEL_CARD.md with the measured held-out metrics."""
    config = meta["training"]["config"]
    card = Template(CARD_TEMPLATE.read_text(encoding="utf-8")).substitute(
        name=MODEL_NAME,
        version=meta["version"],
        crop_mm=f"{CROP_MM:g}",
        size=meta["input_size"][0],
        normalisation=NORMALISATION,
        channels=config["channels"],
        epochs=config["epochs"],
        seed=SEED,
        train_patients=train_patients,
        test_patients=test_patients,
        crops=crops,
        hips=metrics["hips"],
        dice_mean=f"{metrics['femoral_head_dice']['mean']:.3f}",
        dice_min=f"{metrics['femoral_head_dice']['min']:.3f}",
        ratio=format_metric(metrics["ratio_within_3pp"], counts=True),
        grade=format_metric(metrics["grade_accuracy"], counts=True),
        grade_clear=format_metric(metrics["grade_accuracy_clear_of_boundaries"], counts=True),
        grade_edge=format_metric(metrics["grade_accuracy_knife_edge"], counts=True),
        bias=f"{metrics['ratio_error_pp']['mean_signed']:+.2f}",
        max_error=f"{metrics['ratio_error_pp']['max_abs']:.2f}",
        key_slice=format_metric(metrics["key_slice_agreement"], counts=True),
        key_ok=format_metric(metrics["key_slice_acceptable"], counts=True),
        ratio_true_key=format_metric(metrics["ratio_within_3pp_vs_true_key_slice"], counts=True),
        confusion=json.dumps(metrics["grade_confusion"]),
        ablation=ablation,
    )
    path = models_dir / MODEL_NAME / "MODEL_CARD.md"
    path.write_text(card, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    """CLI: python -m training.onfh_models --models-dir models --work build/demo-training/onfh_mri."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--work", type=Path, default=Path("build/demo-training/onfh_mri"))
    parser.add_argument("--patients", type=int, default=PATIENTS)
    parser.add_argument("--epochs", type=int, default=None, help="override the demo epochs (quick checks)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(json.dumps(build_onfh_model(args.models_dir, args.work, args.patients, args.epochs), indent=1))


if __name__ == "__main__":
    main()
