"""App-neutral description of what an app found in a study; the writers turn it into DICOM and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset

__all__ = [
    "Concept",
    "Measurement",
    "ImageRegion",
    "Finding",
    "Algorithm",
    "StudyReport",
    "Segment",
    "SegmentationResult",
    "KeyImage",
]


@dataclass(frozen=True)
class Concept:
    """A coded concept (value, scheme designator, meaning), e.g. ("399981008", "SCT", "Neoplasm")."""

    value: str
    scheme: str
    meaning: str


@dataclass(frozen=True)
class Measurement:
    """A numeric result of a finding, with its UCUM unit (e.g. "%", "mm2", "{probability}")."""

    name: Concept
    value: float
    unit: Concept


@dataclass(frozen=True)
class ImageRegion:
    """A 2D region on one source image, in pixel coordinates (column, row) as DICOM SCOORD wants."""

    source_sop_instance_uid: str
    graphic_type: str  # "POINT", "POLYLINE" (closed for a box), "CIRCLE", "ELLIPSE"
    points: np.ndarray  # shape (N, 2), float, (column, row)


@dataclass
class Finding:
    """One finding: what was looked for, where, whether it is present, how sure, and its measurements."""

    tracking_id: str  # human-readable, unique within the report, e.g. "T1 coronal" or "fragment 1"
    finding_type: Concept  # what was looked for, e.g. osteochondral lesion of talus
    present: bool
    probability: float | None = None  # model probability that the finding is present
    finding_site: Concept | None = None
    laterality: Concept | None = None
    classification: Concept | None = None  # e.g. avulsion fracture vs ossicle
    classification_probability: float | None = None
    measurements: list[Measurement] = field(default_factory=list)
    region: ImageRegion | None = None
    source_images: list[Dataset] = field(default_factory=list)  # headers of the images it was derived from
    comment: str | None = None  # free text for people, e.g. a recommendation; goes in the SR as a Comment


@dataclass(frozen=True)
class Algorithm:
    """The algorithm that produced a report: name, version, and the model parameters that matter."""

    name: str
    version: str
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass
class StudyReport:
    """Everything one app concluded about one study."""

    study_uid: str
    algorithm: Algorithm
    findings: list[Finding]
    summary: str  # one line for people, e.g. "OLT suspected (T1 coronal p=0.97)"


@dataclass(frozen=True)
class Segment:
    """One segment of a segmentation: its label and what it is (SNOMED CT category and type, site)."""

    label: str  # e.g. "Right femoral head"
    category: Concept  # e.g. SCT Anatomical structure
    property_type: Concept  # e.g. SCT Femoral head
    anatomic_region: Concept | None = None
    laterality: Concept | None = None  # modifies anatomic_region


@dataclass
class SegmentationResult:
    """Binary masks of several segments over the frames of one source series, for a DICOM SEG."""

    source_images: list[Dataset]  # one header per frame, in frame order
    masks: np.ndarray  # (frames, rows, cols, segments) bool, on the source pixel grid
    segments: list[Segment]
    series_description: str


@dataclass
class KeyImage:
    """A picture for people (overlay burned in), the source image it was drawn on, and its file stem."""

    source: Dataset  # header of the source image
    rgb: np.ndarray  # (H, W, 3) uint8
    description: str
    name: str  # file stem, e.g. "key_T1_coronal"
