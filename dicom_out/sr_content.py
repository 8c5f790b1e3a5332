"""Pure functions from findings (dicom_out.findings) to highdicom TID 1500 content items.

One Finding becomes one measurement group:

* with a `region`: TID 1410 "Planar ROI Measurements and Qualitative Evaluations", the region an image
  SCOORD on its source image (pixel (column, row) coordinates; a box is a closed 5-point POLYLINE, see
  `box_region`);
* without: TID 1501 "Measurements and Qualitative Evaluations", referencing each of `source_images`.

A source image that is one frame of a multi-frame image (a `dicom_in.frames.FrameHeader`) is referenced by its
instance and frame number; several frames of one instance make one reference listing them.

Every group holds, in this order: tracking identifier (the finding's text id + a UID derived from the SR's
SOPInstanceUID and that id, so a re-run gives the same UID), finding type, finding site (with laterality as
its modifier), algorithm identification, measurements (probability DCM 122157 in UCUM "1", the
classification probability, then the finding's own measurements, each with the algorithm identification),
qualitative evaluations ("Presence of property" DCM 121052 = SCT Present 52101004 / Absent 2667000, then
"Classification" SCT 278201002 = the class when given), and the image region or the source images.
Nothing here knows which app is calling.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import highdicom as hd
import numpy as np
from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset

from dicom_in.frames import FrameHeader
from dicom_out import codes
from dicom_out.findings import Algorithm, Concept, Finding, ImageRegion, StudyReport
from dicom_out.uids import derived_uid

__all__ = [
    "MeasurementGroup",
    "coded",
    "algorithm_identification",
    "box_region",
    "check_report",
    "measurement_group",
    "measurements",
    "qualitative_evaluations",
]

logger = logging.getLogger(__name__)

MeasurementGroup = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations | hd.sr.MeasurementsAndQualitativeEvaluations

_GRAPHIC_TYPES = {"POINT", "POLYLINE", "CIRCLE", "ELLIPSE"}


def coded(concept: Concept) -> CodedConcept:
    """A highdicom CodedConcept from our Concept."""
    return CodedConcept(value=concept.value, scheme_designator=concept.scheme, meaning=concept.meaning)


def algorithm_identification(algorithm: Algorithm) -> hd.sr.AlgorithmIdentification:
    """TID 4019 Algorithm Identification: name, version and "key=value" parameters (sorted, stable)."""
    parameters = [f"{key}={value}" for key, value in sorted(algorithm.parameters.items())] or None
    return hd.sr.AlgorithmIdentification(name=algorithm.name, version=algorithm.version, parameters=parameters)


def box_region(source_sop_instance_uid: str, box: Sequence[float]) -> ImageRegion:
    """An ImageRegion for a box (x0, y0, x1, y1 in pixels): the closed 5-point POLYLINE TID 1410 wants."""
    if len(box) != 4:
        raise ValueError(f"expected a box (x0, y0, x1, y1), got {list(box)}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"expected x0 < x1 and y0 < y1 for a box, got {list(box)}")
    points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)
    return ImageRegion(source_sop_instance_uid, "POLYLINE", points)


def _check_probability(value: float | None, what: str, tracking_id: str) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"expected {what} of finding {tracking_id!r} in [0, 1], got {value}")


def check_report(report: StudyReport) -> None:
    """Raise ValueError, naming the finding, for anything that would make a wrong or invalid SR."""
    seen: set[str] = set()
    for finding in report.findings:
        tid = finding.tracking_id
        if not tid.strip():
            raise ValueError("expected a non-empty tracking_id on every finding, got an empty one")
        if tid in seen:
            raise ValueError(f"expected unique tracking ids in a report, got {tid!r} twice")
        seen.add(tid)
        _check_probability(finding.probability, "probability", tid)
        _check_probability(finding.classification_probability, "classification_probability", tid)
        if finding.laterality is not None and finding.finding_site is None:
            raise ValueError(f"finding {tid!r} has a laterality but no finding_site for it to modify")
        if finding.classification_probability is not None and finding.classification is None:
            raise ValueError(f"finding {tid!r} has a classification_probability but no classification")
        if finding.region is not None:
            _region_source(finding, finding.region)


def measurements(finding: Finding, algorithm_id: hd.sr.AlgorithmIdentification) -> list[hd.sr.Measurement]:
    """TID 300 measurements of a finding: probability, classification probability, then its own."""
    items: list[tuple[Concept, float, Concept]] = []
    if finding.probability is not None:
        items.append((codes.PROBABILITY, finding.probability, codes.NO_UNITS))
    if finding.classification_probability is not None:
        items.append((codes.CLASSIFICATION_PROBABILITY, finding.classification_probability, codes.NO_UNITS))
    items += [(m.name, m.value, m.unit) for m in finding.measurements]
    return [
        hd.sr.Measurement(name=coded(name), value=float(value), unit=coded(unit), algorithm_id=algorithm_id)
        for name, value, unit in items
    ]


def qualitative_evaluations(finding: Finding) -> list[hd.sr.QualitativeEvaluation]:
    """Presence (Present/Absent) and, when given, the classification."""
    presence = codes.PRESENT if finding.present else codes.ABSENT
    evaluations = [hd.sr.QualitativeEvaluation(name=coded(codes.PRESENCE), value=coded(presence))]
    if finding.classification is not None:
        evaluations.append(
            hd.sr.QualitativeEvaluation(name=coded(codes.CLASSIFICATION), value=coded(finding.classification))
        )
    return evaluations


def _region_source(finding: Finding, region: ImageRegion) -> Dataset:
    for ds in finding.source_images:
        if str(ds.SOPInstanceUID) == region.source_sop_instance_uid:
            return ds
    raise ValueError(
        f"expected the region of finding {finding.tracking_id!r} to lie on one of its source_images, "
        f"got SOPInstanceUID {region.source_sop_instance_uid} that is not among them"
    )


def _referenced(kind, source: Dataset, frames: list[int] | None):
    """`kind.from_source_image` with the frame numbers of a multi-frame source (frames are 1-based)."""
    if frames:
        try:
            return kind.from_source_image(source, referenced_frame_numbers=frames)
        except TypeError:
            # Frames in a file whose IOD has none (e.g. a CR holding several frames): the instance is referenced.
            logger.debug("%s is not a multi-frame IOD; referenced without frame numbers", source.SOPClassUID)
    return kind.from_source_image(source)


def _frames_by_instance(images: Sequence[Dataset]) -> list[tuple[Dataset, list[int] | None]]:
    """Each source instance once, with the frames of it the images are (None for single-frame images)."""
    first: dict[str, Dataset] = {}
    frames: dict[str, list[int]] = {}
    for ds in images:
        uid = str(ds.SOPInstanceUID)
        first.setdefault(uid, ds)
        if isinstance(ds, FrameHeader):
            frames.setdefault(uid, []).append(ds.frame_number)
    return [(ds, sorted(set(frames[uid])) if uid in frames else None) for uid, ds in first.items()]


def _image_region(finding: Finding, region: ImageRegion) -> hd.sr.ImageRegion:
    if region.graphic_type not in _GRAPHIC_TYPES:
        raise ValueError(f"expected a graphic type in {sorted(_GRAPHIC_TYPES)}, got {region.graphic_type!r}")
    ((source, frames),) = _frames_by_instance([_region_source(finding, region)])
    return hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues[region.graphic_type],
        graphic_data=np.asarray(region.points, dtype=float),
        source_image=_referenced(hd.sr.SourceImageForRegion, source, frames),
    )


def measurement_group(
    finding: Finding, *, sop_instance_uid: str, algorithm_id: hd.sr.AlgorithmIdentification
) -> MeasurementGroup:
    """The TID 1410 (finding with a region) or TID 1501 (without) group for one finding."""
    tracking = hd.sr.TrackingIdentifier(
        uid=derived_uid(sop_instance_uid, finding.tracking_id), identifier=finding.tracking_id
    )
    sites = None
    if finding.finding_site is not None:
        laterality = coded(finding.laterality) if finding.laterality is not None else None
        sites = [hd.sr.FindingSite(anatomic_location=coded(finding.finding_site), laterality=laterality)]
    common = {
        "tracking_identifier": tracking,
        "finding_type": coded(finding.finding_type),
        "algorithm_id": algorithm_id,
        "finding_sites": sites,
        "measurements": measurements(finding, algorithm_id) or None,
        "qualitative_evaluations": qualitative_evaluations(finding),
    }
    if finding.region is not None:
        region = _image_region(finding, finding.region)
        group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(referenced_region=region, **common)
    else:
        sources = [
            _referenced(hd.sr.SourceImageForMeasurementGroup, ds, frames)
            for ds, frames in _frames_by_instance(finding.source_images)
        ]
        group = hd.sr.MeasurementsAndQualitativeEvaluations(source_images=sources or None, **common)
    if finding.comment:
        # highdicom has no parameter for free text in a group; DCM 121106 "Comment" is a TEXT property of it.
        group[0].ContentSequence.append(
            hd.sr.TextContentItem(
                name=coded(codes.COMMENT),
                value=finding.comment[:1024],
                relationship_type=hd.sr.RelationshipTypeValues.HAS_PROPERTIES,
            )
        )
    return group
