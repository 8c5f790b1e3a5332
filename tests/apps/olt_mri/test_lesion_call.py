from __future__ import annotations

import numpy as np
import pytest

from apps.olt_mri.lesion_call import call_series, call_study, supported_probabilities


def test_series_call_takes_the_peak_slice() -> None:
    call = call_series("T1 coronal", np.array([0.1, 0.7, 0.6]), threshold=0.5)
    assert (call.present, call.key_index, call.probability, call.weighting) == (True, 1, 0.6, "T1")


def test_threshold_is_inclusive() -> None:
    assert call_series("T2 sagittal", np.array([0.5]), threshold=0.5).present
    assert not call_series("T2 sagittal", np.array([0.4999]), threshold=0.5).present


def _series(*probabilities: float) -> list:
    rules = ("T1 coronal", "T1 sagittal", "T2 coronal", "T2 sagittal")
    return [call_series(rule, np.array([p]), 0.5) for rule, p in zip(rules, probabilities, strict=False)]


def test_one_noisy_series_cannot_call_a_study() -> None:
    # The false calls: one coronal series at p 0.54-0.99 while the other three said < 0.3.
    study = call_study(_series(0.1, 0.2, 0.99, 0.25))
    assert not study.present and study.positive_series == 1 and study.series_needed == 2
    assert study.probability == 0.25  # the second-highest series
    assert study.by_weighting == {"T1": 0.2, "T2": 0.99}


def test_two_agreeing_series_call_a_study() -> None:
    study = call_study(_series(0.1, 0.7, 0.6, 0.2))
    assert study.present and study.positive_series == 2 and study.probability == 0.6
    assert call_study(_series(0.9, 0.95, 0.97, 0.99)).positive_series == 4


def test_fewer_series_must_all_agree() -> None:
    assert call_study(_series(0.8)).present and call_study(_series(0.8)).series_needed == 1
    assert not call_study(_series(0.2)).present
    both, one = call_study(_series(0.8, 0.9)), call_study(_series(0.8, 0.3))
    assert both.present and both.probability == 0.8
    assert not one.present and one.probability == 0.3 and one.series_needed == 2


def test_empty_inputs_are_errors() -> None:
    with pytest.raises(ValueError, match="non-empty 1-D"):
        call_series("T1 coronal", np.array([]), 0.5)
    with pytest.raises(ValueError, match="at least one analysed series"):
        call_study([])


def test_a_one_slice_blip_needs_a_neighbour() -> None:
    blip = call_series("T1 coronal", np.array([0.05, 0.97, 0.04, 0.1]), 0.5)
    assert not blip.present and blip.probability == pytest.approx(0.05)
    lesion = call_series("T1 coronal", np.array([0.05, 0.97, 0.8, 0.1]), 0.5)
    assert lesion.present and lesion.probability == pytest.approx(0.8) and lesion.key_index in (1, 2)
    np.testing.assert_allclose(supported_probabilities(np.array([0.3])), [0.3])
