"""Header building blocks shared by the phantom generators: seeded UIDs, identities and the common modules."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

__all__ = [
    "STUDY_DATE",
    "STUDY_TIME",
    "PatientInfo",
    "MRAcquisition",
    "phantom_uid",
    "new_dataset",
    "set_mr_image",
    "set_image_plane",
    "set_pixels",
    "sanitise",
    "write_dataset",
]

logger = logging.getLogger(__name__)

# Fixed date/time: the same seed must give byte-identical files, whatever day they are made.
STUDY_DATE = "20260115"
STUDY_TIME = "093000"
MANUFACTURER = "msk-maps phantoms"  # honest about being synthetic; no vendor name is borrowed


def phantom_uid(seed: int, *parts: object) -> str:
    """A UID under pydicom's root that depends only on the seed and the parts naming the object."""
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
    study_description: str = "Synthetic phantom study"

    @classmethod
    def synthetic(cls, patient_id: str, seed: int, rng: np.random.Generator, study_description: str) -> PatientInfo:
        """A made-up identity whose UIDs derive from (seed, patient_id) and the rest from `rng`."""
        birth = f"19{rng.integers(45, 99):02d}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
        return cls(
            patient_id=patient_id,
            name=f"Phantom^{patient_id}",
            birth_date=birth,
            sex=str(rng.choice(["F", "M"])),
            study_uid=phantom_uid(seed, patient_id, "study"),
            accession=f"ACC{rng.integers(10**7, 10**8)}",
            frame_of_reference_uid=phantom_uid(seed, patient_id, "frame-of-reference"),
            study_description=study_description,
        )


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
    """File meta plus the patient, general study, series, equipment, frame of reference and SOP common modules."""
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
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = STUDY_DATE
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = STUDY_TIME
    ds.AccessionNumber = patient.accession
    ds.ReferringPhysicianName = "Referrer^Phantom"
    ds.StudyID = patient.accession[-6:]
    ds.StudyDescription = patient.study_description
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.ProtocolName = series_description
    ds.InstanceNumber = instance_number
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "synthetic"
    ds.SoftwareVersions = "1"
    ds.InstitutionName = "Synthetic Hospital"
    ds.FrameOfReferenceUID = patient.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    return ds


@dataclass(frozen=True)
class MRAcquisition:
    """The acquisition parameters of one MR series (MR Image module)."""

    scanning_sequence: str  # e.g. "SE", "GR"
    sequence_variant: str  # e.g. "SK\\SP"
    repetition_time_ms: float
    echo_time_ms: float
    echo_train_length: int
    flip_angle_deg: float
    field_strength_t: float
    fat_sat: bool = False
    localizer: bool = False


def set_mr_image(ds: Dataset, acquisition: MRAcquisition) -> None:
    """Fill the MR Image module (ImageType, sequence, TR/TE, field strength) of a 2D MR slice."""
    # "OTHER" is a defined term for value 3; a localizer says so in value 4 (dciodvfy then has no warning).
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"] + (["LOCALIZER"] if acquisition.localizer else [])
    ds.ScanningSequence = acquisition.scanning_sequence
    ds.SequenceVariant = acquisition.sequence_variant
    ds.ScanOptions = "FS" if acquisition.fat_sat else ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = acquisition.repetition_time_ms
    ds.EchoTime = acquisition.echo_time_ms
    ds.EchoTrainLength = acquisition.echo_train_length
    ds.FlipAngle = acquisition.flip_angle_deg
    ds.NumberOfAverages = 1
    ds.MagneticFieldStrength = acquisition.field_strength_t
    ds.ImagingFrequency = round(42.577478 * acquisition.field_strength_t, 4)
    ds.ImagedNucleus = "1H"


def set_image_plane(
    ds: Dataset,
    orientation: Sequence[float],
    position: Sequence[float],
    pixel_spacing_mm: float,
    slice_thickness_mm: float,
    spacing_between_slices_mm: float | None = None,
) -> None:
    """Fill the Image Plane module; SliceLocation is the position along the slice normal."""
    if len(orientation) != 6 or len(position) != 3:
        raise ValueError(
            f"Expected 6 direction cosines and a 3D position, got {list(orientation)} and {list(position)}"
        )
    row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.ImagePositionPatient = [round(float(v), 4) for v in position]
    ds.SliceLocation = round(float(np.dot(position, np.cross(row, col))), 4)
    ds.PixelSpacing = [round(pixel_spacing_mm, 4), round(pixel_spacing_mm, 4)]
    ds.SliceThickness = slice_thickness_mm
    if spacing_between_slices_mm is not None:
        ds.SpacingBetweenSlices = round(spacing_between_slices_mm, 4)


def set_pixels(ds: Dataset, pixels: np.ndarray, bits_stored: int, photometric: str = "MONOCHROME2") -> None:
    """Store a 2D unsigned integer image, filling the Image Pixel module; values must fit `bits_stored`."""
    max_value = (1 << bits_stored) - 1
    if pixels.ndim != 2:
        raise ValueError(f"Expected a 2D image, got shape {pixels.shape}")
    if pixels.min() < 0 or pixels.max() > max_value:
        raise ValueError(
            f"Pixel values {pixels.min()}..{pixels.max()} do not fit BitsStored {bits_stored} (0..{max_value})"
        )
    dtype = np.uint8 if bits_stored <= 8 else np.uint16
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8 * np.dtype(dtype).itemsize
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def sanitise(text: str) -> str:
    """A folder-name-safe version of a series description."""
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_") or "series"


def write_dataset(ds: Dataset, path: Path) -> Path:
    """Write a DICOM Part 10 file (preamble, file meta), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
