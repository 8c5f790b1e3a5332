"""Deterministic UIDs for outputs, so a re-run (or a resumed run) writes the same objects."""

from __future__ import annotations

from pydicom.uid import generate_uid

__all__ = ["derived_uid"]


def derived_uid(*parts: str) -> str:
    """A UID that is a pure function of `parts` (e.g. study UID, app name, model hash, object kind)."""
    return str(generate_uid(entropy_srcs=[str(p) for p in parts]))
