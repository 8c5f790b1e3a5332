from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from apps.onfh_mri.grading import Grade, grade_from_counts, grade_from_percent, necrosis_percent


@pytest.mark.parametrize(
    ("percent", "grade"),
    [
        ("0", Grade.WITHOUT),
        ("0.0999", Grade.WITHOUT),
        ("0.1", Grade.MILD),
        ("14.99", Grade.MILD),
        ("15", Grade.MODERATE),
        ("30", Grade.MODERATE),
        ("30.01", Grade.SEVERE),
        ("100", Grade.SEVERE),
    ],
)
def test_boundaries_are_exact(percent: str, grade: Grade) -> None:
    assert grade_from_percent(percent) is grade
    assert grade_from_percent(Decimal(percent)) is grade


def test_pixel_counts_hit_the_boundaries_exactly() -> None:
    assert grade_from_counts(3, 10) is Grade.MODERATE
    assert grade_from_counts(3001, 10000) is Grade.SEVERE
    assert grade_from_counts(15, 100) is Grade.MODERATE
    assert grade_from_counts(1, 1000) is Grade.MILD
    assert grade_from_counts(999, 1_000_000) is Grade.WITHOUT
    assert necrosis_percent(1, 3) == Fraction(100, 3)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(TypeError, match="got float 15.0"):
        grade_from_percent(15.0)
    with pytest.raises(ValueError, match=r"must lie in 0..100 %, got 120.0 %"):
        grade_from_percent(120)
    with pytest.raises(ValueError, match="at least one pixel, got 0"):
        necrosis_percent(0, 0)
    with pytest.raises(ValueError, match=r"must lie in 0..10, got 11"):
        necrosis_percent(11, 10)
