"""onfh_mri operator: necrosis in each segmented femoral head, the area ratio, the grade, and the outputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from apps.onfh_mri.grading import Grade, grade_from_counts, necrosis_percent
from apps.onfh_mri.hip_regions import series_geometry, series_volume
from apps.onfh_mri.necrosis import CORTEX_MM, extract_necrosis
from operators import dicom_codes
from operators.findings import Algorithm, Concept, Finding, Measurement, Segment, SegmentationResult, StudyReport
from operators.overlay import caption, draw_contours, window_to_uint8
from operators.report_stage import ReportStageOperator
from operators.study_work import KeyImage, SeriesImages, StudyResult, StudyWork

__all__ = ["OnfhReportOperator", "HipResult", "measure_hip", "GRADE_CONCEPTS", "RECOMMENDATIONS"]

logger = logging.getLogger(__name__)

DEMO_BANNER = "DEMO MODEL - NOT FOR CLINICAL USE"
SIDE_NAMES = {"R": "Right", "L": "Left"}
MIN_HEAD_PIXELS = 20  # a slice grazing the head's pole has too few pixels for a meaningful threshold

GRADE_CONCEPTS: dict[Grade, Concept] = {
    Grade.WITHOUT: dicom_codes.private("ONFH-0", "Without ONFH (necrotic ratio < 0.1%)"),
    Grade.MILD: dicom_codes.private("ONFH-MILD", "Steinberg mild (necrotic ratio < 15%)"),
    Grade.MODERATE: dicom_codes.private("ONFH-MOD", "Steinberg moderate (necrotic ratio 15-30%)"),
    Grade.SEVERE: dicom_codes.private("ONFH-SEV", "Steinberg severe (necrotic ratio > 30%)"),
}
# Decision-support wording shown with each grade; a site replaces it with its own pathway.
RECOMMENDATIONS: dict[Grade, str] = {
    Grade.WITHOUT: "No femoral head necrosis detected; routine care.",
    Grade.MILD: "Mild necrotic involvement (<15%): consider joint-preserving management and MRI follow-up.",
    Grade.MODERATE: "Moderate necrotic involvement (15-30%): orthopaedic referral; joint-preserving surgery may apply.",
    Grade.SEVERE: "Severe necrotic involvement (>30%): orthopaedic referral; high risk of collapse.",
}
HEAD_AREA = dicom_codes.private("FHAREA", "Femoral head area")
NECROTIC_AREA = dicom_codes.private("NECAREA", "Necrotic area")
NECROTIC_RATIO = dicom_codes.private("NECRATIO", "Necrotic area ratio, key slice")
NECROTIC_VOLUME_RATIO = dicom_codes.private("NECVRATIO", "Necrotic volume ratio, all slices")


@dataclass
class HipResult:
    """One hip's measurements: key slice (largest head area) counts, volume counts, grade."""

    side: str
    key_index: int
    head_pixels: int
    necrosis_pixels: int
    head_pixels_volume: int
    necrosis_pixels_volume: int
    necrosis: np.ndarray  # (slices, rows, cols) bool
    grade: Grade
    threshold_reason: str

    @property
    def ratio_percent(self) -> float:
        return float(necrosis_percent(self.necrosis_pixels, self.head_pixels))

    @property
    def volume_ratio_percent(self) -> float:
        return float(necrosis_percent(self.necrosis_pixels_volume, self.head_pixels_volume))


def measure_hip(side: str, volume: np.ndarray, head: np.ndarray, pixel_mm: float) -> HipResult | None:
    """Necrosis per slice (adaptive threshold inside the head), key slice = largest head area, and the grade."""
    areas = head.reshape(head.shape[0], -1).sum(axis=1)
    if areas.max() < MIN_HEAD_PIXELS:
        return None
    necrosis = np.zeros_like(head)
    rim_px = int(np.ceil(CORTEX_MM / pixel_mm))
    reasons = {}
    for k in np.nonzero(areas >= MIN_HEAD_PIXELS)[0]:
        found = extract_necrosis(volume[k], head[k], rim_px=rim_px)
        necrosis[k] = found.mask
        reasons[int(k)] = found.reason
    key = int(np.argmax(areas))
    head_px, necrosis_px = int(areas[key]), int(necrosis[key].sum())
    return HipResult(
        side=side,
        key_index=key,
        head_pixels=head_px,
        necrosis_pixels=necrosis_px,
        head_pixels_volume=int(areas.sum()),
        necrosis_pixels_volume=int(necrosis.sum()),
        necrosis=necrosis,
        grade=grade_from_counts(necrosis_px, head_px),
        threshold_reason=reasons[key],
    )


