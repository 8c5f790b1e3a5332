"""Per-hip crops: a square of fixed physical size around a femoral head, resampled to the model's grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from inference.preprocess import scale_to_unit

__all__ = ["HipCrop", "normalise_crop", "NORMALISATION"]

NORMALISATION = "per-crop: scaled to [0, 1] between the crop's 0.5th and 99.5th percentiles, clipped"


@dataclass(frozen=True)
class HipCrop:
    """A square crop `side_mm` wide centred on (row, col) of a slice with `pixel_spacing` (row, col) in mm."""

    center_rc: tuple[float, float]  # source pixel coordinates of the crop centre (row, column)
    side_mm: float
    size: int  # crop grid is size x size
    pixel_spacing: tuple[float, float]

    def _scale(self) -> tuple[float, float]:
        """Source pixels per crop pixel along rows and columns."""
        step = self.side_mm / self.size
        return step / self.pixel_spacing[0], step / self.pixel_spacing[1]

    def crop(self, image: np.ndarray) -> np.ndarray:
        """Bilinear resample of `image` onto the crop grid; outside the image reads the image minimum."""
        sr, sc = self._scale()
        centre = (self.size - 1) / 2
        grid = np.arange(self.size, dtype=np.float64) - centre
        rows = self.center_rc[0] + grid * sr
        cols = self.center_rc[1] + grid * sc
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        return ndimage.map_coordinates(
            image.astype(np.float32, copy=False), [rr, cc], order=1, mode="constant", cval=float(image.min())
        ).astype(np.float32)

    def uncrop(self, crop_values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Bilinear resample of a crop-grid map back onto the source grid `shape`; 0 outside the crop."""
        sr, sc = self._scale()
        centre = (self.size - 1) / 2
        rows = (np.arange(shape[0], dtype=np.float64) - self.center_rc[0]) / sr + centre
        cols = (np.arange(shape[1], dtype=np.float64) - self.center_rc[1]) / sc + centre
        # Only source pixels within a crop pixel of the crop can read anything but 0: resample just that window
        # (the crop is a small part of the slice, and the full-slice resample was most of this call's time).
        row_hits = np.nonzero((rows > -1) & (rows < self.size))[0]
        col_hits = np.nonzero((cols > -1) & (cols < self.size))[0]
        out = np.zeros(shape, dtype=np.float32)
        if not len(row_hits) or not len(col_hits):
            return out
        r0, r1, c0, c1 = row_hits[0], row_hits[-1] + 1, col_hits[0], col_hits[-1] + 1
        rr, cc = np.meshgrid(rows[r0:r1], cols[c0:c1], indexing="ij")
        out[r0:r1, c0:c1] = ndimage.map_coordinates(
            crop_values.astype(np.float32), [rr, cc], order=1, mode="constant", cval=0.0
        )
        return out


def normalise_crop(crop: np.ndarray) -> np.ndarray:
    """Crop intensities scaled to [0, 1] between its 0.5th and 99.5th percentiles (the model's input)."""
    return scale_to_unit(crop)
