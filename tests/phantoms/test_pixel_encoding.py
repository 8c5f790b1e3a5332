from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_frames
from pydicom.uid import (
    JPEG2000,
    ComputedRadiographyImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGLosslessSV1,
    RLELossless,
)

from phantoms.pixel_encoding import LOSSLESS_SYNTAXES, SUPPORTED_SYNTAXES, encode_pixel_data

UID = "1.2.826.0.1.3680043.8.498.1"


def _dataset(bits_stored: int, seed: int = 0, shape: tuple[int, int] = (67, 91)) -> tuple[Dataset, np.ndarray]:
    """An uncompressed CR-like dataset whose pixels use the full range of `bits_stored`."""
    rng = np.random.default_rng(seed)
    max_value = (1 << bits_stored) - 1
    ramp = np.add.outer(np.linspace(0, 0.6, shape[0]), np.linspace(0, 0.3, shape[1])) * max_value
    pixels = np.clip(ramp + rng.normal(0, max_value * 0.02, shape), 0, max_value).astype(np.uint16)
    pixels[0, 0], pixels[-1, -1] = 0, max_value  # extremes: the encoder must cope with the largest differences
    pixels[5, :] = np.where(np.arange(shape[1]) % 2, max_value, 0)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ComputedRadiographyImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ComputedRadiographyImageStorage
    ds.SOPInstanceUID = UID
    ds.Rows, ds.Columns = shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    return ds, pixels


def _round_trip(ds: Dataset) -> tuple[bytes, Dataset]:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    return data, pydicom.dcmread(io.BytesIO(data))


@pytest.mark.parametrize("bits_stored", [10, 12, 15, 16])
@pytest.mark.parametrize("syntax", LOSSLESS_SYNTAXES)
def test_lossless_syntaxes_decode_to_identical_pixels(syntax: str, bits_stored: int) -> None:
    ds, pixels = _dataset(bits_stored, seed=bits_stored)
    encode_pixel_data(ds, syntax)
    _, back = _round_trip(ds)
    assert back.file_meta.TransferSyntaxUID == syntax
    assert back.SOPInstanceUID == UID  # re-encoding must not mint a new (random) instance UID
    decoded = back.pixel_array
    assert decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, pixels)
    assert "LossyImageCompression" not in back


def test_lossy_jpeg2000_is_close_and_flagged() -> None:
    ds, pixels = _dataset(12, seed=3, shape=(128, 96))
    encode_pixel_data(ds, JPEG2000)
    data, back = _round_trip(ds)
    error = np.abs(back.pixel_array.astype(np.int64) - pixels.astype(np.int64))
    assert error.mean() < 0.02 * 4095
    assert back.LossyImageCompression == "01"
    assert back.LossyImageCompressionMethod == "ISO_15444_1"
    assert float(back.LossyImageCompressionRatio) > 1
    assert len(data) < pixels.nbytes  # it did compress


def test_jpeg_lossless_is_process_14_selection_value_1() -> None:
    ds, _ = _dataset(12)
    encode_pixel_data(ds, JPEGLosslessSV1)
    _, back = _round_trip(ds)
    assert back["PixelData"].is_undefined_length
    frame = next(generate_frames(back.PixelData, number_of_frames=1))
    assert frame[:2] == b"\xff\xd8"
    sof = frame.index(b"\xff\xc3")  # SOF3: lossless, Huffman coded
    assert frame[sof + 9] == 1  # one component
    sos = frame.index(b"\xff\xda")
    components = frame[sos + 4]
    assert frame[sos + 5 + 2 * components] == 1  # Ss: predictor (selection value) 1


def test_implicit_little_endian_writes_implicit_vr() -> None:
    ds, _ = _dataset(12)
    encode_pixel_data(ds, ImplicitVRLittleEndian)
    data, back = _round_trip(ds)
    assert back.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    # After the preamble, file meta and its group, Implicit VR elements carry no two-letter VR.
    assert b"\x28\x00\x10\x00US" not in data  # (0028,0010) Rows
    assert b"\x28\x00\x10\x00\x02\x00\x00\x00" in data


def test_encoding_is_deterministic() -> None:
    outputs = {}
    for syntax in SUPPORTED_SYNTAXES:
        first, second = _dataset(14)[0], _dataset(14)[0]
        encode_pixel_data(first, syntax)
        encode_pixel_data(second, syntax)
        outputs[syntax] = _round_trip(first)[0]
        assert outputs[syntax] == _round_trip(second)[0], syntax
    assert len(set(outputs.values())) == len(SUPPORTED_SYNTAXES)


def test_rejects_unknown_syntax_and_compressed_input() -> None:
    ds, _ = _dataset(12)
    with pytest.raises(ValueError, match="Unsupported transfer syntax"):
        encode_pixel_data(ds, "1.2.840.10008.1.2.4.50")
    encode_pixel_data(ds, RLELossless)
    with pytest.raises(ValueError, match="must be uncompressed"):
        encode_pixel_data(ds, JPEG2000)
