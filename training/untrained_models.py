"""Seeded random-weight models with the apps' real contracts: pipeline test fixtures and benchmark timing models.

They are never shipped and never called trained: `purpose` goes into the meta's training.data, and the meta
says demo, so every output made with one carries the demo banner.
"""

from __future__ import annotations

from pathlib import Path

import torch

from training.classifier_cam import build_resnet_classifier
from training.export import export_torchscript
from training.train_classifier import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["export_untrained_classifier", "export_untrained_segmenter"]


def export_untrained_classifier(
    models_dir: Path, name: str, *, purpose: str, depth: int = 18, input_size: int = 64, seed: int = 0
) -> Path:
    """A random-weight ResNet CAM classifier with the olt_mri contract, exported as `name`."""
    torch.manual_seed(seed)
    model = build_resnet_classifier(depth=depth)
    meta = {
        "name": name,
        "version": "0.0.0-untrained",
        "task": "classification",
        "labels": ["no_olt", "olt"],
        "positive_index": 1,
        "threshold": 0.5,
        "input_size": [input_size, input_size],
        "channels": 3,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "intensity": "percentile",
        "outputs": ["probabilities", "cam"],
        "training": {"data": purpose},
        "demo": True,
    }
    return export_torchscript(model, models_dir / name / f"{name}.ts", meta)


def export_untrained_segmenter(
    models_dir: Path,
    name: str = "onfh_mri_femoral_head",
    *,
    purpose: str,
    input_size: int = 256,
    channels: tuple[int, ...] = (4, 8, 16, 32),
    seed: int = 0,
) -> Path:
    """A random-weight plain U-Net with the onfh_mri contract (crop_mm, logits output), exported as `name`."""
    from apps.onfh_mri.hip_crop import NORMALISATION
    from training.onfh_models import CROP_MM
    from training.train_segmenter import SegmenterConfig, build_segmenter, segmenter_meta

    torch.manual_seed(seed)
    config = SegmenterConfig(
        name=name,
        variant="plain",
        input_size=input_size,
        channels=channels,
        crop_mm=CROP_MM,
        normalisation=NORMALISATION,
    )
    meta = {
        **segmenter_meta(config, {}),
        "version": "0.0.0-untrained",
        "training": {"data": purpose},
        "demo": True,
    }
    return export_torchscript(build_segmenter(config), models_dir / name / f"{name}.ts", meta)
