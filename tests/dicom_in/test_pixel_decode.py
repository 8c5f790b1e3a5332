"""Decoded pixels equal pydicom's exactly for every lossless syntax we can produce or find offline."""

from __future__ import annotations

import copy
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, get_frame
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    JPEG2000,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from dicom_in import pixel_decode
from dicom_in.image_file import read_header, read_with_pixels
from dicom_in.pixel_decode import PixelDataError, choose_decoder, decode_image
from phantoms.pixel_encoding import LOSSLESS_SYNTAXES, encode_pixel_data
from tests.dicom_factory import mr_slice
from tests.pydicom_data import data_file

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


def test_decoder_per_syntax_and_device_follows_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _synthetic(16)
    expected = ds.pixel_array.copy()
    ds.compress(JPEG2000Lossless)
    # On the CPU the apps decode JPEG 2000 with pydicom (DALI measured slower there); DALI stays exact when forced.
    assert choose_decoder(JPEG2000Lossless, "cpu") == "pydicom" and choose_decoder(JPEG2000, "cuda") == "dali"
    assert choose_decoder(ExplicitVRLittleEndian, "cuda") == "native"
    assert decode_image(ds).decoder == "pydicom"
    forced = decode_image(ds, decoder="dali")
    assert forced.decoder == "dali-cpu"
    np.testing.assert_array_equal(forced.stored, expected)
    np.testing.assert_array_equal(decode_image(ds).stored, expected)
    monkeypatch.setenv("MSK_MAPS_NO_DALI", "1")
    assert choose_decoder(JPEG2000, "cuda") == "pydicom"


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
    kept = decode_image(first, decoder="dali").stored
    decode_image(second, decoder="dali")  # DALI reuses its output buffer for this one
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


def _big_endian(ds: pydicom.Dataset, tmp_path: Path) -> Path:
    """`ds` written in Explicit VR Big Endian, its pixel bytes swapped as that syntax requires."""
    twin = copy.deepcopy(ds)
    dtype = np.dtype(f"{'i' if ds.PixelRepresentation else 'u'}{ds.BitsAllocated // 8}")
    twin.PixelData = np.frombuffer(ds.PixelData, dtype.newbyteorder("<")).astype(dtype.newbyteorder(">")).tobytes()
    twin.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    path = tmp_path / "big_endian.dcm"
    dcmwrite(path, twin, implicit_vr=False, little_endian=False, enforce_file_format=True)
    return path


@pytest.mark.parametrize(("bits_stored", "signed"), [(12, False), (16, False), (16, True), (12, True)])
def test_big_endian_native_pixels_equal_pydicom_and_the_little_endian_twin(
    bits_stored: int, signed: bool, tmp_path: Path
) -> None:
    ds = _synthetic(bits_stored)
    if signed:
        ds.PixelRepresentation = 1
        ds.PixelData = (ds.pixel_array.astype(np.int32) - (1 << (bits_stored - 1))).astype(np.int16).tobytes()
    little = decode_image(ds)
    path = _big_endian(ds, tmp_path)
    header, offset = read_header(path)
    assert header.original_encoding == (False, False)
    image = read_with_pixels(path, header, offset)
    decoded = decode_image(image)
    np.testing.assert_array_equal(decoded.stored, pydicom.dcmread(path).pixel_array)
    np.testing.assert_array_equal(decoded.stored, little.stored)
    np.testing.assert_array_equal(decoded.pixels, little.pixels)


@pytest.mark.parametrize("name", ["MR_small_bigendian.dcm", "emri_small_big_endian.dcm"])
def test_real_big_endian_files_decode_as_pydicom_does(name: str) -> None:
    ds = pydicom.dcmread(data_file(name))
    expected = ds.pixel_array
    frames = expected if expected.ndim == 3 else expected[None]
    for index, frame in enumerate(frames):
        np.testing.assert_array_equal(decode_image(ds, index=index).stored, frame)


