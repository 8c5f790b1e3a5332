"""Necrosis inside a segmented femoral head, by an adaptive threshold referenced to the head's own healthy marrow.

Seed 002 picks the threshold "based on the distribution characteristics of the normal bone and necrotic part of the
femoral head". Here, per hip over all its slices (T1: necrotic bone and its demarcating band are dark, fatty marrow
is bright):

1. Interior: each slice's head mask eroded by the cortex, which is as dark as necrosis. A slice cuts the spherical
   cortical shell obliquely towards the poles, so its in-plane width grows there: the erosion is CORTEX_MM times
   sqrt(largest head area / this slice's head area), at most MAX_RIM_FACTOR times CORTEX_MM.
2. Healthy marrow level M: the 75th percentile of the slice's interior (necrosis would have to fill three quarters
   of it to move that), or of the whole hip's interior on a slice with fewer than MIN_REFERENCE_PIXELS.
3. Necrotic cores: interior pixels darker than CORE_FRACTION x M that survive an opening by a 3x3 cross, so a noisy
   pixel or a sliver of partial-volume cortex at the interior's edge is not one. A hip with fewer than
   MIN_CORE_PIXELS core pixels has no necrosis: the reason a healthy head gets none, whatever its gain or noise.
4. Threshold per slice T = (M + N) / 2, N the median of the dark candidates over the hip: halfway between healthy
   and necrotic signal, so the blurred border of a necrotic region is cut where it is half necrotic and the area
   comes out unbiased. Necrosis = the connected regions of interior pixels below T that hold a core.
5. Rim (between the interior and the head's outline): a rim pixel is necrotic when the interior pixel nearest to it
   is necrotic and not on the region's side edge. A subchondral segment reaches the surface; the cortex beside it
   does not, and projecting the side edges outwards would widen the segment along the surface.

A slice with no interior left (a pole) reports no necrosis. The contralateral head is not used: both can be
necrotic, and each head's own marrow is the closer reference (coil shading differs between the two sides).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "HipNecrosis",
    "extract_hip_necrosis",
    "rim_widths",
    "CORTEX_MM",
    "CORE_FRACTION",
    "MARROW_PERCENTILE",
    "MIN_CORE_PIXELS",
    "MIN_REFERENCE_PIXELS",
    "MAX_RIM_FACTOR",
]

CORTEX_MM = 2.0  # femoral-head cortex plus the partial-volume blur around it, where the shell meets the slice square-on
MAX_RIM_FACTOR = 3.0
MARROW_PERCENTILE = 75.0
MIN_REFERENCE_PIXELS = 50
CORE_FRACTION = 0.5
MIN_CORE_PIXELS = 3
_CROSS = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class HipNecrosis:
    """The necrotic mask of one hip (slices, rows, cols), the signal levels it was split between, and why."""

    mask: np.ndarray
    marrow_level: float | None
    necrotic_level: float | None
    reason: str


def rim_widths(head: np.ndarray, pixel_mm: float) -> np.ndarray:
    """Per slice, the cortex width in pixels to erode: wider where the slice cuts the head's shell obliquely."""
    areas = head.reshape(head.shape[0], -1).sum(axis=1).astype(float)
    base = CORTEX_MM / pixel_mm
    widths = np.zeros(len(areas), int)
    present = areas > 0
    factor = np.minimum(np.sqrt(areas.max(initial=0.0) / np.maximum(areas, 1.0)), MAX_RIM_FACTOR)
    widths[present] = np.ceil(base * factor[present]).astype(int)
    return widths


def _interiors(head: np.ndarray, widths: np.ndarray) -> np.ndarray:
    interior = np.zeros_like(head)
    for k, width in enumerate(widths):
        if width > 0:
            interior[k] = ndimage.binary_erosion(head[k], iterations=int(width), border_value=0)
    return interior


def _marrow_levels(volume: np.ndarray, interior: np.ndarray) -> np.ndarray | None:
    """Healthy-marrow signal per slice (the hip's own level where a slice has too little interior)."""
    if int(interior.sum()) < MIN_REFERENCE_PIXELS:
        return None
    hip_level = float(np.percentile(volume[interior], MARROW_PERCENTILE))
    levels = np.full(len(volume), hip_level)
    for k in range(len(volume)):
        if int(interior[k].sum()) >= MIN_REFERENCE_PIXELS:
            levels[k] = float(np.percentile(volume[k][interior[k]], MARROW_PERCENTILE))
    return levels


def _rim_necrosis(head: np.ndarray, interior: np.ndarray, necrotic: np.ndarray) -> np.ndarray:
    """Rim pixels of one slice whose nearest interior pixel is necrotic and not on the region's side edge."""
    # Eroding with the outside of the interior counted as necrotic trims the side edges only, not the outer face.
    inner = ndimage.binary_erosion(necrotic | ~interior, _CROSS) & necrotic
    _, (rows, cols) = ndimage.distance_transform_edt(~interior, return_indices=True)
    return head & ~interior & inner[rows, cols]


def extract_hip_necrosis(volume: np.ndarray, head: np.ndarray, pixel_mm: float) -> HipNecrosis:
    """Necrotic pixels of one hip's head (slices, rows, cols) by the marrow-referenced threshold above."""
    volume = np.asarray(volume, dtype=np.float64)
    head = np.asarray(head, dtype=bool)
    if head.shape != volume.shape:
        raise ValueError(f"volume {volume.shape} and head mask {head.shape} must have one shape")
    if pixel_mm <= 0:
        raise ValueError(f"pixel size must be positive, got {pixel_mm} mm")
    empty = np.zeros_like(head)
    if not head.any():
        return HipNecrosis(empty, None, None, "empty femoral head mask")
    interior = _interiors(head, rim_widths(head, pixel_mm))
    marrow = _marrow_levels(volume, interior)
    if marrow is None:
        return HipNecrosis(empty, None, None, f"under {MIN_REFERENCE_PIXELS} head pixels inside the cortex")
    dark = interior & (volume < CORE_FRACTION * marrow[:, None, None])
    cores = np.stack([ndimage.binary_opening(d, _CROSS) for d in dark])
    hip_marrow = float(np.median(marrow[interior.reshape(len(interior), -1).any(axis=1)]))
    if int(cores.sum()) < MIN_CORE_PIXELS:
        return HipNecrosis(
            empty, hip_marrow, None, f"no necrotic core darker than {CORE_FRACTION:g} x marrow ({hip_marrow:.0f})"
        )
    necrotic_level = float(np.median(volume[dark]))
    mask = empty.copy()
    for k in np.nonzero(cores.reshape(len(cores), -1).any(axis=1))[0]:
        threshold = 0.5 * (marrow[k] + necrotic_level)
        regions, _ = ndimage.label(interior[k] & (volume[k] < threshold))
        kept = np.unique(regions[cores[k]])
        necrotic = np.isin(regions, kept[kept > 0])
        mask[k] = necrotic | _rim_necrosis(head[k], interior[k], necrotic)
    reason = (
        f"necrosis found: marrow {hip_marrow:.0f}, necrotic {necrotic_level:.0f}, "
        f"threshold halfway ({0.5 * (hip_marrow + necrotic_level):.0f})"
    )
    return HipNecrosis(mask, hip_marrow, necrotic_level, reason)
