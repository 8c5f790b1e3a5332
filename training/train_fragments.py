"""Train the ankle-radiograph fragment detector (RetinaNet) and fragment classifier (MobileNetV2, LMAF vs SFO).

The detector sees the whole radiograph preprocessed as the app does (percentile window to [0, 1], bilinear
resize to `DetectorConfig.input_size` square, boxes scaled alike). The classifier sees square crops of the
source-resolution radiograph made by `inference.square_crop.crop_model_input` (the app's own function),
jittered around the ground-truth boxes in training, so the app's crops of detected boxes look like the
training crops; at source resolution a 6 mm fragment still shows whether it is corticated. Class index 0 = SFO
(ossicle), 1 = LMAF (avulsion fracture). Seeded and deterministic on the CPU.

CLI: python -m training.train_fragments --studies DIR --out MODELS [--eval-studies DIR] [--demo]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from inference.box_detection import DETECTOR_META_KEY, detect_boxes, to_detector_layout
from inference.model_meta import ClassifierMeta, parse_model_meta
from inference.square_crop import crop_model_input, crop_square
from training.fragment_detector import (
    DetectorConfig,
    build_detector,
    build_fragment_detector_network,
    build_trainable_detector,
)
from training.mobilenet_v2 import build_comparator, build_mobilenet_v2

__all__ = [
    "XraySample",
    "ClassifierConfig",
    "FRAGMENT_CLASSES",
    "train_detector",
    "train_fragment_classifier",
    "jittered_crops",
    "detector_meta",
    "classifier_meta",
    "load_studies",
]

logger = logging.getLogger(__name__)

FRAGMENT_CLASSES = ("SFO", "LMAF")  # index = model class


@dataclass
class XraySample:
    """One radiograph at detector input size: image (H, W) float32 in [0, 1], boxes (N, 4) xyxy, labels (N,).

    `source` keeps the source-resolution image, windowed to [0, 1]: the classifier crops come from it (as in the
    app), where a 6 mm fragment still has its cortex; `scale` is (input W / source columns, input H / source rows).
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    patient_id: str = ""
    source: np.ndarray | None = None  # source resolution, `scale_to_unit` applied
    scale: tuple[float, float] = (1.0, 1.0)


@dataclass
class ClassifierConfig:
    """Fragment classifier hyper-parameters and crop geometry (crop settings go into the model meta)."""

    crop_size: int = 64
    crop_margin: float = 0.5
    width_mult: float = 0.5
    output_stride: int = 16
    epochs: int = 20
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    flip_prob: float = 0.5
    intensity_jitter: float = 0.1
    crops_per_box: int = 6
    jitter_shift: float = 0.1  # of the box side
    jitter_scale: float = 0.15


def _seed_all(seed: int) -> np.random.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed)
    return np.random.default_rng(seed)


def _augment_detection_batch(
    images: torch.Tensor, targets: list[dict[str, torch.Tensor]], config: DetectorConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Left-right flip (laterality) and a mild gain/offset jitter; boxes follow the flip."""
    images = images.clone()
    out_targets = []
    width = images.shape[-1]
    for i, target in enumerate(targets):
        boxes = target["boxes"].clone()
        if rng.random() < config.flip_prob:
            images[i] = images[i].flip(-1)
            boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
        gain = 1.0 + rng.uniform(-config.intensity_jitter, config.intensity_jitter)
        offset = rng.uniform(-config.intensity_jitter, config.intensity_jitter) / 2
        images[i] = (images[i] * gain + offset).clamp(0.0, 1.0)
        out_targets.append({"boxes": boxes, "labels": target["labels"]})
    return images, out_targets


def _one_cycle(
    model: nn.Module, config: DetectorConfig | ClassifierConfig, examples: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.OneCycleLR]:
    """AdamW with a one-cycle learning rate over all of `config.epochs`, as both stages train."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = -(-examples // config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.15
    )
    return optimizer, scheduler


