"""What a process would otherwise redo at every start for each model, kept on disk: its file's SHA-256 and its
frozen TorchScript (constants folded, batch norm fused into the convolutions).

A platform starts one process per study, so freezing a model (0.7-1.9 s for a ResNet50 on this shared machine)
and hashing its file (~0.2 s per 100 MB) at every start is a large share of a one-study run. The conversion
to MKL-DNN weights that may follow (ModelStore.convert_to_mkldnn) cannot be kept: TorchScript does not save
its constants (reloading one gives "required keyword attribute 'value' is undefined"). Entries are keyed by
the model file's real path, size and modification time and by the torch version: a changed file or a
different torch never meets an old entry. The MAP ships its models' entries (built at packaging time, in
MSK_MAPS_MODEL_CACHE=/opt/holoscan/cache); elsewhere the cache is ~/.cache/msk-maps/models. A cache that can't
be written is skipped: nothing fails for want of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["cache_dir", "file_sha256", "load_frozen", "frozen_module"]

logger = logging.getLogger(__name__)

_STEPS = "freeze"


def cache_dir() -> Path:
    """$MSK_MAPS_MODEL_CACHE, else $XDG_CACHE_HOME/msk-maps/models (~/.cache/msk-maps/models)."""
    named = os.environ.get("MSK_MAPS_MODEL_CACHE")
    if named:
        return Path(named)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "msk-maps" / "models"


def _key(path: Path, *parts: str) -> str:
    """An entry name for this exact file (real path, size, mtime) and these parts."""
    info = path.stat()
    identity = f"{path.resolve()}\0{info.st_size}\0{info.st_mtime_ns}\0" + "\0".join(parts)
    return f"{path.stem}-{hashlib.sha256(identity.encode()).hexdigest()[:20]}"


def _store(target: Path, write: Callable[[Path], None]) -> None:
    """Write an entry atomically; a cache folder that can't be written is skipped (logged at debug)."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        os.replace(partial, target)
    except (OSError, RuntimeError) as exc:
        logger.debug("Model cache: not stored %s (%s)", target, exc)
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass


def file_sha256(path: Path) -> str:
    """The SHA-256 of a model file, from the cache when this exact file was hashed before."""
    entry = cache_dir() / f"{_key(path, 'sha256')}.json"
    try:
        return str(json.loads(entry.read_text())["sha256"])
    except (OSError, ValueError, KeyError):
        pass
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _store(entry, lambda tmp: tmp.write_text(json.dumps({"path": str(path.resolve()), "sha256": digest})))
    return digest


def _frozen_entry(path: Path) -> Path:
    return cache_dir() / f"{_key(path, torch.__version__, _STEPS)}.ts"


def load_frozen(path: Path, extra_file: str) -> tuple[torch.jit.ScriptModule, str] | None:
    """The cached frozen module of the model file `path` and its embedded `extra_file`, or None."""
    entry = _frozen_entry(path)
    if not entry.is_file():
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
