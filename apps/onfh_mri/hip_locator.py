"""Finds both femoral heads on an axial T1 volume: side from the patient geometry, centre by disc matching.

No manual crop (the paper cropped by hand): each half of the body (patient left/right, from
ImageOrientationPatient and ImagePositionPatient, split at the body's centre; only 45-140 mm from it) is
searched for the strongest bright disc with a darker rim — fatty marrow inside the head's cortex and
cartilage — over radii typical of adult femoral heads, on every slice. The best disc gives the head's
centre (in source pixels), radius and slice; crops for the segmentation network are centred there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

__all__ = ["HeadLocation", "locate_femoral_heads", "patient_x_of_columns", "HEAD_RADII_MM"]

logger = logging.getLogger(__name__)

HEAD_RADII_MM = (18.0, 20.0, 22.0, 24.0, 26.0, 28.0)  # adult femoral head radius is ~20-27 mm
RIM_MM = 4.0  # width of the darker ring around the head that the matched filter compares against
WORK_MM = 2.0  # search on a 2 mm grid: fast, and a head is still ~20 pixels across
# Adult femoral head centres lie ~70-110 mm from the midline; searching 45-140 mm keeps the symphysis,
# bladder and sacrum (bright, round-ish marrow and fat) out of the search.
LATERAL_MM = (45.0, 140.0)


@dataclass(frozen=True)
class HeadLocation:
    """Where one femoral head is: side ("R"/"L"), slice index, centre (row, col) in source pixels, radius."""

    side: str
    slice_index: int
    center_rc: tuple[float, float]
    radius_mm: float
    score: float


def patient_x_of_columns(orientation: list[float], position: list[float], spacing: tuple[float, float], cols: int):
    """Patient x (LPS: + is the patient's left) of each column centre along the first row."""
    row_dir = np.asarray(orientation[:3], float)
    return float(position[0]) + np.arange(cols) * float(spacing[1]) * row_dir[0]


def _disc_kernel(radius_px: float, rim_px: float) -> np.ndarray:
    extent = int(np.ceil(radius_px + rim_px)) + 1
    yy, xx = np.mgrid[-extent : extent + 1, -extent : extent + 1]
    dist = np.hypot(yy, xx)
    inside = dist <= radius_px * 0.8  # the cortex itself is dark: compare the marrow core with the rim
    ring = (dist > radius_px) & (dist <= radius_px + rim_px)
    return inside / inside.sum() - ring / ring.sum()


def locate_femoral_heads(
    volume: np.ndarray, spacing: tuple[float, float], column_x: np.ndarray
) -> dict[str, HeadLocation]:
    """Both heads of an axial volume (slices, rows, cols) in modality values; sides missing if not found."""
    low, high = np.percentile(volume, (1, 99))
    # float32 throughout: float64 scalars would promote the whole volume and double this step's time.
    scaled = np.clip((volume - np.float32(low)) / np.float32(max(float(high - low), 1e-6)), 0, 1, dtype=np.float32)
    zoom = (spacing[0] / WORK_MM, spacing[1] / WORK_MM)
    small = np.stack([ndimage.zoom(s, zoom, order=1) for s in scaled])
    body = small > 0.15
    columns_small = np.interp(
        np.arange(small.shape[2]) / zoom[1], np.arange(len(column_x)), column_x
    )  # patient x of each working-grid column
    body_x = float(np.mean(columns_small[np.nonzero(body.any(axis=(0, 1)))[0]])) if body.any() else 0.0
    offset = columns_small - body_x
    lateral = (np.abs(offset) >= LATERAL_MM[0]) & (np.abs(offset) <= LATERAL_MM[1])
    best: dict[str, HeadLocation] = {}
    for radius in HEAD_RADII_MM:
        # A float32 kernel keeps the FFTs in single precision: 1.4x faster, scores within 1e-7, and the same
        # head location on all 66 hips of the benchmark's phantoms.
        kernel = _disc_kernel(radius / WORK_MM, RIM_MM / WORK_MM).astype(np.float32)
        # All slices in one call: the per-slice loop cost a third of the app's time per study.
        response = signal.fftconvolve(small, kernel[None], mode="same", axes=(1, 2))
        for side, columns in (("R", lateral & (offset < 0)), ("L", lateral & (offset > 0))):
            masked = np.where(columns[None, None, :], response, -np.inf)
            k, r, c = np.unravel_index(int(np.argmax(masked)), masked.shape)  # first maximum: lowest slice wins
            score = float(masked[k, r, c])
            if side not in best or score > best[side].score:
                best[side] = HeadLocation(side, int(k), (r / zoom[0], c / zoom[1]), radius, score)
    found = {side: loc for side, loc in best.items() if loc.score > 0.1}
    for side in set(best) - set(found):
        logger.info("No femoral head found on the %s side (best disc contrast %.2f)", side, best[side].score)
    return found
