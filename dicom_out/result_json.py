"""result.json: a study's report, details, files and failures as plain JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from dicom_in.study import InputFailure
from dicom_out.findings import Concept, Finding, StudyReport

__all__ = ["report_to_json", "finding_to_json", "study_result_json", "read_details"]

DetailsT = TypeVar("DetailsT")


def _concept(concept: Concept | None) -> dict[str, str] | None:
    if concept is None:
        return None
    return {"code": concept.value, "scheme": concept.scheme, "meaning": concept.meaning}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def finding_to_json(finding: Finding) -> dict[str, Any]:
    """One finding as JSON: what, where, present, probabilities, measurements, region, source images."""
    region = None
    if finding.region is not None:
        region = {
            "source_sop_instance_uid": finding.region.source_sop_instance_uid,
            "graphic_type": finding.region.graphic_type,
            "points": [[round(float(x), 3), round(float(y), 3)] for x, y in finding.region.points],
        }
    return {
        "tracking_id": finding.tracking_id,
        "finding_type": _concept(finding.finding_type),
        "present": finding.present,
        "probability": _rounded(finding.probability),
        "finding_site": _concept(finding.finding_site),
        "laterality": _concept(finding.laterality),
        "classification": _concept(finding.classification),
        "classification_probability": _rounded(finding.classification_probability),
        "comment": finding.comment,
        "measurements": [
            {"name": m.name.meaning, "value": _rounded(m.value), "unit": m.unit.value} for m in finding.measurements
        ],
        "region": region,
        "source_sop_instance_uids": [str(ds.SOPInstanceUID) for ds in finding.source_images],
    }


def report_to_json(report: StudyReport) -> dict[str, Any]:
    """The whole report as JSON."""
    return {
        "summary": report.summary,
        "algorithm": {
            "name": report.algorithm.name,
            "version": report.algorithm.version,
            "parameters": dict(report.algorithm.parameters),
        },
        "findings": [finding_to_json(f) for f in report.findings],
    }


def study_result_json(
    study_uid: str,
    app: str,
    app_version: str,
    *,
    status: str,
    report: StudyReport | None,
    details: dict[str, Any],
    csv_row: dict[str, Any],
    files: list[str],
    failures: Sequence[InputFailure],
    selection: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole result.json of one study; `selection`: each series' selection outcome and its reason."""
    return {
        "study_instance_uid": study_uid,
        "app": app,
        "app_version": app_version,
        "status": status,
        "summary": report.summary if report else status,
        "report": report_to_json(report) if report else None,
        "details": details,
        "csv_row": csv_row,
        "files": sorted(files),
        "input_failures": [{"item": f.item, "reason": f.reason} for f in failures],
        "selection": selection,
    }


class _ReadableDetails(Protocol[DetailsT]):
    def from_json(self, details: dict[str, Any]) -> DetailsT: ...


def read_details(result: dict[str, Any] | None, kind: _ReadableDetails[DetailsT]) -> DetailsT | None:
    """An app's typed details from its result.json (e.g. `read_details(result, OltDetails)`); None unless "ok"."""
    if result is None or result.get("status") != "ok":
        return None
    return kind.from_json(result["details"])
