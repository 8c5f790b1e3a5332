"""Operator: classifies a square crop around each detection with a CAM classifier (probabilities + saliency)."""

from __future__ import annotations

import logging

from holoscan.core import Fragment

from inference.model_meta import ClassifierMeta
from inference.model_store import ModelStore
from inference.square_crop import classify_crops, crop_inputs
from operators.study_stage import StudyStageOperator
from pipeline.study_work import StudyWork

__all__ = ["CropClassifierOperator"]

logger = logging.getLogger(__name__)


class CropClassifierOperator(StudyStageOperator):
    """Sets `classification` on every detection, from model `model_name` on the square crop around it.

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
        model = self._store.get(self._model_name, ClassifierMeta)
        for images in work.series_images:
            if not images.detections:
                continue
            boxes = [(d.image_index, d.box) for d in images.detections]
            crops = crop_inputs(images.pixels, boxes, model.meta, images.padding)
            for detection, result in zip(
                images.detections, classify_crops(model, crops, self._batch_size), strict=True
            ):
                detection.classification = result
