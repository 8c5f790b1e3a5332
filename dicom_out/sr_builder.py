"""Build a TID 1500 Measurement Report (highdicom Comprehensive 3D SR) from a StudyReport.

Document produced (content tree, TID 1500):

    Imaging Measurement Report (CONTAINER)
    ├── Language of Content Item and Descendants: English
    ├── Observation context: observer type Device, the algorithm as the device
    │   (UID derived from its name and version, name, manufacturer "msk-maps", model "<name> <version>")
    ├── Procedure reported: `procedure` (one concept or several, e.g. an imaging procedure)
    └── Imaging Measurements (CONTAINER)
        └── one Measurement Group per Finding (TID 1410 with a region, TID 1501 without; see sr_content)

A report with no findings still gets one group: TID 1501 with tracking id `empty_tracking_id`, finding
type `looked_for` (DCM "Finding" by default; apps should pass what they looked for, e.g. a fragment),
presence Absent and `source` as its source image. So a reader sees an explicit negative ("looked for X,
found none") rather than an empty report that might mean "never ran".

Patient, study and evidence modules come from the evidence (`source` first, then every source image of
every finding), so the SR files under the source's patient and study; the patient and study text is made
valid first (dicom_out.patient_module), so a source with over-long or badly encoded values still gets a
valid SR. Private codes (dicom_out.codes
MSK_SCHEME) are declared in CodingSchemeIdentificationSequence when the document uses any.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as dicom_dictionary

from dicom_out import codes
from dicom_out.equipment import MANUFACTURER, add_contributing_equipment
from dicom_out.findings import Concept, Finding, StudyReport
from dicom_out.patient_module import valid_patient_study
from dicom_out.sr_content import algorithm_identification, check_report, coded, measurement_group
from dicom_out.uids import derived_uid

__all__ = ["build_measurement_report"]

logger = logging.getLogger(__name__)


def _observer(report: StudyReport) -> hd.sr.ObserverContext:
    algorithm = report.algorithm
    return hd.sr.ObserverContext(
        observer_type=dicom_dictionary.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=derived_uid(algorithm.name, algorithm.version, "device"),
            name=algorithm.name,
            manufacturer_name=MANUFACTURER,
            model_name=f"{algorithm.name} {algorithm.version}"[:64],
        ),
    )


def _evidence(source: Dataset, findings: Sequence[Finding]) -> list[Dataset]:
    evidence: dict[str, Dataset] = {str(source.SOPInstanceUID): source}
    for finding in findings:
        for ds in finding.source_images:
            evidence.setdefault(str(ds.SOPInstanceUID), ds)
    return list(evidence.values())


def _schemes(dataset: Dataset) -> Iterator[str]:
    """Every CodingSchemeDesignator used anywhere in `dataset` (nested sequences included)."""
    for element in dataset:
        if element.keyword == "CodingSchemeDesignator":
            yield str(element.value)
        elif element.VR == "SQ":
            for item in element.value:
                yield from _schemes(item)


def _declare_private_scheme(sr: hd.sr.Comprehensive3DSR) -> None:
    if codes.MSK_SCHEME not in set(_schemes(sr)):
        return
    item = Dataset()
    item.CodingSchemeDesignator = codes.MSK_SCHEME
    item.CodingSchemeName = codes.MSK_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = codes.MSK_SCHEME_ORGANIZATION
    sr.CodingSchemeIdentificationSequence = [item]


def build_measurement_report(
    report: StudyReport,
    source: Dataset,
    *,
    series_instance_uid: str,
    sop_instance_uid: str,
    series_number: int,
    institution_name: str | None = None,
    procedure: Concept | Sequence[Concept] = codes.IMAGING_PROCEDURE,
    looked_for: Concept = codes.FINDING,
    empty_tracking_id: str = "no findings",
    series_description: str | None = None,
) -> hd.sr.Comprehensive3DSR:
    """The SR for one study; `source` is an image of the study whose patient/study modules are copied."""
    if str(source.get("StudyInstanceUID", "")) != report.study_uid:
        raise ValueError(
            f"expected a source image of study {report.study_uid}, got one of {source.get('StudyInstanceUID')}"
        )
    check_report(report)
    findings = report.findings or [
        Finding(tracking_id=empty_tracking_id, finding_type=looked_for, present=False, source_images=[source])
    ]
    algorithm_id = algorithm_identification(report.algorithm)
    groups = [measurement_group(f, sop_instance_uid=sop_instance_uid, algorithm_id=algorithm_id) for f in findings]
    procedures = [procedure] if isinstance(procedure, Concept) else list(procedure)
    patient = valid_patient_study(source)
    content = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=_observer(report)),
        procedure_reported=[coded(p) for p in procedures],
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=_evidence(patient.dataset, findings),
        content=content,
        series_instance_uid=series_instance_uid,
        series_number=series_number,
        sop_instance_uid=sop_instance_uid,
        instance_number=1,
        institution_name=institution_name or patient.dataset.get("InstitutionName"),
        manufacturer=MANUFACTURER,
        series_description=(series_description or f"{report.algorithm.name} report")[:64],
        is_complete=True,
        specific_character_set=patient.character_set,
    )
    _declare_private_scheme(sr)
    add_contributing_equipment(sr, report.algorithm)  # IHE AI Results: the models that made it
    logger.debug("SR %s: %d measurement group(s)", sop_instance_uid, len(groups))
    return sr
