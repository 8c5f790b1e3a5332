"""A folder of studies laid out as the MONAI Deploy Informatics Gateway stores what it receives, and as the
Workflow Manager's Docker plugin then copies it into a MAP's input: `dcm/<study>/<series>/<sop>.dcm`, each with
a `<sop>.dcm.json` sidecar holding the instance's header as DICOM JSON (no bulk data)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

__all__ = ["write_ig_layout"]


def write_ig_layout(source: Path, dest: Path) -> int:
    """Copy every DICOM file under `source` into `dest` in the Gateway's layout; returns how many.

    Files that are not DICOM are left out: the Gateway only stores instances it received over DICOM.
    """
    count = 0
    for path in sorted(p for p in Path(source).rglob("*") if p.is_file()):
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            continue
        target = dest / "dcm" / str(header.StudyInstanceUID) / str(header.SeriesInstanceUID)
        target.mkdir(parents=True, exist_ok=True)
        name = f"{header.SOPInstanceUID}.dcm"
        shutil.copyfile(path, target / name)
        (target / f"{name}.json").write_text(header.to_json(), encoding="utf-8")
        count += 1
    return count
