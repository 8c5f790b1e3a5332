"""Square crops around detected boxes, the input of a second-stage classifier, and that classifier's pass.

The crop's side is the box's longest side times (1 + margin) (the classifier's `SquareCrop`), sampled
bilinearly from the source-resolution image scaled to [0, 1] by the whole image's window. Training builds its
crops with `crop_model_input` too, so the crop a model learns on and the crop it is applied to can't drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from inference.model_meta import ClassifierMeta
from inference.model_store import LoadedModel
from inference.preprocess import scale_to_unit

__all__ = ["CropClassification", "crop_window", "crop_square", "crop_model_input", "crop_inputs", "classify_crops"]

Box = Sequence[float]


@dataclass(frozen=True)
class CropClassification:
    """A classifier's class probabilities for one crop and its class activation map over that crop."""

    probabilities: np.ndarray
    saliency: np.ndarray


def crop_window(box: Sequence[float], margin: float) -> tuple[float, float, float]:
    """The square a crop around a box covers: centre (x, y) and side, side = max(w, h) * (1 + margin)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0, 1.0) * (1.0 + margin)
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, side


def crop_square(image: np.ndarray, box: Sequence[float], size: int, margin: float) -> np.ndarray:
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


def crop_model_input(unit_image: np.ndarray, box: Box, meta: ClassifierMeta) -> np.ndarray:
    """(C, S, S) float32 classifier input for one box of `scale_to_unit(pixels)`: crop, then normalise."""
    if meta.crop is None:
        raise ValueError(f"model {meta.name!r} is not a crop classifier (its meta has no 'crop')")
    crop = crop_square(unit_image, box, meta.input_size[0], meta.crop.margin).astype(np.float32)
    mean = np.asarray(meta.normalisation.mean, np.float32)[:, None, None]
    std = np.asarray(meta.normalisation.std, np.float32)[:, None, None]
    return ((np.repeat(crop[None], meta.channels, axis=0) - mean) / std).astype(np.float32)


def crop_inputs(
    pixels: Sequence[np.ndarray],
    boxes: Sequence[tuple[int, Box]],
    meta: ClassifierMeta,
    paddings: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """The classifier input for each (image index, box): each image's [0, 1] window (padding left out) once."""
    indices = sorted({index for index, _ in boxes})
    unit = {index: scale_to_unit(pixels[index], paddings[index] if paddings else None) for index in indices}
    return np.stack([crop_model_input(unit[index], box, meta) for index, box in boxes])


def classify_crops(model: LoadedModel[ClassifierMeta], crops: np.ndarray, batch_size: int) -> list[CropClassification]:
    """One CropClassification per crop: the model's "probabilities" and "cam" outputs."""
    outputs = model.predict(torch.from_numpy(crops), batch_size=batch_size)
    return [
        CropClassification(probabilities=outputs["probabilities"][i].numpy(), saliency=outputs["cam"][i].numpy())
        for i in range(len(crops))
    ]
