"""Build a TID 1500 Measurement Report (Comprehensive 3D SR) from a StudyReport, with highdicom.

Structure: one measurement group per Finding —
* a Finding with an image region → TID 1410 (planar ROI) whose region is an SCOORD on the source image;
* otherwise → TID 1501 (measurements and qualitative evaluations) referencing its source images.
Each group carries: tracking identifier (text + UID), finding type, finding site (+ laterality), the
qualitative evaluation "<finding type>: Present/Absent", the classification when given, the probability
(DCM 122157, UCUM "1") and any further measurements, all attributed to the algorithm (name, version,
parameters). The observer is the algorithm as a device. Patient and study come from the evidence.
"""

from __future__ import annotations

import logging

import highdicom as hd
import numpy as np
from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from operators import dicom_codes
from operators.findings import Concept, Finding, StudyReport
from operators.uids import derived_uid

__all__ = ["build_measurement_report", "coded"]

logger = logging.getLogger(__name__)


def coded(concept: Concept) -> CodedConcept:
    """A highdicom CodedConcept from our Concept."""
    return CodedConcept(value=concept.value, scheme_designator=concept.scheme, meaning=concept.meaning)


def _algorithm(report: StudyReport) -> hd.sr.AlgorithmIdentification:
    parameters = [f"{k}={v}" for k, v in sorted(report.algorithm.parameters.items())] or None
    return hd.sr.AlgorithmIdentification(
        name=report.algorithm.name, version=report.algorithm.version, parameters=parameters
    )


def _measurements(finding: Finding, algorithm: hd.sr.AlgorithmIdentification) -> list[hd.sr.Measurement]:
    measurements = []
    if finding.probability is not None:
        measurements.append(
            hd.sr.Measurement(
                name=coded(dicom_codes.PROBABILITY),
                value=float(finding.probability),
                unit=coded(dicom_codes.NO_UNITS),
                algorithm_id=algorithm,
            )
        )
    if finding.classification is not None and finding.classification_probability is not None:
        measurements.append(
            hd.sr.Measurement(
                name=CodedConcept(
                    dicom_codes.PROBABILITY.value,
                    dicom_codes.PROBABILITY.scheme,
                    f"Probability of {finding.classification.meaning}"[:64],
                ),
                value=float(finding.classification_probability),
                unit=coded(dicom_codes.NO_UNITS),
                algorithm_id=algorithm,
            )
        )
    for item in finding.measurements:
        measurements.append(
            hd.sr.Measurement(
                name=coded(item.name),
                value=float(item.value),
                unit=coded(item.unit),
                algorithm_id=algorithm,
            )
        )
    return measurements


def _evaluations(finding: Finding) -> list[hd.sr.QualitativeEvaluation]:
    presence = dicom_codes.PRESENT if finding.present else dicom_codes.ABSENT
    evaluations = [hd.sr.QualitativeEvaluation(name=coded(finding.finding_type), value=coded(presence))]
    if finding.classification is not None:
        evaluations.append(
            hd.sr.QualitativeEvaluation(name=coded(dicom_codes.FINDING), value=coded(finding.classification))
        )
    return evaluations


def _group(finding: Finding, report_uid: str, algorithm: hd.sr.AlgorithmIdentification):
    tracking = hd.sr.TrackingIdentifier(
        uid=derived_uid(report_uid, finding.tracking_id), identifier=finding.tracking_id
    )
    sites = None
    if finding.finding_site is not None:
        laterality = coded(finding.laterality) if finding.laterality else None
        sites = [hd.sr.FindingSite(anatomic_location=coded(finding.finding_site), laterality=laterality)]
    common = dict(
        tracking_identifier=tracking,
        finding_type=coded(finding.finding_type),
        algorithm_id=algorithm,
        finding_sites=sites,
        measurements=_measurements(finding, algorithm) or None,
        qualitative_evaluations=_evaluations(finding),
    )
    if finding.region is not None:
        source = next(ds for ds in finding.source_images if ds.SOPInstanceUID == finding.region.source_sop_instance_uid)
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues[finding.region.graphic_type],
            graphic_data=np.asarray(finding.region.points, dtype=float),
            source_image=hd.sr.SourceImageForRegion(source.SOPClassUID, source.SOPInstanceUID),
        )
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(referenced_region=region, **common)
    sources = [hd.sr.SourceImageForMeasurementGroup.from_source_image(ds) for ds in finding.source_images]
    return hd.sr.MeasurementsAndQualitativeEvaluations(source_images=sources or None, **common)


def build_measurement_report(
    report: StudyReport,
    source: Dataset,
    *,
    series_instance_uid: str,
    sop_instance_uid: str,
    series_number: int,
    procedure: Concept = dicom_codes.IMAGING_PROCEDURE,
    institution_name: str | None = None,
) -> hd.sr.Comprehensive3DSR:
    """The SR for one study; `source` is any image of the study (patient/study modules are copied)."""
    algorithm = _algorithm(report)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=derived_uid(report.algorithm.name, report.algorithm.version, "device"),
            name=report.algorithm.name,
            manufacturer_name="msk-maps",
            model_name=f"{report.algorithm.name} {report.algorithm.version}",
        ),
    )
    groups = [_group(f, sop_instance_uid, algorithm) for f in report.findings]
    content = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=coded(procedure),
        imaging_measurements=groups or None,
    )
    evidence: dict[str, Dataset] = {str(source.SOPInstanceUID): source}
    for finding in report.findings:
        for ds in finding.source_images:
            evidence.setdefault(str(ds.SOPInstanceUID), ds)
    sr = hd.sr.Comprehensive3DSR(
        evidence=list(evidence.values()),
        content=content,
        series_instance_uid=series_instance_uid,
        series_number=series_number,
        sop_instance_uid=sop_instance_uid,
        instance_number=1,
        institution_name=institution_name or source.get("InstitutionName"),
        manufacturer="msk-maps",
        series_description=f"{report.algorithm.name} report"[:64],
        is_complete=True,
    )
    if any(c.scheme == dicom_codes.MSK_SCHEME for c in _concepts(report)):
        item = Dataset()
        item.CodingSchemeDesignator = dicom_codes.MSK_SCHEME
        item.CodingSchemeName = dicom_codes.MSK_SCHEME_NAME
        item.CodingSchemeResponsibleOrganization = "msk-maps"
        sr.CodingSchemeIdentificationSequence = [item]
    return sr


def _concepts(report: StudyReport) -> list[Concept]:
    out: list[Concept] = []
    for f in report.findings:
        out += [c for c in (f.finding_type, f.finding_site, f.laterality, f.classification) if c is not None]
        out += [m.name for m in f.measurements] + [m.unit for m in f.measurements]
    return out
