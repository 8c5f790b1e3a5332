"""Small generated DICOM files for unit tests (the full phantoms live in `phantoms/`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

__all__ = ["ORIENTATIONS", "mr_slice", "write_mr_series"]

ORIENTATIONS = {
    "axial": [1, 0, 0, 0, 1, 0],
    "coronal": [1, 0, 0, 0, 0, -1],
    "sagittal": [0, 1, 0, 0, 0, -1],
}


def mr_slice(
    study_uid: str,
    series_uid: str,
    *,
    plane: str = "coronal",
    index: int = 0,
    description: str = "T1 COR",
    series_number: int = 1,
    tr: float = 500.0,
    te: float = 15.0,
    pixels: np.ndarray | None = None,
    patient_id: str = "TEST001",
    body_part: str = "ANKLE",
) -> Dataset:
    """One MR slice with the modules the apps read (patient, study, series, plane, pixel)."""
    pixels = np.full((16, 16), 100 + index, np.uint16) if pixels is None else pixels.astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[series_uid, str(index)])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = MRImageStorage
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = (
        "Test^Phantom",
        patient_id,
        "19800101",
        "O",
    )
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = "20260101", "120000", "A1", "1"
    ds.ReferringPhysicianName = ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", series_number, index + 1
    ds.SeriesDescription = description
    ds.RepetitionTime, ds.EchoTime = tr, te
    ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "SE", "NONE", ""
    ds.MRAcquisitionType, ds.ImageType = "2D", ["ORIGINAL", "PRIMARY"]
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[study_uid, "for"])
    orientation = ORIENTATIONS[plane]
    normal = np.cross(orientation[:3], orientation[3:])
    ds.ImageOrientationPatient = orientation
    ds.ImagePositionPatient = [float(v) for v in normal * 3.0 * index]
    ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 3.0
    ds.Laterality = "R"
    ds.BodyPartExamined = body_part
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    return ds


def write_mr_series(folder: Path, study_uid: str, slices: int = 4, **kwargs) -> list[Path]:
    """Write a series of `slices` MR files into `folder`; kwargs go to `mr_slice`."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = kwargs.pop("series_uid", None) or generate_uid(entropy_srcs=[study_uid, str(folder)])
    paths = []
    for index in range(slices):
        path = folder / f"{index:03d}.dcm"
        mr_slice(study_uid, series_uid, index=index, **kwargs).save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
