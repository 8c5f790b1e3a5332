"""Export a trained network to TorchScript with its contract (meta.json) embedded."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inference.model_meta import parse_model_meta
from inference.model_store import META_FILE
from run.atomic_io import atomic_write_bytes

__all__ = ["export_torchscript", "weights_sha256"]

logger = logging.getLogger(__name__)


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 of the state dict, so a model card and a .ts can be matched to the weights they describe."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def export_torchscript(model: nn.Module, path: Path, meta: dict[str, Any]) -> Path:
    """Script `model` (eval mode, CPU) and save it with meta.json (plus weights_sha256) embedded.

    The meta must parse as its kind's contract (inference.model_meta); ModelMetaError names what is missing.
    """
    model = model.cpu().eval()
    full_meta = {**meta, "weights_sha256": weights_sha256(model)}
    parse_model_meta(full_meta, where=f"meta of {path}")
    scripted = torch.jit.script(model)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer, _extra_files={META_FILE: json.dumps(full_meta, indent=2, sort_keys=True)})
    atomic_write_bytes(Path(path), buffer.getvalue())
    logger.info("Exported %s (%s)", path, full_meta["name"])
    return Path(path)
