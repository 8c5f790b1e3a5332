"""Untrained models at the papers' input sizes, to time the pipeline against a model floor of realistic size.

The demo models are trained on phantoms at small inputs (olt_mri ResNet50 at 64x64, onfh_mri U-Net at
128x128), so their floors are a few milliseconds per image and any pipeline overhead dominates the ratio.
The papers ran ResNet50 at 224x224 and the U-Net at 256x256; these random-weight models have exactly those
shapes and the apps' contracts. Their findings mean nothing (the benchmark only compares them run against
run); only their time does.
"""

from __future__ import annotations

from pathlib import Path

from training.untrained_models import export_untrained_classifier, export_untrained_segmenter

__all__ = ["export_paper_size_models", "PAPER_SIZE_APPS"]

PURPOSE = "BENCHMARK TIMING MODEL: random weights at the paper's input size, untrained; its findings mean nothing"
PAPER_SIZE_APPS = ("olt_mri", "onfh_mri")  # ankle_xray's detector is not the paper's network, so no claim there


def export_paper_size_models(models_dir: Path) -> Path:
    """olt_mri's two ResNet50s at 224x224 and onfh_mri's U-Net at 256x256 (demo channels) into `models_dir`."""
    for seed, name in enumerate(("olt_mri_t1", "olt_mri_t2")):
        export_untrained_classifier(models_dir, name, purpose=PURPOSE, depth=50, input_size=224, seed=seed)
    export_untrained_segmenter(models_dir, purpose=PURPOSE, input_size=256, channels=(8, 16, 32, 64))
    return models_dir
