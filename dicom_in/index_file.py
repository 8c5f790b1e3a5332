"""A folder's StudyIndex on disk, so K parts of a sharded run read one header scan instead of K.

The file is JSON (nothing in it is executed when read): a format name and version, the input root it
describes, a fingerprint of that folder (every entry's relative path, size and modification time), then the
index itself with paths relative to the root. Reading checks all of it and refuses, in one line, a file of
another format or version, an index of another folder, a folder that changed since the index was built,
and any path that would leave the root. Checking the fingerprint costs one stat per file, against the
header read per file that building the index costs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from dicom_in.study import InputFailure
from dicom_in.study_index import StudyIndex, iter_files

__all__ = ["INDEX_FORMAT", "INDEX_VERSION", "IndexFileError", "folder_fingerprint", "index_payload", "read_index"]

INDEX_FORMAT = "msk-maps-study-index"
INDEX_VERSION = 1


class IndexFileError(ValueError):
    """An index file that cannot be used for this input folder (the message is one line)."""


def _folder(root: Path) -> Path:
    """`root` if it is a folder; IndexFileError otherwise (an index describes a folder)."""
    if not Path(root).is_dir():
        raise IndexFileError(f"{root} is not a folder: a study index describes a folder of studies")
    return Path(root)


def folder_fingerprint(root: Path) -> dict[str, Any]:
    """How many entries the folder holds and a hash of each one's relative path, size and mtime."""
    root = _folder(root)
    digest = hashlib.sha256()
    count = 0
    for path in iter_files(root):
        try:
            info = path.stat()
            size, mtime = info.st_size, info.st_mtime_ns
        except OSError:  # a dangling link: still an entry, with no size
            size, mtime = -1, -1
        rel = path.relative_to(root).as_posix()
        digest.update(f"{rel}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
        count += 1
    return {"files": count, "sha256": digest.hexdigest()}


def _relative(path: Path | str, root: Path) -> str:
    """`path` (as the index walked it from `root`) relative to `root` as POSIX text; other paths as given."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def index_payload(index: StudyIndex, root: Path, fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-ready form of `index`, built from the folder `root` (fingerprinted now unless given)."""
    root = _folder(root)
    extra = {}
    for spec in dataclasses.fields(index):
        if spec.name in ("studies", "failures"):
            continue
        value = getattr(index, spec.name)
        try:
            json.dumps(value)
        except TypeError as exc:
            raise IndexFileError(f"StudyIndex field {spec.name!r} cannot be stored as JSON: {exc}") from exc
        extra[spec.name] = value
    return {
        "format": INDEX_FORMAT,
        "version": INDEX_VERSION,
        "root": str(root.resolve()),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": fingerprint or folder_fingerprint(root),
        "studies": {
            study: {series: [_relative(p, root) for p in paths] for series, paths in sorted(by_series.items())}
            for study, by_series in sorted(index.studies.items())
        },
        "failures": [
            {"item": _relative(f.item, root), "reason": f.reason, "study_uid": f.study_uid} for f in index.failures
        ],
        "extra": extra,
    }


def _inside(root: Path, text: Any, where: str) -> Path:
    """root / text for a relative POSIX path that stays inside root; IndexFileError otherwise."""
    if not isinstance(text, str) or not text:
        raise IndexFileError(f"index file: {where} is not a path")
    rel = PurePosixPath(text)
    if rel.is_absolute() or ".." in rel.parts:
        raise IndexFileError(f"index file: {where} {text!r} leaves the input folder")
    return root.joinpath(*rel.parts)


def _studies(raw: Any, root: Path) -> dict[str, dict[str, list[Path]]]:
    if not isinstance(raw, dict):
        raise IndexFileError("index file: 'studies' is not an object")
    studies: dict[str, dict[str, list[Path]]] = {}
    for study, by_series in raw.items():
        if not isinstance(by_series, dict) or not by_series:
            raise IndexFileError(f"index file: study {study!r} has no series")
        studies[study] = {}
        for series, paths in by_series.items():
            if not isinstance(paths, list) or not paths:
                raise IndexFileError(f"index file: series {series!r} has no files")
            studies[study][series] = [_inside(root, p, f"a file of series {series!r}") for p in paths]
    return studies


def _failures(raw: Any, root: Path) -> list[InputFailure]:
    if not isinstance(raw, list):
        raise IndexFileError("index file: 'failures' is not a list")
    failures = []
    for item in raw:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("item", "reason")):
            raise IndexFileError("index file: a failure lacks its item or reason")
        path = item["item"]
        where = str(root / path) if not os.path.isabs(path) else path
        failures.append(InputFailure(item=where, reason=item["reason"], study_uid=str(item.get("study_uid", ""))))
    return failures


def read_index(path: Path, input_root: Path) -> StudyIndex:
    """The StudyIndex stored at `path` for the folder `input_root`; IndexFileError (one line) if it can't be used.

    Its paths are `input_root` (as given) joined with the stored relative paths, as index_folder would give.
    """
    base = _folder(input_root)
    root = base.resolve()
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFileError(f"index file {path} is unreadable: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if not isinstance(payload, dict) or payload.get("format") != INDEX_FORMAT:
        raise IndexFileError(f"{path} is not an msk-maps study index (build one with python -m run.index)")
    if payload.get("version") != INDEX_VERSION:
        raise IndexFileError(
            f"index file {path} has version {payload.get('version')!r}; this msk-maps reads version {INDEX_VERSION}: "
            "rebuild it with python -m run.index"
        )
    if payload.get("root") != str(root):
        raise IndexFileError(f"index file {path} describes {payload.get('root')!r}, not the input {str(root)!r}")
    now = folder_fingerprint(base)
    then = payload.get("fingerprint") or {}
    if now != then:
        raise IndexFileError(
            f"index file {path} is stale: the input folder changed since it was built "
            f"({then.get('files')} entries then, {now['files']} now): rebuild it with python -m run.index"
        )
    known = {f.name for f in dataclasses.fields(StudyIndex)}
    extra = payload.get("extra") or {}
    if not isinstance(extra, dict) or set(extra) - known:
        raise IndexFileError(f"index file {path} has fields this msk-maps does not know: rebuild it")
    studies = _studies(payload.get("studies"), base)
    return StudyIndex(studies=studies, failures=_failures(payload.get("failures"), base), **extra)
