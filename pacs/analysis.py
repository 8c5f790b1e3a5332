"""The node's analysis: complete studies from the spool, routed and run by the suite in this process (warm models).

Results land in <storage>/results/<app>/<study folder>/ exactly as `python -m apps` writes them for a folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicom_in.study import InputFailure
from dicom_in.study_index import StudyIndex, index_folder
from pacs.spool import Spool
from run.ledger import SuiteLedger
from run.plan import RESULT_FILE, Shard, study_folder_name
from run.suite import SuiteRunner

__all__ = ["StudyOutcome", "analyse_studies", "result_files"]

logger = logging.getLogger(__name__)


@dataclass
class StudyOutcome:
    """What the apps made of one study: per app its status, summary and result files; failures; or why none."""

    study_uid: str
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)  # app -> {"status", "summary", "files"}
    failures: list[tuple[str, InputFailure]] = field(default_factory=list)  # (app or "", failure)
    no_app_reason: str = ""  # set when no app reads the study
    error: str = ""  # set when the study could not be analysed at all


def result_files(results_dir: Path, study_uid: str, apps: dict[str, dict[str, Any]]) -> list[Path]:
    """The DICOM objects to send for a study: every app's SR, SC and SEG files (from its outcome's file list)."""
    files = []
    for app, outcome in sorted(apps.items()):
        folder = Path(results_dir) / app / study_folder_name(study_uid)
        files += [folder / name for name in outcome.get("files", []) if name.endswith(".dcm")]
    return files


def _index(spool: Spool, study_uids: list[str]) -> StudyIndex:
    """One index over the studies' spool folders; a file that is not a usable image is its study's failure."""
    index = StudyIndex()
    for uid in study_uids:
        part = index_folder(spool.study_dir(uid))
        index.studies.update(part.studies)
        index.failures += [InputFailure(f.item, f.reason, f.study_uid or uid) for f in part.failures]
    return index


def _outcomes(ledger: SuiteLedger, study_uids: list[str], index: StudyIndex) -> dict[str, StudyOutcome]:
    outcomes = {uid: StudyOutcome(uid) for uid in study_uids}
    for failure in index.failures + ledger.routing_failures:
        if failure.study_uid in outcomes:
            outcomes[failure.study_uid].failures.append(("", failure))
            if failure.item == failure.study_uid:
                outcomes[failure.study_uid].error = failure.reason
    for uid, reason in ledger.unrouted.items():
        outcomes[uid].no_app_reason = reason
    for app, app_ledger in ledger.apps.items():
        for failure in app_ledger.failures:
            if failure.study_uid in outcomes:
                outcomes[failure.study_uid].failures.append((app, failure))
        for uid in app_ledger.plan.todo + app_ledger.plan.already_done:
            path = app_ledger.output_root / study_folder_name(uid) / RESULT_FILE
            if path.is_file():
                result = json.loads(path.read_text(encoding="utf-8"))
                outcomes[uid].apps[app] = {
                    "status": result["status"],
                    "summary": result.get("summary", ""),
                    "files": result.get("files", []),
                }
            else:
                reasons = [f.reason for f in app_ledger.failures if f.item == uid]
                outcomes[uid].apps[app] = {"status": "failed", "summary": reasons[0] if reasons else "", "files": []}
    for uid in study_uids:
        if uid not in index.studies and not outcomes[uid].error:
            outcomes[uid].error = "no readable DICOM image in the study"
    return outcomes


def analyse_studies(runner: SuiteRunner, spool: Spool, study_uids: list[str]) -> dict[str, StudyOutcome]:
    """Route and run the studies (complete apps' results from an interrupted analysis are kept); their outcomes."""
    index = _index(spool, study_uids)
    routes = runner.route(index, Shard())
    ledger = runner.plan(index, routes, spool.results_dir, Shard(), resume=True)
    runner.run(index, ledger)
    return _outcomes(ledger, study_uids, index)
