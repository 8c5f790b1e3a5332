"""One hip's measurement: necrosis on every slice of its head mask, the key slice, the ratios and the grade."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.onfh_mri.grading import Grade, grade_from_counts, necrosis_percent
from apps.onfh_mri.necrosis import extract_hip_necrosis

__all__ = ["HipResult", "measure_hip", "MIN_HEAD_PIXELS", "SIDE_NAMES"]

MIN_HEAD_PIXELS = 20  # a slice grazing the head's pole has too few pixels for a meaningful threshold
SIDE_NAMES = {"R": "Right", "L": "Left"}


@dataclass
class HipResult:
    """One hip's measurements: key slice (largest head area) counts, volume counts, grade."""

    side: str
    key_index: int
    head_pixels: int
    necrosis_pixels: int
    head_pixels_volume: int
    necrosis_pixels_volume: int
    necrosis: np.ndarray  # (slices, rows, cols) bool
    grade: Grade
    threshold_reason: str

    @property
    def name(self) -> str:
        """ "Right" or "Left"."""
        return SIDE_NAMES[self.side]

    @property
    def ratio_percent(self) -> float:
        return float(necrosis_percent(self.necrosis_pixels, self.head_pixels))

    @property
    def volume_ratio_percent(self) -> float:
        return float(necrosis_percent(self.necrosis_pixels_volume, self.head_pixels_volume))


def measure_hip(side: str, volume: np.ndarray, head: np.ndarray, pixel_mm: float) -> HipResult | None:
    """Necrosis in the head (threshold referenced to its healthy marrow), key slice = largest head area, grade."""
    areas = head.reshape(head.shape[0], -1).sum(axis=1)
    if areas.max() < MIN_HEAD_PIXELS:
        return None
    measured = head & (areas >= MIN_HEAD_PIXELS)[:, None, None]
    found = extract_hip_necrosis(volume, measured, pixel_mm)
    necrosis = found.mask
    key = int(np.argmax(areas))
    head_px, necrosis_px = int(areas[key]), int(necrosis[key].sum())
    return HipResult(
        side=side,
        key_index=key,
        head_pixels=head_px,
        necrosis_pixels=necrosis_px,
        head_pixels_volume=int(areas.sum()),
        necrosis_pixels_volume=int(necrosis.sum()),
        necrosis=necrosis,
        grade=grade_from_counts(necrosis_px, head_px),
        threshold_reason=found.reason,
    )
