"""Operator: applies an app's selection rules file to each study."""

from __future__ import annotations

import logging
from pathlib import Path

from holoscan.core import Fragment

from dicom_in.series_selection import SelectionRules, select_series
from operators.study_stage import StudyStageOperator
from pipeline.study_work import StudyWork

__all__ = ["SeriesSelectorOperator"]

logger = logging.getLogger(__name__)


class SeriesSelectorOperator(StudyStageOperator):
    """Selects the series each rule asks for; a study with none selected goes on with an empty selection.

    Named input:
        study: StudyWork with headers loaded.
    Named output:
        selected_series: the same StudyWork with `selected` filled.
    """

    INPUT = "study"
    OUTPUT = "selected_series"
    STAGE = "select"

    def __init__(self, fragment: Fragment, *args, rules_path: Path, **kwargs) -> None:
        self._rules = SelectionRules.from_file(rules_path)
        super().__init__(fragment, *args, **kwargs)

    @property
    def models(self) -> list[str]:
        """The models the rules refer to."""
        return sorted({rule.model for rule in self._rules.rules})

    def process(self, work: StudyWork) -> None:
        work.selected = select_series(work.study, self._rules)
        logger.info("Study %s: selected %s", work.uid, [s.rule for s in work.selected] or "nothing")
