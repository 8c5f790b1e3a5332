"""What olt_mri's result.json "details" hold, as types the writer, the bench and the evaluation share."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

__all__ = ["SeriesDetails", "StudyCallDetails", "OltDetails"]


@dataclass(frozen=True)
class SeriesDetails:
    """One analysed series: its rule, call, key slice and every slice's probability."""

    rule: str  # e.g. "T1 coronal"
    series_instance_uid: str
    series_description: str
    present: bool
    probability: float
    key_sop_instance_uid: str
    slice_probabilities: list[float]
    decoders: list[str]
    passed_over: list[str]  # other series the rule matched


@dataclass(frozen=True)
class StudyCallDetails:
    """The study's call, its probability, how many series agreed (and were needed), the highest per weighting."""

    present: bool
    probability: float
    positive_series: int
    series_needed: int
    by_weighting: dict[str, float]


@dataclass(frozen=True)
class OltDetails:
    """olt_mri's details: the study call and one entry per analysed series."""

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = ("call", "probability")

    study_call: StudyCallDetails
    series: list[SeriesDetails]

    def to_json(self) -> dict[str, Any]:
        """result.json's "details"."""
        return asdict(self)

    def csv_row(self) -> dict[str, Any]:
        """results.csv: the call, its probability, then p_<rule> per analysed series."""
        return {
            "call": "positive" if self.study_call.present else "negative",
            "probability": self.study_call.probability,
            **{f"p_{s.rule.replace(' ', '_')}": s.probability for s in self.series},
        }

    @classmethod
    def from_json(cls, details: dict[str, Any]) -> OltDetails:
        """The details of a result.json written by olt_mri."""
        return cls(
            study_call=StudyCallDetails(**details["study_call"]),
            series=[SeriesDetails(**s) for s in details["series"]],
        )
