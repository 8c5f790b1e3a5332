"""Model-input preprocessing as the model's meta specifies it, in a plain numpy reference implementation.

Chain (identical in the DALI pipeline, `inference.dali_preprocess`): intensity scaling of the modality image
to [0, 1] between its 0.5th and 99.5th percentiles (clipped; padding pixels, PixelPaddingValue, are left out of
the percentiles and set to 0) — or, for a model whose meta says intensity "voi", the presentation values the
decoder hands over, already in [0, 1] — then bilinear resize with pixel-centre alignment
(torch `align_corners=False`, no antialiasing), grey replicated to `channels`, per-channel (x - mean) / std,
NCHW float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inference.model_meta import ClassifierMeta, DetectorMeta

__all__ = [
    "PreprocessSpec",
    "intensity_window",
    "scale_to_unit",
    "resize_bilinear",
    "preprocess_reference",
]

PERCENTILES = (0.5, 99.5)
INTENSITIES = ("percentile", "voi")  # "voi": images arrive as presentation values in [0, 1], not scaled here


@dataclass(frozen=True)
class PreprocessSpec:
    """What a model expects: input size (H, W), channel count, normalisation, intensity scaling method."""

    size: tuple[int, int]
    mean: Sequence[float]
    std: Sequence[float]
    channels: int = 3
    intensity: str = "percentile"

    def __post_init__(self) -> None:
        if self.intensity not in INTENSITIES:
            raise ValueError(f"intensity scaling {self.intensity!r} is not supported (expected one of {INTENSITIES})")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"mean/std need {self.channels} values, got {list(self.mean)} / {list(self.std)}")

    @classmethod
    def from_meta(cls, meta: ClassifierMeta | DetectorMeta) -> PreprocessSpec:
        """The spec a model's contract declares."""
        return cls(
            size=meta.input_size,
            mean=meta.normalisation.mean,
            std=meta.normalisation.std,
            channels=meta.channels,
            intensity=meta.normalisation.intensity,
        )


def intensity_window(image: np.ndarray, padding: np.ndarray | None = None) -> tuple[float, float]:
    """The (low, high) percentiles used for scaling, padding left out; high > low even for a flat image."""
    values = image if padding is None or padding.all() else image[~padding]
    low, high = np.percentile(values, PERCENTILES)
    return float(low), float(max(high, low + 1e-6))


def scale_to_unit(image: np.ndarray, padding: np.ndarray | None = None) -> np.ndarray:
    """The image scaled to [0, 1] between its `intensity_window` percentiles, clipped, padding 0, float32."""
    low, high = intensity_window(image, padding)
    scaled = np.clip((image.astype(np.float32) - np.float32(low)) / np.float32(high - low), 0.0, 1.0)
    if padding is not None:
        scaled[padding] = 0.0
    return scaled


def _axis_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights for one axis, pixel centres aligned (align_corners=False)."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


def resize_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2D float32 image to `size` (H, W), no antialiasing."""
    r0, r1, wr = _axis_weights(image.shape[0], size[0])
    c0, c1, wc = _axis_weights(image.shape[1], size[1])
    top = image[r0][:, c0] * (1 - wc) + image[r0][:, c1] * wc
    bottom = image[r1][:, c0] * (1 - wc) + image[r1][:, c1] * wc
    return (top * (1 - wr[:, None]) + bottom * wr[:, None]).astype(np.float32)


def preprocess_reference(
    images: Sequence[np.ndarray], spec: PreprocessSpec, paddings: Sequence[np.ndarray | None] | None = None
) -> np.ndarray:
    """The reference implementation: images (2D modality values, optional padding masks) → (N, C, H, W) float32."""
    mean = np.asarray(spec.mean, np.float32)[:, None, None]
    std = np.asarray(spec.std, np.float32)[:, None, None]
    out = np.empty((len(images), spec.channels, *spec.size), np.float32)
    for i, image in enumerate(images):
        unit = image if spec.intensity == "voi" else scale_to_unit(image, paddings[i] if paddings else None)
        resized = resize_bilinear(unit.astype(np.float32, copy=False), spec.size)
        out[i] = (resized[None] - mean) / std
    return out
