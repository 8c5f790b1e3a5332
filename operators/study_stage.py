"""Base for operators that take one study in, do one stage of work, and pass it on."""

from __future__ import annotations

import logging
from time import perf_counter
from typing import ClassVar

from holoscan.core import Fragment, Operator, OperatorSpec

from pipeline.study_work import StudyWork

__all__ = ["StudyStageOperator"]

logger = logging.getLogger(__name__)


class StudyStageOperator(Operator):
    """Receives a StudyWork on INPUT, runs `process`, emits it on OUTPUT; a failure marks the study, not the run.

    Subclasses set INPUT, OUTPUT (None for a sink) and STAGE (the name timings are recorded under).
    """

    INPUT: ClassVar[str]
    OUTPUT: ClassVar[str | None]
    STAGE: ClassVar[str]

    def __init__(self, fragment: Fragment, *args, **kwargs) -> None:
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.INPUT)
        if self.OUTPUT:
            spec.output(self.OUTPUT)

    def compute(self, op_input, op_output, context) -> None:
        work: StudyWork = op_input.receive(self.INPUT)
        if work.error is None:
            start = perf_counter()
            try:
                self.process(work)
            # The isolation boundary: one bad study must never stop a batch of thousands.
            except Exception as exc:  # noqa: BLE001
                logger.exception("Study %s failed in %s", work.uid, self.STAGE)
                work.error = f"{self.STAGE} failed: {type(exc).__name__}: {exc}".splitlines()[0]
            work.timings[self.STAGE] += perf_counter() - start
        self.finish(work)
        if self.OUTPUT:
            op_output.emit(work, self.OUTPUT)

    def process(self, work: StudyWork) -> None:
        """Do this stage's work on one study (override)."""
        raise NotImplementedError

    def finish(self, work: StudyWork) -> None:
        """Runs for every study, failed or not, after `process` (override in sinks)."""
