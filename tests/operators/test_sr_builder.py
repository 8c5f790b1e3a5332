from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pytest

from operators import dicom_codes as dc
from operators.findings import Algorithm, Finding, ImageRegion, Measurement, StudyReport
from operators.sr_builder import build_measurement_report
from tests.dicom_factory import mr_slice
from tests.dicom_validation import dciodvfy_errors


@pytest.fixture()
def sources():
    return [mr_slice("1.2.826.0.1.1", "1.2.826.0.1.2", index=i, patient_id="PAT42") for i in range(3)]


def _report(sources) -> StudyReport:
    box = np.array([[4, 4], [12, 4], [12, 10], [4, 10], [4, 4]], float)
    return StudyReport(
        study_uid="1.2.826.0.1.1",
        algorithm=Algorithm("msk-maps test", "9.9", {"model": "m1 sha256:abc"}),
        findings=[
            Finding(
                "T1 coronal",
                dc.LESION,
                True,
                0.875,
                dc.TALUS,
                dc.laterality_concept("L"),
                source_images=[sources[0]],
            ),
            Finding(
                "fragment 1",
                dc.LESION,
                True,
                0.6,
                classification=dc.private("LMAF", "Avulsion fracture"),
                classification_probability=0.9,
                region=ImageRegion(str(sources[1].SOPInstanceUID), "POLYLINE", box),
                source_images=[sources[1]],
            ),
            Finding(
                "right hip",
                dc.LESION,
                False,
                None,
                measurements=[
                    Measurement(dc.private("ratio", "Necrosis ratio"), 12.5, dc.PERCENT),
                    Measurement(dc.private("area", "Head area"), 310.0, dc.SQUARE_MILLIMETER),
                ],
                source_images=[sources[2]],
            ),
        ],
        summary="test",
    )


def test_sr_is_valid_and_reads_back(tmp_path: Path, sources) -> None:
    sr = build_measurement_report(
        _report(sources),
        sources[0],
        series_instance_uid="1.2.826.0.1.3",
        sop_instance_uid="1.2.826.0.1.4",
        series_number=9001,
    )
    path = tmp_path / "sr.dcm"
    sr.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []

    read = hd.sr.srread(path)
    assert (read.PatientID, read.StudyInstanceUID) == ("PAT42", "1.2.826.0.1.1")
    assert read.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == dc.MSK_SCHEME
    plain = {str(g.tracking_identifier): g for g in read.content.get_image_measurement_groups()}
    roi = {str(g.tracking_identifier): g for g in read.content.get_planar_roi_measurement_groups()}
    assert sorted(plain) == ["T1 coronal", "right hip"] and sorted(roi) == ["fragment 1"]

    olt = plain["T1 coronal"]
    assert olt.get_qualitative_evaluations()[0].value.value == dc.PRESENT.value
    assert olt.get_measurements()[0].value == pytest.approx(0.875)
    assert olt.finding_sites[0].laterality.value == dc.laterality_concept("L").value

    fragment = roi["fragment 1"]
    region = fragment.roi
    referenced = region.ContentSequence[0].ReferencedSOPSequence[0]
    assert referenced.ReferencedSOPInstanceUID == sources[1].SOPInstanceUID
    np.testing.assert_allclose(region.value, [[4, 4], [12, 4], [12, 10], [4, 10], [4, 4]])
    values = sorted(m.value for m in fragment.get_measurements())
    assert values == pytest.approx([0.6, 0.9])

    hip = plain["right hip"]
    assert hip.get_qualitative_evaluations()[0].value.value == dc.ABSENT.value
    assert sorted((m.value, m.unit.value) for m in hip.get_measurements()) == [(12.5, "%"), (310.0, "mm2")]


def test_sr_without_private_codes_declares_no_private_scheme(tmp_path: Path, sources) -> None:
    report = _report(sources)
    report.findings = report.findings[:1]
    sr = build_measurement_report(
        report, sources[0], series_instance_uid="1.2.3.1", sop_instance_uid="1.2.3.2", series_number=1
    )
    assert "CodingSchemeIdentificationSequence" not in sr
