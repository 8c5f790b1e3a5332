"""Build a Secondary Capture (highdicom) of a rendered picture, filed with the source study."""

from __future__ import annotations

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

__all__ = ["build_secondary_capture"]

# Image orientation of the source picture's rows/columns when the source has none (e.g. radiographs).
_DEFAULT_ORIENTATION = ("L", "F")
_AXIS_LETTERS = (("L", "R"), ("P", "A"), ("H", "F"))


def _patient_orientation(source: Dataset) -> tuple[str, str]:
    """Row and column directions as patient-orientation letters, from the source geometry when present."""
    if "PatientOrientation" in source and len(source.PatientOrientation) == 2:
        return tuple(str(v) for v in source.PatientOrientation)  # type: ignore[return-value]
    orientation = source.get("ImageOrientationPatient")
    if orientation is None or len(orientation) != 6:
        return _DEFAULT_ORIENTATION
    letters = []
    for vector in (orientation[:3], orientation[3:]):
        axis = int(np.argmax(np.abs(vector)))
        # LPS: +x points to the patient's left, +y posterior, +z head.
        positive, negative = _AXIS_LETTERS[axis]
        letters.append(positive if float(vector[axis]) > 0 else negative)
    return letters[0], letters[1]


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
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=rgb,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        series_instance_uid=series_instance_uid,
        sop_instance_uid=sop_instance_uid,
        series_number=series_number,
        instance_number=instance_number,
        manufacturer="msk-maps",
        patient_orientation=_patient_orientation(source),
        laterality=source.get("Laterality") or source.get("ImageLaterality") or None,
        series_description=series_description[:64],
    )
    return sc
