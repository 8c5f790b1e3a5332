"""The coded concepts onfh_mri reports: one per grade and one per measurement (private scheme, declared)."""

from __future__ import annotations

from apps.onfh_mri.grading import Grade
from dicom_out.codes import private
from dicom_out.findings import Concept

__all__ = ["GRADE_CONCEPTS", "HEAD_AREA", "NECROTIC_AREA", "NECROTIC_RATIO", "NECROTIC_VOLUME_RATIO"]

GRADE_CONCEPTS: dict[Grade, Concept] = {
    Grade.WITHOUT: private("ONFH-0", "Without ONFH (necrotic ratio < 0.1%)"),
    Grade.MILD: private("ONFH-MILD", "Steinberg mild (necrotic ratio < 15%)"),
    Grade.MODERATE: private("ONFH-MOD", "Steinberg moderate (necrotic ratio 15-30%)"),
    Grade.SEVERE: private("ONFH-SEV", "Steinberg severe (necrotic ratio > 30%)"),
}
HEAD_AREA = private("FHAREA", "Femoral head area")
NECROTIC_AREA = private("NECAREA", "Necrotic area")
NECROTIC_RATIO = private("NECRATIO", "Necrotic area ratio, key slice")
NECROTIC_VOLUME_RATIO = private("NECVRATIO", "Necrotic volume ratio, all slices")
