"""Operator: decodes the selected series' slices and turns them into model input, as each model's meta asks."""

from __future__ import annotations

import logging

from monai.deploy.core import Fragment

from operators.model_store import ModelStore
from operators.preprocess import PreprocessSpec, make_preprocessor
from operators.series_decoder import decode_selected
from operators.study_stage import StudyStageOperator
from operators.study_work import StudyWork

__all__ = ["ImagePreprocessorOperator"]

logger = logging.getLogger(__name__)


class ImagePreprocessorOperator(StudyStageOperator):
    """Decodes (DALI or pydicom) and preprocesses (DALI) each selected series for its model.

    Named input:
        selected_series: StudyWork with `selected` filled.
    Named output:
        model_inputs: StudyWork with `series_images` (pixels and model_input tensors).
    """

    INPUT = "selected_series"
    OUTPUT = "model_inputs"
    STAGE = "decode_preprocess"

    def __init__(self, fragment: Fragment, *args, model_store: ModelStore, **kwargs) -> None:
        self._store = model_store
        self._preprocessors: dict[str, object] = {}
        super().__init__(fragment, *args, **kwargs)

    def _preprocessor(self, model: str):
        if model not in self._preprocessors:
            spec = PreprocessSpec.from_meta(self._store.get(model).meta)
            self._preprocessors[model] = make_preprocessor(spec, self._store.device)
        return self._preprocessors[model]

    def process(self, work: StudyWork) -> None:
        work.series_images = decode_selected(work.selected, self._store.device, work.failures)
        for images in work.series_images:
            images.model_input = self._preprocessor(images.selected.model)(images.pixels)
