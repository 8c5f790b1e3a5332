"""`index.html`: one static page for a batch (studies, failures, plots, run summaries), readable from the file system.

Everything is in the one file (CSS, JS, the data as JSON, the plots as PNG data: URIs) except the key images and
the files it links to, which stay where the run wrote them (relative links). A Content-Security-Policy keeps the
page off the network: it can load images from its own folder tree and nothing else. The table shows one page of
rows at a time and thumbnails load lazily, so 10,000 studies open in about a second (bench/page_open.py).
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dicom_in.study import InputFailure
from report_page.entries import PageEntry, page_entry
from report_page.plots import Plot, batch_plots
from report_page.sources import StudyRow, failure_rows, run_summaries, study_rows
from run.atomic_io import atomic_write_text

__all__ = ["PAGE_NAME", "render_page", "write_page", "write_batch_page", "page_at_end_of_run"]

logger = logging.getLogger(__name__)

PAGE_NAME = "index.html"
_STATIC = Path(__file__).resolve().parent / "static"
_CSP = "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
_PAGE_SIZES = (25, 50, 100, 200)
_e = html.escape


def _json_script(payload: Any) -> str:
    # "</" would end the <script> element early; JSON allows "<\/" for it.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")


def _table_controls(filters: str) -> str:
    sizes = "".join(f"<option{' selected' if n == 50 else ''}>{n}</option>" for n in _PAGE_SIZES)
    return (
        f'<div class="controls">{filters}'
        f'<label>Rows <select class="page-size">{sizes}</select></label>'
        '<button class="prev" type="button">&lsaquo; previous</button><span class="page-label"></span>'
        '<button class="next" type="button">next &rsaquo;</button> <span class="count"></span></div>'
    )


def _key_values(rows: dict[str, Any], head: tuple[str, str]) -> str:
    cells = "".join(f"<tr><td>{_e(str(k))}</td><td>{_e(str(v))}</td></tr>" for k, v in rows.items())
    return f"<table><tr><th>{head[0]}</th><th>{head[1]}</th></tr>{cells}</table>"


def _run_section(path: Path, summary: dict[str, Any], page_dir: Path) -> str:
    # An app's run.json has its stage times; the suite's has them per app under "apps".
    per_app = {f" ({app})": part for app, part in (summary.get("apps") or {}).items() if isinstance(part, dict)}
    stage_tables = "".join(
        f"<div><h4>Time per stage{name}</h4>{_key_values(part.get('stage_seconds') or {}, ('stage', 's'))}</div>"
        for name, part in (per_app or {"": summary}).items()
    )
    skipped = summary.get("skipped_files") or {}
    skipped = f"<div><h4>Skipped files</h4>{_key_values(skipped, ('kind', 'n'))}</div>" if skipped else ""
    models = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e(str(info.get('version', '')))}</td>"
        f'<td><code title="{_e(str(info.get("sha256", "")))}">{_e(str(info.get("sha256", ""))[:16])}</code></td></tr>'
        for name, info in sorted((summary.get("models") or {}).items())
        if isinstance(info, dict)
    )
    shard = summary.get("shard") or {}
    part = f" · part {shard.get('part_id')} of {shard.get('num_parts')}" if shard.get("num_parts", 1) != 1 else ""
    try:
        where = path.relative_to(page_dir).as_posix()
    except ValueError:
        where = str(path)
    return (
        f'<div class="run"><h3>{_e(str(summary.get("app", "?")))} {_e(str(summary.get("app_version", "")))}{part}</h3>'
        f'<p class="note">{_e(str(summary.get("started", "")))} → {_e(str(summary.get("finished", "")))}, '
        f'{_e(str(summary.get("wall_seconds", "")))} s wall · <a href="{_e(where)}">{_e(path.name)}</a></p>'
        '<div class="grid">'
        f"<div><h4>Counts</h4>{_key_values(summary.get('counts') or {}, ('', 'n'))}</div>"
        f"{skipped}"
        f"{stage_tables}"
        f"<div><h4>Models</h4><table><tr><th>model</th><th>version</th><th>sha256</th></tr>{models}</table></div>"
        f"<div><h4>Versions</h4>{_key_values(summary.get('versions') or {}, ('package', 'version'))}</div>"
        "</div></div>"
    )


def render_page(
    entries: Sequence[PageEntry],
    failures: Sequence[tuple[InputFailure, str]],
    runs: dict[Path, dict[str, Any]],
    plots: Sequence[Plot],
    page_dir: Path,
    title: str,
) -> str:
    """The whole HTML document."""
    data = {
        "studies": [e.to_json() for e in entries],
        "failures": [[f.item, f.study_uid, f.reason, source] for f, source in failures],
    }
    figures = "".join(
        f'<figure><img src="{p.data_uri}" alt="{_e(p.title)}"><figcaption>{_e(p.title)}</figcaption></figure>'
        for p in plots
    )
    apps = sorted({e.app for e in entries if e.app})
    written = datetime.now(timezone.utc).isoformat(timespec="seconds")
    run_sections = "".join(_run_section(path, summary, page_dir) for path, summary in runs.items())
    study_filters = (
        '<label>App <select class="filter-app"></select></label>'
        '<label>Call <select class="filter-call"></select></label>'
        '<label>Status <select class="filter-status"></select></label>'
        '<label>Study <input class="filter-text" type="search" placeholder="UID or summary"></label>'
    )
    failure_filter = (
        '<label>Search <input class="filter-text" type="search" placeholder="file, study or reason"></label>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{_e(title)}</title>
<style>{(_STATIC / "page.css").read_text(encoding="utf-8")}</style>
</head><body>
<header><h1>{_e(title)}</h1>
<p class="note">{len(entries)} studies · {len(failures)} failures · apps: {_e(", ".join(apps) or "none")} ·
written {written} · demo models are not for clinical use</p>
<nav><a href="#studies">Studies</a><a href="#plots">Plots</a><a href="#failures">Failures ({len(failures)})</a>
<a href="#runs">Run summary</a></nav></header>
<section id="studies"><h2>Studies</h2>{_table_controls(study_filters)}
<table><thead><tr><th>Study</th><th>App</th><th>Status</th><th>Call</th><th>p / %</th><th>Key images</th>
<th>Files</th></tr></thead><tbody></tbody></table></section>
<section id="plots"><h2>Plots</h2><div class="plots">{figures}</div></section>
<section id="failures"><h2>Failures</h2>
<p class="note">Inputs that gave no result, each with its one-line reason (failures*.csv).</p>
{_table_controls(failure_filter)}
<table><thead><tr><th>Item</th><th>Study</th><th>Reason</th><th>From</th></tr></thead><tbody></tbody></table></section>
<section id="runs"><h2>Run summary</h2>{run_sections}</section>
<script id="page-data" type="application/json">{_json_script(data)}</script>
<script>{(_STATIC / "page.js").read_text(encoding="utf-8")}</script>
</body></html>
"""


