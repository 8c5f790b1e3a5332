"""Per-hip regions of an axial T1 series: where each femoral head is, its crops for the U-Net, its mask back.

The locator and the crops feed one batched forward pass over both hips; `head_mask` maps that pass's
probabilities for one hip back onto the source grid. The app's operators and the benchmark's model floor
both build their inputs here, so the floor times exactly what the app runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from apps.onfh_mri.hip_crop import HipCrop, normalise_crop
from apps.onfh_mri.hip_locator import HeadLocation, locate_femoral_heads, patient_x_of_columns
from dicom_in.series_decode import DecodedSeries
from inference.model_meta import SegmenterMeta

__all__ = ["HipRegion", "HipPayload", "series_geometry", "series_volume", "hip_regions", "head_mask"]


@dataclass(frozen=True)
class HipRegion:
    """One located femoral head and where its per-slice crops sit in the series' model input."""

    location: HeadLocation
    crop: HipCrop
    first: int  # index of this hip's first crop in the model input (slices of one hip are consecutive)
    count: int


@dataclass
class HipPayload:
    """onfh_mri's own data on a series: the located hips by side ("R"/"L") and, after the U-Net, their masks."""

    regions: dict[str, HipRegion]
    head_masks: dict[str, np.ndarray] = field(default_factory=dict)  # side -> (slices, rows, cols) bool


def series_geometry(images: DecodedSeries) -> tuple[tuple[float, float], np.ndarray]:
    """Pixel spacing (row, col) in mm and the patient x of each column, from the first slice's header."""
    header = images.instances[0].header
    spacing = (float(header.PixelSpacing[0]), float(header.PixelSpacing[1]))
    column_x = patient_x_of_columns(
        list(header.ImageOrientationPatient), list(header.ImagePositionPatient), spacing, int(header.Columns)
    )
    return spacing, column_x


def series_volume(images: DecodedSeries) -> np.ndarray:
    """The series' slices stacked (slices, rows, cols) as float32; slices of different sizes are refused."""
    shapes = {p.shape for p in images.pixels}
    if len(shapes) != 1:
        raise ValueError(f"series {images.selected.series.uid} mixes slice sizes {sorted(shapes)}")
    return np.stack(images.pixels).astype(np.float32)


def hip_regions(
    volume: np.ndarray, spacing: tuple[float, float], column_x: np.ndarray, meta: SegmenterMeta
) -> tuple[dict[str, HipRegion], np.ndarray]:
    """Both heads located and every slice cropped around each: regions by side, crops (n, 1, size, size)."""
    size, side_mm = meta.input_size[0], meta.crop_mm
    regions: dict[str, HipRegion] = {}
    crops: list[np.ndarray] = []
    for side, location in locate_femoral_heads(volume, spacing, column_x).items():
        crop = HipCrop(location.center_rc, side_mm, size, spacing)
        regions[side] = HipRegion(location, crop, first=len(crops), count=len(volume))
        crops += [normalise_crop(crop.crop(plane)) for plane in volume]
    stacked = np.stack(crops)[:, None] if crops else np.zeros((0, 1, size, size), np.float32)
    return regions, stacked


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = ndimage.sum(mask, labels, index=range(1, count + 1))
    return labels == (int(np.argmax(sizes)) + 1)


def head_mask(region: HipRegion, logits: np.ndarray, shape: tuple[int, int], threshold: float) -> np.ndarray:
    """One hip's femoral-head mask (slices, rows, cols) on the source grid from the batch's logits (n, 1, h, w)."""
    own = torch.from_numpy(np.ascontiguousarray(logits[region.first : region.first + region.count, 0]))
    probabilities = torch.sigmoid(own).numpy()
    masks = np.stack([region.crop.uncrop(p, shape) >= threshold for p in probabilities])
    # One head per side: keep the 3D component the locator pointed at (or the largest when it missed).
    labels, _ = ndimage.label(masks)
    location = region.location
    r, c = (int(round(v)) for v in location.center_rc)
    inside = 0 <= r < masks.shape[1] and 0 <= c < masks.shape[2]
    at_centre = labels[location.slice_index, r, c] if inside else 0
    return labels == at_centre if at_centre else _largest_component(masks)
