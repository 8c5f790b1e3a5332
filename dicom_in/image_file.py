"""A DICOM image file read in two steps: its header when the study is loaded, its pixel data when decoded.

The decoder used to read each selected file whole, parsing the header a second time: 0.66 ms a slice
against 0.36 ms when only the elements from the pixel data on are read (128x128 MR slices, explicit VR).
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import data_element_generator
from pydicom.uid import DeflatedExplicitVRLittleEndian

from dicom_in.pixel_decode import PixelDataError

__all__ = ["read_header", "read_with_pixels"]


def read_header(path: Path) -> tuple[Dataset, int | None]:
    """The header (no pixel data) and the file offset of the pixel data element, None where it can't be reused.

    Raises what `pydicom.dcmread` raises for an unreadable file.
    """
    with open(path, "rb") as fp:
        header = pydicom.dcmread(fp, stop_before_pixels=True)
        offset = fp.tell()
    # A deflated body is read through a decompressing buffer, so the position is not a file offset.
    deflated = header.file_meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
    return header, None if deflated else offset


def read_with_pixels(path: Path, header: Dataset, pixel_offset: int | None) -> Dataset:
    """A dataset of `header` plus the file's pixel data (and anything after it), leaving `header` untouched.

    Raises PixelDataError with a one-line reason when the file can't be read.
    """
    try:
        if pixel_offset is None:
            return pydicom.dcmread(path)
        implicit, little = header.original_encoding
        with open(path, "rb") as fp:
            fp.seek(pixel_offset)
            # The element generator, not read_dataset: that one guesses the VR style from the first element's
            # bytes, and an implicit VR pixel data length can look like an explicit VR (seen: "LW").
            tail = list(data_element_generator(fp, bool(implicit), bool(little)))
    except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise PixelDataError(f"unreadable DICOM file ({exc})") from exc
    # A new element dict over the same element objects: the header shared downstream never holds pixels.
    image = Dataset(dict(header.items()))
    image.file_meta = header.file_meta
    image.set_original_encoding(implicit, little, header.original_character_set)
    for element in tail:
        image[element.tag] = element
    return image
