"""Hostile DICOM files built from phantom images, for the bomb, fuzz and hostile-input tests and the bench.

* `write_deflate_bomb`: a deflated file of a few MB that inflates to gigabytes, the bytes in the pixel data
  (an honest header claiming a huge image), in header elements before it, or in elements after it.
* `j2k_siz_bomb`: a JPEG 2000 image whose codestream SIZ marker claims 60000 x 60000 pixels.
* `mutations`: seeded byte flips, truncations, tag deletions, VR lies and length lies of a file.
* `write_bomb_study`: a phantom ankle radiograph study with bombs of the given kinds in it, for a whole run.
"""

from __future__ import annotations

import copy
import math
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import data_element_generator
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

from phantoms.ankle_xray import generate_ankle_xray_dataset
from phantoms.pixel_encoding import encode_pixel_data

__all__ = [
    "BOMB_KINDS",
    "ALL_BOMB_KINDS",
    "Mutant",
    "j2k_siz_bomb",
    "mutations",
    "read_siz",
    "write_bomb_study",
    "write_deflate_bomb",
]

# Where a deflate bomb keeps its bytes: "pixels" (Rows x Columns claim them honestly), "pixel_length" (the
# pixel data element's length claims them, Rows x Columns stay small), "header" (private elements before the
# pixel data), "trailer" (private elements after it).
BOMB_KINDS = ("pixels", "pixel_length", "header", "trailer")
# The deflate bombs and the JPEG 2000 SIZ bomb ("j2k_siz": its check lives in the pixel decoder).
ALL_BOMB_KINDS = (*BOMB_KINDS, "j2k_siz")
BOMB_INFLATED_BYTES = 2_300_000_000  # more than the 2 GB a whole run may use
_ZERO_BLOCK = 64 * 2**20
_BOMB_ELEMENTS = 256  # private elements of one block (one creator owns xx00-xxFF)
_LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


def _explicit_le(ds: Dataset) -> bytes:
    """`ds` encoded as Explicit VR Little Endian elements (no preamble or file meta)."""
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, ds)
    return fp.getvalue()


def _element_header(tag: int, vr: bytes, length: int) -> bytes:
    group, element = tag >> 16, tag & 0xFFFF
    if vr in _LONG_LENGTH_VRS:
        return struct.pack("<HH2sHI", group, element, vr, 0, length)
    return struct.pack("<HH2sH", group, element, vr, length)


def _private_block(group: int, size_each: int) -> list[bytes | int]:
    """A private creator and 256 OB elements of `size_each` zero bytes (pieces for `_deflate`)."""
    creator = b"MSK BOMB"
    pieces: list[bytes | int] = [_element_header(group << 16 | 0x0010, b"LO", len(creator)) + creator]
    for index in range(_BOMB_ELEMENTS):
        pieces += [_element_header(group << 16 | 0x1000 | index, b"OB", size_each), size_each]
    return pieces


