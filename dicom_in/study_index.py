"""Index a folder of DICOM files by study and series from headers only, isolating unreadable files.

What the index does with each entry of the folder (the rule for files that are not DICOM images):
* DICOM image (a header with Study/Series/SOP Instance UIDs and pixel data): indexed.
* Not a regular file (FIFO, socket, device, a link to one): never opened (it could block the run forever);
  skipped with a warning and counted as `not_regular_file`.
* A DICOMDIR (media directory): skipped quietly and counted as `dicomdir` when every file it references was
  indexed; references the folder walk did not reach (the input was the DICOMDIR itself) are followed and
  indexed; references to missing files make it one failure naming how many are missing.
* Not DICOM by its first bytes, with the name of a file archives and exports put beside DICOM files
  (COMPANION_KINDS: `*.dcm.json` sidecars, `ground_truth.json` and other JSON, README and text, CSV,
  XML/HTML, pictures, PDF, NumPy arrays, checksums, viewer programs and system files): skipped and counted
  per kind.
* Anything else is a failure with a one-line reason: a `.dcm` or unknown file that is not DICOM, a
  truncated or unreadable header, a header without the UIDs, a DICOM object without pixel data (SR, KOS,
  presentation state), a header over the per-file memory budget.
The name is consulted only when the bytes are not DICOM: a DICOM file named `notes.txt` is indexed.
The skipped counts per kind go to run.json (`skipped_files`).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pydicom.uid import MediaStorageDirectoryStorage

from dicom_in.frames import position_along_normal
from dicom_in.image_file import (
    READ_ERRORS,
    DicomReadError,
    NotDicomError,
    NotRegularFileError,
    one_line,
    read_header,
    read_header_tags,
)
from dicom_in.memory_budget import MemoryBudgetError
from dicom_in.study import InputFailure, Instance, Series, Study

__all__ = [
    "COMPANION_KINDS",
    "StudyIndex",
    "companion_kind",
    "index_folder",
    "load_study",
    "shard_of",
    "iter_files",
    "usable_cpus",
]

logger = logging.getLogger(__name__)

# Only these tags are read while indexing, so scanning thousands of files stays cheap.
_INDEX_TAGS = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]

# Kinds of companion file, by name (lower case): exact names, then suffixes. Checked in this order, so a
# `x.dcm.json` sidecar is not counted as plain JSON.
COMPANION_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dicom_json_sidecar": ((), (".dcm.json",)),
    "json": ((), (".json",)),
    "text": (("readme", "license", "licence", "copying"), (".txt", ".md", ".rst", ".log", ".nfo")),
    "table": ((), (".csv", ".tsv", ".xls", ".xlsx")),
    "markup": ((), (".xml", ".html", ".htm", ".css", ".js")),
    "picture": ((), (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".ico", ".svg")),
    "pdf": ((), (".pdf",)),
    "array": ((), (".npy", ".npz")),  # NumPy arrays, e.g. the masks research exports keep beside the images
    "checksum": ((), (".md5", ".sha1", ".sha256", ".sfv")),
    "program_or_system": (
        ("thumbs.db", "desktop.ini", "autorun.inf"),
        (".exe", ".dll", ".inf", ".ini", ".bat", ".cmd", ".sh", ".jar", ".cab", ".msi", ".lnk", ".cfg"),
    ),
}


def companion_kind(name: str) -> str | None:
    """The COMPANION_KINDS kind a file name belongs to (README.txt: text), or None."""
    lower = name.lower()
    for kind, (names, suffixes) in COMPANION_KINDS.items():
        stem = lower.split(".", 1)[0]
        if lower in names or stem in names or lower.endswith(suffixes):
            return kind
    return None


@dataclass
class StudyIndex:
    """Paths grouped by StudyInstanceUID, then SeriesInstanceUID; the files that could not be indexed; and the
    count, per kind, of files skipped as expected non-DICOM companions (see the module docstring)."""

    studies: dict[str, dict[str, list[Path]]] = field(default_factory=dict)
    failures: list[InputFailure] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def study_uids(self) -> list[str]:
        return sorted(self.studies)


def iter_files(root: Path) -> Iterator[Path]:
    """Every non-directory entry under `root` (or `root` itself), in a stable order, skipping hidden ones.

    Entries of any type are yielded (FIFOs, sockets, links); the index opens regular files only.
    """
    root = Path(root)
    if not root.is_dir():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


@dataclass(frozen=True)
class _Indexed:
    study_uid: str
    series_uid: str


@dataclass(frozen=True)
class _Skipped:
    kind: str


@dataclass(frozen=True)
class _Failed:
    reason: str


@dataclass(frozen=True)
class _DicomDir:
    references: tuple[str, ...]  # ReferencedFileIDs as relative POSIX paths; "" for one that leaves the folder


_Entry = _Indexed | _Skipped | _Failed | _DicomDir


def _dicomdir_references(path: Path) -> tuple[str, ...]:
    """The files a DICOMDIR references, relative to its folder ("" for a reference that would leave it)."""
    header, _ = read_header(path)
    references = []
    for record in header.get("DirectoryRecordSequence") or []:
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [str(file_id)] if isinstance(file_id, str) else [str(p) for p in file_id]
        safe = all(p and p not in (".", "..") and "/" not in p and "\\" not in p for p in parts)
        references.append(str(PurePosixPath(*parts)) if safe else "")
    return tuple(references)


def _index_entry(path: Path) -> _Entry:
    """What the index does with one path (see the module docstring); never raises for a bad file."""
    try:
        ds, has_pixels = read_header_tags(path, _INDEX_TAGS)
        if ds.file_meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
            return _DicomDir(_dicomdir_references(path))
        missing = [tag for tag in _INDEX_TAGS if not ds.get(tag)]
        if missing:
            return _Failed(f"DICOM header lacks {', '.join(missing)}")
        if not has_pixels:
            return _Failed("DICOM object has no pixel data (not an image)")
        return _Indexed(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID))
    except NotRegularFileError as exc:
        logger.warning("Skipping %s: %s", path, exc)
        return _Skipped("not_regular_file")
    except NotDicomError as exc:
        kind = companion_kind(path.name)
        return _Skipped(kind) if kind else _Failed(str(exc))
    except (DicomReadError, MemoryBudgetError) as exc:
        return _Failed(str(exc))
    except READ_ERRORS as exc:  # a value pydicom cannot convert (a UID, a DICOMDIR record)
        return _Failed(one_line(f"unreadable DICOM header ({type(exc).__name__}: {exc})"))


def _index_entries(paths: list[Path]) -> list[_Entry]:
    """Per path: what the index does with it."""
    return [_index_entry(path) for path in paths]


# Below this many files per process, starting the fork server (a fresh interpreter importing pydicom) costs
# more than the processes save.
FILES_PER_PROCESS = 4000
_CHUNK = 500  # files per task: small enough to keep every process busy to the end


def _entries_in_processes(paths: list[Path], processes: int) -> list[_Entry]:
    """`_index_entries` over `paths` in `processes` worker processes, in the order of `paths`."""
    size = min(_CHUNK, -(-len(paths) // processes))
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    # Not fork: the parent may hold torch, Holoscan and DALI threads by now. Not spawn: every worker would
    # import the app's __main__ (all of MONAI, 3 s). A fork server that loaded only this module forks them.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        return [entry for chunk in pool.map(_index_entries, chunks) for entry in chunk]


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's limit), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _entries(paths: list[Path], processes: int) -> list[_Entry]:
    """The entries of `paths`, in worker processes when there are enough of them."""
    processes = min(processes, len(paths) // FILES_PER_PROCESS)
    if processes > 1:
        logger.info("Indexing %d files in %d processes", len(paths), processes)
        try:
            return _entries_in_processes(paths, processes)
        except (BrokenProcessPool, OSError, EOFError, RuntimeError) as exc:
            # A slower index beats no run: e.g. a sandbox that forbids new processes.
            logger.warning("Indexing in processes failed (%s); indexing in this one", exc)
    return _index_entries(paths)


def _follow_dicomdirs(entries: dict[Path, _Entry], failures: list[InputFailure], skipped: Counter[str]) -> list[Path]:
    """Settle every DICOMDIR entry; returns the files they reference that the walk did not reach (to index).

    A reference is matched case-insensitively (media written as IMAGES/IM1 are often copied as images/im1).
    """
    walked = {str(p).lower() for p in entries}
    follow: list[Path] = []
    for path, entry in entries.items():
        if not isinstance(entry, _DicomDir):
            continue
        missing = []
        for reference in entry.references:
            target = path.parent / reference
            if not reference:
                missing.append("(a path outside its folder)")
            elif str(target).lower() in walked:
                continue
            elif target.is_file():
                follow.append(target)
                walked.add(str(target).lower())
            else:
                missing.append(reference)
        if missing:
            failures.append(
                InputFailure(
                    str(path),
                    f"DICOMDIR references {len(missing)} of {len(entry.references)} files that are not in the "
                    f"input (first: {missing[0]}); the files that are there were indexed",
                )
            )
        else:
            logger.debug("DICOMDIR %s: its %d files were indexed", path, len(entry.references))
            skipped["dicomdir"] += 1
    return follow


def index_folder(root: Path, processes: int = 1) -> StudyIndex:
    """Walk `root` once and group DICOM image files by study and series; see the module docstring for the rest.

    With `processes` > 1, a folder of more than FILES_PER_PROCESS files has its headers read by up to that
    many worker processes (one per FILES_PER_PROCESS files); the index is the same either way.
    """
    paths = list(iter_files(root))
    entries = dict(zip(paths, _entries(paths, processes), strict=True))
    failures: list[InputFailure] = []
    skipped: Counter[str] = Counter()
    followed = _follow_dicomdirs(entries, failures, skipped)
    entries.update(zip(followed, _index_entries(followed), strict=True))
    grouped: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for path, entry in entries.items():
        if isinstance(entry, _Failed):
            logger.warning("Skipping %s: %s", path, entry.reason)
            failures.append(InputFailure(item=str(path), reason=entry.reason))
        elif isinstance(entry, _Skipped):
            logger.debug("Skipping %s: not DICOM, a %s companion file", path, entry.kind)
            skipped[entry.kind] += 1
        elif isinstance(entry, _Indexed):
            grouped[entry.study_uid][entry.series_uid].append(path)
    studies = {uid: {s: sorted(p) for s, p in series.items()} for uid, series in grouped.items()}
    if skipped:
        logger.info("Skipped %d non-DICOM files: %s", sum(skipped.values()), dict(sorted(skipped.items())))
    return StudyIndex(studies=studies, failures=failures, skipped=dict(sorted(skipped.items())))


def shard_of(study_uid: str, num_parts: int) -> int:
    """The stable part (0..num_parts-1) a study belongs to, so several workers can share one folder."""
    digest = hashlib.sha256(study_uid.encode("ascii", "replace")).digest()
    return int.from_bytes(digest[:8], "big") % num_parts


def _sort_key(instance: Instance) -> tuple[float, int, str]:
    """Order slices along the series normal when geometry is there, else by InstanceNumber."""
    try:
        return (position_along_normal(instance.header), instance.instance_number, instance.sop_instance_uid)
    except Exception:  # noqa: BLE001 - a geometry or number element pydicom cannot convert orders like a missing one
        return (0.0, 0, instance.sop_instance_uid)


def load_study(study_uid: str, series_paths: dict[str, list[Path]]) -> Study:
    """Read the headers (no pixel data) of one indexed study; unreadable files become failures."""
    series: list[Series] = []
    failures: list[InputFailure] = []
    for series_uid, paths in sorted(series_paths.items()):
        instances: list[Instance] = []
        seen: dict[str, Path] = {}
        for path in paths:
            try:
                header, pixel_offset = read_header(path)
                sop_uid = str(header.SOPInstanceUID)
            except (DicomReadError, MemoryBudgetError) as exc:
                failures.append(InputFailure(str(path), str(exc), study_uid))
                continue
            except READ_ERRORS as exc:
                reason = one_line(f"unreadable DICOM header ({type(exc).__name__}: {exc})")
                failures.append(InputFailure(str(path), reason, study_uid))
                continue
            if sop_uid in seen:
                # Archive exports often hold the same instance twice; analysing it twice would skew the call.
                failures.append(
                    InputFailure(str(path), f"duplicate of {seen[sop_uid]} (same SOPInstanceUID)", study_uid)
                )
                continue
            seen[sop_uid] = path
            instances.append(Instance(path=path, header=header, pixel_offset=pixel_offset))
        if instances:
            instances.sort(key=_sort_key)
            series.append(Series(uid=series_uid, instances=instances))
    return Study(uid=study_uid, series=series, failures=failures)
