"""Declarative series selection: derived attributes (plane, weighting, ...) and rules read from a file."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from dicom_in.study import Series, Study

__all__ = [
    "SelectionRule",
    "SelectionRules",
    "SelectedSeries",
    "derive_attributes",
    "imaging_plane",
    "mr_weighting",
    "select_series",
]

logger = logging.getLogger(__name__)

# A normal within ~37 degrees of a patient axis names the plane; beyond that the series is oblique.
_PLANE_COSINE = 0.8
_WEIGHTING_PATTERNS = [
    ("PD", re.compile(r"(^|[^A-Z])(PD|PDW|PROTON)", re.I)),
    ("T1", re.compile(r"T1", re.I)),
    ("T2", re.compile(r"T2|STIR", re.I)),
]
_FAT_SAT = re.compile(r"(^|[^A-Z])(FS|FATSAT|FAT.SAT|SPIR|SPAIR|STIR|DIXON.?W)", re.I)
_LOCALIZER = re.compile(r"LOC|SCOUT|SURVEY|PLAN", re.I)


def imaging_plane(header: Dataset) -> str:
    """ "axial", "coronal", "sagittal" from ImageOrientationPatient; "oblique" or "unknown" otherwise."""
    orientation = header.get("ImageOrientationPatient")
    if orientation is None or len(orientation) != 6:
        return "unknown"
    row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    normal = np.cross(row, col)
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < _PLANE_COSINE:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def mr_weighting(header: Dataset) -> str:
    """ "T1", "T2", "PD" from SeriesDescription, else from RepetitionTime/EchoTime; "unknown" if neither says."""
    description = f"{header.get('SeriesDescription', '')} {header.get('ProtocolName', '')}"
    for weighting, pattern in _WEIGHTING_PATTERNS:
        if pattern.search(description):
            return weighting
    try:
        tr, te = float(header.RepetitionTime), float(header.EchoTime)
    except (AttributeError, TypeError, ValueError):
        return "unknown"
    if tr < 1000 and te < 30:
        return "T1"
    if tr >= 2000 and te >= 60:
        return "T2"
    if tr >= 1500 and te < 45:
        return "PD"
    return "unknown"


def _is_localizer(header: Dataset) -> bool:
    image_type = [str(v).upper() for v in header.get("ImageType", [])]
    return "LOCALIZER" in image_type or bool(_LOCALIZER.search(str(header.get("SeriesDescription", ""))))


def derive_attributes(series: Series) -> dict[str, Any]:
    """Attributes the rules can test beyond raw tags: plane, weighting, fat_sat, localizer, instances."""
    first = series.first
    planes = {imaging_plane(instance.header) for instance in series.instances}
    description = f"{first.get('SeriesDescription', '')} {first.get('ScanOptions', '')}"
    return {
        "plane": planes.pop() if len(planes) == 1 else "mixed",
        "weighting": mr_weighting(first) if series.modality == "MR" else "n/a",
        "fat_sat": bool(_FAT_SAT.search(description)),
        "localizer": _is_localizer(first),
        "laterality": str(first.get("Laterality") or first.get("ImageLaterality") or ""),
        "instances": len(series.instances),
    }


@dataclass(frozen=True)
class SelectionRule:
    """One named rule: conditions on tags/derived attributes, and the model that reads what it selects."""

    name: str
    model: str
    conditions: dict[str, Any]
    select: str = "best"  # "best": one series per rule; "all": every matching series (e.g. each radiograph)

    def __post_init__(self) -> None:
        if self.select not in ("best", "all"):
            raise ValueError(f"rule {self.name!r}: select must be 'best' or 'all', got {self.select!r}")

    def matches(self, series: Series, derived: dict[str, Any]) -> bool:
        """Whether every condition holds for this series."""
        return all(_condition_holds(key, expected, series, derived) for key, expected in self.conditions.items())


@dataclass(frozen=True)
class SelectionRules:
    """The rules of one app, as loaded from its selection file."""

    rules: list[SelectionRule]

    @classmethod
    def from_file(cls, path: Path) -> SelectionRules:
        """Load rules from JSON: {"rules": [{"name", "model", "conditions": {...}, "select"?: "best"|"all"}]}."""
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        try:
            rules = [
                SelectionRule(r["name"], r["model"], dict(r["conditions"]), str(r.get("select", "best")))
                for r in spec["rules"]
            ]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"Selection rules in {path} need name, model and conditions per rule: {exc}") from exc
        if not rules:
            raise ValueError(f"Selection rules in {path} define no rule")
        return cls(rules=rules)


@dataclass(frozen=True)
class SelectedSeries:
    """A series chosen by a rule, with the other candidates that rule passed over."""

    rule: str
    model: str
    series: Series
    passed_over: list[str] = field(default_factory=list)


def _condition_holds(key: str, expected: Any, series: Series, derived: dict[str, Any]) -> bool:
    if key == "min_instances":
        return derived["instances"] >= int(expected)
    actual = derived[key] if key in derived else series.first.get(key)
    if isinstance(expected, bool):
        return bool(actual) == expected
    if isinstance(expected, list):
        return any(_condition_holds(key, option, series, derived) for option in expected)
    if isinstance(expected, dict):
        value = float(actual) if actual not in (None, "") else None
        low, high = expected.get("min", float("-inf")), expected.get("max", float("inf"))
        return value is not None and low <= value <= high
    # Strings are case-insensitive full matches, as regular expressions.
    return actual is not None and re.fullmatch(str(expected), str(actual), re.I) is not None


def _preference(series: Series) -> tuple[int, int, str]:
    """Deterministic choice among matches: most images, then lowest SeriesNumber, then UID."""
    return (-len(series.instances), series.number, series.uid)


def select_series(study: Study, rules: SelectionRules) -> list[SelectedSeries]:
    """Apply every rule to the study; a "best" rule selects at most one series, chosen deterministically."""
    for series in study.series:
        series.derived = derive_attributes(series)
    selected: list[SelectedSeries] = []
    for rule in rules.rules:
        candidates = sorted((s for s in study.series if rule.matches(s, s.derived)), key=_preference)
        if not candidates:
            continue
        if rule.select == "all":
            selected += [SelectedSeries(rule=rule.name, model=rule.model, series=s) for s in candidates]
            continue
        chosen, others = candidates[0], [s.uid for s in candidates[1:]]
        if others:
            logger.info("Study %s rule %r: chose series %s over %s", study.uid, rule.name, chosen.uid, others)
        selected.append(SelectedSeries(rule=rule.name, model=rule.model, series=chosen, passed_over=others))
    return selected
