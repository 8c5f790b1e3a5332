"""Operator: decodes the selected series' slices and turns them into model input, as each model's meta asks."""

from __future__ import annotations

import logging

from monai.deploy.core import Fragment

from operators.model_store import ModelStore
from operators.pixel_decode import decode_image
from operators.preprocess import PreprocessSpec, make_preprocessor
from operators.series_selection import SelectedSeries
from operators.study import InputFailure
from operators.study_stage import StudyStageOperator
from operators.study_work import SeriesImages, StudyWork

__all__ = ["ImagePreprocessorOperator", "decode_series"]

logger = logging.getLogger(__name__)


def decode_series(selected: SelectedSeries, device: str, failures: list[InputFailure]) -> SeriesImages:
    """Decode every slice; a slice that fails or decodes flat is recorded in `failures` and left out."""
    images = SeriesImages(selected=selected, instances=[], pixels=[])
    study_uid = str(selected.series.first.StudyInstanceUID)
    for instance in selected.series.instances:
        try:
            decoded = decode_image(instance.path, device=device)
        except Exception as exc:  # noqa: BLE001 - any decoder error drops this slice only
            failures.append(InputFailure(str(instance.path), f"pixel data unusable: {exc}", study_uid))
            continue
        if decoded.flat:
            failures.append(
                InputFailure(str(instance.path), "decoded image is one flat value; not inferred on", study_uid)
            )
            continue
        images.instances.append(instance)
        images.pixels.append(decoded.pixels)
        images.decoders.append(decoded.decoder)
    return images


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
        work.series_images = []
        for selected in work.selected:
            images = decode_series(selected, self._store.device, work.failures)
            if not images.pixels:
                logger.warning("Study %s: no decodable slice in %s", work.uid, selected.rule)
                continue
            images.model_input = self._preprocessor(selected.model)(images.pixels)
            work.series_images.append(images)
