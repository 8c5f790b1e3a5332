"""What a process would otherwise redo at every start for each model, kept on disk: its file's SHA-256 and its
frozen TorchScript (constants folded, batch norm fused into the convolutions).

A platform starts one process per study, so freezing a model (0.7-1.9 s for a ResNet50 on this shared machine)
and hashing its file (~0.2 s per 100 MB) at every start is a large share of a one-study run. The conversion
to MKL-DNN weights that may follow (ModelStore.convert_to_mkldnn) cannot be kept: TorchScript does not save
its constants (reloading one gives "required keyword attribute 'value' is undefined"). Entries are keyed by
the model file's real path, size and modification time and by the torch version: a changed file or a
different torch never meets an old entry. The cache is used only where MSK_MAPS_MODEL_CACHE names a folder:
the MAP ships its models' entries there (/opt/holoscan/cache, built at packaging time); a direct run without
the variable writes nothing. Each model name keeps its newest KEEP_PER_MODEL entries of each kind. A cache
that can't be written is skipped: nothing fails for want of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["KEEP_PER_MODEL", "cache_dir", "file_sha256", "load_frozen", "frozen_module"]

logger = logging.getLogger(__name__)

_STEPS = "freeze"
KEEP_PER_MODEL = 2  # entries per model name and kind: a model file replaced again and again leaves no trail


def cache_dir() -> Path | None:
    """$MSK_MAPS_MODEL_CACHE, or None: no cache."""
    named = os.environ.get("MSK_MAPS_MODEL_CACHE")
    return Path(named) if named else None


def _entry(path: Path, suffix: str, *parts: str) -> Path | None:
    """The cache entry for this exact file (real path, size, mtime) and these parts, or None (no cache)."""
    folder = cache_dir()
    if folder is None:
        return None
    info = path.stat()
    identity = f"{path.resolve()}\0{info.st_size}\0{info.st_mtime_ns}\0" + "\0".join(parts)
    return folder / f"{path.stem}-{hashlib.sha256(identity.encode()).hexdigest()[:20]}{suffix}"


def _prune(target: Path) -> None:
    """Keep only the newest KEEP_PER_MODEL entries of this model name and kind."""
    stem = target.name.rsplit("-", 1)[0]
    siblings = sorted(
        (p for p in target.parent.glob(f"{stem}-*{target.suffix}") if p.name.rsplit("-", 1)[0] == stem),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    for old in siblings[KEEP_PER_MODEL:]:
        old.unlink(missing_ok=True)


def _store(target: Path | None, write: Callable[[Path], None]) -> None:
    """Write an entry atomically, then prune; a cache that can't be written is skipped (logged at debug)."""
    if target is None:
        return
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        os.replace(partial, target)
        _prune(target)
    except (OSError, RuntimeError) as exc:
        logger.debug("Model cache: not stored %s (%s)", target, exc)
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass


def file_sha256(path: Path) -> str:
    """The SHA-256 of a model file, from the cache when this exact file was hashed before."""
    entry = _entry(path, ".json", "sha256")
    try:
        if entry is not None:
            return str(json.loads(entry.read_text())["sha256"])
    except (OSError, ValueError, KeyError):
        pass
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _store(entry, lambda tmp: tmp.write_text(json.dumps({"path": str(path.resolve()), "sha256": digest})))
    return digest


def _frozen_entry(path: Path) -> Path | None:
    return _entry(path, ".ts", torch.__version__, _STEPS)


def load_frozen(path: Path, extra_file: str) -> tuple[torch.jit.ScriptModule, str] | None:
    """The cached frozen module of the model file `path` and its embedded `extra_file`, or None."""
    entry = _frozen_entry(path)
    if entry is None or not entry.is_file():
        return None
    extra = {extra_file: ""}
    try:
        frozen = torch.jit.load(str(entry), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError) as exc:
        logger.warning("Model cache: unreadable %s (%s); freezing %s again", entry, exc, path)
        return None
    raw = extra[extra_file]
    return frozen, raw.decode() if isinstance(raw, bytes) else raw


def frozen_module(
    path: Path, module: torch.jit.ScriptModule, extra_file: str, extra: str | bytes
) -> torch.jit.ScriptModule:
    """`module` (loaded from `path`, in eval mode, on the CPU) frozen for inference, and kept in the cache with
    `extra` as its `extra_file` for the next process."""
    frozen = torch.jit.freeze(module)
    text = extra.decode() if isinstance(extra, bytes) else extra
    _store(_frozen_entry(path), lambda tmp: torch.jit.save(frozen, str(tmp), _extra_files={extra_file: text}))
    return frozen
