"""Decoding of selected series to modality values: every slice (an instance, or one frame of it), failures recorded,
flat slices left out. Each file's pixel data is read once, within the per-file budget, whatever its frame count."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import groupby

import numpy as np

from dicom_in.image_file import read_with_pixels
from dicom_in.pixel_decode import (
    MAX_PIXEL_BYTES,
    PixelDataError,
    check_pixel_budget,
    decode_image,
    presentation_values,
)
from dicom_in.series_selection import SelectedSeries
from dicom_in.study import ImageSlice, InputFailure, Instance
from inference.preprocess import scale_to_unit

__all__ = ["DecodedSeries", "decode_series", "decode_selected", "presentation_images"]

logger = logging.getLogger(__name__)


@dataclass
class DecodedSeries:
    """The decodable slices of one selected series: the slices, their modality values, padding and decoders."""

    selected: SelectedSeries
    slices: list[ImageSlice] = field(default_factory=list)
    pixels: list[np.ndarray] = field(default_factory=list)  # modality values, one 2D array per slice
    decoders: list[str] = field(default_factory=list)
    padding: list[np.ndarray | None] = field(default_factory=list)  # per slice: where pixels are padding

    @property
    def instances(self) -> list[ImageSlice]:
        """The slices, under the name the apps read them by (each has `header` and `sop_instance_uid`)."""
        return self.slices


def _read_pixels(instance: Instance):
    """The instance's dataset with its pixel data, refused before reading when it claims more than the budget."""
    check_pixel_budget(instance.header)
    if instance.pixel_offset is not None:
        size = instance.path.stat().st_size - instance.pixel_offset
        if size > MAX_PIXEL_BYTES:
            raise PixelDataError(f"pixel data of {size} bytes is over the per-file budget of {MAX_PIXEL_BYTES} bytes")
    return read_with_pixels(instance.path, instance.header, instance.pixel_offset)


def _failure_item(piece: ImageSlice) -> str:
    return str(piece.path) if piece.frame_number is None else f"{piece.path} frame {piece.frame_number}"


def decode_series(selected: SelectedSeries, device: str, failures: list[InputFailure]) -> DecodedSeries:
    """Decode every slice; a slice (or file) that fails or decodes flat is recorded in `failures` and left out."""
    study_uid = str(selected.series.first.StudyInstanceUID)
    slices = selected.series.slices
    file_order = {id(instance): k for k, instance in enumerate(selected.series.instances)}
    positions = sorted(range(len(slices)), key=lambda k: (file_order[id(slices[k].instance)], slices[k].index))
    kept: dict[int, tuple[np.ndarray, np.ndarray | None, str]] = {}
    for _, group in groupby(positions, key=lambda k: id(slices[k].instance)):
        members = list(group)
        try:
            dataset = _read_pixels(slices[members[0]].instance)
        except Exception as exc:  # noqa: BLE001 - any read error drops this file only
            failures.append(InputFailure(str(slices[members[0]].path), f"pixel data unusable: {exc}", study_uid))
            continue
        for k in members:
            piece = slices[k]
            try:
                image = decode_image(dataset, index=piece.index, header=piece.header, device=device)
            except Exception as exc:  # noqa: BLE001 - any decoder error drops this slice only
                failures.append(InputFailure(_failure_item(piece), f"pixel data unusable: {exc}", study_uid))
                continue
            if image.flat:
                reason = "decoded image is one flat value; not inferred on"
                failures.append(InputFailure(_failure_item(piece), reason, study_uid))
                continue
            kept[k] = (image.pixels, image.padding, image.decoder)
        del dataset  # one file's pixel data in memory at a time
    images = DecodedSeries(selected=selected)
    for k in sorted(kept):
        pixels, padding, decoder = kept[k]
        images.slices.append(slices[k])
        images.pixels.append(pixels)
        images.padding.append(padding)
        images.decoders.append(decoder)
    return images


def presentation_images(images: DecodedSeries) -> list[np.ndarray]:
    """Each slice as presented by its own VOI (window or VOI LUT), in [0, 1] with bone bright; a slice without a
    VOI is presented by the percentile window a viewer's auto-window would use (padding left out)."""
    presented = []
    for piece, pixels, padding in zip(images.slices, images.pixels, images.padding, strict=True):
        voi = presentation_values(pixels, piece.header, padding)
        presented.append(scale_to_unit(pixels, padding) if voi is None else voi)
    return presented


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
