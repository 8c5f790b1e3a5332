"""One run per output folder (per shard): a lock file naming its holder, and a check that the folder is writable.

The lock is an exclusive `flock` on `OUT/.msk-maps[.partKofN].lock`, held for the whole run. The kernel drops
it when the holder dies, however it dies, so a lock left by a killed run is simply taken over; the file's
content (pid, host, start time) only names the holder in the message a second run prints. Shards of one job
(same number of parts, different part ids) share a folder; any other pairing is refused.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from run.plan import Shard

__all__ = [
    "OutputInUse",
    "OutputNotWritable",
    "OutputLock",
    "lock_output",
    "lock_holder",
    "check_writable",
    "LOCK_PREFIX",
]

logger = logging.getLogger(__name__)

LOCK_PREFIX = ".msk-maps"
_ATTEMPTS = 3  # a holder that is just releasing its lock gets this many looks, 50 ms apart


class OutputInUse(RuntimeError):
    """Another live run holds the output folder (the message names it)."""


class OutputNotWritable(RuntimeError):
    """The output folder can't be created or written (the message says why)."""


def check_writable(root: Path) -> None:
    """Create `root` if needed and write (then delete) a probe file in it; OutputNotWritable otherwise."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputNotWritable(f"cannot create output folder {root}: {exc.strerror or exc}") from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=root)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise OutputNotWritable(f"output folder {root} is not writable: {exc.strerror or exc}") from exc


def _lock_path(root: Path, shard: Shard) -> Path:
    return Path(root) / f"{LOCK_PREFIX}{shard.suffix}.lock"


def _holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "a run that has not written its name yet"
    shard = holder.get("shard") or {}
    part = f", part {shard.get('part_id')} of {shard.get('num_parts')}" if shard.get("num_parts", 1) != 1 else ""
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}{part}"


def _compatible(holder: dict[str, Any], shard: Shard) -> bool:
    """Two shards of one job may share the folder; anything else overlaps in the studies it plans."""
    other = holder.get("shard") or {}
    return other.get("num_parts") == shard.num_parts != 1 and other.get("part_id") != shard.part_id


def _held_by_another(path: Path) -> bool:
    """Whether a live process holds `path`'s lock (a shared lock can't be had while it does)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)  # closing drops the probe's shared lock
    return False


def lock_holder(root: Path, shard: Shard | None = None) -> dict[str, Any] | None:
    """Who holds `root`'s lock for `shard` (pid, host, started, ...), or None when no live process does."""
    path = _lock_path(root, shard or Shard())
    return _holder(path) if _held_by_another(path) else None


@dataclass
class OutputLock:
    """A held output lock; `release()` (or leaving the `with` block) frees it."""

    path: Path
    fd: int | None

    def release(self) -> None:
        """Remove the lock file and drop the lock (a run that dies without this leaves a lock others take over)."""
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(path: Path) -> int | None:
    """The fd of `path` locked exclusively, or None while someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise
    try:
        same_file = os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        same_file = False
    if not same_file:  # the holder released (and removed) it between our open and our lock: look again
        os.close(fd)
        return None
    return fd


def lock_output(root: Path, shard: Shard, purpose: str = "run") -> OutputLock:
    """Lock `root` for this process and shard; OutputInUse naming the holder if a live run has it."""
    root = Path(root)
    path = _lock_path(root, shard)
    for other in sorted(root.glob(f"{LOCK_PREFIX}*.lock")):
        if other != path and _held_by_another(other):
            holder = _holder(other)
            if not _compatible(holder, shard):
                raise OutputInUse(f"output folder {root} is in use by {_describe(holder)} (lock {other})")
    fd = None
    for attempt in range(_ATTEMPTS):
        fd = _try_lock(path)
        if fd is not None:
            break
        if attempt < _ATTEMPTS - 1:
            time.sleep(0.05)
    if fd is None:
        raise OutputInUse(f"output folder {root} is in use by {_describe(_holder(path))} (lock {path})")
    stale = _holder(path)
    if stale:
        logger.warning("Taking over the lock of %s, which is gone (%s)", _describe(stale), path)
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "purpose": purpose,
        "shard": {"num_parts": shard.num_parts, "part_id": shard.part_id},
    }
    payload = json.dumps(me).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, payload, 0)
    return OutputLock(path=path, fd=fd)
