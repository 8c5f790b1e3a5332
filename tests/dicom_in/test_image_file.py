"""Reading a file's pixel data from the offset its header read left gives what reading it whole gives."""

from __future__ import annotations

import re
import shutil
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicom_in.image_file import read_header, read_with_pixels
from dicom_in.memory_budget import FILE_BUDGET_BYTES, HEADER_BUDGET_BYTES, MemoryBudgetError
from dicom_in.pixel_decode import PixelDataError, decode_image
from dicom_in.study_index import index_folder
from tests.dicom_factory import mr_slice
from tests.hostile_inputs import write_deflate_bomb

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


def test_a_deflated_file_is_indexed_and_read_by_inflating_it_as_it_goes(tmp_path: Path) -> None:
    ds = mr_slice("1.2.3", "1.2.3.4", pixels=np.arange(64, dtype=np.uint16).reshape(8, 8))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    path = tmp_path / "deflated.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert index_folder(tmp_path).studies == {"1.2.3": {"1.2.3.4": [path]}}
    header, offset = read_header(path)
    assert offset is None and "PixelData" not in header and header.PatientID == "TEST001"
    np.testing.assert_array_equal(read_with_pixels(path, header, offset).pixel_array, ds.pixel_array)


def _peak_bytes(action) -> tuple[object, int]:
    """(what `action()` returned or raised, the peak of Python allocations while it ran)."""
    tracemalloc.start()
    try:
        outcome = action()
    except (PixelDataError, MemoryBudgetError) as exc:
        outcome = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, peak


