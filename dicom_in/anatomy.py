"""Which body regions a series' headers name, and whether that evidence is consistent with what an app reads.

Evidence comes from two levels. Series level: AnatomicRegionSequence codes (per frame for a multi-frame image),
BodyPartExamined, SeriesDescription, ProtocolName, AcquisitionDeviceProcessingDescription, and ImageLaterality
("U" marks an unpaired body part); ViewPosition is recorded. Study level: RequestedProcedureDescription (also
inside RequestAttributesSequence), PerformedProcedureStepDescription, StudyDescription. Terms come from a
vocabulary of regions in several languages and vendor spellings (`anatomy_regions.json`, extendable by a rules
file). The verdict, from the series level first:

* a level that names a region the app reads, and no field of it that names only other regions: read;
* a level where one field names a region the app reads and another only other regions: skip (contradiction);
* a level that names only other regions: skip (a chest radiograph tagged EXTREMITY is still a chest);
* neither level names a specific region: read when some field names a region the app counts as consistent
  (EXTREMITY, LOW_EXM, LEG, "distal tibia" for an ankle), else as the policy's `unnamed` says.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

__all__ = [
    "AnatomyPolicy",
    "AnatomyVerdict",
    "Evidence",
    "Region",
    "Vocabulary",
    "collect_evidence",
    "judge_anatomy",
    "normalise_text",
]

DEFAULT_VOCABULARY = Path(__file__).with_name("anatomy_regions.json")
SERIES_TEXT_FIELDS = ("BodyPartExamined", "SeriesDescription", "ProtocolName", "AcquisitionDeviceProcessingDescription")
STUDY_TEXT_FIELDS = ("RequestedProcedureDescription", "PerformedProcedureStepDescription", "StudyDescription")
UNNAMED_POLICIES = ("read", "skip")
UNPAIRED = ("unpaired body part",)  # what ImageLaterality "U" names


def normalise_text(text: str) -> str:
    """Upper case, accents removed, anything but letters and digits read as a space (LOW_EXM → LOW EXM)."""
    decomposed = unicodedata.normalize("NFKD", str(text).upper())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", plain).split())


@dataclass(frozen=True)
class Region:
    """A body region: the terms and codes that name it, and whether it has a left and a right."""

    name: str
    terms: tuple[str, ...]
    codes: frozenset[str]
    paired: bool

    def patterns(self) -> list[re.Pattern[str]]:
        """Each term as a whole-word pattern on normalised text."""
        return [re.compile(rf"(?<![A-Z0-9])(?:{term})(?![A-Z0-9])") for term in self.terms]


@dataclass(frozen=True)
class Vocabulary:
    """The regions the selection recognises, from the default file and any rule file's "regions"."""

    regions: Mapping[str, Region]
    _patterns: dict[str, list[re.Pattern[str]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = {name: region.patterns() for name, region in self.regions.items()}
        object.__setattr__(self, "_patterns", patterns)

    @classmethod
    def default(cls) -> Vocabulary:
        """The vocabulary shipped with the apps."""
        return _default_vocabulary()

    def extended(self, spec: Mapping[str, Any], where: str) -> Vocabulary:
        """This vocabulary with `spec` ({region: {terms, codes, paired, replace}}) added or, with replace, swapped."""
        regions = dict(self.regions)
        for name, entry in spec.items():
            if not isinstance(entry, Mapping):
                raise ValueError(f"{where}: region {name!r} must be an object with terms/codes")
            old = regions.get(name)
            keep = old is not None and not entry.get("replace", False)
            terms = tuple(str(t).upper() for t in entry.get("terms", []))
            codes = frozenset(str(c).upper() for c in entry.get("codes", []))
            for term in terms:
                try:
                    re.compile(term)
                except re.error as exc:
                    raise ValueError(f"{where}: region {name!r} term {term!r} is not a regex ({exc})") from exc
            regions[name] = Region(
                name=name,
                terms=(old.terms if keep else ()) + terms,
                codes=(old.codes if keep else frozenset()) | codes,
                paired=bool(entry.get("paired", old.paired if old else True)),
            )
        return Vocabulary(regions)

    def regions_in_text(self, text: str) -> tuple[str, ...]:
        """The regions `text` names, longest term first where terms overlap ("FEMORAL HEAD" is not the head)."""
        normal = normalise_text(text)
        if not normal:
            return ()
        hits = [
            (m.end() - m.start(), m.start(), m.end(), region)
            for region, patterns in self._patterns.items()
            for pattern in patterns
            for m in pattern.finditer(normal)
            if m.end() > m.start()
        ]
        taken: list[tuple[int, int]] = []
        found: list[str] = []
        for _, start, end, region in sorted(hits, key=lambda h: (-h[0], h[1])):
            if all(end <= s or start >= e for s, e in taken):
                taken.append((start, end))
                if region not in found:
                    found.append(region)
        return tuple(found)

    def regions_of_code(self, item: Dataset) -> tuple[str, ...]:
        """The regions a coded item names: by scheme and value, else by its CodeMeaning."""
        code = f"{item.get('CodingSchemeDesignator', '')}:{item.get('CodeValue', '')}".upper()
        by_code = tuple(name for name, region in self.regions.items() if code in region.codes)
        return by_code or self.regions_in_text(str(item.get("CodeMeaning", "")))


@cache
def _default_vocabulary() -> Vocabulary:
    spec = json.loads(DEFAULT_VOCABULARY.read_text(encoding="utf-8"))
    return Vocabulary({}).extended(spec["regions"], str(DEFAULT_VOCABULARY))


@dataclass(frozen=True)
class AnatomyPolicy:
    """What an app reads: regions it reads, regions consistent with them, and what to do when none is named."""

    read: tuple[str, ...]
    consistent: tuple[str, ...] = ()
    unnamed: str = "read"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], vocabulary: Vocabulary, where: str) -> AnatomyPolicy:
        """The policy of a rules file's "anatomy" object, its region names checked against the vocabulary."""
        policy = cls(
            read=tuple(spec.get("read", ())),
            consistent=tuple(spec.get("consistent", ())),
            unnamed=str(spec.get("unnamed", "read")),
        )
        unknown = sorted(set(policy.read + policy.consistent) - set(vocabulary.regions))
        if not policy.read or unknown or policy.unnamed not in UNNAMED_POLICIES:
            raise ValueError(
                f"{where}: anatomy needs 'read' regions from {sorted(vocabulary.regions)} (unknown: {unknown}) "
                f"and 'unnamed' one of {UNNAMED_POLICIES}, got {dict(spec)}"
            )
        return policy


