"""Box detection at inference: a RetinaNet (TorchScript or eager) and its box selection (`RetinaNetBoxes`, which
does what MONAI's RetinaNetDetector does in eval mode without importing MONAI; training keeps MONAI's detector,
built by training.fragment_detector.build_detector, and `detect_boxes` takes either).

Everything geometric (anchor shapes, feature-map strides, score threshold, NMS, detections per image) is read
from the model's contract (`DetectorMeta.detector`), written there at training time, so training and inference
cannot drift apart. MONAI's box convention indexes the first spatial axis as ``x``; our boxes use x = column, so images
go to the network as (B, C, W, H) (see `to_detector_layout`) and boxes come back in xyxy pixel coordinates with
x = column, y = row, continuous (pixel i spans [i, i + 1)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from inference.model_meta import DetectorGeometry
from inference.retinanet_boxes import RetinaNetBoxes
from inference.square_crop import CropClassification

if TYPE_CHECKING:
    from monai.apps.detection.networks.retinanet_detector import RetinaNetDetector

__all__ = [
    "DETECTOR_META_KEY",
    "Detection",
    "to_detector_layout",
    "box_detector",
    "detect_boxes",
    "to_source_box",
    "detect_source_boxes",
]

DETECTOR_META_KEY = "detector"


@dataclass
class Detection:
    """One detected object on one image of a series, in that image's pixel coordinates (x = column).

    `classification` is set when a second stage classified the crop around the box.
    """

    image_index: int  # index into the series' instances / pixels
    box: tuple[float, float, float, float]  # x0, y0, x1, y1, continuous pixel coordinates
    score: float  # detector confidence
    classification: CropClassification | None = None


def to_detector_layout(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (B, C, W, H): MONAI's first box coordinate then runs along columns, i.e. our x."""
    return images.transpose(-1, -2).contiguous()


def box_detector(network: torch.jit.ScriptModule | nn.Module, geometry: DetectorGeometry) -> RetinaNetBoxes:
    """The app's detector: `network` plus the anchors and box selection of `geometry` (no MONAI import)."""
    return RetinaNetBoxes(network, geometry).eval()


@torch.inference_mode()
def detect_boxes(
    detector: RetinaNetBoxes | RetinaNetDetector, images: torch.Tensor
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Boxes (N, 4) xyxy (x = column) and scores (N,) per image of a (B, 1, H, W) batch, highest score first."""
    if images.ndim != 4:
        raise ValueError(f"Expected images (B, C, H, W); got shape {tuple(images.shape)}")
    detector.eval()
    outputs = detector(to_detector_layout(images.float()))
    results = []
    for out in outputs:
        boxes = out[detector.target_box_key].detach().float().cpu().numpy().reshape(-1, 4)
        scores = out[detector.pred_score_key].detach().float().cpu().numpy().reshape(-1)
        order = np.argsort(-scores, kind="stable")
        results.append((boxes[order].astype(np.float32), scores[order].astype(np.float32)))
    return results


def to_source_box(
    box: tuple[float, float, float, float], input_size: tuple[int, int], source_shape: tuple[int, int]
) -> tuple[float, float, float, float]:
    """A box on the resized model input (H, W) mapped back to the source image (rows, columns)."""
    sx, sy = source_shape[1] / input_size[1], source_shape[0] / input_size[0]
    x0, y0, x1, y1 = box
    clip_x, clip_y = float(source_shape[1]), float(source_shape[0])
    return (
        min(max(x0 * sx, 0.0), clip_x),
        min(max(y0 * sy, 0.0), clip_y),
        min(max(x1 * sx, 0.0), clip_x),
        min(max(y1 * sy, 0.0), clip_y),
    )


def detect_source_boxes(
    detector: RetinaNetBoxes | RetinaNetDetector,
    batch: torch.Tensor,
    input_size: tuple[int, int],
    source_shapes: list[tuple[int, int]],
    batch_size: int,
) -> list[Detection]:
    """Detections on every image of a preprocessed batch (run `batch_size` at a time), boxes in source pixels."""
    found: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(0, batch.shape[0], batch_size):
        found += detect_boxes(detector, batch[start : start + batch_size])
    return [
        Detection(index, to_source_box(tuple(map(float, box)), input_size, source_shapes[index]), float(score))
        for index, (boxes, scores) in enumerate(found)
        for box, score in zip(boxes, scores, strict=True)
    ]
