"""Decode one frame of a DICOM image to modality values, bounded before anything is allocated.

Stored values come from numpy for native syntaxes (either byte order) and, for encapsulated ones, from the
decoder `DECODERS` names for the syntax and device; pydicom's own functions then give modality values (Modality
LUT: rescale or Modality LUT Sequence) and presentation values (VOI LUT: window, VOI LUT Sequence, SIGMOID).
A header, and a JPEG 2000 or JPEG codestream header, that claims more pixels than the per-file budget or than
Rows/Columns is refused with a one-line reason before any decoder runs.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array
from pydicom.uid import (
    JPEG2000,
    UID,
    JPEG2000Lossless,
    JPEG2000TransferSyntaxes,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
)

from dicom_in.frames import frame_count
from dicom_in.memory_budget import PIXEL_BUDGET_BYTES

__all__ = [
    "DECODERS",
    "DALI_SYNTAXES",
    "MAX_PIXEL_BYTES",
    "DecodedImage",
    "PixelDataError",
    "PixelSpacing",
    "check_pixel_budget",
    "choose_decoder",
    "codestream_shape",
    "decode_image",
    "decode_stored",
    "modality_values",
    "padding_mask",
    "pixel_spacing",
    "presentation_values",
]

logger = logging.getLogger(__name__)

# The per-file budget of dicom_in.memory_budget (256 MiB): the most stored-pixel bytes one file may claim, all
# frames together. That holds a 500-frame 512x512 16-bit MR or an 11k x 11k radiograph; the float32 modality
# copies of what is selected then stay within the 2 GB a run may use.
MAX_PIXEL_BYTES = PIXEL_BUDGET_BYTES

# Syntaxes DALI's image decoder handles (DALI 2.4): 16-bit JPEG 2000 decodes bit-exactly with dtype UINT16; the
# process-14 lossless JPEG in pydicom's JPEG-LL.dcm does not, nor does some JPEG 2000 — every DALI result is
# checked for shape and falls back to pydicom otherwise.
DALI_SYNTAXES = frozenset({JPEGBaseline8Bit, JPEGExtended12Bit, JPEG2000Lossless, JPEG2000})

# The decoder of each encapsulated syntax per device ("cpu", "cuda"); pydicom (+ pylibjpeg/openjpeg/libjpeg) for
# any syntax not listed. Measured with bench/decode.py (`python -m bench`; DALI forced vs pydicom, exact either way):
# * bench/results/2026-11-25.md (2 CPU cores, 2236x1708 12-bit radiograph, mean of 5): JPEG 2000 lossless DALI
#   0.274 s vs pydicom 0.193 s (1.42x slower), lossy 0.118 vs 0.114 s (1.03x); 12 images 1024x1024 16-bit: 1.48x;
# * again on 2026-12-03 with the 2 cores shared (load 5-8): 0.317 vs 0.326 s (0.97x), lossy 0.130 vs 0.164 s
#   (0.79x), 12 images 0.99x, and DALI's first decode in a process 0.25 s more than pydicom's (import, build).
# DALI on the CPU never won by more than the noise, and costs its build in every process launched per study: the
# CPU decodes every syntax with pydicom. On a GPU, DALI's "mixed" decoders (nvJPEG, nvJPEG2000) decode on the
# device; no GPU run has been measured yet (the bench's GPU columns), so that row is the design's choice until one is.
DECODERS: dict[str, dict[str, str]] = {
    "cpu": {},
    "cuda": {syntax: "dali" for syntax in DALI_SYNTAXES},
}

_JPEG_SYNTAXES = frozenset([*JPEGTransferSyntaxes, *JPEGLSTransferSyntaxes])
_J2K_SYNTAXES = frozenset(JPEG2000TransferSyntaxes)
MIN_SIDE = 8  # pixels; anything smaller is an icon or a corrupt header, not an image to analyse
GREYSCALE = ("MONOCHROME1", "MONOCHROME2")


class PixelDataError(ValueError):
    """The pixel data is missing, short, over budget, or not decodable."""


@dataclass(frozen=True)
class PixelSpacing:
    """Spacing (row, column) in mm and where it holds: "patient" (PixelSpacing, or ImagerPixelSpacing corrected
    by EstimatedRadiographicMagnificationFactor) or "detector" (ImagerPixelSpacing without a magnification)."""

    row: float
    column: float
    basis: str


@dataclass
class DecodedImage:
    """One decoded frame: stored values, modality values (higher = brighter), padding, provenance, spacing."""

    stored: np.ndarray
    pixels: np.ndarray  # float32 modality values, MONOCHROME1 mirrored so that higher = brighter
    padding: np.ndarray | None  # True where the stored value is PixelPaddingValue (..PixelPaddingRangeLimit)
    decoder: str  # "native", "dali-cpu", "dali-gpu" or "pydicom"
    photometric: str
    flat: bool
    spacing: PixelSpacing | None

    @property
    def pixel_spacing(self) -> tuple[float, float] | None:
        """(row, column) spacing in mm, None when the header gives none."""
        return (self.spacing.row, self.spacing.column) if self.spacing else None


def _bits_allocated(ds: Dataset) -> int:
    bits = int(ds.BitsAllocated)
    if bits not in (8, 16, 32):
        raise PixelDataError(f"BitsAllocated {bits} is not supported (expected 8, 16 or 32)")
    return bits


def _frame_bytes(ds: Dataset) -> int:
    return int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1) * _bits_allocated(ds) // 8


def _size_text(size: float) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


def check_pixel_budget(ds: Dataset) -> None:
    """Refuse a header whose frames together claim more stored-pixel bytes than MAX_PIXEL_BYTES."""
    frames = frame_count(ds)
    claimed = _frame_bytes(ds) * frames
    if claimed > MAX_PIXEL_BYTES:
        raise PixelDataError(
            f"header claims {frames} frame(s) of {ds.Rows}x{ds.Columns} {ds.BitsAllocated}-bit pixels = "
            f"{_size_text(claimed)}, over the per-file budget of {_size_text(MAX_PIXEL_BYTES)}; not decoded"
        )


def _jpeg2000_shape(data: bytes) -> tuple[int, int, int] | None:
    """(rows, columns, components) from a JPEG 2000 SIZ marker segment (bare codestream or inside a JP2 box)."""
    at = data.find(b"\xff\x4f\xff\x51", 0, 1 << 16)
    if at < 0 or len(data) < at + 42:
        return None
    x, y, x0, y0 = struct.unpack(">4I", data[at + 8 : at + 24])
    (components,) = struct.unpack(">H", data[at + 40 : at + 42])
    return y - y0, x - x0, components


_SOF_MARKERS = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0), 0xF7})


def _jpeg_shape(data: bytes) -> tuple[int, int, int] | None:
    """(rows, columns, components) from the SOF (or JPEG-LS SOF55) segment; rows 0 when a DNL sets them."""
    at = 2 if data[:2] == b"\xff\xd8" else -1
    while 0 <= at <= len(data) - 4:
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:
            at += 2
        elif marker in _SOF_MARKERS:
            if len(data) < at + 10:
                return None
            rows, columns = struct.unpack(">HH", data[at + 5 : at + 9])
            return rows, columns, data[at + 9]
        elif marker == 0xDA:  # start of scan before any frame header
            return None
        else:
            (length,) = struct.unpack(">H", data[at + 2 : at + 4])
            at += 2 + length
    return None


def codestream_shape(frame: bytes, syntax: str) -> tuple[int, int, int] | None:
    """The (rows, columns, components) an encapsulated frame's own header claims; None for other syntaxes."""
    if syntax in _J2K_SYNTAXES:
        return _jpeg2000_shape(frame)
    if syntax in _JPEG_SYNTAXES:
        return _jpeg_shape(frame)
    return None


