"""The command-line arguments every `python -m phantoms` kind takes."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_common_arguments"]


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--out, --patients and --seed, the same for every phantom kind."""
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--patients", type=int, default=6, help="number of patients (one study each)")
    parser.add_argument("--seed", type=int, default=0, help="same seed and arguments give identical files")
