"""Decoded pixels equal pydicom's exactly for every lossless syntax we can produce or find offline."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from dicom_in.pixel_decode import PixelDataError, decode_image
from phantoms.pixel_encoding import LOSSLESS_SYNTAXES, encode_pixel_data
from tests.dicom_factory import mr_slice

# Only files that ship inside the pydicom wheel: get_testdata_file would try the network for others.
BUNDLED = [
    "MR_small.dcm",
    "CT_small.dcm",
    "MR_small_RLE.dcm",
    "JPEG2000.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
]


def _synthetic(bits_stored: int) -> pydicom.Dataset:
    rng = np.random.default_rng(bits_stored)
    pixels = rng.integers(0, 1 << bits_stored, (48, 40), dtype=np.uint16)
    ds = mr_slice("1.2.3", "1.2.3.4", pixels=pixels)
    ds.BitsStored, ds.HighBit = bits_stored, bits_stored - 1
    return ds


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_files_decode_exactly(name: str) -> None:
    ds = pydicom.dcmread(get_testdata_file(name))
    decoded = decode_image(ds)
    np.testing.assert_array_equal(decoded.stored, ds.pixel_array)
    assert decoded.stored.dtype == ds.pixel_array.dtype


@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless, JPEG2000Lossless, JPEGLSLossless]
)
@pytest.mark.parametrize("bits_stored", [12, 16])
def test_lossless_syntaxes_decode_exactly(syntax: str, bits_stored: int) -> None:
    ds = _synthetic(bits_stored)
    expected = ds.pixel_array.copy()
    if syntax == ImplicitVRLittleEndian:
        ds.file_meta.TransferSyntaxUID = syntax
    elif syntax != ExplicitVRLittleEndian:
        ds.compress(syntax)
    decoded = decode_image(ds)
    np.testing.assert_array_equal(decoded.stored, expected)
    np.testing.assert_array_equal(decoded.stored, ds.pixel_array)


def test_jpeg2000_goes_through_dali_and_stays_exact() -> None:
    ds = _synthetic(16)
    expected = ds.pixel_array.copy()
    ds.compress(JPEG2000Lossless)
    decoded = decode_image(ds)
    assert decoded.decoder == "dali-cpu"
    np.testing.assert_array_equal(decoded.stored, expected)


def test_rescale_and_monochrome1() -> None:
    ds = _synthetic(12)
    ds.RescaleSlope, ds.RescaleIntercept = 2.0, -1024.0
    stored = ds.pixel_array.astype(np.float64)
    np.testing.assert_array_equal(decode_image(ds).pixels, (stored * 2 - 1024).astype(np.float32))
    ds.PhotometricInterpretation = "MONOCHROME1"
    np.testing.assert_array_equal(decode_image(ds).pixels, ((4095 - stored) * 2 - 1024).astype(np.float32))


def test_signed_ct_keeps_sign_and_rescale() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    decoded = decode_image(ds)
    assert decoded.stored.dtype == np.int16
    np.testing.assert_allclose(decoded.pixels, ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept))


def test_header_that_lies_about_its_size() -> None:
    ds = _synthetic(12)
    ds.Rows = 96
    with pytest.raises(
        PixelDataError, match=r"header promises 1x96x40x1 16-bit pixels = 7680 bytes, PixelData holds 3840"
    ):
        decode_image(ds)


def test_flat_image_is_flagged_not_fixed() -> None:
    ds = mr_slice("1.2.3", "1.2.3.4", pixels=np.zeros((8, 8), np.uint16))
    decoded = decode_image(ds)
    assert decoded.flat and decoded.pixels.max() == 0
    assert not decode_image(_synthetic(12)).flat


def test_missing_pixel_module_is_a_clear_error() -> None:
    ds = _synthetic(12)
    del ds.BitsStored
    with pytest.raises(PixelDataError, match="lacks BitsStored"):
        decode_image(ds)


def test_dali_results_survive_the_next_decode() -> None:
    first, second = _synthetic(16), _synthetic(12)
    expected = first.pixel_array.copy()
    first.compress(JPEG2000Lossless)
    second.compress(JPEG2000Lossless)
    kept = decode_image(first).stored
    decode_image(second)  # DALI reuses its output buffer for this one
    np.testing.assert_array_equal(kept, expected)


@pytest.mark.parametrize("syntax", LOSSLESS_SYNTAXES)
@pytest.mark.parametrize("bits_stored", [10, 12, 15, 16])
def test_radiograph_syntaxes_decode_exactly_including_jpeg_lossless(syntax: str, bits_stored: int) -> None:
    ds = _synthetic(bits_stored)
    expected = ds.pixel_array.copy()
    encode_pixel_data(ds, syntax)
    decoded = decode_image(ds)
    np.testing.assert_array_equal(decoded.stored, expected)
    np.testing.assert_array_equal(decoded.stored, ds.pixel_array)


def test_monochrome1_radiograph_is_inverted_so_bone_is_bright() -> None:
    ds = _synthetic(12)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    decoded = decode_image(ds)
    stored = ds.pixel_array.astype(np.float64)
    assert np.corrcoef(decoded.pixels.ravel(), stored.ravel())[0, 1] < -0.999
