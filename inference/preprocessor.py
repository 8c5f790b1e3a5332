"""The preprocessor an app runs: the DALI pipeline when DALI is there (and not switched off), else the reference."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

import numpy as np
import torch

from inference.preprocess import PreprocessSpec, preprocess_reference

__all__ = ["Preprocessor", "make_preprocessor"]

logger = logging.getLogger(__name__)

# (images, padding masks or None) → model input; see `preprocess_reference`.
Preprocessor = Callable[[Sequence[np.ndarray], Sequence[np.ndarray | None] | None], torch.Tensor]


def make_preprocessor(spec: PreprocessSpec, device: str = "cpu") -> Preprocessor:
    """DALI preprocessing (GPU when device is "cuda"); the numpy reference when DALI is unavailable or off.

    MSK_MAPS_NO_DALI=1 switches DALI off (decode and preprocessing) for the whole process.
    """
    if os.environ.get("MSK_MAPS_NO_DALI") != "1":
        try:
            from inference.dali_preprocess import DaliPreprocessor

            return DaliPreprocessor(spec, device=device)
        except ImportError as exc:
            logger.warning("DALI unavailable (%s); using the numpy reference preprocessing", exc)
    return lambda images, paddings=None: torch.from_numpy(preprocess_reference(images, spec, paddings)).to(device)