@pytest.fixture(scope="module")
def radiograph(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return mr_slice("1.2.826.0.9", "1.2.826.0.9.1", pixels=np.ones((64, 64), np.uint16))


def test_a_deflate_bomb_claiming_a_huge_image_is_refused_by_its_header(tmp_path: Path, radiograph: Dataset) -> None:
    path = tmp_path / "bomb.dcm"
    assert write_deflate_bomb(radiograph, path, 3 * 2**30, "pixels") < 4 * 2**20
    (index, peak) = _peak_bytes(lambda: index_folder(tmp_path))
    assert list(index.studies) == ["1.2.826.0.9"] and peak < 8 * 2**20  # the header only: inflating stops there
    header, offset = read_header(path)
    refused, peak = _peak_bytes(lambda: read_with_pixels(path, header, offset))
    assert isinstance(refused, PixelDataError) and peak < 2**20
    assert str(refused).startswith("header claims 40133x40133 pixels x 1 frame(s) x 1 sample(s) x 16 bits = 3.0 GiB")


def test_a_deflate_bomb_whose_pixel_length_lies_is_refused_before_inflating_it(
    tmp_path: Path, radiograph: Dataset
) -> None:
    path = tmp_path / "bomb.dcm"
    write_deflate_bomb(radiograph, path, 3 * 2**30, "pixel_length")
    header, offset = read_header(path)
    assert (header.Rows, header.Columns) == (64, 64)
    refused, peak = _peak_bytes(lambda: read_with_pixels(path, header, offset))
    assert isinstance(refused, PixelDataError) and peak < 8 * 2**20
    assert (
        str(refused)
        == "deflated data set inflates past 320 MiB (needs 3.0 GiB or more), over the per-file memory budget"
    )


def test_a_deflate_bomb_in_the_header_is_refused_at_the_header_budget(tmp_path: Path, radiograph: Dataset) -> None:
    path = tmp_path / "bomb.dcm"
    write_deflate_bomb(radiograph, path, 2**30, "header")
    index, peak = _peak_bytes(lambda: index_folder(tmp_path))
    assert index.studies == {} and peak < HEADER_BUDGET_BYTES + 16 * 2**20
    (failure,) = index.failures
    assert failure.reason.startswith("deflated data set inflates past 64 MiB")
    with pytest.raises(MemoryBudgetError, match=r"^deflated data set inflates past 64 MiB"):
        read_header(path)


def test_a_deflate_bomb_after_the_pixel_data_is_refused_as_it_inflates(tmp_path: Path, radiograph: Dataset) -> None:
    path = tmp_path / "bomb.dcm"
    write_deflate_bomb(radiograph, path, 2**30, "trailer")
    header, offset = read_header(path)
    refused, peak = _peak_bytes(lambda: read_with_pixels(path, header, offset))
    assert isinstance(refused, PixelDataError) and str(refused).startswith("deflated data set inflates past 320 MiB")
    assert peak < FILE_BUDGET_BYTES + 32 * 2**20


def _with_gap(path: Path, ds: Dataset, before: int, gap: int) -> None:
    """Write `ds`, then open a sparse `gap` of zero bytes at byte `before` (a huge element's value)."""
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    with open(path, "wb") as fp:
        fp.write(data[:before])
        fp.seek(before + gap)
        fp.write(data[before:])


def test_a_huge_header_element_is_refused_without_reading_it(tmp_path: Path, radiograph: Dataset) -> None:
    ds = Dataset(dict(radiograph.items()))
    ds.file_meta = radiograph.file_meta
    ds.add_new(0x00091010, "OB", b"")
    ds.add_new(0x00090010, "LO", "MSK TEST")
    path = tmp_path / "huge.dcm"
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    at = data.index(struct.pack("<HH2sHI", 0x0009, 0x1010, b"OB", 0, 0))
    size = 100 * 2**20
    _with_gap(path, ds, at + 12, size)
    with open(path, "r+b") as fp:  # the element now claims the gap as its value
        fp.seek(at + 8)
        fp.write(struct.pack("<I", size))
    refused, peak = _peak_bytes(lambda: read_header(path))
    assert isinstance(refused, MemoryBudgetError) and peak < HEADER_BUDGET_BYTES + 8 * 2**20
    assert re.fullmatch(r"reading 100 MiB at byte \d+ passes the 64 MiB this read may hold in memory", str(refused))
    assert [f.reason for f in index_folder(tmp_path).failures] == []  # the index reads UIDs only: seeks past it


def test_pixel_data_over_the_budget_is_refused_before_it_is_read(tmp_path: Path, radiograph: Dataset) -> None:
    path = tmp_path / "big.dcm"
    radiograph.save_as(path, enforce_file_format=True)
    header, offset = read_header(path)
    with open(path, "r+b") as fp:  # 300 MiB of pixel data and what follows it (sparse)
        fp.truncate(offset + 300 * 2**20)
    refused, peak = _peak_bytes(lambda: read_with_pixels(path, header, offset))
    assert str(refused) == (
        f"pixel data of 300 MiB (from byte {offset} to the end of the file), over the per-file memory budget of 256 MiB"
    )
    assert peak < 2**20


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


def test_a_header_claiming_a_huge_image_is_refused_before_its_pixels_are_read(tmp_path: Path) -> None:
    ds = mr_slice("1.2.3", "1.2.3.4")
    ds.Rows = ds.Columns = 60000  # the pixel data itself stays 16x16
    path = tmp_path / "claims.dcm"
    ds.save_as(path, enforce_file_format=True)
    header, offset = read_header(path)
    path.unlink()  # nothing is read: the claim alone is refused
    with pytest.raises(PixelDataError) as refused:
        read_with_pixels(path, header, offset)
    assert str(refused.value) == (
        "header claims 60000x60000 pixels x 1 frame(s) x 1 sample(s) x 16 bits = 6.7 GiB of pixel data, "
        "over the per-file memory budget of 256 MiB"
    )


@pytest.mark.parametrize(
    ("keyword", "lie", "reason"),
    [
        ("Rows", b"FD", r"^header value Rows is unreadable \(BytesLengthException: "),
        ("BitsStored", b"XX", r"^header value BitsStored is unreadable \(NotImplementedError: "),
        ("PixelSpacing", b"0.7\\p.7", r"^header value PixelSpacing is unreadable \(ValueError: "),
    ],
)
def test_a_pixel_attribute_with_a_lying_vr_or_value_is_refused_by_name(
    tmp_path: Path, keyword: str, lie: bytes, reason: str
) -> None:
    ds = mr_slice("1.2.3", "1.2.3.4")
    path = tmp_path / "lie.dcm"
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    element = ds[keyword]
    at = data.index(struct.pack("<HH", element.tag.group, element.tag.element), 132)
    if len(lie) == 2:  # a VR lie: the value bytes stay
        data = data[: at + 4] + lie + data[at + 6 :]
    else:  # a value lie of the same length
        data = data[: at + 8] + lie + data[at + 8 + len(lie) :]
    path.write_bytes(data)
    with pytest.raises(PixelDataError, match=reason):
        read_with_pixels(path, *read_header(path))
