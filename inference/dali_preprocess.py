"""The DALI preprocessing pipeline (CPU here, GPU when present); same chain as `inference.preprocess`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from nvidia.dali import fn, math, pipeline_def, types

from inference.preprocess import PreprocessSpec, intensity_window

__all__ = ["DaliPreprocessor"]

logger = logging.getLogger(__name__)


class DaliPreprocessor:
    """Scale, resize, replicate and normalise a batch of 2D images with one DALI pipeline built once."""

    def __init__(self, spec: PreprocessSpec, device: str = "cpu", batch_size: int = 32, num_threads: int = 2) -> None:
        self.spec = spec
        self.device = device
        self.batch_size = batch_size
        self._pipe = self._build(num_threads)

    def _build(self, num_threads: int):
        spec, gpu = self.spec, self.device == "cuda"

        # Synchronous, no prefetch: batches are fed one at a time from the operator.
        @pipeline_def(
            batch_size=self.batch_size,
            num_threads=num_threads,
            device_id=0 if gpu else None,
            prefetch_queue_depth=1,
            exec_async=False,
            exec_pipelined=False,
        )
        def pipeline():
            image = fn.external_source(name="image", dtype=types.FLOAT, ndim=3, layout="HWC")
            low = fn.external_source(name="low", dtype=types.FLOAT, ndim=0)
            scale = fn.external_source(name="scale", dtype=types.FLOAT, ndim=0)
            if gpu:
                image = image.gpu()
            scaled = math.clamp((image - low) * scale, 0.0, 1.0)
            resized = fn.resize(
                scaled,
                size=list(spec.size),
                interp_type=types.INTERP_LINEAR,
                antialias=False,
                dtype=types.FLOAT,
            )
            channels = fn.cat(*([resized] * spec.channels), axis=2) if spec.channels > 1 else resized
            return fn.crop_mirror_normalize(
                channels, mean=list(spec.mean), std=list(spec.std), output_layout="CHW", dtype=types.FLOAT
            )

        pipe = pipeline()
        pipe.build()
        return pipe

    def _run(self, images: Sequence[np.ndarray], paddings: Sequence[np.ndarray | None]) -> torch.Tensor:
        if self.spec.intensity == "voi":  # presentation values arrive in [0, 1]
            windows = [(0.0, 1.0)] * len(images)
        else:
            windows = [intensity_window(image, padding) for image, padding in zip(images, paddings, strict=True)]
        self._pipe.feed_input(
            "image",
            [
                _padded_low(im, padding, low)[..., None]
                for im, padding, (low, _) in zip(images, paddings, windows, strict=True)
            ],
        )
        self._pipe.feed_input("low", [np.float32(low) for low, _ in windows])
        # Multiply by 1/(high-low) in float32, as the reference divides in float32: results agree to ~1e-6.
        self._pipe.feed_input("scale", [np.float32(1.0) / np.float32(high - low) for low, high in windows])
        (output,) = self._pipe.run()
        if self.device == "cuda":
            # Hand the GPU batch to torch through DLPack: no host round trip.
            return torch.from_dlpack(output.as_tensor())
        return torch.from_numpy(np.array(output.as_tensor()))

    def __call__(
        self, images: Sequence[np.ndarray], paddings: Sequence[np.ndarray | None] | None = None
    ) -> torch.Tensor:
        """(N, C, H, W) float32 on the pipeline's device; `paddings` as in `preprocess_reference`."""
        if not images:
            return torch.empty((0, self.spec.channels, *self.spec.size))
        masks = list(paddings) if paddings else [None] * len(images)
        step = self.batch_size
        return torch.cat([self._run(images[i : i + step], masks[i : i + step]) for i in range(0, len(images), step)])


def _padded_low(image: np.ndarray, padding: np.ndarray | None, low: float) -> np.ndarray:
    """The image as float32, padding pixels set to the window's low end (0 once scaled, as the reference does)."""
    out = np.ascontiguousarray(image, np.float32)
    if padding is None:
        return out
    out = out.copy()
    out[padding] = np.float32(low)
    return out
