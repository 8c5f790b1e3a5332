"""One table row of the page from a study's result.json: status, call, key images and files (page-relative)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from report_page.calls import study_call
from report_page.sources import StudyRow

__all__ = ["PageEntry", "page_entry", "UNREADABLE", "MISSING"]

logger = logging.getLogger(__name__)

UNREADABLE = "unreadable_result"
MISSING = "missing_result"


@dataclass(frozen=True)
class PageEntry:
    """What the page shows of one study and app; paths are relative to the page's folder, with "/"."""

    study_uid: str
    app: str
    status: str
    call: str
    call_text: str
    value: float | None
    summary: str
    images: list[str] = field(default_factory=list)  # key-image PNGs
    objects: list[str] = field(default_factory=list)  # DICOM objects
    result: str = ""  # result.json, "" when there is none
    points: tuple[tuple[str, float], ...] = ()  # for the plots (report_page.plots), not sent to the page

    def to_json(self) -> list[Any]:
        """Compact: a list in the order page.js reads it (10,000 rows stay a few MB)."""
        value = None if self.value is None else round(self.value, 4)
        return [self.study_uid, self.app, self.status, self.call, self.call_text, value, self.summary,
                self.images, self.objects, self.result]  # fmt: skip


def _link(path: Path, page_dir: Path) -> str:
    return Path(os.path.relpath(path, page_dir)).as_posix()


def _read(path: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, ""
    except (OSError, ValueError) as exc:
        return None, f"result.json unreadable: {exc}"
    if not isinstance(result, dict) or "status" not in result:
        return None, "result.json is not a study result (no status)"
    return result, ""


def page_entry(row: StudyRow, page_dir: Path) -> PageEntry:
    """The page's row for one study; a missing or broken result.json gives a row that says so, never an error."""
    result, problem = _read(row.result_path)
    if result is None:
        if problem:
            logger.warning("Study %s: %s (%s)", row.study_uid, problem, row.result_path)
        # results.csv says why a study has none (no_matching_app); an "ok" there without the file is a problem
        status = UNREADABLE if problem else (row.status if row.status not in ("", "ok") else MISSING)
        summary = problem or (row.summary if status != MISSING else f"no result.json at {row.result_path}")
        return PageEntry(row.study_uid, row.app, status, "", "", None, summary)
    app = str(result.get("app") or row.app)
    try:
        call = study_call(app, result)
    except (KeyError, TypeError, ValueError) as exc:  # details that do not fit the app's contract
        logger.warning("Study %s: %s details unreadable (%s)", row.study_uid, app, exc)
        call = study_call("", result)
    folder = row.result_path.parent
    files = [str(name) for name in result.get("files", [])]
    return PageEntry(
        study_uid=str(result.get("study_instance_uid") or row.study_uid),
        app=app,
        status=str(result["status"]),
        call=call.label,
        call_text=call.text,
        value=call.value,
        summary=str(result.get("summary", "")),
        images=[_link(folder / name, page_dir) for name in files if name.lower().endswith(".png")],
        objects=[_link(folder / name, page_dir) for name in files if name.lower().endswith(".dcm")],
        result=_link(row.result_path, page_dir),
        points=call.points,
    )
