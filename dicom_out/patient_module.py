"""Patient, study and equipment attributes for the objects we write, made valid whatever the source holds.

highdicom copies the Patient, Clinical Trial Subject, General Study, Patient Study, Clinical Trial Study and
General Equipment attributes of a source image into our SR, SC and SEG. Real archives hold values that break
the standard's rules (PS3.5 6.2), and copied verbatim they fail our write or make our objects invalid. So the
builders hand highdicom `valid_patient_study(source).dataset`, a copy of the source in which each of those
attributes (and the acquisition date/time highdicom reads for Contributing Equipment) is made valid:

* Text is decoded with the source's Specific Character Set (pydicom; an unknown term falls back to its
  default, undecodable bytes become U+FFFD) and written in `character_set`: the source's own term when it is
  one plain term (no ISO 2022 code extensions) that can encode every value, else none when every value is
  ASCII, else ISO_IR 192 (UTF-8). Code extensions such as `\\ISO 2022 IR 87` are never carried over.
* An attribute of value multiplicity 1 that holds several values keeps its first (a PatientName of two
  values: the first name).
* PN: at most 3 component groups (alphabetic, ideographic, phonetic) of at most 5 components each, every
  group cut to 64 characters. LO 64, SH 16, ST 1024, LT 10240 characters, CS 16 (upper-cased; a value
  with other characters than A-Z, 0-9, space and underscore is emptied); control characters are removed
  (CR, LF, FF and TAB stay in ST/LT/UT). Character limits are also held in bytes (UTF-8 when that is the
  output), so a validator counting bytes agrees.
* DA, TM, DT, AS, DS and IS values that are not valid are emptied; PatientSex other than M, F or O too.
* The placeholder for anything missing or unusable is the empty value, the standard's "unknown" for these
  Type 2 attributes. PatientID, PatientName, PatientBirthDate, PatientSex, StudyDate, StudyTime,
  AccessionNumber, StudyID and ReferringPhysicianName are added empty when the source lacks them.

Sequences of these modules are made valid item by item the same way. The source itself is never modified.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from highdicom._standard_utils import get_module_attribute_map  # the module tables highdicom copies by
from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_VM, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.valuerep import PersonName

__all__ = ["COPIED_MODULES", "REQUIRED_KEYWORDS", "ValidPatientStudy", "valid_patient_study"]

logger = logging.getLogger(__name__)

COPIED_MODULES = (
    "patient",
    "clinical-trial-subject",
    "general-study",
    "patient-study",
    "clinical-trial-study",
    "general-equipment",
)
# highdicom also reads these (Contributing Equipment's date and time of the acquisition).
_ALSO_READ = ("AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime")
# highdicom reads these as attributes of the source (`evidence[0].PatientID`): Type 2, present and empty if unknown.
REQUIRED_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
)
UTF8 = "ISO_IR 192"

_MAX_CHARS = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "ST": 1024, "LT": 10240, "UC": None, "UT": None, "PN": 64}
_LONG_TEXT = ("ST", "LT", "UT")  # may hold CR, LF, FF and TAB
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_FORMAT = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_CS = re.compile(r"[A-Z0-9 _]*")
_PATTERNS = {
    "AS": re.compile(r"\d{3}[DWMY]"),
    "DS": re.compile(r" *[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)? *"),
    "IS": re.compile(r" *[+-]?\d+ *"),
    "DT": re.compile(r"\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?"),
    "TM": re.compile(r"([01]\d|2[0-3])([0-5]\d([0-5]\d(\.\d{1,6})?)?)?"),
}
_MAX_LENGTH = {"DS": 16, "IS": 12, "DT": 26, "TM": 14, "AS": 4}
_SEXES = ("M", "F", "O", "")


@dataclass(frozen=True)
class ValidPatientStudy:
    """A copy of a source image whose copied attributes are valid, and the character set to write them in."""

    dataset: Dataset
    character_set: str | None  # SpecificCharacterSet of our object; None: the default repertoire (ASCII)


@lru_cache(1)
def _copied_keywords() -> frozenset[str]:
    """Keywords of the root attributes of the modules highdicom copies from a source image."""
    modules = get_module_attribute_map()
    keywords = {item["keyword"] for key in COPIED_MODULES for item in modules[key] if not item["path"]}
    return frozenset(keywords | set(_ALSO_READ))


def _fit(text: str, max_chars: int | None, encoding: str) -> str:
    """`text` cut to `max_chars` characters and to as many bytes in `encoding`, never inside a character."""
    if max_chars is None:
        return text
    text = text[:max_chars]
    while len(text.encode(encoding, "replace")) > max_chars:
        text = text[:-1]
    return text


def _valid_date(text: str) -> str:
    try:
        datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return ""
    return text


def _valid_name(name: str, encoding: str) -> str:
    """A PN value: at most 3 groups of at most 5 components, each group within 64 characters (and bytes)."""
    groups = []
    for group in name.split("=")[:3]:
        components = [_CONTROL.sub("", c).replace("\\", "") for c in group.split("^")[:5]]
        groups.append(_fit("^".join(components), 64, encoding).rstrip("^"))
    return "=".join(groups).rstrip("=")


def _valid_value(text: str, vr: str, keyword: str, encoding: str) -> str:
    """One value made valid for `vr` (see the module docstring): fixed, cut, or emptied."""
    text = str(text)
    if vr == "PN":
        return _valid_name(text, encoding)
    if vr == "DA":
        return _valid_date(text.strip())
    if vr in _PATTERNS:
        text = text.strip() if vr in ("DT", "TM", "AS") else text
        return text if len(text) <= _MAX_LENGTH[vr] and _PATTERNS[vr].fullmatch(text) else ""
    text = (_CONTROL_BUT_FORMAT if vr in _LONG_TEXT else _CONTROL).sub("", text)
    if vr not in _LONG_TEXT:
        text = text.replace("\\", "")
    if vr == "CS":
        text = text.strip().upper()
        text = text if _CS.fullmatch(text) and len(text) <= 16 else ""
        return text if keyword != "PatientSex" or text in _SEXES else ""
    return _fit(text, _MAX_CHARS.get(vr), encoding)


def _values(element: DataElement) -> list[str]:
    value = element.value
    if value is None or value == "":
        return []
    if isinstance(value, str | PersonName) or not hasattr(value, "__iter__"):
        return [str(value)]
    return [str(v) for v in value]


def _valid_element(element: DataElement, encoding: str) -> DataElement:
    """A new element with every value of a text `element` made valid (VM 1: its first value only)."""
    keyword = element.keyword or keyword_for_tag(element.tag)
    values = _values(element)
    if values and dictionary_VM(element.tag) == "1":
        values = values[:1]
    values = [_valid_value(v, element.VR, keyword, encoding) for v in values]
    values = [v for v in values if v] if len(values) > 1 else values
    if element.VR == "PN":
        fixed: object = [PersonName(v) for v in values] if len(values) > 1 else PersonName(values[0] if values else "")
    else:
        fixed = values if len(values) > 1 else (values[0] if values else "")
    return DataElement(element.tag, element.VR, fixed)


_TEXT_VRS = frozenset(_MAX_CHARS) | {"DA", "TM", "DT", "AS", "DS", "IS"}


def _valid_dataset(dataset: Dataset, keywords: frozenset[str] | None, encoding: str) -> Dataset:
    """A new data set over `dataset`'s elements, those named by `keywords` (None: all) made valid."""
    copy = Dataset()
    for tag in dataset.keys():
        try:
            element = dataset[tag]  # converts a raw element, decoding text with the source's character set
        except Exception as exc:  # noqa: BLE001 - an undecodable element is dropped, never the study
            logger.warning("Dropping %s from the copied modules: %s", tag, " ".join(str(exc).split()))
            continue
        named = keywords is None or element.keyword in keywords
        if not named or element.tag.is_private:
            copy.add(element)
        elif element.VR == "SQ":
            items = [_valid_dataset(item, None, encoding) for item in element.value]
            copy.add(DataElement(element.tag, "SQ", DicomSequence(items)))
        elif element.VR in _TEXT_VRS:
            try:
                copy.add(_valid_element(element, encoding))
            except (ValueError, TypeError) as exc:
                logger.warning("Emptying %s: its value cannot be made valid (%s)", element.keyword, exc)
                copy.add(DataElement(element.tag, element.VR, ""))
        else:
            copy.add(element)
    return copy