def _zeros_compressed(n_bytes: int, cache: dict[int, bytes]) -> bytes:
    """Raw deflate of `n_bytes` zeros ending in a full flush, so the same bytes may follow any full flush."""
    if n_bytes not in cache:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        cache[n_bytes] = compressor.compress(bytes(n_bytes)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return cache[n_bytes]


def _deflate(pieces: list[bytes | int]) -> Iterator[bytes]:
    """Raw deflate of the pieces in order; an int piece is that many zero bytes, compressed once and repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    cache: dict[int, bytes] = {}
    for piece in pieces:
        if isinstance(piece, bytes):
            yield compressor.compress(piece) + compressor.flush(zlib.Z_FULL_FLUSH)
            continue
        blocks, rest = divmod(piece, _ZERO_BLOCK)
        for _ in range(blocks):
            yield _zeros_compressed(_ZERO_BLOCK, cache)
        if rest:
            yield _zeros_compressed(rest, cache)
    yield compressor.flush()


def write_deflate_bomb(source: Dataset, path: Path, inflated_bytes: int, kind: str) -> int:
    """Write `source` (a phantom image) as a deflated file whose data set inflates to about `inflated_bytes`.

    The bomb keeps `source`'s study and series, with a new SOPInstanceUID. Returns the file's size.
    """
    if kind not in BOMB_KINDS:
        raise ValueError(f"expected a bomb kind in {BOMB_KINDS}, got {kind!r}")
    ds = copy.deepcopy(source)  # a Dataset's copy() shares its elements: setting a value would change `source`
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(source.SOPInstanceUID), kind, str(inflated_bytes)])
    pixels = bytes(ds.PixelData) if "PixelData" in ds else b""
    del ds.PixelData
    if kind in ("pixels", "pixel_length"):
        side = math.isqrt(-(-inflated_bytes // 2) - 1) + 1  # the least side whose 16-bit image holds that many
        if kind == "pixels":
            ds.Rows = ds.Columns = side
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.SamplesPerPixel = 16, 12, 11, 1
        pieces: list[bytes | int] = [_explicit_le(ds) + _element_header(0x7FE00010, b"OW", side * side * 2)]
        pieces.append(side * side * 2)
    else:
        each = -(-inflated_bytes // _BOMB_ELEMENTS) + 1 & ~1
        pixel_element = _element_header(0x7FE00010, b"OW", len(pixels)) + pixels
        if kind == "header":
            before, after = ds[:0x00090000], ds[0x000A0000:]
            pieces = [_explicit_le(before), *_private_block(0x0009, each), _explicit_le(after) + pixel_element]
        else:
            pieces = [_explicit_le(ds) + pixel_element, *_private_block(0x7FE1, each)]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.1"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fp:
        fp.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(fp, meta, enforce_standard=True)
        for chunk in _deflate(pieces):
            fp.write(chunk)
    return path.stat().st_size


_SIZ = struct.Struct(">HHHIIIIIIII")  # marker, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz


def read_siz(codestream: bytes) -> tuple[int, int, int, int]:
    """(Xsiz, Ysiz, XTsiz, YTsiz) of a JPEG 2000 codestream's SIZ marker segment, which follows SOC."""
    if codestream[:4] != b"\xff\x4f\xff\x51":
        raise ValueError(f"expected SOC then SIZ at the start of the codestream, got {codestream[:4].hex()}")
    fields = _SIZ.unpack_from(codestream, 2)
    return fields[3], fields[4], fields[7], fields[8]


def j2k_siz_bomb(source: Dataset, side: int = 60000, header_agrees: bool = False) -> Dataset:
    """`source` (native pixels) as JPEG 2000 lossless whose SIZ claims `side` x `side` pixels in one tile.

    With `header_agrees`, Rows and Columns claim the same; otherwise they keep the real (small) size, so the
    lie is only in the codestream. The rest of the codestream is the real image's.
    """
    ds = copy.deepcopy(source)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(source.SOPInstanceUID), "j2k-siz", str(side)])
    encode_pixel_data(ds, JPEG2000Lossless)
    (frame,) = list(generate_frames(ds.PixelData, number_of_frames=1))
    fields = list(_SIZ.unpack_from(frame, 2))
    fields[3] = fields[4] = fields[7] = fields[8] = side
    fields[5] = fields[6] = fields[9] = fields[10] = 0
    patched = frame[:2] + _SIZ.pack(*fields) + frame[2 + _SIZ.size :]
    ds.PixelData = encapsulate([patched])
    if header_agrees:
        ds.Rows = ds.Columns = side
    return ds


@dataclass(frozen=True)
class Mutant:
    """One mutated file: its bytes and what was done to the source."""

    data: bytes
    description: str


