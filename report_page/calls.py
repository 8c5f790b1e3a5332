"""A study's call for the page: a short label to filter on, a line with its probability or grade, a number to sort on.

Read from each app's typed result.json details (apps/<app>/result_details.py), the one place their contract lives.
An app without an entry here still gets a row: its summary, no label. Each app's details type is imported where it
is read: an app's MAP image ships only its own app folder, and every run draws its page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dicom_out.result_json import read_details

__all__ = ["Call", "study_call", "GRADE_ORDER", "NO_FRAGMENT"]

# Worst first: a study's onfh call is its worse hip.
GRADE_ORDER = ("Severe", "Moderate", "Mild", "Without ONFH")
NO_FRAGMENT = "no fragment"
_SIDES = {"R": "right", "L": "left"}


@dataclass(frozen=True)
class Call:
    """What the page shows of a study's conclusion."""

    label: str  # short, for the filter: "positive", "LMAF", "Moderate", ...; "" when the study has none
    text: str  # its probability or grade, e.g. "p=0.97 (T1 coronal 0.01, T2 coronal 0.97)"
    value: float | None = None  # the number behind it, for sorting: a probability, or a necrotic ratio in %
    points: tuple[tuple[str, float], ...] = ()  # (category, value) per study, fragment or hip, for the plots


def _olt(result: dict[str, Any]) -> Call:
    from apps.olt_mri.result_details import OltDetails

    details = read_details(result, OltDetails)
    if details is None:
        return Call("", "")
    call = details.study_call
    label = "positive" if call.present else "negative"
    by_series = ", ".join(f"{s.rule} {s.probability:.2f}" for s in details.series)
    return Call(label, f"p={call.probability:.2f} ({by_series})", call.probability, ((label, call.probability),))


def _ankle_xray(result: dict[str, Any]) -> Call:
    from apps.ankle_xray.result_details import FragmentStudyDetails

    details = read_details(result, FragmentStudyDetails)
    if details is None:
        return Call("", "")
    if not details.fragments:
        return Call(NO_FRAGMENT, f"on {len(details.radiographs)} radiograph(s)")
    labels = sorted({f.label for f in details.fragments})
    text = ", ".join(f"{f.tracking_id}: {f.label} p={f.class_probability:.2f}" for f in details.fragments)
    points = tuple((f.label, f.class_probability) for f in details.fragments)
    return Call("+".join(labels), text, max(f.class_probability for f in details.fragments), points)


def _onfh(result: dict[str, Any]) -> Call:
    from apps.onfh_mri.result_details import OnfhDetails

    details = read_details(result, OnfhDetails)
    if details is None or not details.hips:
        return Call("", "")
    hips = sorted(details.hips.items())
    worst = min((hip.grade for _, hip in hips), key=lambda g: GRADE_ORDER.index(g) if g in GRADE_ORDER else 99)
    text = "; ".join(f"{_SIDES.get(side, side)}: {hip.grade} {hip.ratio_key_percent:.2f}%" for side, hip in hips)
    points = tuple((hip.grade, hip.ratio_key_percent) for _, hip in hips)
    return Call(worst, text, max(hip.ratio_key_percent for _, hip in hips), points)


_CALLS: dict[str, Callable[[dict[str, Any]], Call]] = {"olt_mri": _olt, "ankle_xray": _ankle_xray, "onfh_mri": _onfh}


def study_call(app: str, result: dict[str, Any]) -> Call:
    """The call of one study's result.json (empty for a study the app could not analyse, or an unknown app)."""
    reader = _CALLS.get(app)
    return reader(result) if reader else Call("", "")
