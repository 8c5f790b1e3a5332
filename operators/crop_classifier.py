"""Operator: classifies a crop around each detection with a CAM classifier (probabilities + saliency)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.deploy.core import Fragment

from operators.fragment_detection import crop_fragment
from operators.model_store import ModelStore
from operators.preprocess import scale_to_unit
from operators.study_stage import StudyStageOperator
from operators.study_work import StudyWork

__all__ = ["CropClassifierOperator", "crop_model_input"]

logger = logging.getLogger(__name__)


def crop_model_input(unit_image: np.ndarray, box: Sequence[float], meta: dict[str, Any]) -> np.ndarray:
    """(C, S, S) float32 classifier input for one box of `scale_to_unit(pixels)`: crop, then normalise.

    The window is the whole radiograph's, computed once per image by the caller however many boxes it has.
    Training calls this too, so the crop a model learns on and the crop it is applied to can't drift apart.
    """
    size = int(meta["input_size"][0])
    crop = crop_fragment(unit_image, box, size, float(meta["crop"]["margin"])).astype(np.float32)
    channels = int(meta.get("channels", 1))
    mean = np.asarray(meta["mean"], np.float32)[:, None, None]
    std = np.asarray(meta["std"], np.float32)[:, None, None]
    return ((np.repeat(crop[None], channels, axis=0) - mean) / std).astype(np.float32)


class CropClassifierOperator(StudyStageOperator):
    """Sets `probabilities` and `saliency` on every detection, from model `model_name` on its crop.

    Named input:
        detections: StudyWork whose series_images carry detections and decoded pixels.
    Named output:
        classified_detections: the same StudyWork.
    """

    INPUT = "detections"
    OUTPUT = "classified_detections"
    STAGE = "inference"

    def __init__(
        self, fragment: Fragment, *args, model_store: ModelStore, model_name: str, batch_size: int = 16, **kwargs
    ) -> None:
        self._store = model_store
        self._model_name = model_name
        self._batch_size = batch_size
        super().__init__(fragment, *args, **kwargs)

    def process(self, work: StudyWork) -> None:
        model = self._store.get(self._model_name)
        for images in work.series_images:
            if not images.detections:
                continue
            unit = {i: scale_to_unit(images.pixels[i]) for i in {d.image_index for d in images.detections}}
            crops = np.stack([crop_model_input(unit[d.image_index], d.box, model.meta) for d in images.detections])
            outputs = model.predict(torch.from_numpy(crops), batch_size=self._batch_size)
            for i, detection in enumerate(images.detections):
                detection.probabilities = outputs["probabilities"][i].numpy()
                detection.saliency = outputs["cam"][i].numpy()
