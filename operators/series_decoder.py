"""Operator: decodes the selected series' slices to modality values (no model input yet)."""

from __future__ import annotations

import logging

from holoscan.core import Fragment

from dicom_in.series_decode import decode_selected
from inference.model_store import ModelStore
from operators.study_stage import StudyStageOperator
from pipeline.study_work import SeriesImages, StudyWork

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

    def __init__(self, fragment: Fragment, *args, model_store: ModelStore, **kwargs) -> None:
        self._device = model_store.device
        super().__init__(fragment, *args, **kwargs)

    def process(self, work: StudyWork) -> None:
        work.series_images = [
            SeriesImages.from_decoded(d) for d in decode_selected(work.selected, self._device, work.failures)
        ]
