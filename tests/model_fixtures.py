"""Small untrained models with the real contracts, for pipeline tests (never shipped, never called trained)."""

from __future__ import annotations

from pathlib import Path

import torch

from inference.model_meta import DetectorGeometry
from training.export import export_torchscript
from training.untrained_models import export_untrained_classifier, export_untrained_segmenter

__all__ = [
    "export_fixture_classifier",
    "export_fixture_segmenter",
    "export_fixture_fragment_models",
    "small_detector_geometry",
]

FIXTURE = "TEST FIXTURE: random weights, untrained"


def small_detector_geometry(
    strides: tuple[int, ...] = (8,), shapes: tuple[tuple[float, float], ...] = ((8.0, 8.0),)
) -> DetectorGeometry:
    """A detector geometry for hand-made heads: score > 0.5, top 10 per level, NMS 0.3, 3 per image."""
    return DetectorGeometry(
        feature_map_strides=strides,
        base_anchor_shapes=shapes,
        score_thresh=0.5,
        topk_candidates_per_level=10,
        nms_thresh=0.3,
        detections_per_img=3,
    )


def export_fixture_classifier(models_dir: Path, name: str, seed: int = 0, input_size: int = 64) -> Path:
    """A seeded random-weight ResNet18 CAM classifier exported as `name`, meta saying it is a test fixture."""
    return export_untrained_classifier(models_dir, name, purpose=FIXTURE, depth=18, input_size=input_size, seed=seed)


def export_fixture_segmenter(models_dir: Path, name: str = "onfh_mri_femoral_head", seed: int = 0) -> Path:
    """A seeded random-weight small U-Net with the onfh contract (crop_mm, logits output), a test fixture."""
    return export_untrained_segmenter(models_dir, name, purpose=FIXTURE, seed=seed)


def export_fixture_fragment_models(models_dir: Path, seed: int = 0) -> tuple[Path, Path]:
    """Seeded random-weight ankle_xray detector and classifier with the real contracts, test fixtures.

    The detector's score threshold is 0 so that random weights still produce boxes for the pipeline to carry.
    """
    from dataclasses import replace

    from training.fragment_detector import DetectorConfig, build_fragment_detector_network
    from training.mobilenet_v2 import build_mobilenet_v2
    from training.train_fragments import ClassifierConfig, classifier_meta, detector_meta

    torch.manual_seed(seed)
    config = replace(DetectorConfig(), channels=(8, 16, 16, 16), fpn_channels=16, score_thresh=0.0, input_size=128)
    fixture = FIXTURE
    detector = export_torchscript(
        build_fragment_detector_network(config),
        models_dir / "ankle_xray_detector" / "ankle_xray_detector.ts",
        {**detector_meta(config, "ankle_xray_detector", "0.0.0-test", fixture, True)},
    )
    classifier_config = ClassifierConfig(width_mult=0.25)
    classifier = export_torchscript(
        build_mobilenet_v2(1, classifier_config.width_mult, 2, classifier_config.output_stride),
        models_dir / "ankle_xray_classifier" / "ankle_xray_classifier.ts",
        classifier_meta(classifier_config, "mobilenet_v2", "ankle_xray_classifier", "0.0.0-test", fixture, True),
    )
    return detector, classifier
