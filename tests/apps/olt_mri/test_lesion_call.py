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


def test_study_is_positive_if_any_series_is() -> None:
    calls = [
        call_series("T1 coronal", np.array([0.2, 0.3]), 0.5),
        call_series("T1 sagittal", np.array([0.1]), 0.5),
        call_series("T2 coronal", np.array([0.9]), 0.5),
    ]
    study = call_study(calls)
    assert study.present and study.probability == 0.9
    assert study.by_weighting == {"T1": 0.2, "T2": 0.9}
    assert not call_study(calls[:2]).present


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
