"""Operator: runs a box detector (TorchScript RetinaNet + its meta) over each series' images."""

from __future__ import annotations

import logging

import torch
from monai.deploy.core import Fragment

from operators.fragment_detection import detect_boxes, detector_from_meta
from operators.model_store import LoadedModel, ModelStore
from operators.study_stage import StudyStageOperator
from operators.study_work import Detection, StudyWork

__all__ = ["BoxDetectionOperator", "to_source_box"]

logger = logging.getLogger(__name__)


def to_source_box(
    box: tuple[float, float, float, float], input_size: tuple[int, int], source_shape: tuple[int, int]
) -> tuple[float, float, float, float]:
    """A box on the resized model input (H, W) mapped back to the source image (rows, columns)."""
    sx, sy = source_shape[1] / input_size[1], source_shape[0] / input_size[0]
    x0, y0, x1, y1 = box
    clip_x, clip_y = float(source_shape[1]), float(source_shape[0])
    return (
        min(max(x0 * sx, 0.0), clip_x),
        min(max(y0 * sy, 0.0), clip_y),
        min(max(x1 * sx, 0.0), clip_x),
        min(max(y1 * sy, 0.0), clip_y),
    )


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

    def _detector(self, model: LoadedModel):
        if model.name not in self._detectors:
            self._detectors[model.name] = detector_from_meta(model.module, model.meta)
        return self._detectors[model.name]

    @torch.inference_mode()
    def process(self, work: StudyWork) -> None:
        for images in work.series_images:
            model = self._store.get(images.selected.model)
            detector = self._detector(model)
            size = (int(model.meta["input_size"][0]), int(model.meta["input_size"][1]))
            batch = images.model_input
            found = []
            for start in range(0, batch.shape[0], self._batch_size):
                found += detect_boxes(detector, batch[start : start + self._batch_size].to(model.device))
            images.detections = [
                Detection(index, to_source_box(tuple(map(float, box)), size, images.pixels[index].shape), float(score))
                for index, (boxes, scores) in enumerate(found)
                for box, score in zip(boxes, scores, strict=True)
            ]
            images.model_input = None
            logger.info("Study %s %s: %d detections", work.uid, images.selected.rule, len(images.detections))
