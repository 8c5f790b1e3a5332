"""Re-encode a dataset's native pixel data to another transfer syntax (uncompressed, JPEG, JPEG 2000, RLE)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    JPEG2000,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    RLELossless,
    SecondaryCaptureImageStorage,
)
from pydicom.valuerep import VR

__all__ = [
    "LOSSLESS_SYNTAXES",
    "LOSSY_SYNTAXES",
    "SUPPORTED_SYNTAXES",
    "SYNTAX_SHORT_NAMES",
    "J2K_LOSSY_RATIO",
    "encode_pixel_data",
]

logger = logging.getLogger(__name__)

# Ordered so that cycling over it alternates uncompressed and compressed storage.
SUPPORTED_SYNTAXES: tuple[str, ...] = (
    ExplicitVRLittleEndian,
    JPEGLosslessSV1,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    JPEG2000,
)
LOSSY_SYNTAXES: frozenset[str] = frozenset({JPEG2000})
LOSSLESS_SYNTAXES: tuple[str, ...] = tuple(s for s in SUPPORTED_SYNTAXES if s not in LOSSY_SYNTAXES)
SYNTAX_SHORT_NAMES: dict[str, str] = {
    ExplicitVRLittleEndian: "EXPLICIT",
    ImplicitVRLittleEndian: "IMPLICIT",
    JPEGLosslessSV1: "JPEGLL",
    JPEG2000Lossless: "J2KLL",
    JPEG2000: "J2K",
    RLELossless: "RLE",
}
J2K_LOSSY_RATIO = 10.0  # mild, visually lossless-ish: a detector must cope with it, not fight it

_UNCOMPRESSED = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
_PIXEL_MODULE = (
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelData",
)


def encode_pixel_data(ds: Dataset, transfer_syntax_uid: str) -> None:
    """Re-encode `ds`'s native (uncompressed) pixel data in place to `transfer_syntax_uid`."""
    if transfer_syntax_uid not in SUPPORTED_SYNTAXES:
        raise ValueError(f"Unsupported transfer syntax {transfer_syntax_uid}; expected one of {SUPPORTED_SYNTAXES}")
    current = ds.file_meta.TransferSyntaxUID
    if current not in _UNCOMPRESSED:
        raise ValueError(f"Pixel data must be uncompressed to re-encode it, but it is {current}")
    if transfer_syntax_uid in _UNCOMPRESSED:
        # Native pixel bytes are the same for both little endian syntaxes; only the element encoding changes.
        ds.file_meta.TransferSyntaxUID = transfer_syntax_uid
        return
    if transfer_syntax_uid == JPEGLosslessSV1:
        _encode_jpeg_lossless(ds)
        return
    if transfer_syntax_uid == JPEG2000:
        ds.compress(JPEG2000, j2k_cr=[J2K_LOSSY_RATIO], generate_instance_uid=False)
        # PS3.3 C.7.6.1.1.5: once lossy compressed, always flagged as such.
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = J2K_LOSSY_RATIO
        ds.LossyImageCompressionMethod = "ISO_15444_1"
        return
    ds.compress(transfer_syntax_uid, generate_instance_uid=False)


def _encode_jpeg_lossless(ds: Dataset) -> None:
    """JPEG Lossless SV1 via GDCM (pydicom has no encoder for it); only the encapsulated pixel data is kept."""
    import gdcm  # python-gdcm; imported here so the other syntaxes work without it

    # GDCM sees only the Image Pixel module, so it cannot touch (or object to) the rest of the header.
    minimal = Dataset()
    minimal.file_meta = FileMetaDataset()
    minimal.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    minimal.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    minimal.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    minimal.SOPClassUID = SecondaryCaptureImageStorage
    minimal.SOPInstanceUID = ds.SOPInstanceUID
    for keyword in _PIXEL_MODULE:
        setattr(minimal, keyword, ds[keyword].value)
    with tempfile.TemporaryDirectory(prefix="jpegll-") as tmp:
        source, target = Path(tmp) / "native.dcm", Path(tmp) / "jpeg.dcm"
        minimal.save_as(source, enforce_file_format=True)
        reader = gdcm.ImageReader()
        reader.SetFileName(str(source))
        if not reader.Read():
            raise RuntimeError("GDCM could not read the native image it was given")
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
        change.SetInput(reader.GetImage())
        if not change.Change():
            raise RuntimeError("GDCM failed to encode JPEG Lossless SV1")
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(target))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        if not writer.Write():
            raise RuntimeError("GDCM failed to write the JPEG Lossless image")
        encoded = dcmread(target)
    if encoded.file_meta.TransferSyntaxUID != JPEGLosslessSV1:
        raise RuntimeError(f"GDCM wrote {encoded.file_meta.TransferSyntaxUID}, not JPEG Lossless SV1")
    ds.PixelData = encoded.PixelData
    element = ds["PixelData"]
    element.VR = VR.OB
    element.is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
