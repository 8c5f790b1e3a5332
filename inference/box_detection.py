"""Fragment detection at inference: a RetinaNet (TorchScript or eager) wrapped by MONAI's detector, plus the crop.

Everything geometric (anchor shapes, feature-map strides, score threshold, NMS, detections per image) is read
from the model's meta under ``"detector"``, written there at training time, so training and inference cannot
drift apart. MONAI's box convention indexes the first spatial axis as ``x``; our boxes use x = column, so images
go to the network as (B, C, W, H) (see `to_detector_layout`) and boxes come back in xyxy pixel coordinates with
x = column, y = row, continuous (pixel i spans [i, i + 1)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.apps.detection.networks.retinanet_detector import RetinaNetDetector
from monai.apps.detection.utils.anchor_utils import AnchorGeneratorWithAnchorShape
from torch import nn

__all__ = [
    "DETECTOR_META_KEY",
    "anchor_generator_from_meta",
    "to_detector_layout",
    "detector_from_meta",
    "detect_boxes",
    "crop_fragment",
    "crop_window",
]

DETECTOR_META_KEY = "detector"


def anchor_generator_from_meta(detector_meta: dict[str, Any]) -> AnchorGeneratorWithAnchorShape:
    """Anchors (w, h) at the finest FPN level, scaled by each level's stride relative to the finest."""
    strides = [int(s) for s in detector_meta["feature_map_strides"]]
    scales = [s / strides[0] for s in strides]
    shapes = [[float(v) for v in shape] for shape in detector_meta["base_anchor_shapes"]]
    return AnchorGeneratorWithAnchorShape(feature_map_scales=scales, base_anchor_shapes=shapes, indexing="ij")


def to_detector_layout(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (B, C, W, H): MONAI's first box coordinate then runs along columns, i.e. our x."""
    return images.transpose(-1, -2).contiguous()


def detector_from_meta(network: torch.jit.ScriptModule | nn.Module, meta: dict[str, Any]) -> RetinaNetDetector:
    """A RetinaNetDetector (eval mode) around `network`, with anchors and box selection from meta["detector"]."""
    geometry = meta[DETECTOR_META_KEY]
    detector = RetinaNetDetector(
        network=network,
        anchor_generator=anchor_generator_from_meta(geometry),
        spatial_dims=2,
        num_classes=1,
        size_divisible=int(max(geometry["feature_map_strides"])),
    )
    detector.set_box_selector_parameters(
        score_thresh=float(geometry["score_thresh"]),
        topk_candidates_per_level=int(geometry["topk_candidates_per_level"]),
        nms_thresh=float(geometry["nms_thresh"]),
        detections_per_img=int(geometry["detections_per_img"]),
    )
    return detector.eval()


@torch.inference_mode()
def detect_boxes(detector: RetinaNetDetector, images: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
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


def crop_window(box: Sequence[float], margin: float) -> tuple[float, float, float]:
    """The square a fragment's crop covers: centre (x, y) and side, side = max(w, h) * (1 + margin)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0, 1.0) * (1.0 + margin)
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, side


def crop_fragment(image: np.ndarray, box: Sequence[float], size: int, margin: float) -> np.ndarray:
    """Square crop (size, size) centred on `box` (xyxy), side = max(w, h) * (1 + margin), zeros outside the image.

    Sampled bilinearly at the exact (fractional) crop geometry, so training crops and app crops agree to the
    pixel whatever the source resolution.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"Expected a 2D image; got shape {image.shape}")
    cx, cy, side = crop_window(box, margin)
    height, width = image.shape
    # Output pixel j samples the continuous point start + (j + 0.5) * side / size; grid_sample's normalised
    # coordinates (align_corners=False) map the image's outer edges [0, W] to [-1, 1].
    steps = (torch.arange(size, dtype=torch.float64) + 0.5) * (side / size) - side / 2.0
    gx = (2.0 * (cx + steps) / width - 1.0).float()
    gy = (2.0 * (cy + steps) / height - 1.0).float()
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
    crop = F.grid_sample(
        torch.from_numpy(image)[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return crop[0, 0].numpy()
