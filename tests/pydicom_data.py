"""Real DICOM files for tests, offline: pydicom's bundled test files and the pydicom-data wheel's (never fetched)."""

from __future__ import annotations

from pathlib import Path

from pydicom.data import get_testdata_file

__all__ = ["data_file"]


def data_file(name: str) -> Path:
    """The path of pydicom test file `name`; fails (never downloads) when the package holding it is missing."""
    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"{name} not found offline; `pip install -r requirements-dev.txt` (pydicom-data)")
    return Path(path)
