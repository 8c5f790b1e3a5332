"""Who made the objects we write: the manufacturer every SR, SC and SEG names, and the IHE AI Results (AIR)
description of the algorithm in the Contributing Equipment Sequence (0018,A001).

IHE AIR Rev 1.1 (6.5.3.1, General Result Encoding Requirements) asks the creator to describe each algorithm that
produced the result there: Purpose of Reference (Newcode1, 99IHE, "Processing Algorithm"), Manufacturer,
Manufacturer's Model Name, Software Versions and Device UID. The MONAI Deploy App SDK's writers
(DICOMSegmentationWriterOperator, and dicom_utils.write_common_modules under its SR and PDF writers) write such
an item from a ModelInfo (creator, name, version, uid). So do we: one item per model the algorithm used, the
Device UID derived from the model's name, version and file hash, so retrained weights get a new one (as the
SDK's ModelInfo advises).
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from dicom_out.findings import Algorithm
from dicom_out.uids import derived_uid

__all__ = ["MANUFACTURER", "PROCESSING_ALGORITHM", "contributing_equipment", "add_contributing_equipment"]

MANUFACTURER = "msk-maps"
# (code value, coding scheme, meaning) IHE AIR Rev 1.1 prescribes for the Purpose of Reference, as the SDK writes it.
PROCESSING_ALGORITHM = ("Newcode1", "99IHE", "Processing Algorithm")


def _purpose() -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = PROCESSING_ALGORITHM
    return item


def _item(model_name: str, version: str, identity: str) -> Dataset:
    item = Dataset()
    item.PurposeOfReferenceCodeSequence = DicomSequence([_purpose()])
    item.Manufacturer = MANUFACTURER
    item.ManufacturerModelName = model_name[:64]
    item.SoftwareVersions = version[:64]
    item.DeviceUID = derived_uid("contributing-equipment", model_name, identity)
    return item


def contributing_equipment(algorithm: Algorithm) -> list[Dataset]:
    """One AIR item per model the algorithm used (its `parameters`: model name -> "<version> sha256:<hash>"),
    or one for the algorithm itself when it names no model."""
    if not algorithm.parameters:
        return [_item(algorithm.name, algorithm.version, algorithm.version)]
    items = []
    for model, provenance in sorted(algorithm.parameters.items()):
        version = provenance.split(" sha256:", 1)[0].strip() or provenance
        items.append(_item(model, version, provenance))
    return items


def add_contributing_equipment(dataset: Dataset, algorithm: Algorithm) -> Dataset:
    """Append the algorithm's AIR items to `dataset`'s Contributing Equipment Sequence; returns `dataset`."""
    existing = list(dataset.get("ContributingEquipmentSequence") or [])
    dataset.ContributingEquipmentSequence = DicomSequence(existing + contributing_equipment(algorithm))
    return dataset