def _elements(data: bytes) -> list[tuple[int, int, bytes | None, int]]:
    """(tag, header offset, VR bytes or None, length field offset) of the top-level elements after the meta."""
    fp = DicomBytesIO(data)
    fp.seek(132)
    found = []
    try:
        for element in data_element_generator(fp, False, True):
            vr = element.VR.encode() if element.VR else None
            long_form = vr in _LONG_LENGTH_VRS
            header = element.value_tell - (12 if long_form else 8)
            found.append((int(element.tag), header, vr, header + (8 if long_form else 6)))
    except Exception:  # noqa: BLE001 - a source we cannot walk simply has fewer targets
        pass
    return [e for e in found if e[1] >= 132]


def mutations(data: bytes, count: int, seed: int) -> list[Mutant]:
    """`count` mutants of one explicit VR file's bytes: byte flips, truncations, tag deletions, VR and length lies."""
    rng = np.random.default_rng(seed)
    elements = _elements(data)
    vrs = [b"OB", b"SQ", b"UN", b"US", b"FD", b"UI", b"PN", b"XX", b"\x00\x00"]
    lengths = [0, 1, 2**16 - 1, 2**31, 2**32 - 2, 2**32 - 1]
    mutants = []
    for _ in range(count):
        how = rng.choice(["flip", "flip_header", "truncate", "delete", "vr", "length"])
        buffer = bytearray(data)
        if how in ("flip", "flip_header"):
            span = min(len(buffer), 2048) if how == "flip_header" else len(buffer)
            spots = rng.integers(0, span, int(rng.integers(1, 17)))
            for spot in spots:
                buffer[spot] ^= 1 << int(rng.integers(0, 8))
            text = f"{how}: {len(spots)} bit(s) flipped"
        elif how == "truncate":
            cut = int(rng.integers(0, len(buffer)))
            del buffer[cut:]
            text = f"truncated at byte {cut}"
        elif not elements:
            text = "unchanged (no element to mutate)"
        else:
            tag, start, vr, length_at = elements[int(rng.integers(0, len(elements)))]
            if how == "delete":
                following = [e[1] for e in elements if e[1] > start]
                end = following[0] if following else len(buffer)
                del buffer[start:end]
                text = f"element {tag:08X} deleted"
            elif how == "vr" and vr is not None:
                lie = vrs[int(rng.integers(0, len(vrs)))]
                buffer[start + 4 : start + 6] = lie
                text = f"element {tag:08X} VR {vr.decode(errors='replace')} -> {lie!r}"
            else:
                long_form = vr in _LONG_LENGTH_VRS
                lie = lengths[int(rng.integers(0, len(lengths)))]
                if long_form:
                    buffer[length_at : length_at + 4] = struct.pack("<I", lie)
                else:
                    buffer[length_at : length_at + 2] = struct.pack("<H", lie & 0xFFFF)
                text = f"element {tag:08X} length -> {lie if long_form else lie & 0xFFFF}"
        mutants.append(Mutant(bytes(buffer), text))
    return mutants


def write_bomb_study(folder: Path, kinds: Sequence[str], seed: int = 21) -> dict[str, Path]:
    """A phantom ankle radiograph study under `folder`/study and, in the same study, one bomb per kind under
    `folder`/bombs (ALL_BOMB_KINDS); returns {kind: bomb file}. The study's own radiographs stay analysable."""
    (truth,) = generate_ankle_xray_dataset(folder / "study", patients=1, seed=seed)
    native = next(i for i in truth["images"] if i["transfer_syntax_uid"] == ExplicitVRLittleEndian)
    source = pydicom.dcmread(folder / "study" / truth["patient_id"] / native["file"])
    bombs = {}
    for kind in kinds:
        path = folder / "bombs" / f"{kind}.dcm"
        if kind == "j2k_siz":
            path.parent.mkdir(parents=True, exist_ok=True)
            j2k_siz_bomb(source).save_as(path, enforce_file_format=True)
        else:
            write_deflate_bomb(source, path, BOMB_INFLATED_BYTES, kind)
        bombs[kind] = path
    return bombs
