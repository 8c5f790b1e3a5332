"""One study's DICOM results and pictures on disk: the SR, a Secondary Capture + PNG per key image, a SEG each.

UIDs are derived from the study UID, the app and its version (`dicom_out.uids`), so a re-run or a resumed run
writes the same objects. Every file is written atomically; the caller writes result.json last.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydicom.dataset import Dataset

from dicom_out import codes
from dicom_out.equipment import add_contributing_equipment
from dicom_out.findings import Concept, KeyImage, SegmentationResult, StudyReport
from dicom_out.sc_builder import build_secondary_capture
from dicom_out.seg_builder import build_segmentation
from dicom_out.sr_builder import build_measurement_report
from dicom_out.uids import derived_uid
from pictures.overlay import png_bytes
from run.atomic_io import atomic_write_bytes, atomic_write_dicom

__all__ = ["SR_SERIES_NUMBER", "SC_SERIES_NUMBER", "SEG_SERIES_NUMBER", "SR_FILE", "write_study_objects"]

SR_SERIES_NUMBER = 9001
SC_SERIES_NUMBER = 9002
SEG_SERIES_NUMBER = 9003
SR_FILE = "report_sr.dcm"


def write_study_objects(
    out_dir: Path,
    app: str,
    report: StudyReport,
    key_images: Sequence[KeyImage],
    segmentations: Sequence[SegmentationResult],
    study_source: Dataset,
    procedure: Concept = codes.IMAGING_PROCEDURE,
) -> list[str]:
    """Write the study's SR, SCs + PNGs and SEGs into `out_dir`; returns the file names written.

    `study_source` is any image of the study: the SR's patient/study modules come from the first finding's
    first source image, else from it.
    """
    uid = report.study_uid
    version = f"{app}-{report.algorithm.version}"
    first = report.findings[0].source_images if report.findings else []
    sr = build_measurement_report(
        report,
        first[0] if first else study_source,
        series_instance_uid=derived_uid(uid, version, "sr-series"),
        sop_instance_uid=derived_uid(uid, version, "sr"),
        series_number=SR_SERIES_NUMBER,
        procedure=procedure,
    )
    atomic_write_dicom(out_dir / SR_FILE, sr)
    files = [SR_FILE]
    sc_series = derived_uid(uid, version, "sc-series")
    # SeriesDescription belongs to the series: one value for all its key images (viewers label the whole series
    # with it); each picture's own caption goes in its instance-level ImageComments.
    captions = {key.description for key in key_images}
    sc_description = captions.pop() if len(captions) == 1 else f"{report.algorithm.name} key images"
    for number, key in enumerate(key_images, start=1):
        sc = build_secondary_capture(
            key.source,
            key.rgb,
            series_instance_uid=sc_series,
            sop_instance_uid=derived_uid(uid, version, "sc", key.name),
            series_number=SC_SERIES_NUMBER,
            instance_number=number,
            series_description=sc_description,
        )
        sc.ImageComments = key.description[:10240]
        add_contributing_equipment(sc, report.algorithm)  # the SC builder does not know the algorithm
        atomic_write_dicom(out_dir / f"{key.name}_sc.dcm", sc)
        atomic_write_bytes(out_dir / f"{key.name}.png", png_bytes(key.rgb))
        files += [f"{key.name}_sc.dcm", f"{key.name}.png"]
    for number, segmentation in enumerate(segmentations, start=1):
        seg = build_segmentation(
            segmentation,
            report.algorithm,
            series_instance_uid=derived_uid(uid, version, "seg-series", str(number)),
            sop_instance_uid=derived_uid(uid, version, "seg", str(number)),
            series_number=SEG_SERIES_NUMBER + number - 1,
        )
        name = f"segmentation_{number}_seg.dcm" if len(segmentations) > 1 else "segmentation_seg.dcm"
        atomic_write_dicom(out_dir / name, seg)
        files.append(name)
    return files
