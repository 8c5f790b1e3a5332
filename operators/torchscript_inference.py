"""Operator: runs each series' model input through its TorchScript model, batched."""

from __future__ import annotations

import logging

from holoscan.core import Fragment

from inference.model_store import ModelStore
from operators.study_stage import StudyStageOperator
from pipeline.study_work import StudyWork

__all__ = ["TorchScriptInferenceOperator"]

logger = logging.getLogger(__name__)


class TorchScriptInferenceOperator(StudyStageOperator):
    """Fills each series' `outputs` with the model's named outputs (meta "outputs"), as numpy arrays.

    A series without a model input (an earlier stage found nothing to look at) is passed on untouched.

    Named input:
        model_inputs: StudyWork whose series_images carry model_input tensors.
    Named output:
        predictions: the same StudyWork with outputs filled (model_input released).
    """

    INPUT = "model_inputs"
    OUTPUT = "predictions"
    STAGE = "inference"

    def __init__(self, fragment: Fragment, *args, model_store: ModelStore, batch_size: int = 16, **kwargs) -> None:
        self._store = model_store
        self._batch_size = batch_size
        super().__init__(fragment, *args, **kwargs)

    def process(self, work: StudyWork) -> None:
        for images in work.series_images:
            if images.model_input is None:
                continue
            model = self._store.get(images.selected.model)
            outputs = model.predict(images.model_input, batch_size=self._batch_size)
            images.outputs = {name: value.numpy() for name, value in outputs.items()}
            images.model_input = None  # the tensors are the largest thing a study holds
