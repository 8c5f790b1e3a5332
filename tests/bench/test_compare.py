from __future__ import annotations

from bench.__main__ import PROBABILITY_TOLERANCE, _compare, overlap_limit


def test_findings_compare_within_tolerance_only() -> None:
    a = {"s1": {"T1 coronal": (True, 0.91), "T2 sagittal": (False, 0.10)}}
    close = {"s1": {"T1 coronal": (True, 0.91 + PROBABILITY_TOLERANCE / 2), "T2 sagittal": (False, 0.10)}}
    assert _compare(a, close)[0]
    far = {"s1": {"T1 coronal": (True, 0.80), "T2 sagittal": (False, 0.10)}}
    same, worst = _compare(a, far)
    assert not same and abs(worst - 0.11) < 1e-9
    flipped = {"s1": {"T1 coronal": (False, 0.91), "T2 sagittal": (False, 0.10)}}
    assert not _compare(a, flipped)[0]
    assert not _compare(a, {"s1": {"T1 coronal": (True, 0.91)}})[0]


def test_overlap_limit_is_what_the_cores_leave_for_the_non_model_stages() -> None:
    # 10 s in the model on both cores + 10 s of single-core stages: overlapped, at best 10 + 10/2 = 15 s.
    assert overlap_limit({"inference": 10.0, "load": 4.0, "write": 6.0}, cores=2) == round(20 / 15, 3)
    assert overlap_limit({"inference": 10.0, "write": 6.0}, cores=1) == 1.0  # one core: nothing to overlap onto
