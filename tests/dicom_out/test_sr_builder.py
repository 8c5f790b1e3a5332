from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from dicom_out import codes as dc
from dicom_out.findings import Algorithm, Finding, ImageRegion, Measurement, StudyReport
from dicom_out.sr_builder import build_measurement_report
from dicom_out.sr_content import box_region
from dicom_out.uids import derived_uid
from tests.dicom_factory import mr_slice
from tests.dicom_validation import PATIENT_AND_STUDY, dciodvfy_errors

STUDY = "1.2.826.0.1.1"
SR_SOP = "1.2.826.0.1.4"


@pytest.fixture()
def sources() -> list[Dataset]:
    pixels = np.zeros((64, 64), np.uint16)
    return [mr_slice(STUDY, "1.2.826.0.1.2", index=i, patient_id="PAT42", pixels=pixels) for i in range(3)]


def _report(sources: list[Dataset]) -> StudyReport:
    return StudyReport(
        study_uid=STUDY,
        algorithm=Algorithm("msk-maps test", "9.9", {"model": "m1 sha256:abc"}),
        findings=[
            Finding(
                "T1 coronal",
                dc.OSTEOCHONDRAL_LESION_OF_TALUS,
                True,
                probability=0.875,
                finding_site=dc.TALUS,
                laterality=dc.LEFT,
                source_images=[sources[0]],
            ),
            Finding(
                "fragment 1",
                dc.LESION,
                True,
                probability=0.6,
                classification=dc.private("LMAF", "Avulsion fracture"),
                classification_probability=0.9,
                region=box_region(str(sources[1].SOPInstanceUID), (4, 4, 12, 10)),
                source_images=[sources[1]],
            ),
            Finding(
                "right hip",
                dc.LESION,
                False,
                finding_site=dc.FEMORAL_HEAD,
                laterality=dc.RIGHT,
                measurements=[
                    Measurement(dc.private("ratio", "Necrosis ratio"), 12.5, dc.PERCENT),
                    Measurement(dc.private("area", "Head area"), 310.0, dc.SQUARE_MILLIMETER),
                ],
                source_images=[sources[2]],
            ),
        ],
        summary="test",
    )


def _build(report: StudyReport, source: Dataset, **kwargs) -> hd.sr.Comprehensive3DSR:
    return build_measurement_report(
        report, source, series_instance_uid="1.2.826.0.1.3", sop_instance_uid=SR_SOP, series_number=9001, **kwargs
    )


def _children(item: Dataset, name: Code) -> list:
    """Values of the direct children of an SR content item with concept name `name`."""
    found = []
    for child in item.ContentSequence:
        if child.ConceptNameCodeSequence[0].CodeValue == name.value:
            found.append(child.TextValue if child.ValueType == "TEXT" else child.ConceptCodeSequence[0].CodeValue)
    return found


def _save(sr: Dataset, path: Path) -> Path:
    sr.save_as(path, enforce_file_format=True)
    return path


def test_sr_is_valid_and_reads_back(tmp_path: Path, sources: list[Dataset]) -> None:
    path = _save(_build(_report(sources), sources[0]), tmp_path / "sr.dcm")
    assert dciodvfy_errors(path) == []

    read = hd.sr.srread(path)
    for keyword in PATIENT_AND_STUDY:
        assert read.get(keyword) == sources[0].get(keyword), keyword
    assert read.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == dc.MSK_SCHEME
    assert read.content.get_observer_contexts()[0].observer_type == codes.DCM.Device
    plain = {str(g.tracking_identifier): g for g in read.content.get_image_measurement_groups()}
    roi = {str(g.tracking_identifier): g for g in read.content.get_planar_roi_measurement_groups()}
    assert sorted(plain) == ["T1 coronal", "right hip"] and sorted(roi) == ["fragment 1"]
    assert str(plain["T1 coronal"].tracking_uid) == derived_uid(SR_SOP, "T1 coronal")

    olt = plain["T1 coronal"]
    assert olt.finding_type.value == dc.OSTEOCHONDRAL_LESION_OF_TALUS.value
    [presence] = olt.get_qualitative_evaluations()
    assert (presence.name.value, presence.value.value) == (dc.PRESENCE.value, dc.PRESENT.value)
    [probability] = olt.get_measurements()
    assert (probability.name.value, probability.value) == (dc.PROBABILITY.value, pytest.approx(0.875))
    assert _children(probability[0], codes.DCM.AlgorithmName) == ["msk-maps test"]
    assert olt.finding_sites[0].value.value == dc.TALUS.value
    assert olt.finding_sites[0].laterality.value == dc.LEFT.value

    fragment = roi["fragment 1"]
    referenced = fragment.roi.ContentSequence[0].ReferencedSOPSequence[0]
    assert referenced.ReferencedSOPInstanceUID == sources[1].SOPInstanceUID
    assert fragment.roi.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
    np.testing.assert_allclose(fragment.roi.value, [[4, 4], [12, 4], [12, 10], [4, 10], [4, 4]])
    by_name = {m.name.value: m.value for m in fragment.get_measurements()}
    assert by_name == {dc.PROBABILITY.value: pytest.approx(0.6), "CLSPROB": pytest.approx(0.9)}
    evaluations = {e.name.value: e.value.value for e in fragment.get_qualitative_evaluations()}
    assert evaluations == {dc.PRESENCE.value: dc.PRESENT.value, dc.CLASSIFICATION.value: "LMAF"}

    hip = plain["right hip"]
    assert hip.get_qualitative_evaluations()[0].value.value == dc.ABSENT.value
    assert sorted((m.value, m.unit.value) for m in hip.get_measurements()) == [(12.5, "%"), (310.0, "mm2")]
    assert hip.finding_sites[0].laterality.value == dc.RIGHT.value


