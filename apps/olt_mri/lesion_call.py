"""OLT domain logic: from per-slice probabilities to per-series, per-weighting and per-study calls.

Rule (documented in the README, "olt_mri: how a study is called"):
* a slice's supported probability = the lower of its own probability and its higher neighbour's: an OLT of
  a few millimetres shows on at least two adjacent 3-4 mm slices, while a one-slice blip is noise;
* series probability = the highest supported probability (a lesion is focal: averaging over the series would
  dilute it); the key slice is that slice;
* a series is positive when its probability reaches the model's threshold (meta "threshold", 0.5);
* per weighting (T1, T2): the highest of its planes;
* the study is positive when at least two of its analysed series are (all of them when only one was analysed):
  a lesion is one structure, seen on both planes and both weightings, while a false call is one series' noise.
  The study probability is the second-highest series probability (the highest with one series), so the study is
  positive exactly when that probability reaches the threshold.

Why agreement (issue 15): with "any series positive", every series' false-positive rate added up; on unseen
phantoms 9 of 15 lesion-free studies were called positive, nearly always by one series (a T1 or T2 coronal at
p 0.54-0.99) while the other three said < 0.3. A lesion, by contrast, is found on three or four series. The rule
has no tuned parameter: two series is the least agreement that one noisy series cannot supply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SeriesCall", "StudyCall", "call_series", "call_study", "supported_probabilities", "AGREEING_SERIES"]

AGREEING_SERIES = 2  # positive series a study needs (or all of them, when fewer were analysed)


@dataclass(frozen=True)
class SeriesCall:
    """One selected series' call."""

    rule: str  # e.g. "T1 coronal"
    probability: float
    present: bool
    key_index: int  # index of the key slice within the series' analysed slices
    slice_probabilities: tuple[float, ...]

    @property
    def weighting(self) -> str:
        return self.rule.split()[0]


@dataclass(frozen=True)
class StudyCall:
    """The study's call, its probability, how many series agreed, and the highest probability per weighting."""

    present: bool
    probability: float
    positive_series: int
    series_needed: int
    by_weighting: dict[str, float]


def supported_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Each slice's probability capped by its more probable neighbour's (a lone slice keeps its own)."""
    p = np.asarray(probabilities, dtype=float)
    if p.size < 2:
        return p
    left = np.concatenate([[-np.inf], p[:-1]])
    right = np.concatenate([p[1:], [-np.inf]])
    return np.minimum(p, np.maximum(left, right))


def call_series(rule: str, slice_probabilities: np.ndarray, threshold: float) -> SeriesCall:
    """The series call: highest neighbour-supported slice probability against the threshold."""
    probabilities = np.asarray(slice_probabilities, dtype=float)
    if probabilities.ndim != 1 or probabilities.size == 0:
        raise ValueError(f"need a non-empty 1-D array of slice probabilities, got shape {probabilities.shape}")
    supported = supported_probabilities(probabilities)
    key = int(np.argmax(supported))
    top = float(supported[key])
    return SeriesCall(
        rule=rule,
        probability=top,
        present=top >= threshold,
        key_index=key,
        slice_probabilities=tuple(round(float(p), 6) for p in probabilities),
    )


def call_study(series_calls: list[SeriesCall]) -> StudyCall:
    """Positive when at least AGREEING_SERIES analysed series are (all of them when fewer were analysed)."""
    if not series_calls:
        raise ValueError("a study call needs at least one analysed series")
    by_weighting: dict[str, float] = {}
    for call in series_calls:
        by_weighting[call.weighting] = max(by_weighting.get(call.weighting, 0.0), call.probability)
    needed = min(AGREEING_SERIES, len(series_calls))
    positives = sum(c.present for c in series_calls)
    return StudyCall(
        present=positives >= needed,
        probability=sorted((c.probability for c in series_calls), reverse=True)[needed - 1],
        positive_series=positives,
        series_needed=needed,
        by_weighting=by_weighting,
    )