def _texts(dataset: Dataset, keywords: frozenset[str] | None) -> Iterator[str]:
    """Every text value of the named elements (None: all), sequences included."""
    for element in dataset:
        if keywords is not None and element.keyword not in keywords:
            continue
        if element.VR == "SQ":
            for item in element.value:
                yield from _texts(item, None)
        elif element.VR in _TEXT_VRS:
            yield from _values(element)


def _source_terms(source: Dataset) -> list[str]:
    value = source.get("SpecificCharacterSet") or []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def _output_character_set(source: Dataset, texts: list[str]) -> str | None:
    """The source's term when it is one plain term that encodes every text; else None (ASCII) or UTF-8."""
    terms = _source_terms(source)
    if len(terms) == 1 and not terms[0].startswith("ISO 2022") and terms[0] in python_encoding:
        try:
            for text in texts:
                text.encode(python_encoding[terms[0]])
            return terms[0] or None
        except UnicodeError:
            pass
    return None if all(text.isascii() for text in texts) else UTF8


def valid_patient_study(source: Dataset) -> ValidPatientStudy:
    """A copy of `source` whose patient, study and equipment attributes are valid, and their character set."""
    keywords = _copied_keywords()
    # Cut in UTF-8 bytes first: the output character set is only known once the values are clean, and no
    # value is longer in UTF-8 than in a single-byte set, so every limit holds in whichever set is chosen.
    copy = _valid_dataset(source, keywords, "utf-8")
    copy.file_meta = getattr(source, "file_meta", Dataset())
    for keyword in REQUIRED_KEYWORDS:
        if keyword not in copy:
            copy.add(DataElement(tag_for_keyword(keyword), _REQUIRED_VR[keyword], ""))
    character_set = _output_character_set(source, list(_texts(copy, keywords)))
    return ValidPatientStudy(dataset=copy, character_set=character_set)


_REQUIRED_VR = {
    "PatientName": "PN",
    "PatientID": "LO",
    "PatientBirthDate": "DA",
    "PatientSex": "CS",
    "StudyDate": "DA",
    "StudyTime": "TM",
    "AccessionNumber": "SH",
    "StudyID": "SH",
    "ReferringPhysicianName": "PN",
}
