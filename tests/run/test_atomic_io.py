from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from run.atomic_io import atomic_write, atomic_write_bytes, atomic_write_json


def test_write_is_complete_or_absent(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "result.json"
    atomic_write_json(target, {"a": 1})
    assert target.read_text() == '{\n  "a": 1\n}\n'

    def crash(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        atomic_write(target, crash)
    assert target.read_text() == '{\n  "a": 1\n}\n'  # the old file survives untouched
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]  # no temp file left


def test_files_get_normal_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    path = atomic_write_json(tmp_path / "x.json", {})
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_durable_write_is_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 100
    atomic_write_bytes(tmp_path / "sub" / "x.dcm", payload, durable=True)
    assert (tmp_path / "sub" / "x.dcm").read_bytes() == payload
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.dcm"]
