"""ankle_xray operator: turns classified fragment detections into findings, key images and the CSV row."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
from holoscan.core import Fragment

from apps.ankle_xray.fragment_call import CLASS_CONCEPTS, FragmentCall, call_fragment, study_summary
from apps.ankle_xray.result_details import FragmentDetails, FragmentStudyDetails, RadiographDetails
from dicom_out import codes
from dicom_out.findings import Finding, KeyImage, StudyReport
from dicom_out.sr_content import box_region
from inference.box_detection import Detection
from inference.model_meta import ClassifierMeta, DetectorMeta
from inference.preprocess import resize_bilinear
from inference.square_crop import crop_window
from operators.report_stage import ReportStageOperator, banner
from pictures.overlay import caption, draw_boxes, heatmap_overlay, window_to_uint8
from pipeline.study_work import SeriesImages, Status, StudyResult, StudyWork

__all__ = ["FragmentReportOperator", "key_image_name"]

logger = logging.getLogger(__name__)


def key_image_name(number: int, sop_instance_uid: str, frame_number: int | None = None) -> str:
    """File stem of the study's `number`-th key image: its number (unique in the study, so no two radiographs
    share a name), a short hash of its SOPInstanceUID (ties the file to the radiograph; only [0-9a-f]) and, for
    a frame of a multi-frame image, the frame number."""
    digest = hashlib.sha256(sop_instance_uid.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"key_{number:03d}_{digest}" + (f"_frame{int(frame_number)}" if frame_number else "")


def _laterality(header) -> str:
    return str(header.get("ImageLaterality") or header.get("Laterality") or "")


def saliency_map(shape: tuple[int, int], detections: list[Detection], margin: float) -> np.ndarray:
    """A heat map over the whole radiograph: each fragment's CAM pasted over the crop it was computed on."""
    heat = np.zeros(shape, np.float32)
    for detection in detections:
        if detection.classification is None:
            continue
        cx, cy, side = crop_window(detection.box, margin)
        x0, y0, n = int(round(cx - side / 2)), int(round(cy - side / 2)), max(int(round(side)), 1)
        cam = np.maximum(resize_bilinear(detection.classification.saliency.astype(np.float32), (n, n)), 0.0)
        cam = cam / cam.max() if cam.max() > 0 else cam
        r0, c0 = max(y0, 0), max(x0, 0)
        r1, c1 = min(y0 + n, shape[0]), min(x0 + n, shape[1])
        if r1 > r0 and c1 > c0:
            patch = cam[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0]
            heat[r0:r1, c0:c1] = np.maximum(heat[r0:r1, c0:c1], patch)
    return heat


class FragmentReportOperator(ReportStageOperator):
    """One finding per detected fragment (box, detection score, LMAF/SFO and its probability), or "none found".

    Named input:
        classified_detections: StudyWork whose series carry detections with their crop classification.
    Named output:
        report: the same StudyWork with `result` set.
    """

    INPUT = "classified_detections"

    def __init__(self, fragment: Fragment, *args, classifier: str, **kwargs) -> None:
        self._classifier = classifier
        super().__init__(fragment, *args, **kwargs)

    def process(self, work: StudyWork) -> None:
        if not work.series_images:
            self.no_matching_series(work, FragmentStudyDetails.CSV_COLUMNS, "CR/DX ankle radiograph")
            return
        classifier = self._store.get(self._classifier, ClassifierMeta)
        labels = list(classifier.meta.labels)
        models = {classifier.name: classifier}
        findings: list[Finding] = []
        calls: list[FragmentCall] = []
        fragments: list[FragmentDetails] = []
        keys: list[KeyImage] = []
        for images in work.series_images:
            detector = self._store.get(images.selected.model, DetectorMeta)
            models[detector.name] = detector
            banner_text = banner([detector, classifier])
            for index, instance in enumerate(images.instances):
                on_image = sorted((d for d in images.detections if d.image_index == index), key=lambda d: -d.score)
                image_calls = []
                for detection in on_image:
                    probabilities = detection.classification.probabilities
                    call = call_fragment(probabilities, labels)
                    tracking_id = f"fragment {len(findings) + 1}"
                    findings.append(self._finding(tracking_id, instance.header, detection, call))
                    calls.append(call)
                    image_calls.append(call)
                    fragments.append(
                        FragmentDetails(
                            tracking_id=tracking_id,
                            sop_instance_uid=instance.sop_instance_uid,
                            box=[round(v, 2) for v in detection.box],
                            detection_score=round(detection.score, 6),
                            label=call.label,
                            class_probability=round(call.probability, 6),
                            probabilities={
                                lab: round(float(p), 6) for lab, p in zip(labels, probabilities, strict=True)
                            },
                        )
                    )
                keys.append(
                    self._key_image(images, index, on_image, image_calls, banner_text, classifier.meta, len(keys) + 1)
                )
        analysed = [i.header for s in work.series_images for i in s.instances]
        if not findings:
            findings.append(
                Finding(
                    tracking_id="no fragment",
                    finding_type=codes.BONE_FRAGMENT,
                    present=False,
                    finding_site=codes.FIBULA,
                    laterality=codes.laterality_concept(_laterality(analysed[0])),
                    source_images=analysed,
                )
            )
        summary = study_summary(calls, len(analysed))
        details = FragmentStudyDetails(
            radiographs=[
                RadiographDetails(
                    sop_instance_uid=i.sop_instance_uid,
                    series_instance_uid=s.selected.series.uid,
                    decoder=s.decoders[k],
                )
                for s in work.series_images
                for k, i in enumerate(s.instances)
            ],
            fragments=fragments,
        )
        report = StudyReport(
            study_uid=work.uid, algorithm=self.algorithm(models.values()), findings=findings, summary=summary
        )
        work.result = StudyResult(status=Status.OK, report=report, key_images=keys, details=details)

    @staticmethod
    def _finding(tracking_id: str, header, detection: Detection, call: FragmentCall) -> Finding:
        return Finding(
            tracking_id=tracking_id,
            finding_type=codes.BONE_FRAGMENT,
            present=True,
            probability=min(max(detection.score, 0.0), 1.0),
            finding_site=codes.FIBULA,
            laterality=codes.laterality_concept(_laterality(header)),
            classification=CLASS_CONCEPTS[call.label],
            classification_probability=call.probability,
            region=box_region(str(header.SOPInstanceUID), detection.box),
            source_images=[header],
        )

    @staticmethod
    def _key_image(
        images: SeriesImages,
        index: int,
        detections: list[Detection],
        calls: list[FragmentCall],
        banner_text: str,
        classifier_meta: ClassifierMeta,
        number: int,
    ) -> KeyImage:
        pixels = images.pixels[index]
        gray = window_to_uint8(pixels)
        heat = saliency_map(pixels.shape, detections, classifier_meta.crop.margin)
        rgb = heatmap_overlay(gray, heat)
        labels = [f"{c.label} {c.probability:.2f} (det {d.score:.2f})" for c, d in zip(calls, detections, strict=True)]
        rgb = draw_boxes(rgb, np.array([d.box for d in detections]), labels)
        instance = images.instances[index]
        found = ", ".join(labels) if labels else "no fragment found"
        return KeyImage(
            source=instance.header,
            rgb=caption(rgb, f"{banner_text} | {found}"),
            description="msk-maps ankle_xray fragments",
            name=key_image_name(number, instance.sop_instance_uid, instance.frame_number),
        )
