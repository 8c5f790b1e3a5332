"""Unpacking the npm tarball of OHIF: only the prebuilt app, only the pinned tarball, nothing outside the folder."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from viewer.ohif_install import OhifInstallError, unpack_checked


def _tarball(path: Path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def test_only_the_prebuilt_app_is_unpacked(tmp_path: Path) -> None:
    tarball = tmp_path / "app.tgz"
    integrity = _tarball(
        tarball,
        {"package/package.json": b"{}", "package/dist/index.html": b"<html>", "package/dist/a/b.wasm": b"\0asm"},
    )
    unpack_checked(tarball, tmp_path / "dist", integrity)
    found = sorted(p.relative_to(tmp_path / "dist").as_posix() for p in (tmp_path / "dist").rglob("*") if p.is_file())
    assert found == ["a/b.wasm", "index.html"]


def test_a_tarball_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    tarball = tmp_path / "app.tgz"
    _tarball(tarball, {"package/dist/index.html": b"<html>"})
    with pytest.raises(OhifInstallError, match="expected @ohif/app tarball with integrity sha512-"):
        unpack_checked(tarball, tmp_path / "dist")
    assert not (tmp_path / "dist").exists()


def test_members_outside_the_folder_or_without_the_app_are_refused(tmp_path: Path) -> None:
    tarball = tmp_path / "evil.tgz"
    integrity = _tarball(tarball, {"package/dist/index.html": b"<html>", "package/dist/../../../evil": b"x"})
    with pytest.raises(OhifInstallError, match="refused to unpack"):
        unpack_checked(tarball, tmp_path / "dist", integrity)
    assert not (tmp_path / "evil").exists()
    empty = tmp_path / "empty.tgz"
    integrity = _tarball(empty, {"package/README.md": b"no app"})
    with pytest.raises(OhifInstallError, match="has no dist/index.html"):
        unpack_checked(empty, tmp_path / "dist2", integrity)
