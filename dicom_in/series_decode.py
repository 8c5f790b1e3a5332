"""Decoding of selected series to modality values: every slice, failures recorded, flat slices left out."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from dicom_in.image_file import read_with_pixels
from dicom_in.pixel_decode import decode_image
from dicom_in.series_selection import SelectedSeries
from dicom_in.study import InputFailure, Instance

__all__ = ["DecodedSeries", "decode_series", "decode_selected"]

logger = logging.getLogger(__name__)


@dataclass
class DecodedSeries:
    """The decodable slices of one selected series: their instances, modality values and decoders, in order."""

    selected: SelectedSeries
    instances: list[Instance] = field(default_factory=list)
    pixels: list[np.ndarray] = field(default_factory=list)  # modality values, one 2D array per instance
    decoders: list[str] = field(default_factory=list)


def decode_series(selected: SelectedSeries, device: str, failures: list[InputFailure]) -> DecodedSeries:
    """Decode every slice; a slice that fails or decodes flat is recorded in `failures` and left out."""
    images = DecodedSeries(selected=selected)
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
) -> list[DecodedSeries]:
    """The decoded series that kept at least one image; a series left with none is logged and dropped."""
    decoded = []
    for series in selected:
        images = decode_series(series, device, failures)
        if images.pixels:
            decoded.append(images)
        else:
            logger.warning("Study %s: no decodable image in %s", series.series.first.StudyInstanceUID, series.rule)
    return decoded
