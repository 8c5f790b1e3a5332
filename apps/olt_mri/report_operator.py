"""olt_mri operator: turns per-slice model outputs into the study's OLT findings and key images."""

from __future__ import annotations

import logging

from apps.olt_mri.lesion_call import SeriesCall, call_series, call_study
from operators import dicom_codes
from operators.findings import Algorithm, Finding, StudyReport
from operators.overlay import caption, enlarge, heatmap_overlay, window_to_uint8
from operators.report_stage import ReportStageOperator
from operators.study_work import KeyImage, SeriesImages, StudyResult, StudyWork

__all__ = ["OltReportOperator"]

logger = logging.getLogger(__name__)

DEMO_BANNER = "DEMO MODEL - NOT FOR CLINICAL USE"


def _finding(images: SeriesImages, call: SeriesCall) -> Finding:
    header = images.instances[call.key_index].header
    laterality = str(header.get("Laterality") or header.get("ImageLaterality") or "")
    return Finding(
        tracking_id=call.rule,
        finding_type=dicom_codes.LESION,
        present=call.present,
        probability=call.probability,
        finding_site=dicom_codes.TALUS,
        laterality=dicom_codes.laterality_concept(laterality),
        source_images=[header],
    )


def _key_image(images: SeriesImages, call: SeriesCall, banner: str) -> KeyImage:
    key = call.key_index
    gray = enlarge(window_to_uint8(images.pixels[key]))
    rgb = heatmap_overlay(gray, images.outputs["cam"][key])
    verdict = "OLT suspected" if call.present else "no OLT"
    text = f"{banner} | {call.rule}: {verdict} p={call.probability:.2f}"
    return KeyImage(
        source=images.instances[key],
        rgb=caption(rgb, text),
        description=f"msk-maps olt_mri key slice {call.rule}"[:64],
        name="key_" + call.rule.replace(" ", "_"),
    )


class OltReportOperator(ReportStageOperator):
    """Calls each series and the study (see lesion_call), builds findings, key images and the CSV row.

    Named input:
        predictions: StudyWork whose series carry "probabilities" and "cam" outputs.
    Named output:
        report: the same StudyWork with `result` set.
    """

    INPUT = "predictions"

    def process(self, work: StudyWork) -> None:
        if not work.series_images:
            self.no_matching_series(work, ("call", "probability"), "T1/T2 coronal or sagittal series")
            return
        calls, findings, keys, models = [], [], [], {}
        for images in work.series_images:
            model = self._store.get(images.selected.model)
            models[model.name] = model
            call = call_series(images.selected.rule, images.outputs["probabilities"][:, 1], model.meta["threshold"])
            calls.append(call)
            findings.append(_finding(images, call))
            banner = DEMO_BANNER if model.meta.get("demo") else "Research use"
            keys.append(_key_image(images, call, banner))
        study = call_study(calls)
        verdict = "OLT suspected" if study.present else "No OLT"
        summary = (
            f"{verdict} (max p={study.probability:.2f}; "
            + ", ".join(f"{c.rule} p={c.probability:.2f}" for c in calls)
            + ")"
        )
        algorithm = Algorithm(
            name="msk-maps olt_mri",
            version=self._version,
            parameters={name: f"{m.meta['version']} sha256:{m.sha256[:12]}" for name, m in sorted(models.items())},
        )
        report = StudyReport(study_uid=work.uid, algorithm=algorithm, findings=findings, summary=summary)
        work.result = StudyResult(
            status="ok",
            report=report,
            key_images=keys,
            details={
                "study_call": {
                    "present": study.present,
                    "probability": round(study.probability, 6),
                    "by_weighting": {k: round(v, 6) for k, v in study.by_weighting.items()},
                },
                "series": [
                    {
                        "rule": c.rule,
                        "series_instance_uid": i.selected.series.uid,
                        "series_description": i.selected.series.description,
                        "present": c.present,
                        "probability": round(c.probability, 6),
                        "key_sop_instance_uid": i.instances[c.key_index].sop_instance_uid,
                        "slice_probabilities": list(c.slice_probabilities),
                        "decoders": sorted(set(i.decoders)),
                        "passed_over": i.selected.passed_over,
                    }
                    for c, i in zip(calls, work.series_images, strict=True)
                ],
            },
            csv_row={
                "call": "positive" if study.present else "negative",
                "probability": round(study.probability, 6),
                **{f"p_{c.rule.replace(' ', '_')}": round(c.probability, 6) for c in calls},
            },
        )
