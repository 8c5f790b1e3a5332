"""In-memory description of one DICOM study as the loader hands it downstream."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

__all__ = ["Instance", "Series", "Study", "InputFailure"]


@dataclass(frozen=True)
class InputFailure:
    """An input (file or study) that could not be used, with a one-line reason."""

    item: str
    reason: str
    study_uid: str = ""


@dataclass
class Instance:
    """One DICOM file: its path, its header (read without pixel data) and where its pixel data starts."""

    path: Path
    header: Dataset
    pixel_offset: int | None = None  # file offset of the pixel data element; None: read the file whole

    @property
    def sop_instance_uid(self) -> str:
        return str(self.header.SOPInstanceUID)

    @property
    def instance_number(self) -> int:
        value = self.header.get("InstanceNumber")
        return int(value) if value not in (None, "") else 0


@dataclass
class Series:
    """The instances of one SeriesInstanceUID, ordered for display (see `sort_instances`)."""

    uid: str
    instances: list[Instance]
    derived: dict[str, Any] = field(default_factory=dict)

    @property
    def first(self) -> Dataset:
        return self.instances[0].header

    @property
    def description(self) -> str:
        return str(self.first.get("SeriesDescription", ""))

    @property
    def number(self) -> int:
        value = self.first.get("SeriesNumber")
        return int(value) if value not in (None, "") else 0

    @property
    def modality(self) -> str:
        return str(self.first.get("Modality", ""))


@dataclass
class Study:
    """All usable series of one StudyInstanceUID plus the files of it that failed to parse."""

    uid: str
    series: list[Series]
    failures: list[InputFailure] = field(default_factory=list)

    @property
    def first(self) -> Dataset:
        return self.series[0].first