@pytest.mark.parametrize(
    "name",
    [
        "emri_small.dcm",
        "emri_small_big_endian.dcm",
        "emri_small_RLE.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
    ],
)
def test_enhanced_mr_frames_decode_one_by_one_as_pydicom_does(name: str) -> None:
    ds = pydicom.dcmread(data_file(name))
    expected = pydicom.dcmread(data_file(name)).pixel_array
    assert expected.shape == (10, 64, 64)
    for index in (0, 4, 9):
        np.testing.assert_array_equal(decode_image(ds, index=index).stored, expected[index])
    with pytest.raises(PixelDataError, match=r"frame index 10 out of range: the image has 10 frame\(s\)"):
        decode_image(ds, index=10)


def _set_j2k_size(ds: pydicom.Dataset, rows: int, columns: int) -> None:
    """Rewrite the SIZ marker of a one-frame JPEG 2000 dataset to claim another size."""
    frame = bytearray(get_frame(ds.PixelData, 0, number_of_frames=1))
    at = frame.find(b"\xff\x4f\xff\x51")
    frame[at + 8 : at + 24] = struct.pack(">4I", columns, rows, 0, 0)
    ds.PixelData = encapsulate([bytes(frame)])


def _no_decoder_may_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("a decoder ran on a codestream that should have been refused")

    monkeypatch.setattr(pixel_decode, "pixel_array", refuse)
    monkeypatch.setattr(pixel_decode, "_decode_dali", refuse)


def test_j2k_siz_claiming_60000_squared_is_refused_before_any_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _synthetic(16)
    ds.compress(JPEG2000Lossless)
    assert pixel_decode.codestream_shape(get_frame(ds.PixelData, 0, number_of_frames=1), JPEG2000Lossless) == (
        48,
        40,
        1,
    )
    _set_j2k_size(ds, 60000, 60000)
    _no_decoder_may_run(monkeypatch)
    tracemalloc.start()
    for decoder in ("auto", "dali", "pydicom"):
        with pytest.raises(PixelDataError, match=r"^JPEG 2000 SIZ header says 60000x60000x1, the DICOM header 48x40x1"):
            decode_image(ds, decoder=decoder)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes allocated while refusing"


def test_jpeg_sof_that_disagrees_with_rows_and_columns_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _synthetic(12)
    encode_pixel_data(ds, JPEGLosslessSV1)
    frame = bytearray(get_frame(ds.PixelData, 0, number_of_frames=1))
    assert pixel_decode.codestream_shape(bytes(frame), JPEGLosslessSV1) == (48, 40, 1)
    at = next(i for i in range(2, len(frame)) if frame[i - 1] == 0xFF and frame[i] == 0xC3)
    frame[at + 4 : at + 8] = struct.pack(">HH", 50000, 50000)
    ds.PixelData = encapsulate([bytes(frame)])
    _no_decoder_may_run(monkeypatch)
    with pytest.raises(PixelDataError, match=r"^JPEG SOF header says 50000x50000x1, the DICOM header 48x40x1"):
        decode_image(ds)


def test_a_header_claiming_more_than_the_pixel_budget_is_refused_before_reading(tmp_path: Path) -> None:
    ds = _synthetic(16)
    ds.Rows, ds.Columns = 60000, 60000
    with pytest.raises(PixelDataError, match=r"60000x60000 16-bit pixels = 6\.7 GiB, over the per-file budget"):
        decode_image(ds)
    frames = _synthetic(16)
    frames.NumberOfFrames = 200000  # 200000 frames of 48x40: 730 MiB claimed by a 4 kB file
    with pytest.raises(PixelDataError, match=r"header claims 200000 frame\(s\).* over the per-file budget"):
        decode_image(frames)


def test_a_modality_lut_that_cannot_mean_what_it_claims_is_one_line() -> None:
    ds = _synthetic(12)
    item = pydicom.Dataset()
    item.LUTDescriptor, item.LUTData = [4096, 0, 16], [1, 2, 3]  # 4096 entries promised, 3 given
    ds.ModalityLUTSequence = pydicom.Sequence([item])
    with pytest.raises(PixelDataError, match=r"^unusable image attributes \(") as caught:
        decode_image(ds)
    assert "\n" not in str(caught.value)
