"""Train the femoral-head segmenter (GeoPixelUNet) on per-hip 256x256 T1 crops; export TorchScript + meta.

Protocol (Li et al., ONFH on hip T1 MRI): per-hip crops resized to 256x256 and normalised, a U-Net with
geometric and pixel-level supervision, random 80/20 image split. Here a `val_fraction` of the training images
picks the best epoch (highest validation Dice); a held-out set is scored separately (`--eval-data`).

Augmentation (training images only): small rotation and intensity scale/shift. No left/right flip: the app
mirrors one hip's crop so both hips are seen in the same orientation, and a flip would teach an orientation the
model never meets. Variants: `geo-pixel` (the paper's), `plain` (U-Net baseline), and `geo` / `pixel` (one
extra path each) for the ablation.

Data file (`--data`): an .npz with `images` (N,256,256) float32, already normalised, and `masks` (N,256,256) uint8.
`--synthetic N` instead trains on N generated femoral-head-like discs (a smoke test, not a model to ship).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.transforms import Compose, RandRotated, RandScaleIntensityd, RandShiftIntensityd
from torch import nn
from tqdm import tqdm

from training.export import export_torchscript
from training.femoral_unet import GeoPixelUNet
from training.segmentation_losses import GeoPixelLoss, signed_distance
from training.segmentation_metrics import segmentation_metrics

__all__ = [
    "SegmenterConfig",
    "VARIANTS",
    "build_segmenter",
    "train_segmenter",
    "predict_masks",
    "segmenter_meta",
    "export_segmenter",
    "synthetic_head_crops",
    "normalise_crop",
]

logger = logging.getLogger(__name__)

# Variant name -> (geometric supervision, pixel-level supervision).
VARIANTS = {"geo-pixel": (True, True), "geo": (True, False), "pixel": (False, True), "plain": (False, False)}


@dataclass
class SegmenterConfig:
    """Every hyper-parameter of the segmenter; all of it is written into the exported model's meta."""

    name: str = "onfh_femoral_head"
    version: str = "0.1.0"
    variant: str = "geo-pixel"
    labels: tuple[str, str] = ("background", "femoral_head")
    input_size: int = 256
    crop_mm: float = 100.0  # physical side of the square crop the app cuts around each head
    normalisation: str = "per-crop z-score: (x - mean(x)) / std(x) over the 256x256 crop, float32"
    channels: tuple[int, ...] = (8, 16, 32, 64)
    norm: str = "instance"
    act: str = "RELU"
    dropout: float = 0.0
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    val_fraction: float = 0.15
    dice_weight: float = 1.0
    bce_weight: float = 1.0
    pixel_weight: float = 0.5
    geometric_weight: float = 1.0
    sdf_clip_px: float = 16.0
    rotate_deg: float = 10.0
    intensity_scale: float = 0.1
    intensity_shift: float = 0.1
    aug_prob: float = 0.8
    threshold: float = 0.5
    training_data: str = ""
    demo: bool = False

    @property
    def flags(self) -> tuple[bool, bool]:
        """(geometric, pixel) for this variant."""
        if self.variant not in VARIANTS:
            raise ValueError(f"Unknown variant {self.variant!r}; choose from {sorted(VARIANTS)}")
        return VARIANTS[self.variant]


def normalise_crop(crop: np.ndarray) -> np.ndarray:
    """Per-crop z-score, the normalisation SegmenterConfig.normalisation describes."""
    crop = np.asarray(crop, np.float32)
    return ((crop - crop.mean()) / max(float(crop.std()), 1e-6)).astype(np.float32)


def build_segmenter(config: SegmenterConfig) -> GeoPixelUNet:
    """The network for `config.variant` (plain U-Net when both supervision paths are off)."""
    geometric, pixel = config.flags
    return GeoPixelUNet(
        in_channels=1,
        channels=tuple(config.channels),
        geometric=geometric,
        pixel=pixel,
        norm=config.norm,
        act=config.act,
        dropout=config.dropout,
    )


def _augmenter(config: SegmenterConfig) -> Compose:
    augment = Compose(
        [
            RandRotated(
                keys=["image", "mask"],
                range_x=math.radians(config.rotate_deg),
                prob=config.aug_prob,
                mode=("bilinear", "nearest"),
                padding_mode=("border", "zeros"),
            ),
            RandScaleIntensityd(keys="image", factors=config.intensity_scale, prob=config.aug_prob),
            RandShiftIntensityd(keys="image", offsets=config.intensity_shift, prob=config.aug_prob),
        ]
    )
    augment.set_random_state(seed=config.seed)
    return augment


