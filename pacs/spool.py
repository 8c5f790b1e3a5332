"""The node's durable state on disk: received instances (the spool) and one record per study, both atomic.

    <storage>/spool/<study folder>/<SOP folder>.dcm   each received instance, as received (Part 10)
    <storage>/studies/<study folder>.json              the study's record: state, counts, apps, sends

A study moves RECEIVING -> ANALYSING -> SENDING -> DONE. Each move rewrites its record atomically, so after a
kill -9 the node restarts every study where it was: RECEIVING waits its quiet time again, ANALYSING is analysed
again (apps whose result.json exists are skipped), SENDING sends what is still pending. An instance that
arrives for a study past RECEIVING sends it back to RECEIVING (re-analysed when quiet again), unless it is
byte-identical to one already spooled (a PACS retrying a transfer).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from run.atomic_io import atomic_write_bytes, atomic_write_json
from run.plan import study_folder_name

__all__ = ["State", "StudyRecord", "Spool", "SendState"]

logger = logging.getLogger(__name__)


class State:
    """A study's place in the node."""

    RECEIVING = "receiving"  # instances arriving; complete after the quiet time
    ANALYSING = "analysing"  # routed and run by the apps
    SENDING = "sending"  # results on disk; some destination has not taken them yet
    DONE = "done"  # every destination took the results, or there was nothing to send

    ALL = (RECEIVING, ANALYSING, SENDING, DONE)


@dataclass
class SendState:
    """One destination's progress with one study's results."""

    status: str = "pending"  # pending | sent
    attempts: int = 0
    next_attempt: float = 0.0  # time.time() after which to try again
    error: str = ""
    sent_at: float | None = None


@dataclass
class StudyRecord:
    """What the node knows about one study (the JSON of studies/<folder>.json)."""

    study_uid: str
    state: str = State.RECEIVING
    instances: int = 0  # instances spooled
    first_received: float = 0.0
    last_received: float = 0.0
    calling_ae: str = ""
    analysed_instances: int = 0  # instances the last analysis read
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)  # app -> status, summary, files
    outcome: str = ""  # when DONE: sent | no_matching_app | failed | no_results
    error: str = ""
    sends: dict[str, SendState] = field(default_factory=dict)
    analysed_at: float | None = None
    done_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as JSON."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudyRecord:
        """A record read back."""
        sends = {name: SendState(**state) for name, state in (data.get("sends") or {}).items()}
        return cls(**{**data, "sends": sends})


class Spool:
    """Instances and study records under one storage folder."""

    def __init__(self, storage: Path, durable: bool = True) -> None:
        self.storage = Path(storage)
        self.durable = durable  # instances reach the disk before C-STORE is answered (survive a power loss)
        self.instances_dir = self.storage / "spool"
        self.records_dir = self.storage / "studies"
        self.results_dir = self.storage / "results"
        for folder in (self.instances_dir, self.records_dir, self.results_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def study_dir(self, study_uid: str) -> Path:
        """Where a study's instances are spooled."""
        return self.instances_dir / study_folder_name(study_uid)

    def instance_path(self, study_uid: str, sop_instance_uid: str) -> Path:
        """Where one instance is spooled (named by its SOP Instance UID, made safe)."""
        return self.study_dir(study_uid) / f"{study_folder_name(sop_instance_uid)}.dcm"

    def store(self, study_uid: str, sop_instance_uid: str, payload: bytes) -> bool:
        """Write one instance atomically; False when the very same bytes were already spooled (nothing new)."""
        path = self.instance_path(study_uid, sop_instance_uid)
        try:
            if path.stat().st_size == len(payload) and path.read_bytes() == payload:
                return False
        except FileNotFoundError:
            pass
        atomic_write_bytes(path, payload, durable=self.durable)
        return True

    def count(self, study_uid: str) -> int:
        """Instances spooled for the study."""
        folder = self.study_dir(study_uid)
        return sum(1 for p in folder.glob("*.dcm")) if folder.is_dir() else 0

    def save(self, record: StudyRecord) -> None:
        """Persist a record (atomically)."""
        atomic_write_json(self.records_dir / f"{study_folder_name(record.study_uid)}.json", record.to_json())

    def load_all(self) -> dict[str, StudyRecord]:
        """Every record, plus a RECEIVING record for spooled studies that have none (killed before the first save)."""
        records: dict[str, StudyRecord] = {}
        for path in sorted(self.records_dir.glob("*.json")):
            try:
                record = StudyRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                logger.error("Unreadable study record %s (%s): the study will be received again", path, exc)
                continue
            records[record.study_uid] = record
        for stale in self.storage.rglob(".*.partial"):  # left by a kill in the middle of a write
            stale.unlink(missing_ok=True)
        known = {study_folder_name(uid) for uid in records}
        for folder in sorted(p for p in self.instances_dir.iterdir() if p.is_dir() and p.name not in known):
            uid = _study_uid_of(folder)
            if uid:
                records[uid] = StudyRecord(study_uid=uid, instances=self.count(uid), last_received=time.time())
        return records

    def clear_results(self, study_uid: str, apps: list[str]) -> None:
        """Remove an earlier analysis's results of the study (its instances changed)."""
        for app in apps:
            shutil.rmtree(self.results_dir / app / study_folder_name(study_uid), ignore_errors=True)

    def purge(self, record: StudyRecord, apps: list[str]) -> None:
        """Delete a finished study's instances, results and record."""
        shutil.rmtree(self.study_dir(record.study_uid), ignore_errors=True)
        self.clear_results(record.study_uid, apps)
        (self.records_dir / f"{study_folder_name(record.study_uid)}.json").unlink(missing_ok=True)

    def free_bytes(self) -> int:
        """Free space where the spool lives."""
        stats = os.statvfs(self.instances_dir)
        return stats.f_bavail * stats.f_frsize


def _study_uid_of(folder: Path) -> str:
    """The StudyInstanceUID of a spooled study folder (from its first readable instance), or ""."""
    import pydicom

    for path in sorted(folder.glob("*.dcm")):
        try:
            return str(
                pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["StudyInstanceUID"]).StudyInstanceUID
            )
        except Exception:  # noqa: BLE001 - any unreadable file: try the next
            continue
    return ""
