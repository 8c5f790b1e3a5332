"""Decode one DICOM image to modality values: numpy for native syntaxes, DALI for encapsulated ones
(pydicom + pylibjpeg/openjpeg where DALI can't or mustn't), rescale and MONOCHROME1 applied."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import RLELossless

__all__ = ["DecodedImage", "PixelDataError", "decode_image", "decode_stored", "DALI_SYNTAXES"]

logger = logging.getLogger(__name__)

# Syntaxes handed to DALI's image decoder. Measured on DALI 2.4 (CPU): 16-bit JPEG 2000 decodes
# bit-exactly with dtype UINT16; the process-14 lossless JPEG in pydicom's JPEG-LL.dcm does not decode,
# nor does some JPEG 2000 — every DALI result is checked for shape and falls back to pydicom otherwise.
DALI_SYNTAXES = {
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.51",  # JPEG extended
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
}


class PixelDataError(ValueError):
    """The pixel data is missing, short, or not decodable."""


@dataclass
class DecodedImage:
    """One decoded frame: stored values, modality values (rescaled, MONOCHROME1 inverted) and provenance."""

    stored: np.ndarray
    pixels: np.ndarray  # float32 modality values, higher = brighter
    decoder: str  # "native", "dali-cpu", "dali-gpu" or "pydicom"
    photometric: str
    flat: bool
    pixel_spacing: tuple[float, float] | None


def _expected_dtype(ds: Dataset) -> np.dtype:
    bits = int(ds.BitsAllocated)
    if bits not in (8, 16, 32):
        raise PixelDataError(f"BitsAllocated {bits} is not supported (expected 8, 16 or 32)")
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    return np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")


def _mask_to_bits_stored(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """Keep only BitsStored bits (with sign extension for signed data), as pydicom does."""
    stored, allocated = int(ds.BitsStored), int(ds.BitsAllocated)
    if stored == allocated:
        return values
    if int(ds.get("PixelRepresentation", 0)) == 1:
        shift = allocated - stored
        return (values << shift) >> shift
    return values & np.array((1 << stored) - 1, dtype=values.dtype)


def _decode_native(ds: Dataset) -> np.ndarray:
    rows, cols, samples = int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel", 1))
    dtype = _expected_dtype(ds)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    needed = rows * cols * samples * frames * dtype.itemsize
    data = ds.PixelData
    if len(data) < needed:
        raise PixelDataError(
            f"header promises {frames}x{rows}x{cols}x{samples} {dtype.itemsize * 8}-bit pixels = {needed} bytes, "
            f"PixelData holds {len(data)} bytes"
        )
    frame = np.frombuffer(data, dtype=dtype, count=rows * cols * samples)
    frame = frame.reshape(rows, cols, samples) if samples > 1 else frame.reshape(rows, cols)
    return _mask_to_bits_stored(frame.copy(), ds)


_DALI_PIPELINES: dict[tuple[str, str], object] = {}


def _dali_decoder(dtype_name: str, device: str):
    """A built DALI pipeline decoding one encoded frame per run (cached per dtype and device)."""
    key = (dtype_name, device)
    if key not in _DALI_PIPELINES:
        _DALI_PIPELINES[key] = _build_dali_decoder(dtype_name, device)
    return _DALI_PIPELINES[key]


def _build_dali_decoder(dtype_name: str, device: str):
    from nvidia.dali import fn, pipeline_def, types

    dali_dtype = types.UINT16 if dtype_name == "uint16" else types.UINT8

    @pipeline_def(
        batch_size=1,
        num_threads=1,
        device_id=0 if device == "cuda" else None,
        prefetch_queue_depth=1,
        exec_async=False,
        exec_pipelined=False,
    )
    def pipeline():
        encoded = fn.external_source(name="encoded", dtype=types.UINT8, ndim=1)
        return fn.decoders.image(
            encoded,
            device="mixed" if device == "cuda" else "cpu",
            output_type=types.ANY_DATA,
            dtype=dali_dtype,
        )

    pipe = pipeline()
    pipe.build()
    return pipe


def _decode_dali(frame: bytes, ds: Dataset, device: str) -> np.ndarray:
    dtype = _expected_dtype(ds)
    pipe = _dali_decoder("uint16" if dtype.itemsize == 2 else "uint8", device)
    pipe.feed_input("encoded", [np.frombuffer(frame, dtype=np.uint8)])
    try:
        (output,) = pipe.run()
    except (RuntimeError, IndexError) as exc:
        # A failed run leaves the DALI pipeline unusable: drop it so the next image gets a fresh one.
        _DALI_PIPELINES.pop(("uint16" if dtype.itemsize == 2 else "uint8", device), None)
        raise PixelDataError(f"DALI failed: {str(exc).splitlines()[0]}") from exc
    # Copy: the pipeline reuses its output buffer on the next run.
    array = np.array(output.as_cpu()[0] if device == "cuda" else output[0], copy=True)
    samples = int(ds.get("SamplesPerPixel", 1))
    if samples == 1 and array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    expected = (int(ds.Rows), int(ds.Columns)) + ((samples,) if samples > 1 else ())
    if array.shape != expected:
        raise PixelDataError(f"DALI decoded shape {array.shape}, header says {expected}")
    return array.astype(dtype, copy=False)


def decode_stored(ds: Dataset, *, prefer: str = "dali", device: str = "cpu") -> tuple[np.ndarray, str]:
    """(stored values of frame 0, decoder name) for any transfer syntax pydicom or DALI can decode."""
    if "PixelData" not in ds:
        raise PixelDataError("no PixelData element")
    syntax = ds.file_meta.TransferSyntaxUID
    if not syntax.is_compressed:
        return _decode_native(ds), "native"
    # Signed data stays with pydicom: DALI's decoders return unsigned samples.
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    use_dali = prefer == "dali" and syntax in DALI_SYNTAXES and syntax != RLELossless and not signed
    use_dali = use_dali and os.environ.get("MSK_MAPS_NO_DALI") != "1"
    if use_dali:
        try:
            frame = next(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)))
            return _decode_dali(frame, ds, device), f"dali-{'gpu' if device == 'cuda' else 'cpu'}"
        except (PixelDataError, ImportError, StopIteration, ValueError) as exc:
            logger.info("DALI could not decode %s (%s); using pydicom", ds.get("SOPInstanceUID", "?"), exc)
    try:
        array = ds.pixel_array
    except (ValueError, RuntimeError, NotImplementedError, AttributeError, EOFError) as exc:
        raise PixelDataError(f"pydicom cannot decode the pixel data ({type(exc).__name__}: {exc})") from exc
    except BaseException as exc:  # a Rust decoder's panic (pylibjpeg-rle, pyo3 PanicException) is no Exception
        if type(exc).__name__ != "PanicException":
            raise
        raise PixelDataError(f"pydicom cannot decode the pixel data (decoder panic: {exc})") from exc
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        array = array[0]
    return np.asarray(array), "pydicom"


def _to_modality(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """Modality values: MONOCHROME1 inverted in the stored domain (exact), then slope/intercept."""
    values = stored.astype(np.float64)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        if int(ds.get("PixelRepresentation", 0)) == 1:
            values = -values - 1  # two's complement range mirrored onto itself
        else:
            values = float((1 << int(ds.BitsStored)) - 1) - values
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    return (values * slope + intercept).astype(np.float32)


MIN_SIDE = 8  # pixels; anything smaller is an icon or a corrupt header, not an image to analyse
GREYSCALE = ("MONOCHROME1", "MONOCHROME2")


def _check_analysable(ds: Dataset) -> None:
    """Refuse, with a one-line reason, images the models were never meant to see."""
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if samples != 1 or photometric not in GREYSCALE:
        raise PixelDataError(
            f"colour image ({photometric}, {samples} samples per pixel); only greyscale images are analysed"
        )
    if int(ds.Rows) < MIN_SIDE or int(ds.Columns) < MIN_SIDE:
        raise PixelDataError(f"image of {ds.Rows}x{ds.Columns} pixels is too small to analyse (minimum {MIN_SIDE})")


def decode_image(source: Path | str | Dataset, *, prefer: str = "dali", device: str = "cpu") -> DecodedImage:
    """Decode frame 0 of a DICOM image file or dataset; raises PixelDataError with a one-line reason."""
    try:
        ds = source if isinstance(source, Dataset) else pydicom.dcmread(source)
    except (pydicom.errors.InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise PixelDataError(f"unreadable DICOM file ({exc})") from exc
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored"):
        if keyword not in ds:
            raise PixelDataError(f"image pixel module lacks {keyword}")
    _check_analysable(ds)
    stored, decoder = decode_stored(ds, prefer=prefer, device=device)
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    return DecodedImage(
        stored=stored,
        pixels=_to_modality(stored, ds),
        decoder=decoder,
        photometric=str(ds.get("PhotometricInterpretation", "")),
        flat=bool(stored.size) and bool(np.all(stored == stored.flat[0])),
        pixel_spacing=(float(spacing[0]), float(spacing[1])) if spacing else None,
    )
