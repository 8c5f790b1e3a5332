"""Operator: applies an app's selection rules (and a site's, merged over them) to each study."""

from __future__ import annotations

import logging

from holoscan.core import Fragment

from dicom_in.series_selection import SelectionRules, choose_series
from operators.study_stage import StudyStageOperator
from pipeline.study_work import StudyWork

__all__ = ["SeriesSelectorOperator"]

logger = logging.getLogger(__name__)


class SeriesSelectorOperator(StudyStageOperator):
    """Selects the series each rule asks for, recording why every other series was passed over.

    Named input:
        study: StudyWork with headers loaded.
    Named output:
        selected_series: the same StudyWork with `selection` (outcome per series) and `selected` filled; a study
        with nothing selected goes on with an empty selection.
    """

    INPUT = "study"
    OUTPUT = "selected_series"
    STAGE = "select"

    def __init__(self, fragment: Fragment, *args, rules: SelectionRules, **kwargs) -> None:
        self._rules = rules
        super().__init__(fragment, *args, **kwargs)

    @property
    def models(self) -> list[str]:
        """The models the rules refer to."""
        return self._rules.models

    def process(self, work: StudyWork) -> None:
        work.selection = choose_series(work.study, self._rules)
        work.selected = work.selection.selected
        logger.info("Study %s: selected %s", work.uid, [s.rule for s in work.selected] or "nothing")
