"""Build a Secondary Capture (highdicom SCImage) of a rendered picture, filed with the source's study.

The picture is 8-bit RGB; patient and study modules come from the source (`SCImage.from_ref_dataset`), their
text made valid first (dicom_out.patient_module).
Orientation: PatientOrientation is derived from the source (its own PatientOrientation, else the dominant
axes of ImageOrientationPatient), because the picture is drawn in the source's row/column directions.
Laterality is the source's Laterality or ImageLaterality when that is R or L. When either is unknown
the attribute is written empty (Type 2C, "unknown") rather than guessed: dciodvfy accepts that with a
warning, and reports an error when Laterality is left out altogether.
"""

from __future__ import annotations

import logging

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from dicom_out.equipment import MANUFACTURER
from dicom_out.patient_module import valid_patient_study

__all__ = ["build_secondary_capture", "patient_orientation"]

logger = logging.getLogger(__name__)

# LPS patient axes: +x towards the patient's left, +y posterior, +z head.
_AXIS_LETTERS = (("L", "R"), ("P", "A"), ("H", "F"))
_LETTERS = {"L", "R", "P", "A", "H", "F"}


def patient_orientation(source: Dataset) -> tuple[str, str] | None:
    """Row and column directions as patient-orientation letters; None when the source does not say."""
    given = [str(v).strip().upper() for v in (source.get("PatientOrientation") or [])]
    # Oblique values such as "LP" name several axes; highdicom takes one letter each, the first dominates.
    if len(given) == 2 and all(g and g[0] in _LETTERS for g in given):
        return given[0][0], given[1][0]
    orientation = source.get("ImageOrientationPatient")
    if orientation is None or len(orientation) != 6:
        return None
    letters = []
    for vector in (np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)):
        axis = int(np.argmax(np.abs(vector)))
        positive, negative = _AXIS_LETTERS[axis]
        letters.append(positive if vector[axis] > 0 else negative)
    return letters[0], letters[1]


def _laterality(source: Dataset) -> str | None:
    for keyword in ("Laterality", "ImageLaterality"):
        value = str(source.get(keyword) or "").strip().upper()
        if value in ("R", "L"):
            return value
    return None


def build_secondary_capture(
    source: Dataset,
    rgb: np.ndarray,
    *,
    series_instance_uid: str,
    sop_instance_uid: str,
    series_number: int,
    instance_number: int = 1,
    series_description: str,
) -> hd.sc.SCImage:
    """An RGB SC image in the source's study (patient/study modules copied from `source`)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 picture, got {rgb.shape} {rgb.dtype}")
    orientation = patient_orientation(source)
    laterality = _laterality(source)
    patient = valid_patient_study(source)
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=patient.dataset,
        pixel_array=rgb,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        series_instance_uid=series_instance_uid,
        sop_instance_uid=sop_instance_uid,
        series_number=series_number,
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        # highdicom wants letters for a PATIENT picture; an unknown orientation is emptied just below.
        patient_orientation=orientation or ("L", "F"),
        laterality=laterality,
        series_description=series_description[:64],
        specific_character_set=patient.character_set,
    )
    if orientation is None:
        sc.PatientOrientation = ""
        logger.debug("SC %s: source has no orientation; PatientOrientation left empty", sop_instance_uid)
    if laterality is None:
        sc.Laterality = ""
    return sc
