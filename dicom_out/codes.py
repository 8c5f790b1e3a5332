"""Coded concepts the apps put in their DICOM objects, in one place.

Standard concepts are taken from pydicom's DICOM code dictionary (SNOMED CT "SCT", DICOM "DCM", UCUM)
where it has them, so their values and meanings match the standard. Where no standard concept was found
(the model's own class names, "osteochondral lesion of talus", the probability of a classification) the
private scheme MSK_SCHEME is used; the SR writer declares it in CodingSchemeIdentificationSequence whenever
a private code appears in a report.
"""

from __future__ import annotations

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from dicom_out.findings import Concept

__all__ = [
    "MSK_SCHEME",
    "MSK_SCHEME_NAME",
    "MSK_SCHEME_ORGANIZATION",
    "private",
    "laterality_concept",
    # findings and anatomy
    "FINDING",
    "LESION",
    "OSTEOCHONDRAL_LESION_OF_TALUS",
    "TALUS",
    "FIBULA",
    "BONE_FRAGMENT",
    "AVULSION_FRACTURE",
    "OSSICLE",
    "NECROSIS",
    "ANATOMICAL_STRUCTURE",
    "MORPHOLOGICALLY_ABNORMAL_STRUCTURE",
    "ANKLE_JOINT",
    "HIP_JOINT",
    "FEMORAL_HEAD",
    "RIGHT",
    "LEFT",
    # qualitative evaluations
    "PRESENCE",
    "PRESENT",
    "ABSENT",
    "CLASSIFICATION",
    # measurements and units
    "PROBABILITY",
    "CLASSIFICATION_PROBABILITY",
    "COMMENT",
    "NO_UNITS",
    "PERCENT",
    "SQUARE_MILLIMETER",
    # procedures
    "IMAGING_PROCEDURE",
    "PLAIN_RADIOGRAPHY",
]

MSK_SCHEME = "99MSKMAPS"
MSK_SCHEME_NAME = "msk-maps private codes"
MSK_SCHEME_ORGANIZATION = "msk-maps"


def _std(code: Code) -> Concept:
    return Concept(str(code.value), str(code.scheme_designator), str(code.meaning))


def private(value: str, meaning: str) -> Concept:
    """A concept in the declared private scheme, for what no SNOMED CT / DCM concept covers."""
    return Concept(value, MSK_SCHEME, meaning)


# Findings and anatomy.
FINDING = _std(codes.DCM.Finding)  # DCM 121071, the finding type when nothing more specific applies
LESION = _std(codes.SCT.Lesion)  # SCT 52988006
# No SNOMED CT concept for OLT could be verified offline; a private code is honest where a guessed one is not.
OSTEOCHONDRAL_LESION_OF_TALUS = private("OLT", "Osteochondral lesion of talus")
TALUS = _std(codes.SCT.Talus)  # SCT 67453005
FIBULA = _std(codes.SCT.Fibula)  # SCT 87342007; the lateral malleolus is its distal end
# The two fragment classes of the ankle radiograph paper have no SNOMED CT concept verifiable offline.
BONE_FRAGMENT = private("FRAG", "Perimalleolar bone fragment")
AVULSION_FRACTURE = private("LMAF", "Lateral malleolus avulsion fracture")
OSSICLE = private("SFO", "Os subfibulare")
NECROSIS = _std(codes.SCT.Necrosis)  # SCT 6574001, morphologic abnormality
# Segment categories (CID 7150).
ANATOMICAL_STRUCTURE = _std(codes.SCT.AnatomicalStructure)  # SCT 91723000
MORPHOLOGICALLY_ABNORMAL_STRUCTURE = _std(codes.SCT.MorphologicallyAbnormalStructure)  # SCT 49755003
ANKLE_JOINT = _std(codes.SCT.AnkleJoint)  # SCT 70258002
HIP_JOINT = _std(codes.SCT.HipJoint)  # SCT 24136001
FEMORAL_HEAD = _std(codes.SCT.FemoralHead)  # SCT 2812003
RIGHT = _std(codes.SCT.Right)  # SCT 24028007
LEFT = _std(codes.SCT.Left)  # SCT 7771000

# Qualitative evaluations. pydicom's dictionary maps "Absent" to SCT 272519000 "Absence findings"; the
# qualifier value 2667000 is the one that pairs with Present 52101004 (as in HL7's present/absent value sets).
PRESENCE = _std(codes.DCM.PresenceOfProperty)  # DCM 121052
PRESENT = _std(codes.SCT.Present)  # SCT 52101004
ABSENT = Concept("2667000", "SCT", "Absent")
CLASSIFICATION = Concept(str(codes.SCT.Classification.value), "SCT", "Classification")  # SCT 278201002

# Measurements and UCUM units.
PROBABILITY = _std(codes.DCM.Probability)  # DCM 122157, that the finding is present
# A second "Probability" code in the same group would be ambiguous to a reader, so the class probability
# gets its own (private) concept.
CLASSIFICATION_PROBABILITY = private("CLSPROB", "Probability of classification")
COMMENT = Concept("121106", "DCM", "Comment")
NO_UNITS = _std(codes.UCUM.NoUnits)  # UCUM "1"
PERCENT = _std(codes.UCUM.Percent)  # UCUM "%"
SQUARE_MILLIMETER = _std(codes.UCUM.SquareMillimeter)  # UCUM "mm2"

# Procedures reported (TID 1500 "Procedure reported"); the anatomy goes in each group's finding site.
IMAGING_PROCEDURE = _std(codes.SCT.ImagingProcedure)  # SCT 363679005
PLAIN_RADIOGRAPHY = _std(codes.SCT.PlainRadiography)  # SCT 168537006

_LATERALITY = {"R": RIGHT, "L": LEFT}


def laterality_concept(value: str) -> Concept | None:
    """SNOMED CT Right/Left from a DICOM Laterality value ("R"/"L"); None for anything else (e.g. "B", "")."""
    return _LATERALITY.get(value.strip().upper())
