"""Hostile patient/study headers from real archives still give a valid SR, SC and SEG (dciodvfy), never a failure.

Each case takes phantom slices, writes the hostile values into their files (raw bytes where pydicom would not
write them), reads them back as the apps do (dicom_in.image_file.read_header) and builds all three objects.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from dicom_in.image_file import read_header
from dicom_out import codes as dc
from dicom_out.findings import Algorithm, Segment, SegmentationResult, StudyReport
from dicom_out.patient_module import valid_patient_study
from dicom_out.sc_builder import build_secondary_capture
from dicom_out.seg_builder import build_segmentation
from dicom_out.sr_builder import build_measurement_report
from tests.dicom_factory import mr_slice
from tests.dicom_validation import dciodvfy_errors

STUDY, SERIES = "1.2.826.0.1.77", "1.2.826.0.1.77.1"
JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"


def _raw(ds: Dataset, keyword: str, vr: str, data: bytes) -> None:
    """Put `data` into `ds` as the element's bytes, exactly as a broken writer would have stored them."""
    data += b" " if len(data) % 2 else b""
    tag = Tag(keyword)
    ds._dict[tag] = RawDataElement(tag, vr, len(data), data, 0, False, True)


def _iso_2022(ds: Dataset) -> None:
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.PatientName = JAPANESE


def _two_names(ds: Dataset) -> None:
    _raw(ds, "PatientName", "PN", b"Doe^John\\Roe^Jane")


def _no_patient_id(ds: Dataset) -> None:
    del ds.PatientID


def _long_name(ds: Dataset) -> None:  # 141 characters in one component group
    _raw(ds, "PatientName", "PN", b"A" * 70 + b"^" + b"B" * 70)


def _long_strings(ds: Dataset) -> None:
    _raw(ds, "PatientID", "LO", b"P" * 80)
    _raw(ds, "InstitutionName", "LO", b"I" * 100)
    _raw(ds, "StudyDescription", "LO", b"S" * 100)
    _raw(ds, "AccessionNumber", "SH", b"A" * 30)


def _unknown_character_set(ds: Dataset) -> None:
    _raw(ds, "SpecificCharacterSet", "CS", b"ISO_IR 999")
    _raw(ds, "PatientName", "PN", "Müller^Jürgen".encode("latin-1"))


def _broken_utf8(ds: Dataset) -> None:
    _raw(ds, "SpecificCharacterSet", "CS", b"ISO_IR 192")
    _raw(ds, "PatientName", "PN", b"M\xfcller^J\xfcrgen")


def _bad_dates_and_codes(ds: Dataset) -> None:
    _raw(ds, "PatientBirthDate", "DA", b"1980-01-01")
    _raw(ds, "StudyTime", "TM", b"12:00:00")
    _raw(ds, "PatientSex", "CS", b"male")
    _raw(ds, "PatientAge", "AS", b"45 years")


def _control_characters(ds: Dataset) -> None:
    _raw(ds, "PatientID", "LO", b"ID\n42\x1b")


