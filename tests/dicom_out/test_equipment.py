"""Every object a study writes (SR, SC, SEG) names the models that made it in the IHE AI Results way
(Contributing Equipment Sequence), as the MONAI Deploy App SDK's writers do, and stays valid for dciodvfy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import UID

from dicom_out import codes as dc
from dicom_out.equipment import MANUFACTURER, PROCESSING_ALGORITHM, contributing_equipment
from dicom_out.findings import Algorithm, Finding, KeyImage, Segment, SegmentationResult, StudyReport
from dicom_out.study_objects import write_study_objects
from tests.dicom_factory import mr_slice
from tests.dicom_validation import dciodvfy_errors

STUDY, SERIES = "1.2.826.0.1.8", "1.2.826.0.1.8.1"
ALGORITHM = Algorithm(
    "msk-maps onfh_mri",
    "0.1.0",
    {"onfh_mri_femoral_head": "1.2.0 sha256:0123456789ab", "onfh_helper": "0.3.1 sha256:ba9876543210"},
)


def _items(dataset) -> dict[str, tuple[str, str]]:
    """Model name -> (manufacturer, version) of each AIR item (purpose: Processing Algorithm)."""
    out = {}
    for item in dataset.ContributingEquipmentSequence:
        purpose = item.PurposeOfReferenceCodeSequence[0]
        if (purpose.CodeValue, purpose.CodingSchemeDesignator, purpose.CodeMeaning) != PROCESSING_ALGORITHM:
            continue
        assert UID(item.DeviceUID).is_valid
        out[item.ManufacturerModelName] = (item.Manufacturer, item.SoftwareVersions)
    return out


def test_one_item_per_model_with_its_version_and_a_uid_that_follows_its_weights():
    items = contributing_equipment(ALGORITHM)
    assert [i.ManufacturerModelName for i in items] == ["onfh_helper", "onfh_mri_femoral_head"]
    assert [i.SoftwareVersions for i in items] == ["0.3.1", "1.2.0"]
    assert {i.Manufacturer for i in items} == {MANUFACTURER}
    again = contributing_equipment(ALGORITHM)
    assert [i.DeviceUID for i in items] == [i.DeviceUID for i in again]  # a re-run writes the same objects
    retrained = Algorithm(ALGORITHM.name, ALGORITHM.version, {"onfh_mri_femoral_head": "1.2.0 sha256:ffffffffffff"})
    assert contributing_equipment(retrained)[0].DeviceUID != items[1].DeviceUID
    assert len({i.DeviceUID for i in items}) == 2


def test_an_algorithm_without_models_describes_itself():
    (item,) = contributing_equipment(Algorithm("msk-maps test", "2.0.0"))
    assert (item.ManufacturerModelName, item.SoftwareVersions) == ("msk-maps test", "2.0.0")


def test_the_studys_sr_sc_and_seg_carry_the_models_and_stay_valid(tmp_path: Path):
    sources = [mr_slice(STUDY, SERIES, plane="axial", index=i, description="AX T1") for i in range(2)]
    finding = Finding("Right hip", dc.FINDING, present=True, probability=0.8, source_images=[sources[0]])
    report = StudyReport(STUDY, ALGORITHM, [finding], "one finding")
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[4:8, 4:8] = (255, 0, 0)
    key = KeyImage(sources[0], rgb, "key image", "key_right")
    masks = np.zeros((2, 16, 16, 1), bool)
    masks[0, 3:9, 3:9, 0] = True
    segment = Segment("Right femoral head", dc.ANATOMICAL_STRUCTURE, dc.FEMORAL_HEAD, dc.HIP_JOINT, dc.RIGHT)
    seg = SegmentationResult(sources, masks, [segment], "segmentation")
    files = write_study_objects(tmp_path, "onfh_mri", report, [key], [seg], sources[0])
    written = [tmp_path / name for name in files if name.endswith(".dcm")]
    assert len(written) == 3
    expected = {"onfh_helper": (MANUFACTURER, "0.3.1"), "onfh_mri_femoral_head": (MANUFACTURER, "1.2.0")}
    for path in written:
        dataset = pydicom.dcmread(path)
        assert _items(dataset) == expected, path.name
        # What highdicom itself records (it, as processing equipment) is kept in front of ours.
        assert "highdicom" in dataset.ContributingEquipmentSequence[0].Manufacturer.lower(), path.name
        assert dciodvfy_errors(path) == [], path.name
