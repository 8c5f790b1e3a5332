"""Whether two result.json of one app state the same findings (an input and a differently sent copy of it)."""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["assert_same_hips", "assert_same_series_calls"]


def assert_same_series_calls(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    """olt_mri: the same rules read, each with the same call and per-slice probabilities, and the same study call."""
    a, b = expected["details"], actual["details"]
    assert [s["rule"] for s in b["series"]] == [s["rule"] for s in a["series"]]
    for x, y in zip(a["series"], b["series"], strict=True):
        assert y["present"] == x["present"], x["rule"]
        assert y["probability"] == pytest.approx(x["probability"], abs=1e-5), x["rule"]
        assert y["slice_probabilities"] == pytest.approx(x["slice_probabilities"], abs=1e-5), x["rule"]
    assert b["study_call"]["present"] == a["study_call"]["present"]
    assert b["study_call"]["probability"] == pytest.approx(a["study_call"]["probability"], abs=1e-5)


def assert_same_hips(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    """onfh_mri: hips found in `expected` (at least one) graded and measured the same in `actual`."""
    hips = expected["details"]["hips"]
    assert hips, "the locator must find a femoral head for this comparison to bite"
    for side, hip in hips.items():
        other = actual["details"]["hips"][side]
        for key in ("grade", "head_pixels_key", "necrosis_pixels_key", "key_slice_index", "threshold"):
            assert other[key] == hip[key], key
        for key in ("head_area_mm2", "necrotic_area_mm2", "ratio_key_percent", "ratio_volume_percent"):
            assert other[key] == pytest.approx(hip[key], abs=1e-4), key
