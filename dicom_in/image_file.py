"""A DICOM image file read in two steps: its header when the study is loaded, its pixel data when decoded.

The decoder used to read each selected file whole, parsing the header a second time: 0.66 ms a slice
against 0.36 ms when only the elements from the pixel data on are read (128x128 MR slices, explicit VR).

Every read here is bounded and never blocks:
* only regular files are opened (a FIFO named x.dcm would block `open()` forever, a device never ends);
* a file is DICOM when it has the 128-byte preamble and 'DICM', or when it starts with a group 0002 or
  0008 element (PS3.10 media without a preamble, as pydicom's OT-PAL-8-face.dcm); anything else is refused
  with NotDicomError before pydicom guesses at it;
* a deflated data set (Deflated Explicit VR Little Endian) is inflated as it is read, never whole, and
  refused once the inflated bytes pass the per-file budget (dicom_in.memory_budget); a header read stops
  inflating at the pixel data;
* reading a header takes at most HEADER_BUDGET_BYTES into memory, reading pixel data at most the pixel
  budget, whatever lengths the file's elements claim.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.filereader import _read_file_meta_info, data_element_generator, read_dataset
from pydicom.tag import Tag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    PrivateTransferSyntaxes,
)
from pydicom.valuerep import VR
from pydicom.values import converters

from dicom_in.memory_budget import (
    FILE_BUDGET_BYTES,
    HEADER_BUDGET_BYTES,
    PIXEL_BUDGET_BYTES,
    MemoryBudgetError,
    check_pixel_budget,
    size_text,
)
from dicom_in.pixel_decode import PixelDataError

__all__ = [
    "DicomReadError",
    "NotDicomError",
    "NotRegularFileError",
    "check_pixel_claims",
    "read_header",
    "read_header_tags",
    "read_with_pixels",
    "one_line",
    "READ_ERRORS",
]

_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00009, 0x7FE00008})  # pixel, double float and float pixel data
_EXPLICIT_VRS = frozenset(vr.value.encode("ascii") for vr in VR)
# What pydicom and zlib raise on a damaged file (besides ValueError and OSError): each means "unreadable".
READ_ERRORS = (
    InvalidDicomError,
    OSError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    OverflowError,
    RecursionError,
    BytesLengthException,
    struct.error,
    zlib.error,
)
# Beyond the pixel data element, a file may end in a few small elements (e.g. Data Set Trailing Padding).
_TRAILER_BYTES = 2**20


class DicomReadError(ValueError):
    """A file that cannot be read as DICOM; the message is the one-line reason."""


class NotRegularFileError(DicomReadError):
    """A FIFO, socket, device or directory: never opened, since reading it could block or never end."""


class NotDicomError(DicomReadError):
    """A regular file whose first bytes are not DICOM (no preamble and 'DICM', no data set at byte 0)."""


def one_line(text: object, limit: int = 400) -> str:
    """`text` on one line (runs of whitespace, newlines included, become one space), at most `limit` chars."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"))
    kinds += ((stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading when it is a regular file (after following links); else NotRegularFileError."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"{_kind(mode)}, not a regular file: not opened (reading it could block)")
        # O_NONBLOCK: should the path turn into a FIFO between stat and open, open() still returns at once.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:  # a dangling link, a permission denied, a file gone since the folder was walked
        raise DicomReadError(one_line(f"cannot open ({exc.strerror or exc})")) from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"{_kind(mode)}, not a regular file: not opened (reading it could block)")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _starts_a_data_set(head: bytes) -> bool:
    """Whether `head` begins with a group 0002 or 0008 element, as a data set stored without a preamble does."""
    if len(head) < 8:
        return False
    for order in "<>":
        group, _ = struct.unpack(f"{order}HH", head[:4])
        if group not in (0x0002, 0x0008):
            continue
        if head[4:6] in _EXPLICIT_VRS:
            return True
        # Implicit VR (little endian only): the first elements of group 0002/0008 are short.
        if order == "<" and struct.unpack("<I", head[4:8])[0] <= 1024:
            return True
    return False


class _Bounded(io.RawIOBase):
    """A file whose reads stop at its end and may deliver at most `limit` bytes in all (seeks are free)."""

    def __init__(self, raw: BinaryIO, size: int, limit: int, name: str) -> None:
        super().__init__()
        self._raw, self._size, self._limit, self._delivered = raw, size, limit, 0
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        left = self._size - self._raw.tell()
        n = left if n is None or n < 0 else min(n, left)
        if self._delivered + n > self._limit:
            raise MemoryBudgetError(
                f"reading {size_text(n)} at byte {self._raw.tell()} passes the {size_text(self._limit)} "
                "this read may hold in memory"
            )
        data = self._raw.read(max(n, 0))
        self._delivered += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


class _Inflating(io.RawIOBase):
    """The data set of a deflated file, inflated as it is read; at most `limit` inflated bytes in all.

    Compressed input is fed in 64 KiB pieces and each inflate step yields at most 1 MiB, so a bomb never
    expands in one call. The last MiB before the position is kept for pydicom's short seeks back.
    """

    _CHUNK = 64 * 1024
    _STEP = 2**20
    _KEEP = 2**20

    def __init__(self, raw: BinaryIO, limit: int, name: str) -> None:
        super().__init__()
        self._raw, self._limit, self.name = raw, limit, name
        self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        self._buffer = bytearray()
        self._start = 0  # stream offset of _buffer[0]
        self._pos = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _end(self) -> int:
        return self._start + len(self._buffer)

    def _over_budget(self, wanted: int) -> MemoryBudgetError:
        return MemoryBudgetError(
            f"deflated data set inflates past {size_text(self._limit)} (needs {size_text(wanted)} or more), "
            "over the per-file memory budget"
        )

    def _inflate_to(self, offset: int) -> None:
        """Inflate until stream offset `offset` is in the buffer or the data ends."""
        while self._end() < offset and not self._ended:
            data = self._zlib.unconsumed_tail or self._raw.read(self._CHUNK)
            if not data:
                self._buffer += self._zlib.flush()
                self._ended = True
                break
            self._buffer += self._zlib.decompress(data, self._STEP)
            if self._end() > self._limit:
                raise self._over_budget(self._end())
            self._ended = self._zlib.eof
        if self._pos - self._start > 2 * self._KEEP:  # drop what lies well behind the position
            drop = self._pos - self._KEEP - self._start
            del self._buffer[:drop]
            self._start += drop

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = self._limit + 1 - self._pos
        if self._pos + n > self._limit:
            raise self._over_budget(self._pos + n)
        self._inflate_to(self._pos + n)
        begin = self._pos - self._start
        data = bytes(self._buffer[begin : begin + n])
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence != io.SEEK_SET:
            raise OSError("a deflated data set cannot be sought from its end")
        if offset < self._start:
            raise OSError(f"cannot seek back to byte {offset} of a deflated data set (kept from {self._start})")
        if offset > self._limit:
            raise self._over_budget(offset)
        self._inflate_to(offset)
        self._pos = offset
        return offset

    def tell(self) -> int:
        return self._pos


def _stop_at_pixels(tag: int, vr: str | None, length: int) -> bool:
    return tag in _PIXEL_TAGS


def _tag_at(fp: BinaryIO, little_endian: bool) -> int | None:
    """The tag of the element starting at the position of `fp` (None at the end); the position is kept."""
    where = fp.tell()
    head = fp.read(4)
    fp.seek(where)
    if len(head) < 4:
        return None
    group, element = struct.unpack("<HH" if little_endian else ">HH", head)
    return group << 16 | element


def _encoding_syntax(ds: Dataset) -> str:
    """The transfer syntax pydicom read a data set with (for files without one in their meta header)."""
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _encoding(file_meta: Dataset, fp: BinaryIO) -> tuple[bool, bool]:
    """(implicit VR, little endian) of the data set at the position of `fp`, decided as pydicom's dcmread does."""
    syntax = file_meta.get("TransferSyntaxUID")
    if syntax is None:  # no meta header: explicit when a VR's letters stand where the VR would
        where = fp.tell()
        head = fp.read(6)
        fp.seek(where)
        if len(head) < 6 or head[4:6].decode("latin-1") not in converters:
            return True, True
        return False, struct.unpack("<H", head[:2])[0] < 1024  # a group 0x0008 read little endian is 0x0800
    syntax = UID(str(syntax))
    if syntax in PrivateTransferSyntaxes:
        syntax = PrivateTransferSyntaxes[PrivateTransferSyntaxes.index(syntax)]
        return syntax.is_implicit_VR, syntax.is_little_endian
    if syntax == ImplicitVRLittleEndian:
        return True, True
    # Every other syntax (deflated and the encapsulated ones included) is explicit VR little endian.
    return False, syntax != ExplicitVRBigEndian


def _read(
    path: Path, *, stop_before_pixels: bool, specific_tags: Sequence[str] | None, limit: int
) -> tuple[FileDataset, int | None, bool]:
    """(data set, file offset where reading stopped or None when deflated, whether pixel data follows).

    What pydicom's dcmread does, with the file meta read once, a data set without the preamble accepted only
    when it starts like one, and a deflated data set inflated as it is read.
    Raises NotRegularFileError, NotDicomError, MemoryBudgetError or what pydicom raises on a damaged file.
    """
    with _open_regular(path) as raw:
        size = os.fstat(raw.fileno()).st_size
        # Small files cannot pass the limit: read them directly, without a Python layer between pydicom and them.
        fp: BinaryIO = raw if size <= limit else _Bounded(raw, size, limit, str(path))
        head = fp.read(132)
        if len(head) == 132 and head[128:132] == b"DICM":
            preamble = head[:128]
        elif _starts_a_data_set(head):
            preamble = None
            fp.seek(0)
        else:
            raise NotDicomError("not a DICOM file (empty)" if not head else _NOT_DICOM)
        file_meta = _read_file_meta_info(fp)
        deflated = file_meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
        stream = _Inflating(fp, limit, str(path)) if deflated else fp
        dataset = read_dataset(
            stream,
            *_encoding(file_meta, stream),
            stop_when=_stop_at_pixels if stop_before_pixels else None,
            specific_tags=[Tag(t) for t in specific_tags] if specific_tags else None,
        )
        implicit, little = dataset.original_encoding
        ds = FileDataset(str(path), dataset, preamble, file_meta, implicit, little)
        ds.set_original_encoding(implicit, little, dataset.original_character_set)
        if "TransferSyntaxUID" not in ds.file_meta:
            ds.file_meta.TransferSyntaxUID = _encoding_syntax(ds)
        follows = stop_before_pixels and _tag_at(stream, bool(little)) in _PIXEL_TAGS
        return ds, None if deflated else stream.tell(), follows


_NOT_DICOM = "not a DICOM file (no 'DICM' prefix at byte 128 and no DICOM data set at byte 0)"


def _reading(path: Path, what: str, **kwargs) -> tuple[FileDataset, int | None, bool]:
    """`_read`, with every failure a DicomReadError or MemoryBudgetError carrying a one-line reason."""
    try:
        return _read(path, **kwargs)
    except (DicomReadError, MemoryBudgetError):
        raise
    except READ_ERRORS as exc:
        raise DicomReadError(one_line(f"unreadable DICOM {what} ({type(exc).__name__}: {exc})")) from exc


def read_header_tags(path: Path, tags: Sequence[str]) -> tuple[FileDataset, bool]:
    """Only `tags` of a file's header (file meta always), and whether pixel data follows the header.

    Raises DicomReadError (NotRegularFileError, NotDicomError) or MemoryBudgetError with a one-line reason.
    """
    ds, _, follows = _reading(path, "header", stop_before_pixels=True, specific_tags=tags, limit=HEADER_BUDGET_BYTES)
    return ds, follows


def read_header(path: Path) -> tuple[Dataset, int | None]:
    """The header (no pixel data) and the file offset of the pixel data element, None where it can't be reused.

    Raises DicomReadError (NotRegularFileError, NotDicomError) or MemoryBudgetError with a one-line reason.
    """
    header, offset, _ = _reading(path, "header", stop_before_pixels=True, specific_tags=None, limit=HEADER_BUDGET_BYTES)
    # A deflated body is read through an inflating stream, so the position is not a file offset.
    return header, offset


def _read_tail(path: Path, header: Dataset, pixel_offset: int) -> list:
    """The elements from the pixel data on, read from `pixel_offset` within the pixel budget."""
    implicit, little = header.original_encoding
    with _open_regular(path) as fp:
        tail = os.fstat(fp.fileno()).st_size - pixel_offset
        if tail > PIXEL_BUDGET_BYTES + _TRAILER_BYTES:
            raise MemoryBudgetError(
                f"pixel data of {size_text(tail)} (from byte {pixel_offset} to the end of the file), over the "
                f"per-file memory budget of {size_text(PIXEL_BUDGET_BYTES)}"
            )
        fp.seek(pixel_offset)
        # The element generator, not read_dataset: that one guesses the VR style from the first element's
        # bytes, and an implicit VR pixel data length can look like an explicit VR (seen: "LW").
        return list(data_element_generator(fp, bool(implicit), bool(little)))


# Header values the decoder turns into numbers. A lying one (a VR or length lie, a stray byte) is refused here
# with its name, before any pixel data is read, rather than met as a stray exception while decoding.
_INTEGERS = ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel")
_INTEGERS += ("NumberOfFrames",)
_NUMBERS = ("RescaleSlope", "RescaleIntercept", "PixelSpacing", "ImagerPixelSpacing")


def _numbers(header: Dataset, keyword: str, convert: type) -> list:
    """The values of `keyword` (none when absent or empty) as `convert` numbers; PixelDataError if one isn't."""
    try:
        value = header.get(keyword)
        if value is None or value == "":
            values = []
        else:
            values = [value] if isinstance(value, str | bytes | int | float) else list(value)
        return [convert(float(v)) if convert is int and not isinstance(v, int) else convert(v) for v in values]
    except Exception as exc:  # noqa: BLE001 - whatever pydicom raises converting a damaged element
        raise PixelDataError(one_line(f"header value {keyword} is unreadable ({type(exc).__name__}: {exc})")) from exc


def check_pixel_claims(header: Dataset) -> None:
    """Refuse (PixelDataError, one line) a header whose pixel attributes are not numbers, whose transfer syntax
    is unknown, or that claims more pixel data than the per-file memory budget, before any pixel data is read."""
    syntax = header.file_meta.get("TransferSyntaxUID")
    if syntax is not None and not UID(str(syntax)).is_transfer_syntax:
        raise PixelDataError(one_line(f"TransferSyntaxUID {str(syntax)!r} is not a transfer syntax pydicom knows"))
    found = {keyword: _numbers(header, keyword, int) for keyword in _INTEGERS}
    for keyword in _NUMBERS:
        _numbers(header, keyword, float)
    if not (found["Rows"] and found["Columns"] and found["BitsAllocated"]):
        return  # the decoder names what is missing
    try:
        check_pixel_budget(
            found["Rows"][0],
            found["Columns"][0],
            (found["NumberOfFrames"] or [1])[0],
            (found["SamplesPerPixel"] or [1])[0],
            found["BitsAllocated"][0],
        )
    except MemoryBudgetError as exc:
        raise PixelDataError(str(exc)) from exc


def read_with_pixels(path: Path, header: Dataset, pixel_offset: int | None) -> Dataset:
    """A dataset of `header` plus the file's pixel data (and anything after it), leaving `header` untouched.

    Raises PixelDataError with a one-line reason when the header's pixel claims are unreadable or over the
    budget (check_pixel_claims), or the file can't be read or passes the memory budget.
    """
    check_pixel_claims(header)
    try:
        if pixel_offset is None:
            image, _, _ = _reading(path, "file", stop_before_pixels=False, specific_tags=None, limit=FILE_BUDGET_BYTES)
        else:
            image = _with_tail(header, _read_tail(path, header, pixel_offset))
        element = image["PixelData"] if "PixelData" in image else None
    except (DicomReadError, MemoryBudgetError) as exc:
        raise PixelDataError(str(exc)) from exc
    except READ_ERRORS as exc:
        raise PixelDataError(one_line(f"unreadable DICOM file ({exc})")) from exc
    if element is not None and (element.VR not in ("OB", "OW", "OB or OW") or element.value is None):
        raise PixelDataError(f"PixelData element holds no pixel values (VR {element.VR})")
    return image


def _with_tail(header: Dataset, tail: list) -> Dataset:
    """A new data set of `header`'s elements plus `tail`'s; `header` itself never gains the pixels."""
    implicit, little = header.original_encoding
    # A new element dict over the same element objects: the header shared downstream never holds pixels.
    image = Dataset(dict(header.items()))
    image.file_meta = header.file_meta
    image.set_original_encoding(implicit, little, header.original_character_set)
    for element in tail:
        image[element.tag] = element
    return image
