"""Operator: runs a box detector (TorchScript RetinaNet + its contract) over each series' images.

The box selection is inference.retinanet_boxes (torch only): importing MONAI would import all of it, seconds of
start-up for a process per study.
"""

from __future__ import annotations

import logging

import torch
from holoscan.core import Fragment

from inference.box_detection import box_detector, detect_source_boxes
from inference.model_meta import DetectorMeta
from inference.model_store import LoadedModel, ModelStore
from inference.retinanet_boxes import RetinaNetBoxes
from operators.study_stage import StudyStageOperator
from pipeline.study_work import StudyWork

__all__ = ["BoxDetectionOperator"]

logger = logging.getLogger(__name__)


class BoxDetectionOperator(StudyStageOperator):
    """Fills each series' `detections` (boxes in source-image pixels, scores) from its detector model.

    Named input:
        model_inputs: StudyWork whose series_images carry model_input tensors for a detector model.
    Named output:
        detections: the same StudyWork with `detections` filled (model_input released).
    """

    INPUT = "model_inputs"
    OUTPUT = "detections"
    STAGE = "inference"

    def __init__(self, fragment: Fragment, *args, model_store: ModelStore, batch_size: int = 8, **kwargs) -> None:
        self._store = model_store
        self._batch_size = batch_size
        self._detectors: dict[str, RetinaNetBoxes] = {}
        super().__init__(fragment, *args, **kwargs)

    def _detector(self, model: LoadedModel[DetectorMeta]) -> RetinaNetBoxes:
        if model.name not in self._detectors:
            self._detectors[model.name] = box_detector(model.module, model.meta.detector)
        return self._detectors[model.name]

    @torch.inference_mode()
    def process(self, work: StudyWork) -> None:
        for images in work.series_images:
            model = self._store.get(images.selected.model, DetectorMeta)
            batch = images.model_input.to(model.device)
            shapes = [pixels.shape for pixels in images.pixels]
            images.detections = detect_source_boxes(
                self._detector(model), batch, model.meta.input_size, shapes, self._batch_size
            )
            images.model_input = None
            logger.info("Study %s %s: %d detections", work.uid, images.selected.rule, len(images.detections))
