from __future__ import annotations

from bench.__main__ import (
    PROBABILITY_TOLERANCE,
    _compare,
    marginal_over_floor,
    overlap_gain_after_start_up,
    overlap_limits,
)


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


def test_overlap_limits_are_what_the_cores_and_the_gil_leave_for_the_non_model_stages() -> None:
    # 10 s in the model on both cores + 10 s of single-core stages: overlapped, at best 10 + 10/2 = 15 s; the
    # GIL cannot push below the 10 s of Python either, which here is not the binding limit.
    assert overlap_limits({"inference": 10.0, "load": 4.0, "write": 6.0}, cores=2) == (round(20 / 15, 3),) * 2
    # Python-heavy: 2 s of model, 10 s of stages. Cores allow 2 + 5 = 7 s, one GIL only 10 s.
    assert overlap_limits({"inference": 2.0, "write": 10.0}, cores=2) == (1.2, round(12 / 7, 3))
    assert overlap_limits({"inference": 10.0, "write": 6.0}, cores=1) == (1.0, 1.0)  # one core: nothing to gain


def test_overlap_gain_leaves_the_start_up_out_of_both_runs() -> None:
    # 4 s of start-up + 12 s of stages serially; the pipelined run took 4 + 8 s: the stages went 1.5x faster.
    assert overlap_gain_after_start_up(16.0, {"inference": 6.0, "write": 6.0}, 12.0) == 1.5


def test_marginal_costs_the_added_images_at_the_10n_floor_rate() -> None:
    # 100 -> 1000 images: 900 added at 10 ms each (the 10N floor's rate) = 9 s of model; the run added 18 s.
    floor_n, floor_10n = {"seconds": 5.0, "images": 100.0}, {"seconds": 10.0, "images": 1000.0}
    assert marginal_over_floor(4.0, 22.0, floor_n, floor_10n) == 2.0
    # A slow short floor (5 s for 100 images here) does not enter: only its image count does.
    assert marginal_over_floor(4.0, 22.0, {"seconds": 0.5, "images": 100.0}, floor_10n) == 2.0
