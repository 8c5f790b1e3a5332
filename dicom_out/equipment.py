"""Who made the objects we write: the manufacturer every SR, SC and SEG names."""

from __future__ import annotations

__all__ = ["MANUFACTURER"]

MANUFACTURER = "msk-maps"
