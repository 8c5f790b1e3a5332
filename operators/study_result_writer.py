"""Sink operator: writes one study's DICOM objects, pictures and result.json, then tells the ledger."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from holoscan.core import Fragment

from dicom_in.study import InputFailure
from dicom_out import codes
from dicom_out.findings import Concept
from dicom_out.result_json import study_result_json
from dicom_out.study_objects import write_study_objects
from operators.study_stage import StudyStageOperator
from pipeline.study_work import StudyWork
from run.atomic_io import atomic_write_json
from run.ledger import RunLedger
from run.plan import RESULT_FILE, study_output_dir

__all__ = ["StudyResultWriterOperator"]

logger = logging.getLogger(__name__)


class StudyResultWriterOperator(StudyStageOperator):
    """Writes OUT/<StudyInstanceUID>/ (SR, SC, PNG, SEG, result.json last) for each study; records failures.

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
        procedure: Concept = codes.IMAGING_PROCEDURE,
        **kwargs,
    ) -> None:
        self._root = Path(output_root)
        self._ledger = ledger
        self._procedure = procedure
        super().__init__(fragment, *args, **kwargs)

    def process(self, work: StudyWork) -> None:
        result = work.result
        if result is None:
            raise RuntimeError("no result was produced for the study")
        out_dir = study_output_dir(self._root, work.uid)
        files = []
        if result.report is not None:
            files = write_study_objects(
                out_dir,
                self._ledger.app,
                result.report,
                result.key_images,
                result.segmentations,
                work.study.first,
                self._procedure,
            )
        payload = study_result_json(
            work.uid,
            self._ledger.app,
            self._ledger.app_version,
            status=result.status,
            report=result.report,
            details=result.details_json(),
            csv_row=result.csv_row(),
            files=files,
            failures=work.failures,
            selection=work.selection.to_json() if work.selection else None,
        )
        atomic_write_json(out_dir / RESULT_FILE, payload)

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
