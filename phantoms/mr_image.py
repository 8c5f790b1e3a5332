"""What every MR phantom shares: plane orientations, acquisition parameters and the image formation."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from phantoms.dicom_headers import MRAcquisition

__all__ = ["ORIENTATION", "AcquisitionRow", "mr_acquisition", "render_magnitude"]

# ImageOrientationPatient (row direction, column direction, LPS) per plane.
ORIENTATION: dict[str, tuple[float, ...]] = {
    "axial": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "coronal": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
    "sagittal": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
}
# ScanningSequence, SequenceVariant, TR range (ms), TE range (ms), echo train length, flip angle.
AcquisitionRow = tuple[str, str, tuple[float, float], tuple[float, float], int, float]
_BLUR_PX = 0.6  # MR point-spread: soft edges instead of aliased ones


def mr_acquisition(
    row: AcquisitionRow, contrast: str, localizer: bool, rng: np.random.Generator, field_strength: float
) -> MRAcquisition:
    """A series' acquisition parameters from its contrast's table row, TR and TE drawn within their ranges."""
    sequence, variant, tr, te, echo_train, flip = row
    return MRAcquisition(
        scanning_sequence=sequence,
        sequence_variant=variant,
        repetition_time_ms=round(float(rng.uniform(*tr)), 1),
        echo_time_ms=round(float(rng.uniform(*te)), 1),
        echo_train_length=echo_train,
        flip_angle_deg=flip,
        field_strength_t=field_strength,
        fat_sat=contrast.endswith("FS"),
        localizer=localizer,
    )


def render_magnitude(labels: np.ndarray, table: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Magnitude image from tissue labels: blur, smooth coil shading, Rician noise."""
    signal = gaussian_filter(table.astype(np.float32)[labels], _BLUR_PX)
    rows, cols = signal.shape
    yy = (np.arange(rows, dtype=np.float32)[:, None] / max(rows, cols)) - 0.5
    xx = (np.arange(cols, dtype=np.float32)[None, :] / max(rows, cols)) - 0.5
    tilt = rng.uniform(-0.15, 0.15, 3)
    signal *= 1.0 + tilt[0] * xx + tilt[1] * yy - abs(tilt[2]) * (xx**2 + yy**2)
    real = signal + np.float32(noise) * rng.standard_normal(signal.shape, dtype=np.float32)
    return np.hypot(real, np.float32(noise) * rng.standard_normal(signal.shape, dtype=np.float32))