def test_sr_evidence_lists_every_source_image_once(tmp_path: Path, sources: list[Dataset]) -> None:
    sr = _build(_report(sources), sources[0])
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    referenced = [item.ReferencedSOPInstanceUID for item in evidence.ReferencedSOPSequence]
    assert sorted(referenced) == sorted(str(ds.SOPInstanceUID) for ds in sources)


def test_report_without_findings_is_an_explicit_absent_group(tmp_path: Path, sources: list[Dataset]) -> None:
    report = replace(_report(sources), findings=[])
    fragment = dc.private("FRAG", "Perimalleolar fragment")
    sr = _build(report, sources[0], looked_for=fragment, procedure=[dc.PLAIN_RADIOGRAPHY, dc.IMAGING_PROCEDURE])
    path = _save(sr, tmp_path / "empty.dcm")
    assert dciodvfy_errors(path) == []

    read = hd.sr.srread(path)
    [group] = read.content.get_image_measurement_groups()
    assert str(group.tracking_identifier) == "no findings"
    assert group.finding_type.value == "FRAG"
    assert group.get_qualitative_evaluations()[0].value.value == dc.ABSENT.value
    assert group.get_measurements() == []
    procedures = _children(read.content[0], codes.DCM.ProcedureReported)
    assert procedures == [dc.PLAIN_RADIOGRAPHY.value, dc.IMAGING_PROCEDURE.value]


def test_sr_without_private_codes_declares_no_private_scheme(sources: list[Dataset]) -> None:
    report = replace(
        _report(sources),
        findings=[Finding("T2 sagittal", dc.LESION, False, 0.1, dc.TALUS, source_images=[sources[0]])],
    )
    assert "CodingSchemeIdentificationSequence" not in _build(report, sources[0])


def test_sr_builds_on_pydicom_mr_small(tmp_path: Path) -> None:
    source = pydicom.dcmread(pydicom.data.get_testdata_file("MR_small.dcm"))
    report = StudyReport(
        study_uid=str(source.StudyInstanceUID),
        algorithm=Algorithm("msk-maps test", "1.0"),
        findings=[Finding("slice", dc.LESION, True, 0.7, region=box_region(source.SOPInstanceUID, (1, 2, 30, 40)))],
        summary="",
    )
    report.findings[0].source_images.append(source)
    path = _save(_build(report, source), tmp_path / "sr.dcm")
    assert dciodvfy_errors(path) == []
    assert hd.sr.srread(path).PatientID == source.PatientID


def _with(report: StudyReport, index: int, **changes) -> StudyReport:
    findings = list(report.findings)
    findings[index] = replace(findings[index], **changes)
    return replace(report, findings=findings)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: _with(r, 1, tracking_id="T1 coronal"), r"unique tracking ids.*'T1 coronal' twice"),
        (lambda r: _with(r, 0, probability=1.5), r"probability of finding 'T1 coronal' in \[0, 1\], got 1.5"),
        (lambda r: _with(r, 2, finding_site=None), r"'right hip' has a laterality but no finding_site"),
        (lambda r: _with(r, 1, classification=None), r"'fragment 1' has a classification_probability but no"),
        (
            lambda r: _with(r, 1, region=ImageRegion("1.2.999", "POLYLINE", np.zeros((5, 2)))),
            r"region of finding 'fragment 1' to lie on one of its source_images, got SOPInstanceUID 1\.2\.999",
        ),
        (lambda r: replace(r, study_uid="1.2.3"), r"source image of study 1\.2\.3, got one of 1\.2\.826\.0\.1\.1"),
    ],
)
def test_bad_reports_are_refused_with_a_clear_message(sources: list[Dataset], change, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _build(change(_report(sources)), sources[0])


def test_box_region_is_a_closed_polyline_and_refuses_an_inverted_box() -> None:
    region = box_region("1.2.3", (1, 2, 5, 7))
    assert region.graphic_type == "POLYLINE"
    np.testing.assert_array_equal(region.points[0], region.points[-1])
    assert region.points.shape == (5, 2)
    with pytest.raises(ValueError, match=r"x0 < x1 and y0 < y1 for a box, got \[5, 2, 1, 7\]"):
        box_region("1.2.3", (5, 2, 1, 7))
