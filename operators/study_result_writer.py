"""Sink operator: writes one study's SR, secondary captures + PNGs and result.json, then tells the ledger."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from monai.deploy.core import Fragment

from operators import dicom_codes
from operators.atomic_io import atomic_write_bytes, atomic_write_dicom, atomic_write_json
from operators.findings import Concept
from operators.overlay import png_bytes
from operators.result_serialization import report_to_json
from operators.run_ledger import RunLedger
from operators.run_plan import RESULT_FILE, study_output_dir
from operators.sc_builder import build_secondary_capture
from operators.seg_builder import build_segmentation
from operators.sr_builder import build_measurement_report
from operators.study import InputFailure
from operators.study_stage import StudyStageOperator
from operators.study_work import StudyResult, StudyWork
from operators.uids import derived_uid

__all__ = ["StudyResultWriterOperator"]

logger = logging.getLogger(__name__)

SR_SERIES_NUMBER = 9001
SC_SERIES_NUMBER = 9002
SEG_SERIES_NUMBER = 9003


class StudyResultWriterOperator(StudyStageOperator):
    """Writes OUT/<StudyInstanceUID>/ (SR, SC, PNG, result.json last) for each study; records failures.

    Named input:
        report: StudyWork whose `result` the app's logic filled.
    """

    INPUT = "report"
    OUTPUT = None
    STAGE = "write"

    def __init__(
        self,
        fragment: Fragment,
        *args,
        output_root: Path,
        ledger: RunLedger,
        procedure: Concept = dicom_codes.IMAGING_PROCEDURE,
        **kwargs,
    ) -> None:
        self._root = Path(output_root)
        self._ledger = ledger
        self._procedure = procedure
        super().__init__(fragment, *args, **kwargs)

    def process(self, work: StudyWork) -> None:
        if work.result is None:
            raise RuntimeError("no result was produced for the study")
        out_dir = study_output_dir(self._root, work.uid)
        files = self._write_dicom(work, work.result, out_dir) if work.result.report else []
        payload: dict[str, Any] = {
            "study_instance_uid": work.uid,
            "app": self._ledger.app,
            "app_version": self._ledger.app_version,
            "status": work.result.status,
            "summary": work.result.report.summary if work.result.report else work.result.status,
            "report": report_to_json(work.result.report) if work.result.report else None,
            "details": work.result.details,
            "csv_row": work.result.csv_row,
            "files": sorted(files),
            "input_failures": [{"item": f.item, "reason": f.reason} for f in work.failures],
        }
        atomic_write_json(out_dir / RESULT_FILE, payload)

    def _write_dicom(self, work: StudyWork, result: StudyResult, out_dir: Path) -> list[str]:
        report = result.report
        version = f"{self._ledger.app}-{report.algorithm.version}"
        source = (report.findings[0].source_images or [work.study.first])[0] if report.findings else work.study.first
        sr = build_measurement_report(
            report,
            source,
            series_instance_uid=derived_uid(work.uid, version, "sr-series"),
            sop_instance_uid=derived_uid(work.uid, version, "sr"),
            series_number=SR_SERIES_NUMBER,
            procedure=self._procedure,
        )
        atomic_write_dicom(out_dir / "report_sr.dcm", sr)
        files = ["report_sr.dcm"]
        sc_series = derived_uid(work.uid, version, "sc-series")
        for number, key in enumerate(result.key_images, start=1):
            sc = build_secondary_capture(
                key.source.header,
                key.rgb,
                series_instance_uid=sc_series,
                sop_instance_uid=derived_uid(work.uid, version, "sc", key.name),
                series_number=SC_SERIES_NUMBER,
                instance_number=number,
                series_description=key.description,
            )
            atomic_write_dicom(out_dir / f"{key.name}_sc.dcm", sc)
            atomic_write_bytes(out_dir / f"{key.name}.png", png_bytes(key.rgb))
            files += [f"{key.name}_sc.dcm", f"{key.name}.png"]
        for number, segmentation in enumerate(result.segmentations, start=1):
            seg = build_segmentation(
                segmentation,
                report.algorithm,
                series_instance_uid=derived_uid(work.uid, version, "seg-series", str(number)),
                sop_instance_uid=derived_uid(work.uid, version, "seg", str(number)),
                series_number=SEG_SERIES_NUMBER + number - 1,
            )
            name = f"segmentation_{number}_seg.dcm" if len(result.segmentations) > 1 else "segmentation_seg.dcm"
            atomic_write_dicom(out_dir / name, seg)
            files.append(name)
        return files

    def finish(self, work: StudyWork) -> None:
        if work.error is None:
            self._ledger.record_study(work.uid, work.timings, work.failures)
            logger.info("Study %s: %s", work.uid, work.result.status if work.result else "?")
            return
        # No half-written study folder survives a failure: --resume would redo it anyway.
        shutil.rmtree(study_output_dir(self._root, work.uid), ignore_errors=True)
        self._ledger.record_failure(InputFailure(work.uid, work.error, work.uid), work.timings)
        for failure in work.failures:
            self._ledger.record_failure(failure)
        logger.error("Study %s failed: %s", work.uid, work.error)
