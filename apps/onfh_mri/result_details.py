"""What onfh_mri's result.json "details" hold, as types the writer, the bench and the evaluation share."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

__all__ = ["HipDetails", "OnfhDetails", "RATIO_SOURCE"]

RATIO_SOURCE = (
    "key slice = the axial T1 slice with the largest segmented femoral-head area; "
    "volume ratio = necrotic / femoral-head pixels summed over all slices"
)


@dataclass(frozen=True)
class HipDetails:
    """One hip: key slice, areas, ratios (key slice and volume), grade, recommendation, threshold outcome."""

    key_slice_sop_instance_uid: str
    key_slice_index: int
    head_pixels_key: int
    necrosis_pixels_key: int
    head_area_mm2: float
    necrotic_area_mm2: float
    ratio_key_percent: float
    ratio_volume_percent: float
    grade: str
    recommendation: str
    threshold: str


@dataclass(frozen=True)
class OnfhDetails:
    """onfh_mri's details: the graded series and each hip found on it, by side ("R"/"L")."""

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = ("right", "left")

    series_instance_uid: str
    hips: dict[str, HipDetails]
    ratio_source: str = RATIO_SOURCE

    def to_json(self) -> dict[str, Any]:
        """result.json's "details"."""
        return asdict(self)

    def csv_row(self) -> dict[str, Any]:
        """results.csv: "<grade> <key-slice ratio>%" per side, empty for a side without a head."""
        names = {"R": "right", "L": "left"}
        row = dict.fromkeys(self.CSV_COLUMNS, "")
        row.update({names[s]: f"{h.grade} {h.ratio_key_percent:.2f}%" for s, h in self.hips.items()})
        return row

    @classmethod
    def from_json(cls, details: dict[str, Any]) -> OnfhDetails:
        """The details of a result.json written by onfh_mri."""
        return cls(
            series_instance_uid=details["series_instance_uid"],
            hips={side: HipDetails(**hip) for side, hip in details["hips"].items()},
            ratio_source=details.get("ratio_source", RATIO_SOURCE),
        )
