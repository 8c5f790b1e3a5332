"""olt_mri operator: turns per-slice model outputs into the study's OLT findings and key images."""

from __future__ import annotations

import logging

from apps.olt_mri.lesion_call import SeriesCall, call_series, call_study
from apps.olt_mri.result_details import OltDetails, SeriesDetails, StudyCallDetails
from dicom_out import codes
from dicom_out.findings import Finding, KeyImage, StudyReport
from inference.model_meta import ClassifierMeta
from operators.report_stage import ReportStageOperator, banner
from pictures.overlay import caption, enlarge, heatmap_overlay, window_to_uint8
from pipeline.study_work import SeriesImages, Status, StudyResult, StudyWork

__all__ = ["OltReportOperator"]

logger = logging.getLogger(__name__)


def _finding(images: SeriesImages, call: SeriesCall) -> Finding:
    header = images.instances[call.key_index].header
    laterality = str(header.get("Laterality") or header.get("ImageLaterality") or "")
    return Finding(
        tracking_id=call.rule,
        finding_type=codes.LESION,
        present=call.present,
        probability=call.probability,
        finding_site=codes.TALUS,
        laterality=codes.laterality_concept(laterality),
        source_images=[header],
    )


def _key_image(images: SeriesImages, call: SeriesCall, banner_text: str) -> KeyImage:
    key = call.key_index
    gray = enlarge(window_to_uint8(images.pixels[key]))
    rgb = heatmap_overlay(gray, images.outputs["cam"][key])
    verdict = "OLT suspected" if call.present else "no OLT"
    text = f"{banner_text} | {call.rule}: {verdict} p={call.probability:.2f}"
    return KeyImage(
        source=images.instances[key].header,
        rgb=caption(rgb, text),
        description=f"msk-maps olt_mri key slice {call.rule}"[:64],
        name="key_" + call.rule.replace(" ", "_"),
    )


def _series_details(images: SeriesImages, call: SeriesCall) -> SeriesDetails:
    return SeriesDetails(
        rule=call.rule,
        series_instance_uid=images.selected.series.uid,
        series_description=images.selected.series.description,
        present=call.present,
        probability=round(call.probability, 6),
        key_sop_instance_uid=images.instances[call.key_index].sop_instance_uid,
        slice_probabilities=list(call.slice_probabilities),
        decoders=sorted(set(images.decoders)),
        passed_over=images.selected.passed_over,
    )


class OltReportOperator(ReportStageOperator):
    """Calls each series and the study (see lesion_call), builds findings, key images and the details.

    Named input:
        predictions: StudyWork whose series carry "probabilities" and "cam" outputs.
    Named output:
        report: the same StudyWork with `result` set.
    """

    INPUT = "predictions"

    def process(self, work: StudyWork) -> None:
        if not work.series_images:
            self.no_matching_series(work, OltDetails.CSV_COLUMNS, "T1/T2 coronal or sagittal series")
            return
        calls, findings, keys, models = [], [], [], {}
        for images in work.series_images:
            model = self._store.get(images.selected.model, ClassifierMeta)
            models[model.name] = model
            call = call_series(images.selected.rule, images.outputs["probabilities"][:, 1], model.meta.threshold)
            calls.append(call)
            findings.append(_finding(images, call))
            keys.append(_key_image(images, call, banner([model])))
        study = call_study(calls)
        verdict = "OLT suspected" if study.present else "No OLT"
        summary = (
            f"{verdict} ({study.positive_series} of {len(calls)} series positive, {study.series_needed} needed; "
            + ", ".join(f"{c.rule} p={c.probability:.2f}" for c in calls)
            + ")"
        )
        report = StudyReport(
            study_uid=work.uid, algorithm=self.algorithm(models.values()), findings=findings, summary=summary
        )
        details = OltDetails(
            study_call=StudyCallDetails(
                present=study.present,
                probability=round(study.probability, 6),
                positive_series=study.positive_series,
                series_needed=study.series_needed,
                by_weighting={k: round(v, 6) for k, v in study.by_weighting.items()},
            ),
            series=[_series_details(i, c) for c, i in zip(calls, work.series_images, strict=True)],
        )
        work.result = StudyResult(status=Status.OK, report=report, key_images=keys, details=details)
