"""Coded concepts the apps put in their DICOM objects, in one place.

Standard codes come from pydicom's DICOM code dictionary (SNOMED CT, DCM, UCUM). Where DICOM has no
concept (a model's class name, for instance) the private scheme MSK_SCHEME is used and declared in the SR's
CodingSchemeIdentificationSequence.
"""

from __future__ import annotations

from pydicom.sr.codedict import codes

from operators.findings import Concept

__all__ = [
    "MSK_SCHEME",
    "MSK_SCHEME_NAME",
    "LESION",
    "TALUS",
    "PRESENT",
    "ABSENT",
    "FINDING",
    "PROBABILITY",
    "NO_UNITS",
    "PERCENT",
    "SQUARE_MILLIMETER",
    "IMAGING_PROCEDURE",
    "laterality_concept",
    "private",
]

MSK_SCHEME = "99MSKMAPS"
MSK_SCHEME_NAME = "msk-maps private codes"


def _std(code) -> Concept:
    return Concept(str(code.value), str(code.scheme_designator), str(code.meaning))


def private(value: str, meaning: str) -> Concept:
    """A concept in the declared private scheme (for model classes DICOM has no code for)."""
    return Concept(value, MSK_SCHEME, meaning)


LESION = _std(codes.SCT.Lesion)
TALUS = _std(codes.SCT.Talus)
PRESENT = _std(codes.SCT.Present)
ABSENT = _std(codes.SCT.Absent)
FINDING = _std(codes.DCM.Finding)
PROBABILITY = _std(codes.DCM.Probability)
NO_UNITS = _std(codes.UCUM.NoUnits)
PERCENT = _std(codes.UCUM.Percent)
SQUARE_MILLIMETER = _std(codes.UCUM.SquareMillimeter)
IMAGING_PROCEDURE = _std(codes.SCT.ImagingProcedure)
_LATERALITY = {"R": _std(codes.SCT.Right), "L": _std(codes.SCT.Left)}


def laterality_concept(value: str) -> Concept | None:
    """SNOMED CT Right/Left from a DICOM Laterality value ("R"/"L"); None for anything else."""
    return _LATERALITY.get(value.strip().upper())