def train_detector(samples: list[XraySample], config: DetectorConfig) -> tuple[nn.Module, dict[str, Any]]:
    """Train the RetinaNet on `samples`; returns the network (eval mode) and a training record."""
    rng = _seed_all(config.seed)
    size = config.input_size
    bad = [i for i, s in enumerate(samples) if s.image.shape != (size, size)]
    if bad:
        raise ValueError(f"Samples {bad[:5]} are not {size}x{size}; resize images (and boxes) to the detector input")
    images = torch.from_numpy(np.stack([s.image for s in samples]).astype(np.float32))[:, None]
    # The detector predicts one class; the fragment class is the classifier's job.
    targets = [
        {
            "boxes": torch.as_tensor(np.asarray(s.boxes, np.float32).reshape(-1, 4)),
            "labels": torch.zeros(len(np.asarray(s.boxes).reshape(-1, 4)), dtype=torch.int64),
        }
        for s in samples
    ]
    network = build_fragment_detector_network(config)
    detector = build_trainable_detector(network, config)
    optimizer, scheduler = _one_cycle(network, config, len(samples))
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    start = time.perf_counter()
    bar = tqdm(range(config.epochs), desc="train fragment detector", unit="epoch")
    for epoch in bar:
        detector.train()
        order = torch.randperm(len(samples), generator=generator)
        sums = {"classification": 0.0, "box_regression": 0.0}
        for first in range(0, len(order), config.batch_size):
            idx = order[first : first + config.batch_size].tolist()
            batch, batch_targets = _augment_detection_batch(images[idx], [targets[i] for i in idx], config, rng)
            losses = detector(to_detector_layout(batch), batch_targets)
            loss = losses["classification"] + losses["box_regression"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            for key in sums:
                sums[key] += float(losses[key].detach()) * len(idx)
        record = {"epoch": epoch + 1, **{k: v / len(samples) for k, v in sums.items()}}
        record["loss"] = record["classification"] + record["box_regression"]
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}")
    seconds = time.perf_counter() - start
    network.eval()
    return network, {
        "history": history,
        "seconds": seconds,
        "seconds_per_epoch": seconds / max(config.epochs, 1),
        "images": len(samples),
        "boxes": int(sum(len(t["boxes"]) for t in targets)),
    }


def crop_meta(config: ClassifierConfig) -> dict[str, Any]:
    """The crop part of the classifier's contract, as `inference.square_crop.crop_model_input` reads it."""
    return {
        "input_size": [config.crop_size, config.crop_size],
        "channels": 1,
        "mean": [0.0],
        "std": [1.0],
        "intensity": "percentile",
        "crop": {"source": "original", "size": config.crop_size, "margin": config.crop_margin},
    }


def crop_contract(config: ClassifierConfig) -> ClassifierMeta:
    """The crop contract a classifier trained with `config` carries, typed as the app reads it."""
    meta = parse_model_meta(classifier_meta(config, "training", "training-crops", "0.0.0", "", False))
    if not isinstance(meta, ClassifierMeta):
        raise TypeError(f"expected a classifier contract, got {type(meta).__name__}")
    return meta


def _crop(sample: XraySample, box: np.ndarray, config: ClassifierConfig) -> np.ndarray:
    if sample.source is None:  # synthetic samples made at detector size only
        return crop_square(sample.image, box, config.crop_size, config.crop_margin)
    sx, sy = sample.scale
    source_box = np.asarray(box, np.float64) / np.array([sx, sy, sx, sy])
    return crop_model_input(sample.source, source_box, crop_contract(config))[0]