def _check_codestream(frame: bytes, ds: Dataset, syntax: str) -> None:
    """Refuse a codestream whose header disagrees with Rows/Columns/SamplesPerPixel, before it is decoded."""
    if syntax not in _J2K_SYNTAXES and syntax not in _JPEG_SYNTAXES:
        return
    shape = codestream_shape(frame, syntax)
    kind = "JPEG 2000 SIZ" if syntax in _J2K_SYNTAXES else "JPEG SOF"
    if shape is None:
        raise PixelDataError(f"no {kind} header in the encapsulated frame; not decoded")
    rows, columns, components = shape
    expected = (int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel", 1) or 1))
    if (rows or expected[0], columns, components) != expected:
        raise PixelDataError(
            f"{kind} header says {rows}x{columns}x{components}, the DICOM header {expected[0]}x{expected[1]}x"
            f"{expected[2]}; not decoded"
        )


def _decode_native(ds: Dataset, index: int) -> np.ndarray:
    rows, cols, samples = int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel", 1) or 1)
    bits = _bits_allocated(ds)
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    little = ds.file_meta.TransferSyntaxUID.is_little_endian
    dtype = np.dtype(f"{'<' if little else '>'}{'i' if signed else 'u'}{bits // 8}")
    frames = frame_count(ds)
    needed = _frame_bytes(ds) * frames
    data = ds.PixelData
    if len(data) < needed:
        raise PixelDataError(
            f"header promises {frames}x{rows}x{cols}x{samples} {bits}-bit pixels = {needed} bytes, "
            f"PixelData holds {len(data)} bytes"
        )
    count = rows * cols * samples
    frame = np.frombuffer(data, dtype=dtype, count=count, offset=index * _frame_bytes(ds))
    frame = frame.reshape(rows, cols, samples) if samples > 1 else frame.reshape(rows, cols)
    values = frame.astype(dtype.newbyteorder("="))  # a native-order copy: big-endian bytes swapped here
    # Keep only BitsStored bits (sign-extended for signed data), as pydicom does.
    stored, allocated = int(ds.BitsStored), bits
    if stored == allocated:
        return values
    if signed:
        shift = allocated - stored
        return (values << shift) >> shift
    return values & np.array((1 << stored) - 1, dtype=values.dtype)


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
    dtype = np.dtype(f"u{_bits_allocated(ds) // 8}")
    name = "uint16" if dtype.itemsize == 2 else "uint8"
    pipe = _dali_decoder(name, device)
    pipe.feed_input("encoded", [np.frombuffer(frame, dtype=np.uint8)])
    try:
        (output,) = pipe.run()
    except (RuntimeError, IndexError) as exc:
        # A failed run leaves the DALI pipeline unusable: drop it so the next image gets a fresh one.
        _DALI_PIPELINES.pop((name, device), None)
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


def choose_decoder(syntax: str, device: str = "cpu") -> str:
    """The decoder the apps use for `syntax` on `device`: "native", "dali" or "pydicom" (see DECODERS)."""
    if not UID(syntax).is_compressed:
        return "native"
    if os.environ.get("MSK_MAPS_NO_DALI") == "1":
        return "pydicom"
    return DECODERS.get(device, {}).get(syntax, "pydicom")


def decode_stored(ds: Dataset, *, index: int = 0, decoder: str = "auto", device: str = "cpu") -> tuple[np.ndarray, str]:
    """(stored values of frame `index` (0-based), decoder name); only that frame is decoded.

    `decoder` "auto" takes the DECODERS table's choice for the syntax and device; "dali" or "pydicom" force
    one (DALI only where it can: unsigned data of DALI_SYNTAXES), for the benchmark's comparison.
    """
    if "PixelData" not in ds:
        raise PixelDataError("no PixelData element")
    check_pixel_budget(ds)
    frames = frame_count(ds)
    if not 0 <= index < frames:
        raise PixelDataError(f"frame index {index} out of range: the image has {frames} frame(s)")
    syntax = ds.file_meta.TransferSyntaxUID
    if not syntax.is_compressed:
        return _decode_native(ds, index), "native"
    try:
        frame = get_frame(ds.PixelData, index, number_of_frames=frames)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise PixelDataError(f"encapsulated frame {index + 1} unreadable ({exc})".splitlines()[0]) from exc
    _check_codestream(frame, ds, syntax)
    chosen = choose_decoder(syntax, device) if decoder == "auto" else decoder
    # Signed data stays with pydicom: DALI's decoders return unsigned samples.
    if chosen == "dali" and syntax in DALI_SYNTAXES and int(ds.get("PixelRepresentation", 0)) != 1:
        try:
            return _decode_dali(frame, ds, device), f"dali-{'gpu' if device == 'cuda' else 'cpu'}"
        except (PixelDataError, ImportError, ValueError) as exc:
            logger.info("DALI could not decode %s (%s); using pydicom", ds.get("SOPInstanceUID", "?"), exc)
    try:
        array = pixel_array(ds, index=index)
    except (ValueError, RuntimeError, NotImplementedError, AttributeError, EOFError) as exc:
        reason = f"pydicom cannot decode the pixel data ({type(exc).__name__}: {exc})".splitlines()[0]
        raise PixelDataError(reason) from exc
    except BaseException as exc:  # a Rust decoder's panic (pylibjpeg-rle, pyo3 PanicException) is no Exception
        if type(exc).__name__ != "PanicException":
            raise
        raise PixelDataError(f"pydicom cannot decode the pixel data (decoder panic: {exc})") from exc
    return np.asarray(array), "pydicom"


def _stored_range(ds: Dataset) -> tuple[int, int]:
    bits = int(ds.BitsStored)
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _usable_rescale(ds: Dataset) -> bool:
    try:
        return float(ds.RescaleSlope) != 0.0 and np.isfinite(float(ds.RescaleIntercept))
    except (AttributeError, TypeError, ValueError):
        return False


def _modality(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    if ds.get("ModalityLUTSequence") or _usable_rescale(ds):
        return np.asarray(apply_modality_lut(stored, ds), np.float64)
    return stored.astype(np.float64)  # no (usable) Modality LUT: modality values are the stored values


def _mirror(ds: Dataset) -> float | None:
    """For MONOCHROME1: low + high of the modality range, mirroring values so that higher = brighter."""
    if str(ds.get("PhotometricInterpretation", "")) != "MONOCHROME1":
        return None
    extremes = _modality(np.array(_stored_range(ds), np.int64), ds)
    return float(extremes.min() + extremes.max())


def modality_values(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """Modality values (pydicom's Modality LUT: rescale or Modality LUT Sequence) as float32, higher = brighter.

    MONOCHROME1 is mirrored within the modality range (low + high - value), so bone is bright in either.
    """
    values = _modality(stored, ds)
    mirror = _mirror(ds)
    return (values if mirror is None else mirror - values).astype(np.float32)


def padding_mask(stored: np.ndarray, ds: Dataset) -> np.ndarray | None:
    """Where the stored value is padding (PixelPaddingValue, up to PixelPaddingRangeLimit); None without padding."""
    value = ds.get("PixelPaddingValue")
    if value is None or value == "":
        return None
    limit = ds.get("PixelPaddingRangeLimit")
    low, high = sorted((int(value), int(value if limit in (None, "") else limit)))
    mask = (stored >= low) & (stored <= high)
    return mask if mask.any() else None


def _has_voi(ds: Dataset) -> bool:
    return bool(ds.get("VOILUTSequence")) or ("WindowCenter" in ds and "WindowWidth" in ds)


def presentation_values(pixels: np.ndarray, ds: Dataset, padding: np.ndarray | None = None) -> np.ndarray | None:
    """The image as the header says to present it, in [0, 1] with bone bright; None when it has no VOI.

    From modality values (`pixels`, as `modality_values` returns them): pydicom's VOI LUT (the first VOI LUT
    Sequence item, else the first window with its VOILUTFunction), scaled by the VOI's output range, inverted
    for MONOCHROME1; padding is black.
    """
    if not _has_voi(ds):
        return None
    mirror = _mirror(ds)
    modality = pixels.astype(np.float64) if mirror is None else mirror - pixels.astype(np.float64)
    if ds.get("VOILUTSequence"):
        # A LUT is indexed by (integer) modality values.
        presented = np.asarray(apply_voi_lut(np.rint(modality).astype(np.int64), ds, index=0), np.float64)
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        low, high = 0.0, float((1 << bits) - 1)
    else:
        # The window's output range: what it gives far below and far above its centre.
        presented = np.asarray(apply_voi_lut(modality, ds, index=0, prefer_lut=False), np.float64)
        with np.errstate(over="ignore"):
            low, high = (float(v) for v in apply_voi_lut(np.array([-1e300, 1e300]), ds, index=0, prefer_lut=False))
    unit = (presented - low) / max(high - low, 1e-12)
    if mirror is not None:
        unit = 1.0 - unit
    if padding is not None:
        unit[padding] = 0.0
    return np.clip(unit, 0.0, 1.0).astype(np.float32)


def pixel_spacing(ds: Dataset) -> PixelSpacing | None:
    """Pixel spacing at the patient where the header allows it (PS3.3 10.7.1.3), else at the detector.

    PixelSpacing is taken as given. ImagerPixelSpacing is at the detector's front plane: divided by
    EstimatedRadiographicMagnificationFactor when present (spacing at the patient), else marked "detector".
    """
    spacing = ds.get("PixelSpacing")
    if spacing and len(spacing) == 2:
        return PixelSpacing(float(spacing[0]), float(spacing[1]), "patient")
    imager = ds.get("ImagerPixelSpacing")
    if not imager or len(imager) != 2:
        return None
    magnification = ds.get("EstimatedRadiographicMagnificationFactor")
    if magnification not in (None, "") and float(magnification) > 0:
        factor = float(magnification)
        return PixelSpacing(float(imager[0]) / factor, float(imager[1]) / factor, "patient")
    return PixelSpacing(float(imager[0]), float(imager[1]), "detector")


def _check_analysable(ds: Dataset) -> None:
    """Refuse, with a one-line reason, images the models were never meant to see."""
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored"):
        if keyword not in ds:
            raise PixelDataError(f"image pixel module lacks {keyword}")
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if samples != 1 or photometric not in GREYSCALE:
        raise PixelDataError(
            f"colour image ({photometric}, {samples} samples per pixel); only greyscale images are analysed"
        )
    if int(ds.Rows) < MIN_SIDE or int(ds.Columns) < MIN_SIDE:
        raise PixelDataError(f"image of {ds.Rows}x{ds.Columns} pixels is too small to analyse (minimum {MIN_SIDE})")


def decode_image(
    source: Path | str | Dataset,
    *,
    index: int = 0,
    header: Dataset | None = None,
    decoder: str = "auto",
    device: str = "cpu",
) -> DecodedImage:
    """Decode frame `index` (0-based) of a DICOM file or dataset; raises PixelDataError with a one-line reason.

    `header` is that frame's own header (a `FrameHeader` of a multi-frame image: its rescale, padding, VOI and
    spacing); by default the dataset's top level.
    """
    try:
        ds = source if isinstance(source, Dataset) else pydicom.dcmread(source)
    except (pydicom.errors.InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise PixelDataError(f"unreadable DICOM file ({exc})") from exc
    attributes = ds if header is None else header
    try:
        _check_analysable(ds)
        stored, used = decode_stored(ds, index=index, decoder=decoder, device=device)
        return DecodedImage(
            stored=stored,
            pixels=modality_values(stored, attributes),
            padding=padding_mask(stored, attributes),
            decoder=used,
            photometric=str(ds.get("PhotometricInterpretation", "")),
            flat=bool(stored.size) and bool(np.all(stored == stored.flat[0])),
            spacing=pixel_spacing(attributes),
        )
    except PixelDataError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError) as exc:
        # A header value that cannot mean what it claims (a Modality LUT of the wrong length, Rows "abc", ...).
        raise PixelDataError(f"unusable image attributes ({type(exc).__name__}: {exc})".splitlines()[0]) from exc