def _latin1(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Jürgen"


# case: (make the header hostile, {keyword: value expected in our objects}, expected SpecificCharacterSet)
CASES: dict[str, tuple[Callable[[Dataset], None], dict[str, str], str | None]] = {
    "iso_2022_ir_87": (_iso_2022, {"PatientName": JAPANESE}, "ISO_IR 192"),
    "two_patient_names": (_two_names, {"PatientName": "Doe^John"}, None),
    "no_patient_id": (_no_patient_id, {"PatientID": ""}, None),
    "141_character_name": (_long_name, {"PatientName": "A" * 64}, None),
    "over_long_lo_and_sh": (
        _long_strings,
        {"PatientID": "P" * 64, "InstitutionName": "I" * 64, "StudyDescription": "S" * 64, "AccessionNumber": "A" * 16},
        None,
    ),
    "unknown_character_set": (_unknown_character_set, {"PatientName": "Müller^Jürgen"}, "ISO_IR 192"),
    "broken_utf8": (_broken_utf8, {"PatientName": "M\ufffdller^J\ufffdrgen"}, "ISO_IR 192"),
    "invalid_dates_and_codes": (
        _bad_dates_and_codes,
        {"PatientBirthDate": "", "StudyTime": "", "PatientSex": "", "PatientAge": ""},
        None,
    ),
    "control_characters": (_control_characters, {"PatientID": "ID42"}, None),
    "latin1_kept": (_latin1, {"PatientName": "Müller^Jürgen"}, "ISO_IR 100"),
}


def _hostile_sources(tmp_path: Path, make_hostile: Callable[[Dataset], None]) -> list[Dataset]:
    """Three axial phantom slices with the hostile header, written and read back as the apps read them."""
    sources = []
    for index in range(3):
        ds = mr_slice(STUDY, SERIES, plane="axial", index=index, description="AX T1")
        ds.InstitutionName, ds.StudyDescription, ds.PatientAge = "Hospital", "Hip MRI", "045Y"
        make_hostile(ds)
        path = tmp_path / f"source_{index}.dcm"
        ds.save_as(path, enforce_file_format=True)
        sources.append(read_header(path)[0])
    return sources


def _write_all(sources: list[Dataset], out: Path) -> dict[str, Path]:
    """Our SR, SC and SEG built from `sources`, saved under `out`."""
    algorithm = Algorithm("msk-maps test", "1.0")
    sr = build_measurement_report(
        StudyReport(study_uid=STUDY, algorithm=algorithm, findings=[], summary="none found"),
        sources[0],
        series_instance_uid="1.2.826.0.1.77.2",
        sop_instance_uid="1.2.826.0.1.77.2.1",
        series_number=9001,
    )
    sc = build_secondary_capture(
        sources[0],
        np.zeros((16, 16, 3), np.uint8),
        series_instance_uid="1.2.826.0.1.77.3",
        sop_instance_uid="1.2.826.0.1.77.3.1",
        series_number=9002,
        series_description="key image",
    )
    masks = np.zeros((3, 16, 16, 1), bool)
    masks[1, 4:9, 4:9, 0] = True
    segment = Segment("Right femoral head", dc.ANATOMICAL_STRUCTURE, dc.FEMORAL_HEAD, dc.HIP_JOINT, dc.RIGHT)
    seg = build_segmentation(
        SegmentationResult(sources, masks, [segment], "test segmentation"),
        algorithm,
        series_instance_uid="1.2.826.0.1.77.4",
        sop_instance_uid="1.2.826.0.1.77.4.1",
        series_number=9003,
    )
    paths = {"sr": out / "sr.dcm", "sc": out / "sc.dcm", "seg": out / "seg.dcm"}
    for kind, obj in (("sr", sr), ("sc", sc), ("seg", seg)):
        obj.save_as(paths[kind], enforce_file_format=True)
    return paths


@pytest.mark.filterwarnings("ignore")  # pydicom warns about every hostile value it reads; that is the point
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_patient_and_study_text_gives_valid_sr_sc_and_seg(tmp_path: Path, case: str) -> None:
    make_hostile, expected, character_set = CASES[case]
    sources = _hostile_sources(tmp_path, make_hostile)
    paths = _write_all(sources, tmp_path)
    for kind, path in paths.items():
        assert dciodvfy_errors(path) == [], (case, kind)
        written = pydicom.dcmread(path)
        assert written.get("SpecificCharacterSet") == character_set, (case, kind)
        for keyword, value in expected.items():
            if keyword in ("InstitutionName", "StudyDescription", "PatientAge") and kind != "sr":
                continue  # only the SR is given these (institution) or copies the whole study module
            assert str(written.get(keyword, "")) == value, (case, kind, keyword)


def test_the_source_is_left_as_it_was(tmp_path: Path) -> None:
    (source,) = _hostile_sources(tmp_path, _two_names)[:1]
    before = {element.tag: element.value for element in source}
    valid = valid_patient_study(source)
    assert valid.dataset.PatientName == "Doe^John" and list(source.PatientName) == ["Doe^John", "Roe^Jane"]
    assert {element.tag: element.value for element in source} == before


def test_an_ordinary_source_keeps_its_values_exactly(tmp_path: Path) -> None:
    source = mr_slice(STUDY, SERIES)
    source.SpecificCharacterSet = "ISO_IR 100"
    valid = valid_patient_study(source)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime"):
        assert valid.dataset.get(keyword) == source.get(keyword), keyword
    assert valid.character_set == "ISO_IR 100"
