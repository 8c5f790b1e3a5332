"""What ankle_xray's result.json "details" hold, as types the writer, the bench and the evaluation share."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

__all__ = ["RadiographDetails", "FragmentDetails", "FragmentStudyDetails"]


@dataclass(frozen=True)
class RadiographDetails:
    """One analysed radiograph and the decoder that read it."""

    sop_instance_uid: str
    series_instance_uid: str
    decoder: str


@dataclass(frozen=True)
class FragmentDetails:
    """One detected fragment: its box on its radiograph, detection score, class and class probabilities."""

    tracking_id: str
    sop_instance_uid: str
    box: list[float]  # x0, y0, x1, y1 in source pixels
    detection_score: float
    label: str  # the class ("class" in result.json): a classifier label, LMAF or SFO
    class_probability: float
    probabilities: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["class"] = data.pop("label")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FragmentDetails:
        fields = dict(data)
        fields["label"] = fields.pop("class")
        return cls(**fields)


@dataclass(frozen=True)
class FragmentStudyDetails:
    """ankle_xray's details: every analysed radiograph and every fragment found on them."""

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = ("fragments", "calls")

    radiographs: list[RadiographDetails]
    fragments: list[FragmentDetails]

    def to_json(self) -> dict[str, Any]:
        """result.json's "details"."""
        return {
            "radiographs": [asdict(r) for r in self.radiographs],
            "fragments": [f.to_json() for f in self.fragments],
        }

    def csv_row(self) -> dict[str, Any]:
        """results.csv: how many fragments, and "class:probability" of each."""
        return {
            "fragments": len(self.fragments),
            "calls": ";".join(f"{f.label}:{f.class_probability:.3f}" for f in self.fragments),
        }

    @classmethod
    def from_json(cls, details: dict[str, Any]) -> FragmentStudyDetails:
        """The details of a result.json written by ankle_xray."""
        return cls(
            radiographs=[RadiographDetails(**r) for r in details["radiographs"]],
            fragments=[FragmentDetails.from_json(f) for f in details["fragments"]],
        )
