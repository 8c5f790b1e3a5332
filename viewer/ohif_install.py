"""The OHIF viewer's prebuilt static app (npm `@ohif/app`, pinned), unpacked into a project folder.

The npm package ships the built app in `package/dist/` (index.html, bundles, wasm codecs, ~200 MB unpacked); its
39 dependencies are only for building, so `npm pack` (the registry's own client; it checks the tarball against
the registry's integrity) fetches the one tarball, we check it against the pinned integrity once more, and unpack
`dist/` only. Nothing is fetched when the page runs: the server serves these files.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from pacs.debian import DebianInstallError, apt_install

__all__ = [
    "OHIF_PACKAGE",
    "OHIF_VERSION",
    "OHIF_INTEGRITY",
    "OhifInstallError",
    "ensure_ohif",
    "ohif_dist",
    "unpack_checked",
]

logger = logging.getLogger(__name__)

OHIF_PACKAGE = "@ohif/app"
OHIF_VERSION = "3.13.2"
# `npm view @ohif/app@3.13.2 dist.integrity`
OHIF_INTEGRITY = "sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=="
_MARKER = ".msk-maps-installed"
_DEBIAN_NPM = ("npm",)


class OhifInstallError(RuntimeError):
    """npm is missing and can't be installed, the download failed, or the tarball is not the pinned one."""


def ohif_dist(folder: Path) -> Path:
    """Where `ensure_ohif(folder)` puts the app: `<folder>/ohif-app-<version>/` (holds index.html)."""
    return Path(folder) / f"ohif-app-{OHIF_VERSION}"


def _integrity(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def _ensure_npm() -> str:
    npm = shutil.which("npm")
    if npm:
        return npm
    try:
        apt_install(_DEBIAN_NPM)
    except DebianInstallError as exc:
        raise OhifInstallError(f"npm is needed to install {OHIF_PACKAGE}: {exc}") from exc
    npm = shutil.which("npm")
    if not npm:
        raise OhifInstallError("npm missing after `apt-get install npm`")
    return npm


def _unpack_dist(tarball: Path, target: Path) -> None:
    """Unpack `package/dist/**` of the tarball into `target` (no other member, no path outside it)."""
    prefix = "package/dist/"
    with tarfile.open(tarball, "r:gz") as archive:
        members = []
        for member in archive.getmembers():
            if not member.name.startswith(prefix) or not (member.isfile() or member.isdir()):
                continue
            member.name = member.name[len(prefix) :]
            if member.name:
                members.append(member)
        archive.extractall(target, members=members, filter="data")


def unpack_checked(tarball: Path, target: Path, integrity: str = OHIF_INTEGRITY) -> None:
    """Check the tarball against the pinned integrity, then unpack its prebuilt app into `target`."""
    found = _integrity(tarball)
    if found != integrity:
        raise OhifInstallError(f"expected {OHIF_PACKAGE} tarball with integrity {integrity}, got {found}")
    try:
        _unpack_dist(tarball, target)
    except tarfile.TarError as exc:
        raise OhifInstallError(f"{tarball.name}: refused to unpack ({exc})") from exc
    if not (target / "index.html").is_file():
        raise OhifInstallError(f"{tarball.name} has no dist/index.html; is it still the prebuilt app?")


def ensure_ohif(folder: Path) -> Path:
    """The unpacked OHIF app under `folder`, installed with `npm pack` when missing; OhifInstallError otherwise."""
    dist = ohif_dist(folder)
    if (dist / _MARKER).is_file() and (dist / "index.html").is_file():
        return dist
    npm = _ensure_npm()
    Path(folder).mkdir(parents=True, exist_ok=True)
    spec = f"{OHIF_PACKAGE}@{OHIF_VERSION}"
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        done = subprocess.run(
            [npm, "pack", spec, "--pack-destination", scratch, "--silent"], capture_output=True, text=True
        )
        tarballs = list(Path(scratch).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            raise OhifInstallError(f"npm pack {spec} failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
        staging = Path(scratch) / "dist"
        unpack_checked(tarballs[0], staging)
        (staging / _MARKER).write_text(f"{spec} {OHIF_INTEGRITY}\n", encoding="utf-8")
        if dist.exists():
            shutil.rmtree(dist)
        staging.rename(dist)  # same filesystem: the app appears whole or not at all
    logger.info("OHIF %s unpacked into %s", OHIF_VERSION, dist)
    return dist