def jittered_crops(
    samples: list[XraySample], config: ClassifierConfig, copies: int | None = None, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Crops (N, 1, S, S) float32 of every ground-truth box, `copies` each with random shift/scale (0: exact)."""
    rng = np.random.default_rng(config.seed if seed is None else seed)
    copies = config.crops_per_box if copies is None else copies
    crops, labels = [], []
    for sample in samples:
        for box, label in zip(np.asarray(sample.boxes).reshape(-1, 4), np.asarray(sample.labels), strict=True):
            side = max(box[2] - box[0], box[3] - box[1])
            for _ in range(max(copies, 1)):
                jittered = np.asarray(box, np.float64)
                if copies > 0:
                    shift = rng.uniform(-config.jitter_shift, config.jitter_shift, 2) * side
                    scale = 1.0 + rng.uniform(-config.jitter_scale, config.jitter_scale)
                    centre = (jittered[:2] + jittered[2:]) / 2 + shift
                    half = (jittered[2:] - jittered[:2]) * scale / 2
                    jittered = np.concatenate([centre - half, centre + half])
                crops.append(_crop(sample, jittered, config))
                labels.append(int(label))
    if not crops:
        return np.zeros((0, 1, config.crop_size, config.crop_size), np.float32), np.zeros(0, np.int64)
    return np.stack(crops)[:, None].astype(np.float32), np.asarray(labels, np.int64)


def _build_classifier(arch: str, config: ClassifierConfig) -> nn.Module:
    if arch == "mobilenet_v2":
        return build_mobilenet_v2(1, config.width_mult, 2, config.output_stride)
    return build_comparator(arch, in_channels=1)


@torch.no_grad()
def _recalibrate_batch_norm(model: nn.Module, x: torch.Tensor, batch_size: int) -> None:
    """Precise batch-norm statistics: a cumulative average over the training crops after the last step.

    Running averages with momentum lag behind the weights in a short run; eval-mode predictions then collapse.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    for first in range(0, len(x), batch_size):
        model.logits(x[first : first + batch_size])
    model.eval()


def train_fragment_classifier(
    crops: np.ndarray, labels: np.ndarray, config: ClassifierConfig, arch: str = "mobilenet_v2"
) -> tuple[nn.Module, dict[str, Any]]:
    """Train LMAF-vs-SFO on crops (N, 1, S, S) with class-weighted cross-entropy; returns (model, record)."""
    rng = _seed_all(config.seed)
    x = torch.from_numpy(np.asarray(crops, np.float32))
    y = torch.from_numpy(np.asarray(labels, np.int64))
    if x.ndim != 4 or x.shape[1] != 1 or len(x) != len(y):
        raise ValueError(f"Expected crops (N, 1, S, S) and N labels; got {tuple(x.shape)} and {tuple(y.shape)}")
    model = _build_classifier(arch, config)
    counts = torch.bincount(y, minlength=2).float().clamp(min=1)
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / (2 * counts))
    optimizer, scheduler = _one_cycle(model, config, len(x))
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    start = time.perf_counter()
    bar = tqdm(range(config.epochs), desc=f"train fragment classifier ({arch})", unit="epoch")
    for epoch in bar:
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total, correct = 0.0, 0
        for first in range(0, len(order), config.batch_size):
            idx = order[first : first + config.batch_size]
            batch = x[idx].clone()
            flip = torch.from_numpy(rng.random(len(idx)) < config.flip_prob)
            batch[flip] = batch[flip].flip(-1)
            gain = torch.from_numpy(rng.uniform(-1, 1, (len(idx), 1, 1, 1)).astype(np.float32))
            batch = (batch * (1 + config.intensity_jitter * gain)).clamp(0.0, 1.0)
            logits = model.logits(batch)
            loss = loss_fn(logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
        history.append({"epoch": epoch + 1, "loss": total / len(x), "train_acc": correct / len(x)})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
    _recalibrate_batch_norm(model, x, config.batch_size)
    seconds = time.perf_counter() - start
    return model, {
        "history": history,
        "seconds": seconds,
        "seconds_per_epoch": seconds / max(config.epochs, 1),
        "crops": len(x),
        "class_counts": [int(c) for c in torch.bincount(y, minlength=2)],
    }


def detector_meta(config: DetectorConfig, name: str, version: str, training_data: str, demo: bool) -> dict[str, Any]:
    """The detector's meta.json: preprocessing contract + meta["detector"] geometry for `detector_from_meta`."""
    return {
        "name": name,
        "version": version,
        "task": "detection",
        "architecture": "MONAI RetinaNet (2D) on a 4-stage conv backbone + MONAI FPN; input is (B, 1, W, H)",
        "labels": list(config.labels),
        "input_size": [config.input_size, config.input_size],
        "channels": 1,
        "mean": [0.0],
        "std": [1.0],
        "intensity": "percentile",
        "layout": "transposed: pass images through inference.box_detection.to_detector_layout",
        "outputs": ["boxes", "scores"],
        DETECTOR_META_KEY: config.detector_meta(),
        "training": {"data": training_data, **config.training_meta()},
        "demo": demo,
    }


def classifier_meta(
    config: ClassifierConfig, arch: str, name: str, version: str, training_data: str, demo: bool
) -> dict[str, Any]:
    """The classifier's meta.json, including the crop geometry the app must reproduce."""
    return {
        "name": name,
        "version": version,
        "task": "classification",
        "architecture": f"{arch} (plain PyTorch/MONAI, 1-channel); outputs softmax and class activation map",
        "labels": list(FRAGMENT_CLASSES),
        "positive_index": 1,
        "threshold": 0.5,
        **crop_meta(config),
        "outputs": ["probabilities", "cam"],
        "training": {"data": training_data, "arch": arch, **asdict(config)},
        "demo": demo,
    }


def load_studies(root: Path, input_size: int) -> list[XraySample]:
    """Every image of every `ground_truth.json` under `root`, preprocessed as the app does, boxes scaled."""
    from dicom_in.pixel_decode import decode_image
    from inference.preprocess import PreprocessSpec, scale_to_unit
    from inference.preprocessor import make_preprocessor

    class_index = {name: i for i, name in enumerate(FRAGMENT_CLASSES)}
    preprocess = make_preprocessor(
        PreprocessSpec(size=(input_size, input_size), mean=(0.0,), std=(1.0,), channels=1), "cpu"
    )
    samples = []
    for gt_path in tqdm(sorted(Path(root).rglob("ground_truth.json")), desc="load studies", unit="study"):
        truth = json.loads(gt_path.read_text(encoding="utf-8"))
        if truth.get("kind") != "ankle-xray":
            continue
        for entry in truth["images"]:
            decoded = decode_image(gt_path.parent / entry["file"])
            rows, cols = decoded.pixels.shape[:2]
            image = preprocess([decoded.pixels])[0, 0].cpu().numpy().astype(np.float32)
            scale = np.array([input_size / cols, input_size / rows] * 2, np.float32)
            boxes = np.array([f["box"] for f in entry["fragments"]], np.float32).reshape(-1, 4) * scale
            labels = np.array([class_index[f["class"]] for f in entry["fragments"]], np.int64)
            samples.append(
                XraySample(
                    image, boxes, labels, truth["patient_id"], scale_to_unit(decoded.pixels), (scale[0], scale[1])
                )
            )
    return samples


def _evaluate(
    detector_ts: Path, classifier: nn.Module, samples: list[XraySample], config: ClassifierConfig
) -> dict[str, Any]:
    """Held-out detection metrics (scripted detector, as the app loads it) and classifier AUC on exact GT crops."""
    from sklearn.metrics import roc_auc_score

    from inference.model_meta import DetectorMeta
    from inference.model_store import ModelStore
    from training.detection_metrics import detection_metrics

    loaded = ModelStore(detector_ts.parent, "cpu", optimize=False).get(detector_ts.stem, DetectorMeta)
    detector = build_detector(loaded.module, loaded.meta.detector)
    images = torch.from_numpy(np.stack([s.image for s in samples]))[:, None]
    predictions = []
    for first in range(0, len(samples), 16):
        predictions += detect_boxes(detector, images[first : first + 16])
    result: dict[str, Any] = {"detection": detection_metrics(predictions, [s.boxes for s in samples])}
    crops, labels = jittered_crops(samples, config, copies=0)
    if len(np.unique(labels)) == 2:
        with torch.no_grad():
            probabilities, _ = classifier(torch.from_numpy(crops))
        result["classifier_auc"] = float(roc_auc_score(labels, probabilities[:, 1].numpy()))
    return result


def main(argv: list[str] | None = None) -> None:
    """CLI: train both models on phantom/real studies with ground_truth.json, export TorchScript with meta."""
    from training.export import export_torchscript

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=Path, required=True, help="folder of studies with ground_truth.json")
    parser.add_argument("--out", type=Path, required=True, help="models folder: writes <name>/<name>.ts")
    parser.add_argument("--eval-studies", type=Path, help="held-out studies to report recall/AP/AUC on")
    parser.add_argument("--detector-name", default="ankle_fragment_detector")
    parser.add_argument("--classifier-name", default="ankle_fragment_classifier")
    parser.add_argument(
        "--arch", default="mobilenet_v2", choices=["mobilenet_v2", "resnet18", "densenet121", "efficientnet-b0"]
    )
    parser.add_argument("--detector-epochs", type=int, default=DetectorConfig.epochs)
    parser.add_argument("--classifier-epochs", type=int, default=ClassifierConfig.epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--version", default="0.1.0")
    parser.add_argument("--training-data", default="")
    parser.add_argument("--demo", action="store_true", help="mark the models as demo weights in their meta")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if args.threads:
        torch.set_num_threads(args.threads)
    det_config = DetectorConfig(epochs=args.detector_epochs, seed=args.seed)
    cls_config = ClassifierConfig(epochs=args.classifier_epochs, seed=args.seed)
    samples = load_studies(args.studies, det_config.input_size)
    if not samples:
        parser.error(f"no ankle-xray ground_truth.json under {args.studies}")
    network, det_record = train_detector(samples, det_config)
    det_path = args.out / args.detector_name / f"{args.detector_name}.ts"
    export_torchscript(
        network, det_path, detector_meta(det_config, args.detector_name, args.version, args.training_data, args.demo)
    )
    crops, labels = jittered_crops(samples, cls_config)
    classifier, cls_record = train_fragment_classifier(crops, labels, cls_config, args.arch)
    cls_path = args.out / args.classifier_name / f"{args.classifier_name}.ts"
    export_torchscript(
        classifier,
        cls_path,
        classifier_meta(cls_config, args.arch, args.classifier_name, args.version, args.training_data, args.demo),
    )
    summary: dict[str, Any] = {
        "detector_seconds_per_epoch": round(det_record["seconds_per_epoch"], 3),
        "classifier_seconds_per_epoch": round(cls_record["seconds_per_epoch"], 3),
        "detector_final_loss": round(det_record["history"][-1]["loss"], 4),
        "classifier_final_loss": round(cls_record["history"][-1]["loss"], 4),
    }
    if args.eval_studies:
        summary["held_out"] = _evaluate(
            det_path, classifier, load_studies(args.eval_studies, det_config.input_size), cls_config
        )
    print(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
