"""Base for an app's report stage: the operator that turns model outputs into the study's StudyResult."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from monai.deploy.core import Fragment

from operators.model_store import ModelStore
from operators.study_stage import StudyStageOperator
from operators.study_work import StudyResult, StudyWork

__all__ = ["ReportStageOperator"]

logger = logging.getLogger(__name__)


class ReportStageOperator(StudyStageOperator):
    """A study stage that holds the model store (for model meta and hashes) and the app version.

    Subclasses set INPUT and implement `process`, which must set `work.result`.
    Named output:
        report: the StudyWork with `result` set.
    """

    OUTPUT = "report"
    STAGE = "postprocess"

    def __init__(self, fragment: Fragment, *args, model_store: ModelStore, app_version: str, **kwargs) -> None:
        self._store = model_store
        self._version = app_version
        super().__init__(fragment, *args, **kwargs)

    @staticmethod
    def no_matching_series(work: StudyWork, csv_columns: Iterable[str], wanted: str) -> None:
        """Record that the study has nothing this app reads: a result, not a failure."""
        work.result = StudyResult(status="no_matching_series", report=None, csv_row=dict.fromkeys(csv_columns, ""))
        logger.info("Study %s: no %s to analyse", work.uid, wanted)