def write_page(
    page_path: Path,
    rows: Sequence[StudyRow],
    failures: Sequence[tuple[InputFailure, str]] = (),
    runs: dict[Path, dict[str, Any]] | None = None,
    title: str = "",
) -> Path:
    """Build the page from (study, app, result.json) rows and write it atomically to `page_path`."""
    page_dir = Path(page_path).resolve().parent
    entries = sorted((page_entry(row, page_dir) for row in rows), key=lambda e: (e.app, e.study_uid))
    title = title or f"msk-maps batch: {', '.join(sorted({e.app for e in entries if e.app})) or 'no results'}"
    html_text = render_page(entries, failures, runs or {}, batch_plots(entries), page_dir, title)
    return atomic_write_text(page_path, html_text)


def write_batch_page(*run_folders: Path, page_path: Path | None = None) -> Path | None:
    """index.html for one run folder (or several, on one page): written next to the first unless `page_path`.

    Called at the end of every run. The page is for people; the run's own files are already written, so a page
    that cannot be drawn is logged and None returned instead of failing the run.
    """
    target = Path(page_path) if page_path else Path(run_folders[0]) / PAGE_NAME
    try:
        rows = [row for folder in run_folders for row in study_rows(folder)]
        failures = [row for folder in run_folders for row in failure_rows(folder)]
        runs = {path: summary for folder in run_folders for path, summary in run_summaries(folder).items()}
        written = write_page(target, rows, failures, runs)
    except Exception:  # noqa: BLE001 - the run's results stand without their page; say why and carry on
        logger.exception("Could not write the batch page %s", target)
        return None
    logger.info("Batch page: %s (%d studies)", written, len(rows))
    return written


def page_at_end_of_run(output_root: Path, summary: dict[str, Any]) -> None:
    """The page of a run folder whose run files were just written; the signature of run.ledger's END_OF_RUN hooks."""
    write_batch_page(output_root)
