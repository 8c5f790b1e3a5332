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

from operators.atomic_io import atomic_write_bytes
from operators.model_store import META_FILE

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
    """Script `model` (eval mode, CPU) and save it with meta.json (plus weights_sha256) embedded."""
    model = model.cpu().eval()
    full_meta = {**meta, "weights_sha256": weights_sha256(model)}
    scripted = torch.jit.script(model)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer, _extra_files={META_FILE: json.dumps(full_meta, indent=2, sort_keys=True)})
    atomic_write_bytes(Path(path), buffer.getvalue())
    logger.info("Exported %s (%s)", path, full_meta.get("name"))
    return Path(path)
