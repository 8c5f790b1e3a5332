"""The one place models are loaded: TorchScript files with their contract (meta.json) embedded."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generic

import torch

from inference import model_cache
from inference.model_meta import MetaT, ModelMeta, ModelMetaError, parse_model_meta

__all__ = ["LoadedModel", "ModelStore", "ModelError", "META_FILE", "pick_device", "read_meta"]

logger = logging.getLogger(__name__)

META_FILE = "meta.json"


class ModelError(RuntimeError):
    """A model is missing, unreadable or does not carry the contract the app needs."""


def pick_device(requested: str | None = None) -> str:
    """ "cuda" when asked for (or MSK_MAPS_DEVICE says so) and available, else "cpu"."""
    wanted = (requested or os.environ.get("MSK_MAPS_DEVICE") or "auto").lower()
    if wanted in ("auto", "cuda") and torch.cuda.is_available():
        return "cuda"
    if wanted == "cuda":
        logger.warning("CUDA requested but not available; running on the CPU")
    return "cpu"


def read_meta(path: Path) -> ModelMeta:
    """The typed meta embedded in a TorchScript file, without keeping the model."""
    extra = {META_FILE: ""}
    torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return _parse_meta(path, extra[META_FILE])


def _parse_meta(path: Path, raw: str | bytes) -> ModelMeta:
    if not raw:
        raise ModelError(f"Model {path} has no embedded {META_FILE}; export it with training.export")
    try:
        return parse_model_meta(json.loads(raw), where=f"Model {path} {META_FILE}")
    except (json.JSONDecodeError, ModelMetaError) as exc:
        raise ModelError(str(exc)) from exc


@dataclass
class LoadedModel(Generic[MetaT]):
    """A TorchScript module on its device, its typed contract, and the hash of the file it came from."""

    name: str
    module: torch.jit.ScriptModule
    meta: MetaT
    path: Path
    sha256: str
    device: str

    @property
    def provenance(self) -> str:
        """ "<version> sha256:<first 12>", as reports name the model."""
        return f"{self.meta.version} sha256:{self.sha256[:12]}"

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor, batch_size: int = 16) -> dict[str, torch.Tensor]:
        """Run the model over `batch` in chunks; returns each named output (meta "outputs") concatenated."""
        names = list(self.meta.outputs)
        chunks: dict[str, list[torch.Tensor]] = {name: [] for name in names}
        for start in range(0, batch.shape[0], batch_size):
            outputs = self.module(batch[start : start + batch_size].to(self.device, non_blocking=True))
            if isinstance(outputs, torch.Tensor):
                outputs = (outputs,)
            if len(outputs) != len(names):
                raise ModelError(f"Model {self.name} returned {len(outputs)} outputs; its meta names {names}")
            for name, value in zip(names, outputs, strict=True):
                chunks[name].append(value.float().cpu())
        return {name: torch.cat(values) for name, values in chunks.items()}


class ModelStore:
    """Finds `<root>/<name>/<name>.ts` (or `<root>/<name>.ts`) and loads each model once per process."""

    def __init__(self, root: Path, device: str | None = None, optimize: bool = True) -> None:
        self.root = Path(root)
        self.device = pick_device(device)
        self.optimize = optimize
        self._models: dict[str, LoadedModel] = {}
        self._mkldnn: set[str] = set()  # models converted by convert_to_mkldnn

    def path_of(self, name: str) -> Path:
        """Where model `name` lives; raises ModelError naming the places looked in."""
        candidates = [self.root / name / f"{name}.ts", self.root / f"{name}.ts"]
        if self.root.is_file() and self.root.stem == name:
            candidates.insert(0, self.root)
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        tried = ", ".join(str(c) for c in candidates)
        raise ModelError(f"Model {name!r} not found (looked for {tried}); run `make models` or pass -m")

    def get(self, name: str, kind: type[MetaT] = ModelMeta) -> LoadedModel[MetaT]:
        """The loaded model `name`, loading it on first use; raises ModelError unless its meta is a `kind`."""
        if name not in self._models:
            self._models[name] = self._load(name)
        model = self._models[name]
        if not isinstance(model.meta, kind):
            expected = " or ".join(k.__name__ for k in getattr(kind, "__args__", (kind,)))
            raise ModelError(
                f"Model {name!r} at {model.path} is a {type(model.meta).__name__} (task {model.meta.TASK!r}); "
                f"expected a {expected}"
            )
        return model

    def get_all(self, kinds: Mapping[str, type[ModelMeta]]) -> list[LoadedModel]:
        """Every model of `kinds` (name: contract), loading those not yet loaded side by side; as `get`."""
        missing = [name for name in kinds if name not in self._models]
        if len(missing) > 1:
            # Reading and unpickling a TorchScript file leaves the GIL free much of the time: two ResNet50s
            # loaded in two threads take little more than one.
            with ThreadPoolExecutor(max_workers=len(missing)) as pool:
                for name, model in zip(missing, pool.map(self._load, missing), strict=True):
                    self._models[name] = model
        return [self.get(name, kind) for name, kind in kinds.items()]

    def _load(self, name: str) -> LoadedModel:
        path = self.path_of(name)
        extra = {META_FILE: ""}
        optimize = self.optimize and self.device == "cpu"
        # A process per study: the frozen module another process made from this file, if any.
        cached = model_cache.load_frozen(path, META_FILE) if optimize else None
        try:
            if cached:
                module, extra[META_FILE] = cached
            else:
                module = torch.jit.load(str(path), map_location=self.device, _extra_files=extra)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"Model {path} is not a loadable TorchScript file: {exc}") from exc
        meta = _parse_meta(path, extra[META_FILE])
        if meta.name != name:
            raise ModelError(f"Model file {path} says it is {meta.name!r}, expected {name!r}")
        module.eval()
        if optimize and not cached:
            # Folding batch norm and constants halves a ResNet50 forward on the CPU; results agree to ~1e-5.
            module = model_cache.frozen_module(path, module, META_FILE, extra[META_FILE])
        sha = model_cache.file_sha256(path)
        logger.info("Loaded model %s v%s from %s on %s", name, meta.version, path, self.device)
        return LoadedModel(name=name, module=module, meta=meta, path=path, sha256=sha, device=self.device)

    def loaded(self) -> list[LoadedModel]:
        """The models loaded so far."""
        return list(self._models.values())

    def convert_to_mkldnn(self) -> None:
        """Give the frozen CPU models MKL-DNN weights (prepacked once instead of per call).

        Outputs stay bit-identical (checked for every demo model); forwards get faster (a RetinaNet's several
        times, a ResNet50's by ~15 %), but converting costs ~1 s per process (MKL-DNN's first use) and
        ~0.3 s per model: worth it when a run has more than one study, not for a process per study.
        """
        for name, model in self._models.items():
            if self.optimize and model.device == "cpu" and name not in self._mkldnn:
                model.module = torch.jit.optimize_for_inference(model.module)
                self._mkldnn.add(name)
