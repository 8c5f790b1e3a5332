"""Index a folder of DICOM files by study and series from headers only, isolating unreadable files."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from dicom_in.frames import position_along_normal
from dicom_in.image_file import read_header
from dicom_in.study import InputFailure, Instance, Series, Study

__all__ = ["StudyIndex", "index_folder", "load_study", "shard_of", "iter_files", "usable_cpus"]

logger = logging.getLogger(__name__)

# Only these tags are read while indexing, so scanning thousands of files stays cheap.
_INDEX_TAGS = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PixelData"]


@dataclass
class StudyIndex:
    """Paths grouped by StudyInstanceUID, then SeriesInstanceUID; plus the files that could not be indexed."""

    studies: dict[str, dict[str, list[Path]]] = field(default_factory=dict)
    failures: list[InputFailure] = field(default_factory=list)

    @property
    def study_uids(self) -> list[str]:
        return sorted(self.studies)


def iter_files(root: Path) -> Iterator[Path]:
    """Every regular file under `root` (or `root` itself), in a stable order, skipping hidden files."""
    root = Path(root)
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _read_index_tags(path: Path) -> tuple[str, str]:
    """(study UID, series UID) of a DICOM file; raises ValueError with a one-line reason otherwise."""
    try:
        # defer_size keeps the pixel data itself on disk: only its presence is checked here.
        ds = pydicom.dcmread(path, specific_tags=_INDEX_TAGS, defer_size=1024)
    except InvalidDicomError as exc:
        raise ValueError("not a DICOM file (no 'DICM' preamble or file meta header)") from exc
    except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"unreadable DICOM header ({type(exc).__name__}: {exc})") from exc
    missing = [tag for tag in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID") if not ds.get(tag)]
    if missing:
        raise ValueError(f"DICOM header lacks {', '.join(missing)}")
    if "PixelData" not in ds:
        raise ValueError("DICOM object has no pixel data (not an image)")
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)


def _index_entries(paths: list[Path]) -> list[tuple[str, str] | str]:
    """Per path: (study UID, series UID), or the one-line reason it can't be indexed."""
    entries: list[tuple[str, str] | str] = []
    for path in paths:
        try:
            entries.append(_read_index_tags(path))
        except ValueError as exc:
            entries.append(str(exc))
    return entries


# Below this many files per process, starting the fork server (a fresh interpreter importing pydicom) costs
# more than the processes save.
FILES_PER_PROCESS = 4000
_CHUNK = 500  # files per task: small enough to keep every process busy to the end


def _entries_in_processes(paths: list[Path], processes: int) -> list[tuple[str, str] | str]:
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


def index_folder(root: Path, processes: int = 1) -> StudyIndex:
    """Walk `root` once and group DICOM image files by study and series; non-DICOM files become failures.

    With `processes` > 1, a folder of more than FILES_PER_PROCESS files has its headers read by up to that
    many worker processes (one per FILES_PER_PROCESS files); the index is the same either way.
    """
    paths = list(iter_files(root))
    processes = min(processes, len(paths) // FILES_PER_PROCESS)
    entries = None
    if processes > 1:
        logger.info("Indexing %d files in %d processes", len(paths), processes)
        try:
            entries = _entries_in_processes(paths, processes)
        except (BrokenProcessPool, OSError, EOFError, RuntimeError) as exc:
            # A slower index beats no run: e.g. a sandbox that forbids new processes.
            logger.warning("Indexing in processes failed (%s); indexing in this one", exc)
    if entries is None:
        entries = _index_entries(paths)
    grouped: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    failures: list[InputFailure] = []
    for path, entry in zip(paths, entries, strict=True):
        if isinstance(entry, str):
            logger.warning("Skipping %s: %s", path, entry)
            failures.append(InputFailure(item=str(path), reason=entry))
            continue
        study_uid, series_uid = entry
        grouped[study_uid][series_uid].append(path)
    studies = {uid: {s: sorted(p) for s, p in series.items()} for uid, series in grouped.items()}
    return StudyIndex(studies=studies, failures=failures)


def shard_of(study_uid: str, num_parts: int) -> int:
    """The stable part (0..num_parts-1) a study belongs to, so several workers can share one folder."""
    digest = hashlib.sha256(study_uid.encode("ascii", "replace")).digest()
    return int.from_bytes(digest[:8], "big") % num_parts


def _sort_key(instance: Instance) -> tuple[float, int, str]:
    """Order slices along the series normal when geometry is there, else by InstanceNumber."""
    return (position_along_normal(instance.header), instance.instance_number, instance.sop_instance_uid)


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
            except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError) as exc:
                failures.append(InputFailure(str(path), f"unreadable DICOM header ({exc})", study_uid))
                continue
            sop_uid = str(header.SOPInstanceUID)
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
