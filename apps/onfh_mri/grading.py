"""Steinberg-style grading of femoral-head necrosis by the necrotic / femoral-head area ratio.

Without ONFH below 0.1 %, Mild below 15 %, Moderate from 15 % to 30 % inclusive, Severe above 30 %.
Ratios are compared as exact fractions (from pixel counts, or from a Decimal/str percent), never as
floats, so no rounding can move a hip across a boundary the grading defines as inclusive or exclusive.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from fractions import Fraction

__all__ = ["Grade", "RECOMMENDATIONS", "grade_from_counts", "grade_from_percent", "necrosis_percent"]

_WITHOUT_BELOW = Fraction(1, 10)  # percent
_MILD_BELOW = Fraction(15)
_MODERATE_UP_TO = Fraction(30)


class Grade(str, Enum):
    """The grade reported per hip."""

    WITHOUT = "Without ONFH"
    MILD = "Mild"
    MODERATE = "Moderate"
    SEVERE = "Severe"


# Decision-support wording shown with each grade; a site replaces it with its own pathway.
RECOMMENDATIONS: dict[Grade, str] = {
    Grade.WITHOUT: "No femoral head necrosis detected; routine care.",
    Grade.MILD: "Mild necrotic involvement (<15%): consider joint-preserving management and MRI follow-up.",
    Grade.MODERATE: "Moderate necrotic involvement (15-30%): orthopaedic referral; joint-preserving surgery may apply.",
    Grade.SEVERE: "Severe necrotic involvement (>30%): orthopaedic referral; high risk of collapse.",
}


def grade_from_percent(percent: Fraction | Decimal | int | str) -> Grade:
    """Grade for a necrotic-area ratio in percent, compared exactly (pass Decimal/Fraction, not float)."""
    if isinstance(percent, float):
        raise TypeError(f"pass the ratio as Decimal, Fraction, int or str for exact boundaries, got float {percent!r}")
    value = Fraction(Decimal(percent)) if isinstance(percent, str | Decimal) else Fraction(percent)
    if not 0 <= value <= 100:
        raise ValueError(f"a necrotic ratio must lie in 0..100 %, got {float(value)} %")
    if value < _WITHOUT_BELOW:
        return Grade.WITHOUT
    if value < _MILD_BELOW:
        return Grade.MILD
    if value <= _MODERATE_UP_TO:
        return Grade.MODERATE
    return Grade.SEVERE


def necrosis_percent(necrotic_pixels: int, head_pixels: int) -> Fraction:
    """The exact ratio in percent of two pixel counts."""
    if head_pixels <= 0:
        raise ValueError(f"the femoral head needs at least one pixel, got {head_pixels}")
    if not 0 <= necrotic_pixels <= head_pixels:
        raise ValueError(f"necrotic pixels must lie in 0..{head_pixels}, got {necrotic_pixels}")
    return Fraction(100 * necrotic_pixels, head_pixels)


def grade_from_counts(necrotic_pixels: int, head_pixels: int) -> Grade:
    """Grade straight from pixel counts (the paper's pixel-level ratio)."""
    return grade_from_percent(necrosis_percent(necrotic_pixels, head_pixels))
