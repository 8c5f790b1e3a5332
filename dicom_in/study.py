"""In-memory description of one DICOM study as the loader hands it downstream.

A study holds series, a series holds instances (files), and what the apps select and analyse are slices: an
(instance, frame) pair. A single-frame instance is one slice; a multi-frame one (Enhanced MR, Legacy Converted
Enhanced MR, a multi-frame radiograph) is one slice per frame, each with the header that frame would have on
its own (`dicom_in.frames`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset

from dicom_in.frames import FrameHeader, frame_count, frame_headers, is_multiframe, position_along_normal

if TYPE_CHECKING:
    from dicom_in.stacks import Stack

__all__ = ["Instance", "ImageSlice", "Series", "Study", "InputFailure", "MAX_FRAMES"]

# Frames one instance may expand into before its pixels are decoded (each is a header view); a header claiming
# more is expanded to its first frame, whose decode then refuses it against the pixel budget.
MAX_FRAMES = 4096


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
        try:
            return int(value) if value not in (None, "") else 0
        except (TypeError, ValueError):
            return 0

    def slices(self) -> list[ImageSlice]:
        """This instance's slices: itself, or one per frame of a multi-frame image (at most MAX_FRAMES)."""
        if not is_multiframe(self.header):
            return [ImageSlice(self, self.header)]
        frames = frame_count(self.header)
        return [ImageSlice(self, view) for view in frame_headers(self.header, frames if frames <= MAX_FRAMES else 1)]


@dataclass(frozen=True)
class ImageSlice:
    """One analysable 2D image: an instance, or one frame of it, with the header that image has on its own."""

    instance: Instance
    header: Dataset  # the instance's header, or a FrameHeader of one of its frames

    @property
    def frame_number(self) -> int | None:
        """The 1-based frame number within a multi-frame instance; None for a single-frame one."""
        return self.header.frame_number if isinstance(self.header, FrameHeader) else None

    @property
    def index(self) -> int:
        """The 0-based frame index within the instance's pixel data."""
        return (self.frame_number or 1) - 1

    @property
    def path(self) -> Path:
        return self.instance.path

    @property
    def sop_instance_uid(self) -> str:
        return self.instance.sop_instance_uid

    @property
    def instance_number(self) -> int:
        return self.instance.instance_number


@dataclass
class Series:
    """The instances of one SeriesInstanceUID, ordered for display (see `load_study`), and their slices; or, with a
    `stack`, one echo, acquisition or temporal position of them (`dicom_in.stacks`)."""

    uid: str
    instances: list[Instance]
    derived: dict[str, Any] = field(default_factory=dict)
    stack: Stack | None = None  # set when the series' slices repeat positions

    @property
    def label(self) -> str:
        """The stack this Series holds ("echo 2 of 2 (EchoNumbers 2, TE 90 ms)"); "" for a whole series."""
        return self.stack.label if self.stack is not None else ""

    @property
    def first(self) -> Dataset:
        return self.instances[0].header

    @cached_property
    def slices(self) -> list[ImageSlice]:
        """Every slice of the series (or of its stack); frames of multi-frame instances ordered along the normal."""
        if self.stack is not None:
            return list(self.stack.slices)
        slices = [s for instance in self.instances for s in instance.slices()]
        if any(s.frame_number is not None for s in slices):
            # Stable: single-frame instances keep the loader's order among equal positions.
            slices.sort(key=lambda s: position_along_normal(s.header))
        return slices

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
