"""onfh_mri operator: per hip, necrosis in the segmented femoral head, the ratios and grade, and the outputs."""

from __future__ import annotations

import logging

import numpy as np

from apps.onfh_mri.concepts import GRADE_CONCEPTS, HEAD_AREA, NECROTIC_AREA, NECROTIC_RATIO, NECROTIC_VOLUME_RATIO
from apps.onfh_mri.grading import RECOMMENDATIONS, Grade
from apps.onfh_mri.hip_measurement import HipResult, measure_hip
from apps.onfh_mri.hip_regions import HipPayload, series_geometry, series_volume
from apps.onfh_mri.result_details import HipDetails, OnfhDetails
from dicom_out import codes
from dicom_out.findings import Finding, KeyImage, Measurement, Segment, SegmentationResult, StudyReport
from inference.model_meta import SegmenterMeta
from operators.report_stage import ReportStageOperator, banner
from pictures.overlay import caption, draw_contours, window_to_uint8
from pipeline.study_work import SeriesImages, Status, StudyResult, StudyWork

__all__ = ["OnfhReportOperator"]

logger = logging.getLogger(__name__)


def _finding(images: SeriesImages, hip: HipResult, pixel_mm2: float) -> Finding:
    return Finding(
        tracking_id=f"{hip.name} femoral head",
        finding_type=codes.NECROSIS,
        present=hip.grade is not Grade.WITHOUT,
        finding_site=codes.FEMORAL_HEAD,
        laterality=codes.laterality_concept(hip.side),
        classification=GRADE_CONCEPTS[hip.grade],
        measurements=[
            Measurement(HEAD_AREA, hip.head_pixels * pixel_mm2, codes.SQUARE_MILLIMETER),
            Measurement(NECROTIC_AREA, hip.necrosis_pixels * pixel_mm2, codes.SQUARE_MILLIMETER),
            Measurement(NECROTIC_RATIO, hip.ratio_percent, codes.PERCENT),
            Measurement(NECROTIC_VOLUME_RATIO, hip.volume_ratio_percent, codes.PERCENT),
        ],
        source_images=[images.instances[hip.key_index].header],
        comment=RECOMMENDATIONS[hip.grade],
    )


def _key_image(
    images: SeriesImages, volume: np.ndarray, head: np.ndarray, hip: HipResult, banner_text: str
) -> KeyImage:
    k = hip.key_index
    rgb = np.repeat(window_to_uint8(volume[k])[..., None], 3, axis=2)
    rgb = draw_contours(draw_contours(rgb, head[k], (0, 255, 0)), hip.necrosis[k], (255, 0, 0))
    text = (
        f"{banner_text} | {hip.name} hip: necrosis {hip.ratio_percent:.1f}% of femoral head "
        f"({hip.grade.value}) | {RECOMMENDATIONS[hip.grade]}"
    )
    return KeyImage(
        source=images.instances[k].header,
        rgb=caption(np.ascontiguousarray(rgb), text),
        description=f"msk-maps onfh_mri {hip.name} hip key slice",
        name=f"key_{hip.name.lower()}_hip",
    )


def _segmentation(images: SeriesImages, heads: dict[str, np.ndarray], hips: list[HipResult]) -> SegmentationResult:
    masks, segments = [], []
    for hip in hips:
        laterality = codes.laterality_concept(hip.side)
        masks += [heads[hip.side], hip.necrosis]
        segments += [
            Segment(
                f"{hip.name} femoral head", codes.ANATOMICAL_STRUCTURE, codes.FEMORAL_HEAD, codes.HIP_JOINT, laterality
            ),
            Segment(
                f"{hip.name} femoral head necrosis",
                codes.MORPHOLOGICALLY_ABNORMAL_STRUCTURE,
                codes.NECROSIS,
                codes.FEMORAL_HEAD,
                laterality,
            ),
        ]
    return SegmentationResult(
        source_images=[i.header for i in images.instances],
        masks=np.stack(masks, axis=-1),
        segments=segments,
        series_description="msk-maps onfh_mri femoral head + necrosis",
    )


def _hip_details(images: SeriesImages, hip: HipResult, pixel_mm2: float) -> HipDetails:
    return HipDetails(
        key_slice_sop_instance_uid=images.instances[hip.key_index].sop_instance_uid,
        key_slice_index=hip.key_index,
        head_pixels_key=hip.head_pixels,
        necrosis_pixels_key=hip.necrosis_pixels,
        head_area_mm2=round(hip.head_pixels * pixel_mm2, 2),
        necrotic_area_mm2=round(hip.necrosis_pixels * pixel_mm2, 2),
        ratio_key_percent=round(hip.ratio_percent, 4),
        ratio_volume_percent=round(hip.volume_ratio_percent, 4),
        grade=hip.grade.value,
        recommendation=RECOMMENDATIONS[hip.grade],
        threshold=hip.threshold_reason,
    )


class OnfhReportOperator(ReportStageOperator):
    """Per hip: necrotic/femoral-head ratio on the key slice and over the volume, Steinberg grade, SEG/SR/SC.

    Named input:
        head_masks: StudyWork whose series carry pixels and a HipPayload with head masks by side.
    Named output:
        report: the same StudyWork with `result` set.
    """

    INPUT = "head_masks"

    def process(self, work: StudyWork) -> None:
        if not work.series_images:
            self.no_matching_series(work, OnfhDetails.CSV_COLUMNS, "axial T1 hip series")
            return
        images = work.series_images[0]  # the selection rules pick one axial T1 series
        model = self._store.get(images.selected.model, SegmenterMeta)
        heads = images.payload(HipPayload).head_masks if images.app_data is not None else {}
        volume = series_volume(images)
        spacing, _ = series_geometry(images)
        pixel_mm2 = spacing[0] * spacing[1]
        hips = [
            hip
            for side in ("R", "L")
            if side in heads and (hip := measure_hip(side, volume, heads[side], min(spacing))) is not None
        ]
        if not hips:
            logger.warning("Study %s: no femoral head found in %s", work.uid, images.selected.series.uid)
        summary = "; ".join(f"{h.name} hip: {h.grade.value} ({h.ratio_percent:.1f}%)" for h in hips)
        report = StudyReport(
            study_uid=work.uid,
            algorithm=self.algorithm([model]),
            findings=[_finding(images, hip, pixel_mm2) for hip in hips],
            summary=summary or "No femoral head found",
        )
        work.result = StudyResult(
            status=Status.OK,
            report=report,
            key_images=[_key_image(images, volume, heads[hip.side], hip, banner([model])) for hip in hips],
            segmentations=[_segmentation(images, heads, hips)] if hips else [],
            details=OnfhDetails(
                series_instance_uid=images.selected.series.uid,
                hips={h.side: _hip_details(images, h, pixel_mm2) for h in hips},
            ),
        )