def _batch(
    images: np.ndarray, masks: np.ndarray, augment: Compose | None, with_sdf: bool, clip_px: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    xs, ys = [], []
    for image, mask in zip(images, masks, strict=True):
        item = {"image": image[None].astype(np.float32), "mask": mask[None].astype(np.float32)}
        if augment is not None:
            item = augment(item)
        xs.append(torch.as_tensor(np.asarray(item["image"]), dtype=torch.float32))
        ys.append((torch.as_tensor(np.asarray(item["mask"])) > 0.5).float())
    x, y = torch.stack(xs), torch.stack(ys)
    # The SDF is computed after augmentation so it matches the rotated mask exactly.
    sdf = torch.from_numpy(np.stack([signed_distance(m[0].numpy(), clip_px)[None] for m in y])) if with_sdf else None
    return x, y, sdf


@torch.no_grad()
def predict_masks(model: nn.Module, images: np.ndarray, batch_size: int, threshold: float) -> np.ndarray:
    """Boolean masks (N,H,W) from `model(x)` logits, sigmoid >= threshold."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size], np.float32))[:, None]
        out.append((torch.sigmoid(model(x))[:, 0] >= threshold).numpy())
    return np.concatenate(out) if out else np.zeros((0, *images.shape[1:]), bool)


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction)) if n > 1 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_segmenter(images: np.ndarray, masks: np.ndarray, config: SegmenterConfig) -> tuple[nn.Module, dict[str, Any]]:
    """Train on (N,256,256) normalised crops and uint8 masks; returns the best-epoch model (eval) and a report."""
    images = np.asarray(images, np.float32)
    masks = (np.asarray(masks) > 0).astype(np.uint8)
    expected = (config.input_size, config.input_size)
    if images.ndim != 3 or images.shape[1:] != expected or masks.shape != images.shape:
        raise ValueError(f"need images and masks (N,{expected[0]},{expected[1]}); got {images.shape} and {masks.shape}")
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    train_idx, val_idx = _split(len(images), config.val_fraction, config.seed)
    model = build_segmenter(config)
    geometric, _ = config.flags
    criterion = GeoPixelLoss(
        dice_weight=config.dice_weight,
        bce_weight=config.bce_weight,
        pixel_weight=config.pixel_weight,
        geometric_weight=config.geometric_weight,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    augment = _augmenter(config)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, Any]] = []
    best: tuple[float, int, dict[str, torch.Tensor] | None] = (-1.0, 0, None)
    for epoch in tqdm(range(config.epochs), desc=f"train {config.name} [{config.variant}]", unit="epoch"):
        started, cpu_started = time.perf_counter(), time.process_time()
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator).numpy()]
        sums: dict[str, float] = {}
        starts = range(0, len(order), config.batch_size)
        for start in tqdm(starts, desc=f"epoch {epoch + 1}", unit="batch", leave=False):
            batch = order[start : start + config.batch_size]
            x, y, sdf = _batch(images[batch], masks[batch], augment, geometric, config.sdf_clip_px)
            optimizer.zero_grad()
            loss, parts = criterion(model.forward_train(x), y, sdf)
            loss.backward()
            optimizer.step()
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value * len(batch)
        record: dict[str, Any] = {"epoch": epoch + 1, **{f"train_{k}": v / len(order) for k, v in sums.items()}}
        if len(val_idx):
            pred = predict_masks(model, images[val_idx], config.batch_size, config.threshold)
            record["val_dice"] = segmentation_metrics(pred, masks[val_idx].astype(bool))["dice"]["mean"]
        record["seconds"] = time.perf_counter() - started
        # CPU time is what a shared, busy machine cannot inflate (at one thread it approximates an idle wall clock).
        record["cpu_seconds"] = time.process_time() - cpu_started
        history.append(record)
        logger.info("epoch %d: %s", epoch + 1, {k: round(v, 4) for k, v in record.items()})
        score = record.get("val_dice", float(epoch))  # without validation images, keep the last epoch
        if score >= best[0]:
            best = (score, epoch + 1, copy.deepcopy(model.state_dict()))
    if best[2] is not None:
        model.load_state_dict(best[2])
    model.eval()
    report = {
        "variant": config.variant,
        "best_epoch": best[1],
        "val_dice": history[best[1] - 1].get("val_dice") if history else None,
        "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)),
        "seconds_per_epoch": float(np.mean([h["seconds"] for h in history])) if history else 0.0,
        "cpu_seconds_per_epoch": float(np.mean([h["cpu_seconds"] for h in history])) if history else 0.0,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "history": history,
    }
    return model, report


def segmenter_meta(config: SegmenterConfig, report: dict[str, Any]) -> dict[str, Any]:
    """The contract embedded in the .ts: input, normalisation, output, threshold, and how it was trained."""
    geometric, pixel = config.flags
    return {
        "name": config.name,
        "version": config.version,
        "task": "segmentation",
        "architecture": (
            f"MONAI residual-unit 2D U-Net, channels {list(config.channels)}; trained with "
            f"geometric (SDF) supervision {'on' if geometric else 'off'} and pixel-level deep supervision "
            f"{'on' if pixel else 'off'}; inference outputs the main head only"
        ),
        "labels": list(config.labels),
        "input_size": [config.input_size, config.input_size],
        "channels": 1,
        "crop_mm": config.crop_mm,
        "normalisation": config.normalisation,
        "outputs": ["logits"],
        "activation": "sigmoid",
        "threshold": config.threshold,
        "training": {
            "config": asdict(config),
            **{k: v for k, v in report.items() if k != "history"},
        },
        "demo": config.demo,
    }


def export_segmenter(model: nn.Module, config: SegmenterConfig, report: dict[str, Any], out_dir: Path) -> Path:
    """Write `<out_dir>/<name>.ts` with the meta of `segmenter_meta`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return export_torchscript(model, out_dir / f"{config.name}.ts", segmenter_meta(config, report))


def synthetic_head_crops(n: int, seed: int, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(images, masks): normalised femoral-head-like discs (bright marrow, dark cortex, some necrosis) in clutter."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((n, size, size), np.float32)
    masks = np.empty((n, size, size), np.uint8)
    for i in range(n):
        radius = rng.uniform(30, 45)
        cy, cx = rng.uniform(size * 0.35, size * 0.65, 2)
        r = np.hypot(yy - cy, xx - cx)
        head = r <= radius
        image = rng.uniform(0.2, 0.45) + 0.05 * rng.standard_normal((size, size))
        # Acetabular roof: a bright marrow arc beyond a dark joint space, so brightness alone does not find the head.
        angle = np.arctan2(yy - cy, xx - cx)
        start = rng.uniform(-np.pi, np.pi)
        arc = ((angle - start) % (2 * np.pi)) < rng.uniform(1.5, 3.0)
        image[arc & (r > radius + 4) & (r < radius + 16)] = rng.uniform(0.7, 0.9)
        for _ in range(rng.integers(2, 5)):  # fat pads elsewhere
            by, bx = rng.uniform(0, size, 2)
            image[np.hypot(yy - by, xx - bx) < rng.uniform(8, 25)] += rng.uniform(0.3, 0.5)
        image[head] = rng.uniform(0.75, 0.95)
        image[head & (r > radius - rng.uniform(2, 4))] = rng.uniform(0.1, 0.2)  # cortex rim
        if rng.random() < 0.5:  # necrotic subchondral region, still part of the head
            ny, nx = cy - radius * 0.45 * np.sin(start), cx - radius * 0.45 * np.cos(start)
            necrotic = head & (np.hypot(yy - ny, xx - nx) < radius * rng.uniform(0.3, 0.6))
            image[necrotic] = rng.uniform(0.2, 0.35)
        image += rng.uniform(0.03, 0.08) * rng.standard_normal((size, size))
        images[i] = normalise_crop(image)
        masks[i] = head
    return images, masks


def main(argv: list[str] | None = None) -> None:
    """CLI: python -m training.train_segmenter --data FILE.npz --out DIR [--variant geo-pixel|plain] [...]."""
    defaults = SegmenterConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help=".npz with images (N,256,256) float32 and masks (N,256,256) uint8")
    source.add_argument("--synthetic", type=int, metavar="N", help="train on N generated discs instead")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--eval-data", type=Path, help=".npz held-out set scored after training (metrics.json)")
    parser.add_argument("--variant", default=defaults.variant, choices=sorted(VARIANTS))
    parser.add_argument("--name", default=defaults.name)
    parser.add_argument("--version", default=defaults.version)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--crop-mm", type=float, default=defaults.crop_mm, help="side of the crops in mm")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--channels", type=int, nargs="+", default=list(defaults.channels))
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction)
    parser.add_argument("--pixel-weight", type=float, default=defaults.pixel_weight)
    parser.add_argument("--geometric-weight", type=float, default=defaults.geometric_weight)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--demo", action="store_true", help="mark the model as demo weights in its meta")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.data:
        with np.load(args.data) as data:
            images, masks = data["images"], data["masks"]
        training_data = str(args.data)
    else:
        images, masks = synthetic_head_crops(args.synthetic, seed=args.seed)
        training_data = f"synthetic_head_crops(n={args.synthetic}, seed={args.seed})"
    config = SegmenterConfig(
        name=args.name,
        version=args.version,
        variant=args.variant,
        channels=tuple(args.channels),
        epochs=args.epochs,
        crop_mm=args.crop_mm,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        val_fraction=args.val_fraction,
        pixel_weight=args.pixel_weight,
        geometric_weight=args.geometric_weight,
        training_data=training_data,
        demo=args.demo,
    )
    model, report = train_segmenter(images, masks, config)
    path = export_segmenter(model, config, report, args.out)
    (args.out / "history.json").write_text(json.dumps(report["history"], indent=1))
    summary = {"model": str(path), "best_epoch": report["best_epoch"], "val_dice": report["val_dice"]}
    summary["seconds_per_epoch"] = round(report["seconds_per_epoch"], 2)
    summary["cpu_seconds_per_epoch"] = round(report["cpu_seconds_per_epoch"], 2)
    if args.eval_data:
        with np.load(args.eval_data) as data:
            pred = predict_masks(model, data["images"], config.batch_size, config.threshold)
            metrics = segmentation_metrics(pred, data["masks"] > 0)
        (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        summary["eval_dice"] = metrics["dice"]["mean"]
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