@dataclass(frozen=True)
class Evidence:
    """One header field's value and the regions it names, at the "series" or "study" level."""

    level: str
    field: str
    value: str
    regions: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.field} '{self.value}'" + (f" ({'/'.join(self.regions)})" if self.regions else "")

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "field": self.field, "value": self.value, "regions": list(self.regions)}


@dataclass(frozen=True)
class AnatomyVerdict:
    """Whether the anatomy evidence lets the series be read, why, and the evidence itself."""

    read: bool
    reason: str
    evidence: tuple[Evidence, ...]

    def to_json(self) -> dict[str, Any]:
        return {"read": self.read, "reason": self.reason, "evidence": [e.to_json() for e in self.evidence]}


def _texts(header: Dataset, fields: Iterable[str]) -> Iterable[tuple[str, str]]:
    for name in fields:
        value = header.get(name)
        if value not in (None, ""):
            yield name, str(value)
        if name == "RequestedProcedureDescription":
            for item in header.get("RequestAttributesSequence") or []:
                for inner in ("RequestedProcedureDescription", "ScheduledProcedureStepDescription"):
                    if item.get(inner) not in (None, ""):
                        yield f"RequestAttributesSequence.{inner}", str(item.get(inner))


def collect_evidence(header: Dataset, vocabulary: Vocabulary) -> list[Evidence]:
    """Every field of `header` (a series' first slice) that could name a body region, with what it names."""
    evidence = [
        Evidence(
            "series",
            "AnatomicRegionSequence",
            f"{item.get('CodingSchemeDesignator', '')}:{item.get('CodeValue', '')} {item.get('CodeMeaning', '')}",
            vocabulary.regions_of_code(item),
        )
        for item in header.get("AnatomicRegionSequence") or []
    ]
    evidence += [Evidence("series", f, v, vocabulary.regions_in_text(v)) for f, v in _texts(header, SERIES_TEXT_FIELDS)]
    for name in ("ImageLaterality", "FrameLaterality", "Laterality", "ViewPosition"):
        value = str(header.get(name) or "").strip()
        if value:
            unpaired = "Laterality" in name and value.upper() == "U"
            evidence.append(Evidence("series", name, value, UNPAIRED if unpaired else ()))
    evidence += [Evidence("study", f, v, vocabulary.regions_in_text(v)) for f, v in _texts(header, STUDY_TEXT_FIELDS)]
    return evidence


def _names(items: Iterable[Evidence]) -> str:
    return "; ".join(e.describe() for e in items)


def judge_anatomy(header: Dataset, policy: AnatomyPolicy, vocabulary: Vocabulary) -> AnatomyVerdict:
    """The verdict on one series (see the module docstring for the rules)."""
    evidence = tuple(collect_evidence(header, vocabulary))
    read, consistent = set(policy.read), set(policy.consistent)
    wanted = "/".join(policy.read)
    all_paired = all(vocabulary.regions[r].paired for r in policy.read)
    for level in ("series", "study"):
        items = [e for e in evidence if e.level == level]
        naming = [e for e in items if read & set(e.regions)]
        other = [
            e
            for e in items
            if e.regions
            and not read & set(e.regions)
            and set(e.regions) - consistent
            and (all_paired or e.regions != UNPAIRED)
        ]
        if naming and other:
            return AnatomyVerdict(False, f"contradictory: {_names(naming)} but {_names(other)}", evidence)
        if naming:
            return AnatomyVerdict(True, f"{_names(naming)} names {wanted}", evidence)
        if other:
            return AnatomyVerdict(False, f"{_names(other)}: not {wanted}", evidence)
    general = [e for e in evidence if consistent & set(e.regions)]
    if general:
        return AnatomyVerdict(True, f"only general terms, consistent with {wanted}: {_names(general)}", evidence)
    if policy.unnamed == "read":
        return AnatomyVerdict(True, "no body region named in the headers; read (anatomy 'unnamed': read)", evidence)
    return AnatomyVerdict(False, "no body region named in the headers (anatomy 'unnamed': skip)", evidence)
