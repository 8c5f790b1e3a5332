"""Which studies this run does: sharding across workers, and resume of an interrupted run."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from dicom_in.study_index import StudyIndex, shard_of

__all__ = [
    "Shard",
    "RunPlan",
    "resolve_shard",
    "study_folder_name",
    "study_output_dir",
    "plan_run",
    "RESULT_FILE",
]

logger = logging.getLogger(__name__)

RESULT_FILE = "result.json"  # written last, atomically: its presence means the study is complete
# A study folder is named after its UID when the UID is what the standard allows (digits and dots, at most
# 64 characters): such a name is never ".", "..", hidden, a run file's name or too long for a file system.
_DICOM_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_DICOM_UID_MAX = 64
# Any other UID text: a readable prefix, then "_" (which no DICOM UID holds) and 128 bits of its SHA-256.
_UNSAFE = re.compile(r"[^0-9A-Za-z.\-]")
_PREFIX_CHARS = 40
_DIGEST_CHARS = 32
# Cluster schedulers' own array index variables, so scaling out needs no home-made scheduler.
_INDEX_ENV = ("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID")
_COUNT_ENV = ("SLURM_ARRAY_TASK_COUNT",)


@dataclass(frozen=True)
class Shard:
    """Part `part_id` of `num_parts` (0-based); a single worker is part 0 of 1."""

    num_parts: int = 1
    part_id: int = 0

    @property
    def suffix(self) -> str:
        """File-name suffix for run-level outputs, so workers sharing one output folder don't collide."""
        return "" if self.num_parts == 1 else f".part{self.part_id}of{self.num_parts}"


def _env_int(names: tuple[str, ...]) -> int | None:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            try:
                return int(value)
            except ValueError as exc:
                raise ValueError(f"{name} must be an integer, got {value!r}") from exc
    return None


def resolve_shard(num_parts: int | None, part_id: int | None) -> Shard:
    """The shard from flags, else from JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID (+ SLURM_ARRAY_TASK_COUNT)."""
    parts = num_parts if num_parts is not None else _env_int(_COUNT_ENV)
    part = part_id if part_id is not None else _env_int(_INDEX_ENV)
    if parts is None:
        if part_id is not None:
            raise ValueError(f"--part-id {part_id} given without --num-parts")
        return Shard()
    part = 0 if part is None else part
    if parts < 1 or not 0 <= part < parts:
        raise ValueError(f"part id must be in 0..{parts - 1} for {parts} parts, got {part}")
    return Shard(num_parts=parts, part_id=part)


def study_folder_name(study_uid: str) -> str:
    """The study's folder name: its UID if that is a standard UID, else a prefix plus "_" and a hash of it.

    Injective (a standard UID has no "_"; any other text keeps 128 bits of its SHA-256), at most 73 characters,
    and never ".", "..", hidden or the name of a run file, whatever text the header holds.
    """
    if len(study_uid) <= _DICOM_UID_MAX and _DICOM_UID.fullmatch(study_uid):
        return study_uid
    digest = hashlib.sha256(study_uid.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    prefix = _UNSAFE.sub("_", study_uid[:_PREFIX_CHARS]).lstrip(".")
    return f"{prefix}_{digest}"


def study_output_dir(output_root: Path, study_uid: str) -> Path:
    """OUT/<study folder>: see `study_folder_name`; no input text can steer the path."""
    return Path(output_root) / study_folder_name(study_uid)


@dataclass(frozen=True)
class RunPlan:
    """The studies to process now, and those skipped because an earlier run completed them."""

    todo: list[str]
    already_done: list[str]
    shard: Shard


def plan_run(index: StudyIndex, output_root: Path, shard: Shard, resume: bool) -> RunPlan:
    """Pick this shard's studies; with `resume`, skip complete ones and clear half-written ones."""
    todo, done = [], []
    for uid in index.study_uids:
        if shard_of(uid, shard.num_parts) != shard.part_id:
            continue
        out_dir = study_output_dir(output_root, uid)
        if resume and (out_dir / RESULT_FILE).is_file():
            done.append(uid)
            continue
        if out_dir.exists():
            # Half-done (killed before result.json) or being redone: start from a clean folder.
            shutil.rmtree(out_dir)
        todo.append(uid)
    if resume:
        logger.info("Resume: %d studies already complete, %d to do", len(done), len(todo))
    return RunPlan(todo=todo, already_done=done, shard=shard)
