"""Base for an app's report stage: the operator that turns model outputs into the study's StudyResult."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from holoscan.core import Fragment

from dicom_out.findings import Algorithm
from inference.model_store import LoadedModel, ModelStore
from operators.study_stage import StudyStageOperator
from pipeline.study_work import Status, StudyResult, StudyWork

__all__ = ["ReportStageOperator", "DEMO_BANNER", "banner"]

logger = logging.getLogger(__name__)

DEMO_BANNER = "DEMO MODEL - NOT FOR CLINICAL USE"


def banner(models: Iterable[LoadedModel]) -> str:
    """What a picture made with these models says about them: the demo warning if any of them is demo weights."""
    return DEMO_BANNER if any(m.meta.demo for m in models) else "Research use"


class ReportStageOperator(StudyStageOperator):
    """A study stage that holds the model store (for contracts and hashes) and the app's name and version.

    Subclasses set INPUT and implement `process`, which must set `work.result`.
    Named output:
        report: the StudyWork with `result` set.
    """

    OUTPUT = "report"
    STAGE = "postprocess"

    def __init__(
        self, fragment: Fragment, *args, model_store: ModelStore, app_name: str, app_version: str, **kwargs
    ) -> None:
        self._store = model_store
        self._app_name = app_name
        self._version = app_version
        super().__init__(fragment, *args, **kwargs)

    def algorithm(self, models: Iterable[LoadedModel]) -> Algorithm:
        """The algorithm the reports name: the app, its version and each model's version and hash."""
        return Algorithm(
            name=f"msk-maps {self._app_name}",
            version=self._version,
            parameters={m.name: m.provenance for m in sorted(models, key=lambda m: m.name)},
        )

    @staticmethod
    def no_matching_series(work: StudyWork, csv_columns: Iterable[str], wanted: str) -> None:
        """Record that the study has nothing this app reads, and why: a result, not a failure."""
        reason = work.selection.no_match_reason() if work.selection else f"no {wanted}"
        work.result = StudyResult(
            status=Status.NO_MATCHING_SERIES, report=None, csv_columns=tuple(csv_columns), reason=reason
        )
        logger.info("Study %s: no %s to analyse (%s)", work.uid, wanted, reason)
