"""What travels between operators for one study: one envelope (StudyWork) and what each stage adds to it.

Generic stages fill generic fields (decoded pixels, model input, the model's named outputs, box detections);
what only one app needs travels in `SeriesImages.app_data`, a type that app defines in its own package and
reads back with `SeriesImages.payload(ItsType)`. An app's result carries its own `ResultDetails` type.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import torch

from dicom_in.series_decode import DecodedSeries
from dicom_in.series_selection import SelectedSeries, Selection
from dicom_in.study import InputFailure, Study
from dicom_out.findings import KeyImage, SegmentationResult, StudyReport
from inference.box_detection import Detection

__all__ = ["SeriesImages", "ResultDetails", "StudyResult", "StudyWork", "Status"]

PayloadT = TypeVar("PayloadT")


@dataclass
class SeriesImages(DecodedSeries):
    """A decoded series on its way through inference: model input, the model's outputs, detections, app data."""

    model_input: torch.Tensor | None = None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # the model's named outputs (meta "outputs")
    detections: list[Detection] = field(default_factory=list)
    app_data: object | None = None  # one app's own typed payload (see `payload`)

    @classmethod
    def from_decoded(cls, decoded: DecodedSeries) -> SeriesImages:
        """The envelope's view of a decoded series."""
        return cls(decoded.selected, decoded.slices, decoded.pixels, decoded.decoders, decoded.padding)

    def payload(self, kind: type[PayloadT]) -> PayloadT:
        """The app's payload, checked to be a `kind`."""
        if not isinstance(self.app_data, kind):
            raise TypeError(
                f"series {self.selected.series.uid}: expected a {kind.__name__} payload, "
                f"got {type(self.app_data).__name__}"
            )
        return self.app_data


class ResultDetails(Protocol):
    """An app's own result details: what result.json's "details" and the app's results.csv columns hold."""

    CSV_COLUMNS: ClassVar[tuple[str, ...]]

    def to_json(self) -> dict[str, Any]:
        """The "details" object of result.json."""
        ...

    def csv_row(self) -> dict[str, Any]:
        """The app's columns of results.csv (CSV_COLUMNS first, then any per-series ones)."""
        ...


class Status:
    """A study's status in result.json and results.csv."""

    OK = "ok"
    NO_MATCHING_SERIES = "no_matching_series"


@dataclass
class StudyResult:
    """An app's conclusion on a study: status, report for the SR, pictures, segmentations and details."""

    status: str  # Status.OK or Status.NO_MATCHING_SERIES
    report: StudyReport | None
    key_images: list[KeyImage] = field(default_factory=list)
    segmentations: list[SegmentationResult] = field(default_factory=list)  # one DICOM SEG each
    details: ResultDetails | None = None  # None: nothing analysed
    csv_columns: tuple[str, ...] = ()  # the app's results.csv columns, left empty when nothing was analysed
    reason: str = ""  # one line: why nothing was analysed (no_matching_series)

    def details_json(self) -> dict[str, Any]:
        """result.json's "details"."""
        return self.details.to_json() if self.details is not None else {}

    def csv_row(self) -> dict[str, Any]:
        """result.json's "csv_row": the app's columns (empty when nothing was analysed), then the reason."""
        row = self.details.csv_row() if self.details is not None else dict.fromkeys(self.csv_columns, "")
        return {**row, "reason": self.reason}


@dataclass
class StudyWork:
    """One study on its way through the graph; a stage that fails sets `error` and later stages pass it on."""

    study: Study
    selection: Selection | None = None  # every series' selection outcome and its reason
    selected: list[SelectedSeries] = field(default_factory=list)
    series_images: list[SeriesImages] = field(default_factory=list)
    result: StudyResult | None = None
    failures: list[InputFailure] = field(default_factory=list)
    error: str | None = None
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def uid(self) -> str:
        return self.study.uid
