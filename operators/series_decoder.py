"""Operator: decodes every image of each selected series to modality values (no model input yet)."""

from __future__ import annotations

import logging

from operators.image_preprocessor import decode_series
from operators.model_store import ModelStore
from operators.study_stage import StudyStageOperator
from operators.study_work import StudyWork

__all__ = ["SeriesDecoderOperator"]

logger = logging.getLogger(__name__)


class SeriesDecoderOperator(StudyStageOperator):
    """Fills `series_images` with decoded pixels, for apps whose model input is built later (e.g. per-hip crops).

    Named input:
        selected_series: StudyWork with `selected` filled.
    Named output:
        decoded_series: StudyWork with `series_images` (pixels, instances, decoders).
    """

    INPUT = "selected_series"
    OUTPUT = "decoded_series"
    STAGE = "decode_preprocess"

    def __init__(self, fragment, *args, model_store: ModelStore, **kwargs) -> None:
        self._device = model_store.device
        super().__init__(fragment, *args, **kwargs)

    def process(self, work: StudyWork) -> None:
        work.series_images = []
        for selected in work.selected:
            images = decode_series(selected, self._device, work.failures)
            if images.pixels:
                work.series_images.append(images)
            else:
                logger.warning("Study %s: no decodable image in %s", work.uid, selected.rule)
