from __future__ import annotations

import numpy as np
import pytest

from apps.ankle_xray.fragment_call import CLASS_CONCEPTS, FragmentCall, call_fragment, study_summary


def test_the_more_probable_class_wins_and_ties_go_to_lmaf() -> None:
    assert call_fragment(np.array([0.8, 0.2]), ["SFO", "LMAF"]) == FragmentCall("SFO", 0.8)
    assert call_fragment(np.array([0.3, 0.7]), ["SFO", "LMAF"]) == FragmentCall("LMAF", 0.7)
    assert call_fragment(np.array([0.5, 0.5]), ["SFO", "LMAF"]).label == "LMAF"


def test_labels_and_probabilities_must_agree() -> None:
    with pytest.raises(ValueError, match="one probability per label"):
        call_fragment(np.array([1.0]), ["SFO", "LMAF"])


def test_every_label_has_a_concept_and_the_summary_counts() -> None:
    assert set(CLASS_CONCEPTS) == {"SFO", "LMAF"}
    assert study_summary([], 2) == "No perimalleolar fragment found on 2 radiographs"
    line = study_summary([FragmentCall("LMAF", 0.93), FragmentCall("SFO", 0.81)], 1)
    assert line == "2 fragments on 1 radiograph: LMAF p=0.93, SFO p=0.81"
