"""Reading a file's pixel data from the offset its header read left gives what reading it whole gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicom_in.image_file import read_header, read_with_pixels
from dicom_in.pixel_decode import PixelDataError, decode_image
from tests.dicom_factory import mr_slice

# Bundled with pydicom: explicit and implicit VR, big endian, encapsulated (RLE, JPEG 2000) and trailing padding.
BUNDLED = [
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_padded.dcm",
]


@pytest.mark.filterwarnings("ignore:The pixel data is .* excess padding")
@pytest.mark.parametrize("name", BUNDLED)
def test_pixel_data_read_from_the_offset_equals_the_whole_file(name: str) -> None:
    path = Path(get_testdata_file(name))
    whole = pydicom.dcmread(path)
    header, offset = read_header(path)
    assert offset is not None and "PixelData" not in header
    image = read_with_pixels(path, header, offset)
    assert image.PixelData == whole.PixelData
    assert set(image.keys()) == set(whole.keys())
    assert "PixelData" not in header  # the shared header never gains the pixels
    np.testing.assert_array_equal(image.pixel_array, whole.pixel_array)


def test_decoded_pixels_equal_decoding_the_whole_file(tmp_path: Path) -> None:
    pixels = np.random.default_rng(3).integers(0, 4096, (40, 48), dtype=np.uint16)
    path = tmp_path / "slice.dcm"
    mr_slice("1.2.3", "1.2.3.4", pixels=pixels).save_as(path, enforce_file_format=True)
    image = read_with_pixels(path, *read_header(path))
    np.testing.assert_array_equal(decode_image(image).stored, pixels)
    np.testing.assert_array_equal(decode_image(image).pixels, decode_image(path).pixels)


def test_implicit_vr_pixel_data_whose_length_reads_like_a_vr(tmp_path: Path) -> None:
    # 74 x 151 16-bit pixels = 22348 bytes = 0x574C: little endian, the length starts with the letters "LW",
    # which pydicom's read_dataset takes for an explicit VR (a real phantom radiograph hit this).
    pixels = np.random.default_rng(5).integers(0, 4096, (74, 151), dtype=np.uint16)
    ds = mr_slice("1.2.3", "1.2.3.4", pixels=pixels)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    path = tmp_path / "implicit.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert len(ds.PixelData).to_bytes(4, "little")[:2] == b"LW"
    image = read_with_pixels(path, *read_header(path))
    np.testing.assert_array_equal(decode_image(image).stored, pixels)


def test_a_deflated_file_is_read_whole(tmp_path: Path) -> None:
    ds = mr_slice("1.2.3", "1.2.3.4", pixels=np.arange(64, dtype=np.uint16).reshape(8, 8))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    path = tmp_path / "deflated.dcm"
    ds.save_as(path, enforce_file_format=True)
    header, offset = read_header(path)
    assert offset is None
    np.testing.assert_array_equal(read_with_pixels(path, header, offset).pixel_array, ds.pixel_array)


def test_a_file_truncated_after_its_header_was_read_fails_as_reading_it_whole_does(tmp_path: Path) -> None:
    path = tmp_path / "slice.dcm"
    shutil.copy(get_testdata_file("MR_small.dcm"), path)
    header, offset = read_header(path)
    path.write_bytes(path.read_bytes()[: offset + 100])
    with pytest.raises(PixelDataError) as from_offset:
        decode_image(read_with_pixels(path, header, offset))
    with pytest.raises(PixelDataError) as whole:
        decode_image(path)
    assert str(from_offset.value) == str(whole.value)


def test_a_file_gone_since_its_header_was_read_is_a_one_line_reason(tmp_path: Path) -> None:
    path = tmp_path / "slice.dcm"
    shutil.copy(get_testdata_file("MR_small.dcm"), path)
    header, offset = read_header(path)
    path.unlink()
    with pytest.raises(PixelDataError, match=r"^cannot open \(No such file or directory\)$"):
        read_with_pixels(path, header, offset)
