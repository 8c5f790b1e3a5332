"""Write files so a killed run never leaves a half-written output: temp name in the same folder, then rename."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_write_dicom",
    "atomic_write",
]


# Read once at import: os.umask can only be read by setting it.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], None], durable: bool = False) -> Path:
    """Call `write(tmp_path)` then rename tmp_path to `path` (atomic on one filesystem).

    `durable`: also flush the file and its folder to the disk before returning, so the write survives a power
    loss, not only a killed process (costs a few milliseconds a file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp creates 0600; give the file the permissions a plain open() would (umask applies).
        os.chmod(tmp, 0o666 & ~_UMASK)
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
        if durable:
            _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: Path, payload: bytes, durable: bool = False) -> Path:
    """Write bytes atomically (and to the disk, if `durable`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(payload), durable)


def atomic_write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, payload: Any) -> Path:
    """Write JSON (sorted keys, indented) atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_dicom(path: Path, dataset: Dataset) -> Path:
    """Write a DICOM Part 10 file atomically."""
    return atomic_write(path, lambda tmp: dataset.save_as(tmp, enforce_file_format=True))
