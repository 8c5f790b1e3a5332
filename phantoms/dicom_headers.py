"""Header building blocks shared by the phantom generators: deterministic UIDs and the common modules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

__all__ = ["PatientInfo", "phantom_uid", "new_dataset", "set_pixels", "sanitise", "write_dataset"]

# Fixed date/time: the same seed must give byte-identical files, whatever day they are made.
STUDY_DATE = "20260115"
STUDY_TIME = "093000"


def phantom_uid(seed: int, *parts: object) -> str:
    """A UID that depends only on the seed and the parts naming the object."""
    return str(generate_uid(entropy_srcs=["msk-maps-phantom", str(seed), *[str(p) for p in parts]]))


@dataclass(frozen=True)
class PatientInfo:
    """Patient and study identity of one phantom study."""

    patient_id: str
    name: str
    birth_date: str
    sex: str
    study_uid: str
    accession: str
    frame_of_reference_uid: str


def new_dataset(
    sop_class_uid: str,
    sop_instance_uid: str,
    patient: PatientInfo,
    *,
    modality: str,
    series_uid: str,
    series_number: int,
    series_description: str,
    instance_number: int,
) -> Dataset:
    """A dataset with file meta and the patient, general study, general series and SOP common modules."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_instance_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.StudyInstanceUID = patient.study_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = STUDY_DATE
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = STUDY_TIME
    ds.AccessionNumber = patient.accession
    ds.ReferringPhysicianName = "Referrer^Phantom"
    ds.StudyID = patient.accession[-6:]
    ds.StudyDescription = "Phantom study (synthetic)"
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.InstanceNumber = instance_number
    ds.Manufacturer = "msk-maps phantoms"
    ds.InstitutionName = "Synthetic Hospital"
    ds.FrameOfReferenceUID = patient.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    return ds


def set_pixels(ds: Dataset, pixels: np.ndarray, bits_stored: int, photometric: str = "MONOCHROME2") -> None:
    """Store a 2D unsigned integer image with the image pixel module filled in."""
    max_value = (1 << bits_stored) - 1
    if pixels.min() < 0 or pixels.max() > max_value:
        raise ValueError(f"pixel values {pixels.min()}..{pixels.max()} do not fit {bits_stored} bits stored")
    dtype = np.uint8 if bits_stored <= 8 else np.uint16
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8 * np.dtype(dtype).itemsize
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(dtype).tobytes()


def sanitise(text: str) -> str:
    """A folder-name-safe version of a series description."""
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_") or "series"


def write_dataset(ds: Dataset, path: Path) -> Path:
    """Write a Part 10 file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
