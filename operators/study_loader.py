"""Source operator: emits one study per tick from a pre-built index, then stops the graph."""

from __future__ import annotations

import logging
from time import perf_counter

from holoscan.conditions import BooleanCondition
from holoscan.core import Fragment, Operator, OperatorSpec

from dicom_in.study_index import StudyIndex, load_study
from pipeline.study_work import StudyWork

__all__ = ["StudyLoaderOperator"]

logger = logging.getLogger(__name__)


class StudyLoaderOperator(Operator):
    """Reads the headers of one study per compute and emits it; disables its own tick after the last.

    Named output:
        study: StudyWork for the next study (headers only; pixels are decoded downstream).
    """

    OUTPUT = "study"
    STOP_CONDITION = "stop"

    def __init__(self, fragment: Fragment, *args, index: StudyIndex, study_uids: list[str], **kwargs) -> None:
        if not study_uids:
            raise ValueError("StudyLoaderOperator needs at least one study to emit")
        self._index = index
        self._pending = list(study_uids)
        super().__init__(fragment, BooleanCondition(fragment, name=self.STOP_CONDITION), *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.output(self.OUTPUT)

    def compute(self, op_input, op_output, context) -> None:
        uid = self._pending.pop(0)
        start = perf_counter()
        study = load_study(uid, self._index.studies[uid])
        work = StudyWork(study=study, failures=list(study.failures))
        work.timings["load"] += perf_counter() - start
        if not study.series:
            work.error = "no readable DICOM image in the study"
        logger.info("Study %s: %d series loaded", uid, len(study.series))
        op_output.emit(work, self.OUTPUT)
        if not self._pending:
            self.conditions[self.STOP_CONDITION].disable_tick()
