"""Which apps read a study: each app's own selection rules, applied to the study's headers once, before any graph.

A study goes to every app whose rules select at least one of its series (an ankle MR to olt_mri, ankle
radiographs to ankle_xray, a hip MR to onfh_mri); a study no app accepts gets, per app, the one-line reason
its selection gave (why each series was passed over).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from apps.catalog import app_info
from dicom_in.series_selection import SelectionRules, choose_series
from dicom_in.study import InputFailure
from dicom_in.study_index import load_study

__all__ = ["AppSelector", "StudyRoute", "route_study", "REASON_CHARS"]

logger = logging.getLogger(__name__)

REASON_CHARS = 300  # each app's reason in a no_matching_app row


@dataclass(frozen=True)
class AppSelector:
    """One app's name and its selection rules: the app's own file, with a site's `--rules` merged over it."""

    app: str
    rules: SelectionRules

    @classmethod
    def for_app(cls, app: str, site_rules: Path | None = None) -> AppSelector:
        """The selector of the suite's app `app` (KeyError naming the known apps; ValueError for bad rules)."""
        return cls(app=app, rules=SelectionRules.load(app_info(app).selection_rules, site_rules))


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


def route_study(study_uid: str, series_paths: dict[str, list[Path]], selectors: Iterable[AppSelector]) -> StudyRoute:
    """Read the study's headers once and apply every app's rules to them."""
    study = load_study(study_uid, series_paths)
    route = StudyRoute(study_uid=study_uid, failures=list(study.failures))
    if not study.series:
        route.error = "no readable DICOM image in the study"
        return route
    for selector in selectors:
        try:
            selection = choose_series(study, selector.rules)
        # One odd header must not stop the routing of thousands of studies: the app just doesn't get it.
        except Exception as exc:  # noqa: BLE001
            logger.exception("Study %s: %s's selection failed", study_uid, selector.app)
            route.reasons[selector.app] = f"selection failed: {type(exc).__name__}: {exc}".splitlines()[0]
            continue
        if selection.selected:
            route.apps.append(selector.app)
        else:
            route.reasons[selector.app] = selection.no_match_reason(REASON_CHARS)
    logger.info("Study %s: to %s", study_uid, route.apps or "no app")
    return route
