"""Operator: runs a box detector (TorchScript RetinaNet + its contract) over each series' images."""

from __future__ import annotations

import logging

# MONAI's detector, imported with this operator (at start-up, by the apps that detect boxes) rather than with
# the first study's boxes: importing any of MONAI imports all of it, seconds that are start-up, not work.
import monai.apps.detection.networks.retinanet_detector  # noqa: F401
import torch
from holoscan.core import Fragment

from inference.box_detection import build_detector, detect_source_boxes
from inference.model_meta import DetectorMeta
from inference.model_store import LoadedModel, ModelStore
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
        self._detectors: dict[str, object] = {}
        super().__init__(fragment, *args, **kwargs)

    def _detector(self, model: LoadedModel[DetectorMeta]):
        if model.name not in self._detectors:
            self._detectors[model.name] = build_detector(model.module, model.meta.detector)
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
