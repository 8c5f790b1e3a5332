"""Import the packaging scripts by path (packaging/ is deliberately not a package: it would shadow PyPI's)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["REPO", "load_script"]

REPO = Path(__file__).resolve().parents[2]


def load_script(name: str) -> ModuleType:
    """Load packaging/<name>.py as module `name` (cached in sys.modules, as build_map's own import expects)."""
    if name in sys.modules:
        return sys.modules[name]
    folder = str(REPO / "packaging")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, REPO / "packaging" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
