"""Operator: decodes the selected series' slices and turns them into model input, as each model's meta asks."""

from __future__ import annotations

import logging

from holoscan.core import Fragment

from dicom_in.series_decode import decode_selected, presentation_images
from inference.model_meta import ClassifierMeta, DetectorMeta
from inference.model_store import ModelStore
from inference.preprocess import PreprocessSpec
from inference.preprocessor import Preprocessor, make_preprocessor
from operators.study_stage import StudyStageOperator
from pipeline.study_work import SeriesImages, StudyWork

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
        self._preprocessors: dict[str, tuple[Preprocessor, PreprocessSpec]] = {}
        super().__init__(fragment, *args, **kwargs)

    def _preprocessor(self, model: str) -> tuple[Preprocessor, PreprocessSpec]:
        if model not in self._preprocessors:
            spec = PreprocessSpec.from_meta(self._store.get(model, ClassifierMeta | DetectorMeta).meta)
            self._preprocessors[model] = (make_preprocessor(spec, self._store.device), spec)
        return self._preprocessors[model]

    def process(self, work: StudyWork) -> None:
        work.series_images = [
            SeriesImages.from_decoded(d) for d in decode_selected(work.selected, self._store.device, work.failures)
        ]
        for images in work.series_images:
            preprocess, spec = self._preprocessor(images.selected.model)
            # A model trained on what viewers show reads presentation values (its meta: intensity "voi").
            pixels = presentation_images(images) if spec.intensity == "voi" else images.pixels
            images.model_input = preprocess(pixels, images.padding)
