"""The hostile-input builders make what they claim: a small file inflating to the size asked, a lying SIZ."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from pydicom.encaps import generate_frames
from pydicom.filebase import DicomBytesIO

from tests.dicom_factory import mr_slice
from tests.hostile_inputs import BOMB_KINDS, j2k_siz_bomb, mutations, read_siz, write_deflate_bomb


def _inflated_size(path: Path) -> int:
    """Bytes the deflated data set after the file meta inflates to, counted as it streams."""
    data = path.read_bytes()
    group_length = int.from_bytes(data[140:144], "little")  # (0002,0000) UL value, right after 'DICM'
    inflater, total, view = zlib.decompressobj(-zlib.MAX_WBITS), 0, data[144 + group_length :]
    while view:
        total += len(inflater.decompress(view, 2**24))
        view = inflater.unconsumed_tail
    return total


@pytest.mark.parametrize("kind", BOMB_KINDS)
def test_a_deflate_bomb_is_small_and_inflates_past_what_was_asked(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bomb.dcm"
    size = write_deflate_bomb(mr_slice("1.2.3", "1.2.3.4"), path, 256 * 2**20, kind)
    assert size == path.stat().st_size < 2**20
    assert 256 * 2**20 <= _inflated_size(path) < 260 * 2**20


@pytest.mark.parametrize("header_agrees", [False, True])
def test_the_j2k_siz_bomb_claims_60000_pixels_a_side(header_agrees: bool) -> None:
    source = mr_slice("1.2.3", "1.2.3.4", pixels=np.arange(64 * 48, dtype=np.uint16).reshape(64, 48))
    bomb = j2k_siz_bomb(source, header_agrees=header_agrees)
    (codestream,) = generate_frames(bomb.PixelData, number_of_frames=1)
    assert read_siz(codestream) == (60000, 60000, 60000, 60000)
    assert (bomb.Rows, bomb.Columns) == ((60000, 60000) if header_agrees else (64, 48))
    assert bomb.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"


def test_mutations_are_seeded_and_change_the_file() -> None:
    path_bytes = _slice_bytes()
    first, again = mutations(path_bytes, 40, seed=3), mutations(path_bytes, 40, seed=3)
    assert [m.data for m in first] == [m.data for m in again]
    assert all(m.data != path_bytes for m in first if not m.description.startswith("unchanged"))
    kinds = {m.description.split(" ")[0].rstrip(":") for m in first}
    assert {"flip", "flip_header", "truncated", "element"} <= kinds


def _slice_bytes() -> bytes:
    buffer = DicomBytesIO()
    mr_slice("1.2.3", "1.2.3.4").save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