class OnfhReportOperator(ReportStageOperator):
    """Per hip: necrotic/femoral-head ratio on the key slice and over the volume, Steinberg grade, SEG/SR/SC.

    Named input:
        head_masks: StudyWork whose series carry pixels and "head_R"/"head_L" mask volumes.
    Named output:
        report: the same StudyWork with `result` set.
    """

    INPUT = "head_masks"

    def process(self, work: StudyWork) -> None:
        if not work.series_images:
            self.no_matching_series(work, ("right", "left"), "axial T1 hip series")
            return
        images = work.series_images[0]  # the selection rules pick one axial T1 series
        model = self._store.get(images.selected.model)
        volume = series_volume(images)
        spacing, _ = series_geometry(images)
        pixel_mm2 = spacing[0] * spacing[1]
        hips = [
            hip
            for side in ("R", "L")
            if f"head_{side}" in images.outputs
            and (hip := measure_hip(side, volume, images.outputs[f"head_{side}"], min(spacing))) is not None
        ]
        banner = DEMO_BANNER if model.meta.get("demo") else "Research use"
        findings = [self._finding(images, hip, pixel_mm2) for hip in hips]
        if not findings:
            logger.warning("Study %s: no femoral head found in %s", work.uid, images.selected.series.uid)
        algorithm = Algorithm(
            name="msk-maps onfh_mri",
            version=self._version,
            parameters={model.name: f"{model.meta['version']} sha256:{model.sha256[:12]}"},
        )
        summary = (
            "; ".join(f"{SIDE_NAMES[h.side]} hip: {h.grade.value} ({h.ratio_percent:.1f}%)" for h in hips)
            or "No femoral head found"
        )
        work.result = StudyResult(
            status="ok",
            report=StudyReport(study_uid=work.uid, algorithm=algorithm, findings=findings, summary=summary),
            key_images=[self._key_image(images, volume, hip, banner) for hip in hips],
            segmentations=[self._segmentation(images, hips)] if hips else [],
            details={
                "series_instance_uid": images.selected.series.uid,
                "ratio_source": "key slice = the axial T1 slice with the largest segmented femoral-head area; "
                "volume ratio = necrotic / femoral-head pixels summed over all slices",
                "hips": {
                    h.side: {
                        "key_slice_sop_instance_uid": images.instances[h.key_index].sop_instance_uid,
                        "key_slice_index": h.key_index,
                        "head_pixels_key": h.head_pixels,
                        "necrosis_pixels_key": h.necrosis_pixels,
                        "head_area_mm2": round(h.head_pixels * pixel_mm2, 2),
                        "necrotic_area_mm2": round(h.necrosis_pixels * pixel_mm2, 2),
                        "ratio_key_percent": round(h.ratio_percent, 4),
                        "ratio_volume_percent": round(h.volume_ratio_percent, 4),
                        "grade": h.grade.value,
                        "recommendation": RECOMMENDATIONS[h.grade],
                        "threshold": h.threshold_reason,
                    }
                    for h in hips
                },
            },
            csv_row={
                **{SIDE_NAMES[s].lower(): "" for s in ("R", "L")},
                **{SIDE_NAMES[h.side].lower(): f"{h.grade.value} {h.ratio_percent:.2f}%" for h in hips},
            },
        )

    @staticmethod
    def _finding(images: SeriesImages, hip: HipResult, pixel_mm2: float) -> Finding:
        key_header = images.instances[hip.key_index].header
        return Finding(
            tracking_id=f"{SIDE_NAMES[hip.side]} femoral head",
            finding_type=dicom_codes.NECROSIS,
            present=hip.grade is not Grade.WITHOUT,
            finding_site=dicom_codes.FEMORAL_HEAD,
            laterality=dicom_codes.laterality_concept(hip.side),
            classification=GRADE_CONCEPTS[hip.grade],
            measurements=[
                Measurement(HEAD_AREA, hip.head_pixels * pixel_mm2, dicom_codes.SQUARE_MILLIMETER),
                Measurement(NECROTIC_AREA, hip.necrosis_pixels * pixel_mm2, dicom_codes.SQUARE_MILLIMETER),
                Measurement(NECROTIC_RATIO, hip.ratio_percent, dicom_codes.PERCENT),
                Measurement(NECROTIC_VOLUME_RATIO, hip.volume_ratio_percent, dicom_codes.PERCENT),
            ],
            source_images=[key_header],
            comment=RECOMMENDATIONS[hip.grade],
        )

    @staticmethod
    def _key_image(images: SeriesImages, volume: np.ndarray, hip: HipResult, banner: str) -> KeyImage:
        k = hip.key_index
        head = images.outputs[f"head_{hip.side}"][k]
        rgb = np.repeat(window_to_uint8(volume[k])[..., None], 3, axis=2)
        rgb = draw_contours(draw_contours(rgb, head, (0, 255, 0)), hip.necrosis[k], (255, 0, 0))
        text = (
            f"{banner} | {SIDE_NAMES[hip.side]} hip: necrosis {hip.ratio_percent:.1f}% of femoral head "
            f"({hip.grade.value}) | {RECOMMENDATIONS[hip.grade]}"
        )
        return KeyImage(
            source=images.instances[k],
            rgb=caption(np.ascontiguousarray(rgb), text),
            description=f"msk-maps onfh_mri {SIDE_NAMES[hip.side]} hip key slice",
            name=f"key_{SIDE_NAMES[hip.side].lower()}_hip",
        )

    @staticmethod
    def _segmentation(images: SeriesImages, hips: list[HipResult]) -> SegmentationResult:
        masks, segments = [], []
        for hip in hips:
            laterality = dicom_codes.laterality_concept(hip.side)
            name = SIDE_NAMES[hip.side]
            masks += [images.outputs[f"head_{hip.side}"], hip.necrosis]
            segments += [
                Segment(
                    f"{name} femoral head",
                    dicom_codes.ANATOMICAL_STRUCTURE,
                    dicom_codes.FEMORAL_HEAD,
                    dicom_codes.HIP_JOINT,
                    laterality,
                ),
                Segment(
                    f"{name} femoral head necrosis",
                    dicom_codes.MORPHOLOGICALLY_ABNORMAL_STRUCTURE,
                    dicom_codes.NECROSIS,
                    dicom_codes.FEMORAL_HEAD,
                    laterality,
                ),
            ]
        return SegmentationResult(
            source_images=[i.header for i in images.instances],
            masks=np.stack(masks, axis=-1),
            segments=segments,
            series_description="msk-maps onfh_mri femoral head + necrosis",
        )
