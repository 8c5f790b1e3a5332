"""ankle_xray domain logic: which class a classified fragment is, and the study's summary line."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dicom_out import codes
from dicom_out.findings import Concept

__all__ = ["FragmentCall", "CLASS_CONCEPTS", "call_fragment", "study_summary"]

# The classifier's labels (its meta "labels") mapped to the concepts the SR reports.
CLASS_CONCEPTS: dict[str, Concept] = {"LMAF": codes.AVULSION_FRACTURE, "SFO": codes.OSSICLE}


@dataclass(frozen=True)
class FragmentCall:
    """A detected fragment's class (a classifier label) and the probability of that class."""

    label: str
    probability: float


def call_fragment(probabilities: np.ndarray, labels: list[str]) -> FragmentCall:
    """The more probable class; ties go to LMAF, the finding that changes treatment."""
    if len(probabilities) != len(labels):
        raise ValueError(f"expected one probability per label {labels}, got {list(probabilities)}")
    order = sorted(range(len(labels)), key=lambda i: (-float(probabilities[i]), labels[i] != "LMAF"))
    best = order[0]
    return FragmentCall(label=labels[best], probability=float(probabilities[best]))


def study_summary(calls: list[FragmentCall], images: int) -> str:
    """One line for people, e.g. "2 fragments on 2 radiographs: LMAF p=0.93, SFO p=0.81"."""
    if not calls:
        return f"No perimalleolar fragment found on {images} radiograph{'s' if images != 1 else ''}"
    listed = ", ".join(f"{c.label} p={c.probability:.2f}" for c in calls)
    noun = "fragment" if len(calls) == 1 else "fragments"
    return f"{len(calls)} {noun} on {images} radiograph{'s' if images != 1 else ''}: {listed}"
