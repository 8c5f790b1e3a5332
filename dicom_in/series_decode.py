"""Decoding of selected series to modality values, and the operator that does only that."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from monai.deploy.core import Fragment

from operators.image_file import read_with_pixels
from operators.model_store import ModelStore
from operators.pixel_decode import decode_image
from operators.series_selection import SelectedSeries
from operators.study import InputFailure
from operators.study_stage import StudyStageOperator
from operators.study_work import SeriesImages, StudyWork

__all__ = ["SeriesDecoderOperator", "decode_series", "decode_selected"]

logger = logging.getLogger(__name__)


def decode_series(selected: SelectedSeries, device: str, failures: list[InputFailure]) -> SeriesImages:
    """Decode every slice; a slice that fails or decodes flat is recorded in `failures` and left out."""
    images = SeriesImages(selected=selected, instances=[], pixels=[])
    study_uid = str(selected.series.first.StudyInstanceUID)
    for instance in selected.series.instances:
        try:
            image = read_with_pixels(instance.path, instance.header, instance.pixel_offset)
            decoded = decode_image(image, device=device)
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


def decode_selected(
    selected: Iterable[SelectedSeries], device: str, failures: list[InputFailure]
) -> list[SeriesImages]:
    """The decoded series that kept at least one image; a series left with none is logged and dropped."""
    decoded = []
    for series in selected:
        images = decode_series(series, device, failures)
        if images.pixels:
            decoded.append(images)
        else:
            logger.warning("Study %s: no decodable image in %s", series.series.first.StudyInstanceUID, series.rule)
    return decoded


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
        work.series_images = decode_selected(work.selected, self._device, work.failures)
