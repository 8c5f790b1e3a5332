"""Which apps read a study: each app's own selection rules, applied to the study's headers once, before any graph.

A study goes to every app whose rules select at least one of its series (an ankle MR to olt_mri, ankle
radiographs to ankle_xray, a hip MR to onfh_mri); a study no app accepts gets, per app, the one-line reason
its rules gave.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from apps.catalog import app_info
from dicom_in.series_selection import SelectionRules, select_series
from dicom_in.study import InputFailure, Study
from dicom_in.study_index import load_study

__all__ = ["AppSelector", "StudyRoute", "route_study", "rejection_reason", "series_overview"]

logger = logging.getLogger(__name__)

_OVERVIEW_SERIES = 6  # a study's overview names this many kinds of series, then "+N more"


@dataclass(frozen=True)
class AppSelector:
    """One app's name and its selection rules (the file the app itself reads)."""

    app: str
    rules: SelectionRules

    @classmethod
    def for_app(cls, app: str) -> AppSelector:
        """The selector of the suite's app `app` (KeyError naming the known apps otherwise)."""
        return cls(app=app, rules=SelectionRules.from_file(app_info(app).selection_rules))


@dataclass
class StudyRoute:
    """Where one study goes: the apps that accept it, why each other app does not, and its unreadable files."""

    study_uid: str
    apps: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # app -> why it does not read the study
    failures: list[InputFailure] = field(default_factory=list)  # the study's files whose headers can't be read
    error: str | None = None  # set when the study has no readable image at all

    @property
    def summary(self) -> str:
        """One line for a study no app accepts: each app's reason ("app: reason | app: reason")."""
        return " | ".join(f"{app}: {reason}" for app, reason in self.reasons.items())


def series_overview(study: Study) -> str:
    """What the study holds, as selection sees it: e.g. "MR sagittal T1 x20, DX x2" (after `select_series`)."""
    kinds = Counter()
    for series in study.series:
        derived = series.derived
        parts = [series.modality or "?"]
        if derived.get("plane") not in (None, "unknown", "n/a") and series.modality == "MR":
            parts.append(str(derived["plane"]))
        if derived.get("weighting") not in (None, "unknown", "n/a"):
            parts.append(str(derived["weighting"]))
        body = str(series.first.get("BodyPartExamined", "") or "")
        if body:
            parts.insert(1, body.lower())
        kinds[" ".join(parts)] += len(series.instances)
    named = [f"{kind} x{count}" for kind, count in sorted(kinds.items())]
    extra = len(named) - _OVERVIEW_SERIES
    return ", ".join(named[:_OVERVIEW_SERIES]) + (f", +{extra} more" if extra > 0 else "")


def rejection_reason(study: Study, selector: AppSelector) -> str:
    """Why `selector`'s app reads nothing of `study` (call after `select_series` found nothing), one line.

    Hook: when dicom_in.series_selection gives per-series reasons, this is where they replace the rule list.
    """
    names = ", ".join(rule.name for rule in selector.rules.rules)
    return f"no series matches its rules ({names}); the study has {series_overview(study) or 'no image series'}"


def route_study(study_uid: str, series_paths: dict[str, list[Path]], selectors: Iterable[AppSelector]) -> StudyRoute:
    """Read the study's headers once and apply every app's rules to them."""
    study = load_study(study_uid, series_paths)
    route = StudyRoute(study_uid=study_uid, failures=list(study.failures))
    if not study.series:
        route.error = "no readable DICOM image in the study"
        return route
    for selector in selectors:
        try:
            selected = select_series(study, selector.rules)
        # One odd header must not stop the routing of thousands of studies: the app just doesn't get it.
        except Exception as exc:  # noqa: BLE001
            logger.exception("Study %s: %s's selection failed", study_uid, selector.app)
            route.reasons[selector.app] = f"selection failed: {type(exc).__name__}: {exc}".splitlines()[0]
            continue
        if selected:
            route.apps.append(selector.app)
        else:
            route.reasons[selector.app] = rejection_reason(study, selector)
    logger.info("Study %s: to %s", study_uid, route.apps or "no app")
    return route
