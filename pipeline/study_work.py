"""What travels between operators for one study: the study and what each stage added to it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from operators.findings import SegmentationResult, StudyReport
from operators.series_selection import SelectedSeries
from operators.study import InputFailure, Instance, Study

__all__ = ["Detection", "SeriesImages", "KeyImage", "StudyResult", "StudyWork"]


@dataclass
class Detection:
    """One detected object on one image of a series, in that image's pixel coordinates (x = column)."""

    image_index: int  # index into SeriesImages.instances / pixels
    box: tuple[float, float, float, float]  # x0, y0, x1, y1, continuous pixel coordinates
    score: float  # detector confidence
    probabilities: np.ndarray | None = None  # second-stage class probabilities, when a classifier ran
    saliency: np.ndarray | None = None  # second-stage class activation map over the crop


@dataclass
class SeriesImages:
    """The decoded slices of one selected series, their model input, and (after inference) the outputs."""

    selected: SelectedSeries
    instances: list[Instance]
    pixels: list[np.ndarray]  # modality values, one 2D array per instance
    model_input: torch.Tensor | None = None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    decoders: list[str] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    # App-defined regions of interest (e.g. one per hip), with what maps the model's outputs back to the image.
    regions: dict[str, Any] = field(default_factory=dict)


@dataclass
class KeyImage:
    """A picture for people (overlay burned in) and the source image it was made from."""

    source: Instance
    rgb: np.ndarray  # (H, W, 3) uint8
    description: str
    name: str  # file stem, e.g. "key_T1_coronal"


@dataclass
class StudyResult:
    """An app's conclusion on a study: status, report for the SR, pictures, and JSON extras."""

    status: str  # "ok" or "no_matching_series"
    report: StudyReport | None
    key_images: list[KeyImage] = field(default_factory=list)
    segmentations: list[SegmentationResult] = field(default_factory=list)  # one DICOM SEG each
    details: dict[str, Any] = field(default_factory=dict)  # app-specific, goes into result.json
    csv_row: dict[str, Any] = field(default_factory=dict)  # app-specific columns for results.csv


@dataclass
class StudyWork:
    """One study on its way through the graph; a stage that fails sets `error` and later stages pass it on."""

    study: Study
    selected: list[SelectedSeries] = field(default_factory=list)
    series_images: list[SeriesImages] = field(default_factory=list)
    result: StudyResult | None = None
    failures: list[InputFailure] = field(default_factory=list)
    error: str | None = None
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def uid(self) -> str:
        return self.study.uid
