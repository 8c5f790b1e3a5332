"""Declarative series selection that says why: derived attributes, anatomy evidence and rules read from files.

A rules file (each app's `selection_rules.json`, and a site's `--rules FILE` merged over it; format in README
"Choosing series") holds an "anatomy" policy (`dicom_in.anatomy`), optional "regions" extending the vocabulary,
and named "rules": conditions on header attributes and on attributes derived here (plane, weighting, fat_sat,
localizer, laterality, images). Every series of a study gets an outcome: the rules that selected it, or for each
rule the reason it was passed over; a study with nothing selected gets a one-line reason from those outcomes.
Multi-frame images are read frame by frame: a series' slices (`Series.slices`) carry each frame's own header. A
series whose slices repeat positions is judged stack by stack (`dicom_in.stacks`: each echo, acquisition or temporal
position on its own), and a rule that two stacks of one series satisfy prefers one by `stack_rank`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from dicom_in.anatomy import AnatomyPolicy, AnatomyVerdict, Vocabulary, judge_anatomy
from dicom_in.stacks import split_stacks, stack_rank
from dicom_in.study import Series, Study

__all__ = [
    "SelectedSeries",
    "Selection",
    "SelectionRule",
    "SelectionRules",
    "SeriesOutcome",
    "choose_series",
    "derive_attributes",
    "imaging_plane",
    "mr_weighting",
    "select_series",
    "weighting_evidence",
]

logger = logging.getLogger(__name__)

# A normal within ~37 degrees of a patient axis names the plane; beyond that the series is oblique.
_PLANE_COSINE = 0.8
# Vendor and language spellings: t1_tse_cor, COR T1 FSE, T1W_TSE_COR, sag pd fs, DP (French PD), STIR/TIRM.
_WEIGHTING_PATTERNS = [
    ("PD", re.compile(r"(^|[^A-Z])(PD|PDW|DP|PROTON)", re.I)),
    ("T2*", re.compile(r"T2 ?(\*|STAR)|MEDIC|HEMO", re.I)),
    ("T1", re.compile(r"T1", re.I)),
    ("T2", re.compile(r"T2|STIR|TIRM", re.I)),
]
_ACQUISITION_CONTRAST = {"T1": "T1", "T2": "T2", "PROTON_DENSITY": "PD", "T2_STAR": "T2*"}
# Whole words only: "FS" is fat saturation, "FSE" a fast spin echo.
_FAT_SAT = re.compile(r"(^|[^A-Z])(FS|FATSAT|FAT.SAT|SPIR|SPAIR|STIR|TIRM)(?![A-Z])|DIXON.?W", re.I)
_LOCALIZER = re.compile(r"(^|[^A-Z])(LOC|SCOUT|SURVEY|PLAN)", re.I)
_STIR_TI_MS = 250.0  # an inversion time this short nulls fat: short-tau inversion recovery
MIN_IMAGE_KEYS = ("min_images", "min_instances")  # min_instances: the name rule files used before multi-frame


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


def _float(header: Dataset, *keywords: str) -> float | None:
    for keyword in keywords:
        try:
            return float(header.get(keyword))
        except (TypeError, ValueError):
            continue
    return None


def weighting_evidence(header: Dataset) -> tuple[str, str]:
    """(weighting, why): from AcquisitionContrast (Enhanced MR), SeriesDescription/ProtocolName, else TR/TE.

    "T1", "T2", "PD", "T2*", "unknown", or "conflicting" when AcquisitionContrast and the description disagree.
    """
    contrast = str(header.get("AcquisitionContrast") or "").upper()
    attribute = _ACQUISITION_CONTRAST.get(contrast)
    text = f"{header.get('SeriesDescription', '')} {header.get('ProtocolName', '')}".strip()
    described = next((w for w, pattern in _WEIGHTING_PATTERNS if pattern.search(text)), None)
    if attribute and described and attribute != described:
        return "conflicting", f"AcquisitionContrast {contrast} but description '{text}' says {described}"
    if attribute:
        return attribute, f"AcquisitionContrast {contrast}"
    if described:
        return described, f"description '{text}'"
    tr, te = _float(header, "RepetitionTime"), _float(header, "EchoTime", "EffectiveEchoTime")
    if tr is None or te is None:
        return "unknown", "no weighting in AcquisitionContrast, description or TR/TE"
    timing = f"TR {tr:g} ms, TE {te:g} ms"
    if tr < 1000 and te < 30:
        return "T1", timing
    if tr >= 2000 and te >= 60:
        return "T2", timing
    if tr >= 1500 and te < 45:
        return "PD", timing
    return "unknown", timing


def mr_weighting(header: Dataset) -> str:
    """The weighting `weighting_evidence` gives."""
    return weighting_evidence(header)[0]


def _fat_saturated(header: Dataset) -> bool:
    text = f"{header.get('SeriesDescription', '')} {header.get('ProtocolName', '')}"
    options = {str(v).upper() for v in (header.get("ScanOptions") or [])}
    suppression = str(header.get("SpectrallySelectedSuppression") or "").upper()
    inversion = _float(header, "InversionTime")
    inverted = str(header.get("InversionRecovery") or "").upper() == "YES" or "IR" in {
        str(v).upper() for v in (header.get("ScanningSequence") or [])
    }
    return (
        bool(_FAT_SAT.search(text))
        or bool(options & {"FS", "SFS", "FAT"})
        or suppression in ("FAT", "FAT_AND_WATER")
        or (inverted and inversion is not None and 0 < inversion < _STIR_TI_MS)
    )


def _is_localizer(header: Dataset) -> bool:
    image_type = {str(v).upper() for v in [*header.get("ImageType", []), *header.get("FrameType", [])]}
    return "LOCALIZER" in image_type or bool(_LOCALIZER.search(str(header.get("SeriesDescription", ""))))


def derive_attributes(series: Series) -> dict[str, Any]:
    """Attributes rules can test beyond raw tags: plane, weighting (and why), fat_sat, localizer, laterality,
    images (slices: frames of multi-frame instances count one each) and instances (files)."""
    slices = series.slices
    first = slices[0].header
    planes = {imaging_plane(piece.header) for piece in slices}
    weighting, why = weighting_evidence(first) if series.modality == "MR" else ("n/a", "not MR")
    laterality = first.get("Laterality") or first.get("ImageLaterality") or first.get("FrameLaterality") or ""
    return {
        "plane": planes.pop() if len(planes) == 1 else "mixed",
        "weighting": weighting,
        "weighting_evidence": why,
        "fat_sat": _fat_saturated(first),
        "localizer": _is_localizer(first),
        "laterality": str(laterality),
        "images": len(slices),
        "instances": len(series.instances),
    }


def _show(value: Any) -> str:
    if isinstance(value, list):
        return " or ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return f"between {value.get('min', '-inf')} and {value.get('max', 'inf')}"
    return repr("" if value is None else value) if not isinstance(value, bool) else str(value).lower()


def _holds(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool):
        return bool(actual) == expected
    if isinstance(expected, list):
        return any(_holds(option, actual) for option in expected)
    if isinstance(expected, dict):
        try:
            value = float(actual)
        except (TypeError, ValueError):
            return False
        return expected.get("min", float("-inf")) <= value <= expected.get("max", float("inf"))
    # Strings are case-insensitive full matches, as regular expressions; an absent attribute reads as "".
    return re.fullmatch(str(expected), "" if actual is None else str(actual), re.I) is not None


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

    def failures(self, series: Series, derived: dict[str, Any]) -> list[str]:
        """Why this rule does not match the series: one phrase per condition that fails (empty: it matches)."""
        header = series.slices[0].header
        problems = []
        for key, expected in self.conditions.items():
            if key in MIN_IMAGE_KEYS:
                if derived["images"] < int(expected):
                    problems.append(f"{derived['images']} image(s), needs at least {expected}")
                continue
            actual = derived[key] if key in derived else header.get(key)
            if not _holds(expected, actual):
                problems.append(f"{key} {_show(actual)}, needs {_show(expected)}")
        return problems

    def matches(self, series: Series, derived: dict[str, Any]) -> bool:
        """Whether every condition holds for this series."""
        return not self.failures(series, derived)


def _rule(spec: Mapping[str, Any], where: str) -> SelectionRule:
    try:
        return SelectionRule(spec["name"], spec["model"], dict(spec["conditions"]), str(spec.get("select", "best")))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"Selection rules in {where} need name, model and conditions per rule: {exc}") from exc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"Selection rules {path} unreadable: {exc}".splitlines()[0]) from exc
    if not isinstance(spec, dict):
        raise ValueError(f"Selection rules {path} must be a JSON object")
    return spec


@dataclass(frozen=True)
class SelectionRules:
    """The rules of one app (its file, and a site's file merged over it): anatomy policy, vocabulary, rules."""

    rules: list[SelectionRule]
    anatomy: AnatomyPolicy | None = None  # None: no anatomy verdict (every series may be read)
    vocabulary: Vocabulary = field(default_factory=Vocabulary.default)

    @classmethod
    def from_file(cls, path: Path) -> SelectionRules:
        """An app's own rules file (see README "Choosing series" for the format)."""
        return cls.load(Path(path))

    @classmethod
    def load(cls, path: Path, site: Path | None = None) -> SelectionRules:
        """The app's rules file with a site's rules file (`--rules`) merged over it; ValueError names the problem.

        The site's "regions" extend the vocabulary, its "anatomy" keys replace the app's, and each of its rules
        replaces the app's rule of the same name (or removes it, with "disabled": true) or is added.
        """
        return _load_rules(Path(path), None if site is None else Path(site))

    @property
    def models(self) -> list[str]:
        """The models the rules refer to."""
        return sorted({rule.model for rule in self.rules})


def _load_rules(path: Path, site: Path | None) -> SelectionRules:
    spec = _read_json(path)
    vocabulary = Vocabulary.default().extended(spec.get("regions", {}), str(path))
    anatomy = dict(spec.get("anatomy") or {})
    rules = [_rule(r, str(path)) for r in spec.get("rules", [])]
    if not rules:
        raise ValueError(f"Selection rules in {path} define no rule")
    models = {rule.model for rule in rules}
    if site is not None:
        extra = _read_json(site)
        vocabulary = vocabulary.extended(extra.get("regions", {}), str(site))
        anatomy.update(extra.get("anatomy") or {})
        by_name = {rule.name: rule for rule in rules}
        for entry in extra.get("rules", []):
            if isinstance(entry, Mapping) and entry.get("disabled"):
                by_name.pop(str(entry.get("name")), None)
                continue
            rule = _rule(entry, str(site))
            if rule.model not in models:
                raise ValueError(
                    f"{site}: rule {rule.name!r} names model {rule.model!r}; this app has {sorted(models)}"
                )
            by_name[rule.name] = rule
        rules = list(by_name.values())
        if not rules:
            raise ValueError(f"{site} disables every rule of {path}")
    policy = AnatomyPolicy.from_spec(anatomy, vocabulary, str(site or path)) if anatomy else None
    return SelectionRules(rules=rules, anatomy=policy, vocabulary=vocabulary)


@dataclass(frozen=True)
class SelectedSeries:
    """A series chosen by a rule, with the other candidates that rule passed over."""

    rule: str
    model: str
    series: Series
    passed_over: list[str] = field(default_factory=list)


@dataclass
class SeriesOutcome:
    """What selection made of one series: its derived attributes, the anatomy verdict and each rule's outcome."""

    series: Series
    derived: dict[str, Any]
    anatomy: AnatomyVerdict | None
    rules: dict[str, list[str]] = field(default_factory=dict)  # rule name → ["selected"], or why not
    selected_by: list[str] = field(default_factory=list)

    def reason(self) -> str:
        """One phrase: the rules that selected the series, or why it was passed over."""
        stack = f"{self.series.label}: " if self.series.label else ""
        if self.selected_by:
            return stack + "selected by " + ", ".join(self.selected_by)
        if self.anatomy is not None and not self.anatomy.read:
            return stack + self.anatomy.reason
        # The rule that came closest: its reasons are the ones worth reading.
        return stack + ("; ".join(min(self.rules.values(), key=len)) if self.rules else "no rule")

    def to_json(self) -> dict[str, Any]:
        series = self.series
        return {
            "series_instance_uid": series.uid,
            "series_number": series.number,
            "series_description": series.description,
            "modality": series.modality,
            "stack": series.stack.to_json() if series.stack is not None else None,
            "derived": dict(self.derived),
            "anatomy": self.anatomy.to_json() if self.anatomy else None,
            "rules": {name: "; ".join(why) for name, why in self.rules.items()},
            "outcome": self.reason(),
        }


@dataclass
class Selection:
    """The series a study's rules selected and, for every series, the outcome and its reason."""

    selected: list[SelectedSeries]
    outcomes: list[SeriesOutcome]

    def to_json(self) -> list[dict[str, Any]]:
        """result.json's "selection": one object per series."""
        return [outcome.to_json() for outcome in self.outcomes]

    def no_match_reason(self, limit: int = 400) -> str:
        """One line for a study with nothing to analyse: why each series was passed over."""
        if self.selected:
            chosen = ", ".join(f"#{s.series.number} for {s.rule}" for s in self.selected)
            return f"selected series ({chosen}) had no decodable image; see failures.csv"
        if not self.outcomes:
            return "no series with images"
        parts = [f"#{o.series.number} '{o.series.description}': {o.reason()}" for o in self.outcomes]
        text = "no series selected: " + "; ".join(parts)
        text = " ".join(text.split())  # one line, whatever the headers hold
        return text if len(text) <= limit else text[: limit - 1] + "…"


def _wants_t2(rule: SelectionRule) -> bool:
    """Whether the rule's weighting condition takes T2 (or T2*) and neither T1 nor PD: its echo is the longest."""
    expected = rule.conditions.get("weighting")
    if expected is None:
        return False
    return any(_holds(expected, w) for w in ("T2", "T2*")) and not any(_holds(expected, w) for w in ("T1", "PD"))


def _preference(series: Series, long_echo: bool) -> tuple[int, int, str, float]:
    """Deterministic choice among matches: most images, lowest SeriesNumber, UID, then the stack (`stack_rank`)."""
    return (-len(series.slices), series.number, series.uid, stack_rank(series.stack, long_echo)[0])


def _passed_over(loser: Series, winner: Series, long_echo: bool) -> str:
    """Why a matching series (or stack) was not the one a "best" rule took."""
    if loser.uid == winner.uid and winner.label:
        why = stack_rank(winner.stack, long_echo)[1] if len(loser.slices) == len(winner.slices) else "more images"
        return f"matched, but {winner.label} preferred ({why})"
    return f"matched, but series #{winner.number} preferred (more images, lower number)"


def _name(series: Series) -> str:
    return f"{series.uid} ({series.label})" if series.label else series.uid


def choose_series(study: Study, rules: SelectionRules) -> Selection:
    """Apply every rule to the study, with reasons; a "best" rule selects at most one series, deterministically."""
    outcomes = []
    for series in (stack for whole in study.series for stack in split_stacks(whole)):
        series.derived = derive_attributes(series)
        verdict = None
        if rules.anatomy is not None:
            verdict = judge_anatomy(series.slices[0].header, rules.anatomy, rules.vocabulary)
        outcomes.append(SeriesOutcome(series, series.derived, verdict))
    selected: list[SelectedSeries] = []
    for rule in rules.rules:
        candidates = []
        for outcome in outcomes:
            if outcome.anatomy is not None and not outcome.anatomy.read:
                outcome.rules[rule.name] = [f"anatomy: {outcome.anatomy.reason}"]
                continue
            problems = rule.failures(outcome.series, outcome.derived)
            outcome.rules[rule.name] = problems or ["matched"]
            if not problems:
                candidates.append(outcome)
        long_echo = _wants_t2(rule)
        candidates.sort(key=lambda o: _preference(o.series, long_echo))
        chosen = candidates if rule.select == "all" else candidates[:1]
        for outcome in chosen:
            outcome.rules[rule.name] = ["selected"]
            outcome.selected_by.append(rule.name)
            others = [] if rule.select == "all" else [_name(o.series) for o in candidates[1:]]
            selected.append(SelectedSeries(rule=rule.name, model=rule.model, series=outcome.series, passed_over=others))
        for outcome in candidates[len(chosen) :]:
            outcome.rules[rule.name] = [_passed_over(outcome.series, chosen[0].series, long_echo)]
        if len(candidates) > len(chosen):
            logger.info(
                "Study %s rule %r: chose %s over %d other(s)",
                study.uid,
                rule.name,
                _name(chosen[0].series),
                len(candidates) - len(chosen),
            )
    return Selection(selected=selected, outcomes=outcomes)


def select_series(study: Study, rules: SelectionRules) -> list[SelectedSeries]:
    """The series `choose_series` selects."""
    return choose_series(study, rules).selected
