"""How long index.html takes to draw and to open at 10,000 studies: `python -m bench.page_open [--studies N]`.

A synthetic run folder in the suite's layout (OUT/<app>/<study>/result.json, results.csv with `app` and
`output_dir`),
a third of the studies per app, made cheaply from each app's typed details: one small PNG hard-linked as every
key image, no DICOM. Then: the page's build time (what every run's end pays), its size, and in headless
Chromium (Debian's, via Playwright) the time from navigation to the table being drawn, and to filter and sort
all rows, each the median of `--repeats` fresh browser profiles. Writes bench/results/<date>-page-open.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from apps.ankle_xray.result_details import FragmentDetails, FragmentStudyDetails, RadiographDetails
from apps.olt_mri.result_details import OltDetails, SeriesDetails, StudyCallDetails
from apps.onfh_mri.result_details import HipDetails, OnfhDetails
from pictures.overlay import png_bytes
from report_page import PAGE_NAME, write_batch_page
from run.atomic_io import atomic_write_json
from run.plan import study_output_dir
from viewer.browser import headless_chromium

__all__ = ["make_run_folder", "measure_page", "main"]

APPS = ("olt_mri", "ankle_xray", "onfh_mri")
GRADES = ("Without ONFH", "Mild", "Moderate", "Severe")
REPO = Path(__file__).resolve().parents[1]


def _details(app: str, rng: np.random.Generator, uid: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(details, csv_row, key-image names) of one synthetic study of `app`."""
    if app == "olt_mri":
        series = []
        for rule in ("T1 coronal", "T1 sagittal", "T2 coronal", "T2 sagittal"):
            p = float(rng.beta(0.5, 2.0))
            series.append(SeriesDetails(rule, f"{uid}.{len(series)}", rule, p >= 0.5, p, f"{uid}.9", [p] * 12, [], []))
        best = max(s.probability for s in series)
        details = OltDetails(StudyCallDetails(best >= 0.5, best, {"T1": best, "T2": best}), series)
        return details.to_json(), details.csv_row(), [f"key_{s.rule.replace(' ', '_')}" for s in series]
    if app == "ankle_xray":
        fragments = [
            FragmentDetails(f"fragment {i}", f"{uid}.1", [10.0, 10.0, 40.0, 40.0], 0.9, label, p, {label: p})
            for i in range(int(rng.integers(0, 3)))
            for label, p in [(str(rng.choice(["LMAF", "SFO"])), float(rng.uniform(0.5, 1.0)))]
        ]
        details = FragmentStudyDetails([RadiographDetails(f"{uid}.1", f"{uid}.2", "native")], fragments)
        return details.to_json(), details.csv_row(), ["key_radiograph"]
    hips = {}
    for side in ("R", "L"):
        grade = GRADES[int(rng.integers(0, 4))]
        ratio = {"Without ONFH": 0.0, "Mild": 8.0, "Moderate": 22.0, "Severe": 45.0}[grade] * float(rng.uniform(0.5, 1))
        hips[side] = HipDetails(f"{uid}.3", 9, 1200, int(12 * ratio), 1700.0, 17 * ratio, ratio, ratio, grade, "", "")
    details = OnfhDetails(f"{uid}.4", hips)
    return details.to_json(), details.csv_row(), ["key_left_hip", "key_right_hip"]


def make_run_folder(root: Path, studies: int, seed: int = 0) -> Path:
    """A finished suite run of `studies` synthetic studies (10 % no_matching_series) under `root`."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    picture = root / ".key.png"
    gradient = np.linspace(0, 255, 128 * 160, dtype=np.uint8).reshape(160, 128)
    picture.write_bytes(png_bytes(np.stack([gradient, gradient[::-1], np.full_like(gradient, 90)], axis=-1)))
    rows = []
    for index in range(studies):
        uid = f"1.2.826.0.1.3680043.8.498.{10**9 + index}"
        app = APPS[index % len(APPS)]
        folder = study_output_dir(root / app, uid)
        folder.mkdir(parents=True)
        status = "no_matching_series" if rng.random() < 0.1 else "ok"
        details, csv_row, keys = _details(app, rng, uid) if status == "ok" else ({}, {}, [])
        for key in keys:
            os.link(picture, folder / f"{key}.png")
        files = [f"{key}.png" for key in keys] + ([f"{key}_sc.dcm" for key in keys] + ["report_sr.dcm"]) * bool(keys)
        result = {"study_instance_uid": uid, "app": app, "app_version": "0.1.0", "status": status,
                  "summary": f"{app} synthetic study {index}", "details": details, "csv_row": csv_row,
                  "files": sorted(files), "report": None, "input_failures": []}  # fmt: skip
        (folder / "result.json").write_text(json.dumps(result))
        output_dir = folder.relative_to(root).as_posix()
        rows.append({"study_instance_uid": uid, "app": app, "status": status, "summary": result["summary"],
                     "output_dir": output_dir})  # fmt: skip
    with open(root / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(root / "failures.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "study_instance_uid", "reason"])
        writer.writerows([f"/in/broken/{i}.dcm", "", "truncated pixel data"] for i in range(studies // 20))
    atomic_write_json(root / "run.json", {"app": "suite", "app_version": "0.1.0", "counts": {"results": studies}})
    return root


def _open_once(page_path: Path) -> dict[str, float]:
    with headless_chromium() as browser:
        page = browser.new_page()
        started = time.perf_counter()
        page.goto(page_path.resolve().as_uri())
        page.wait_for_selector("body[data-ready=true]")
        wall = time.perf_counter() - started
        timing = page.evaluate(
            """() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const ready = performance.getEntriesByName('msk-maps-page-ready')[0].startTime;
                return {dom_content_loaded_ms: nav.domContentLoadedEventEnd, table_ready_ms: ready};
            }"""
        )
        visible_ms = page.evaluate(
            """async () => {
                const shown = [...document.querySelectorAll('#studies img')]
                    .filter(img => img.getBoundingClientRect().top < window.innerHeight);
                await Promise.all(shown.map(img => img.decode()));
                return performance.now();
            }"""
        )
        filter_ms = page.evaluate(
            """() => {
                const select = document.querySelector('#studies .filter-status');
                const start = performance.now();
                select.value = 'ok';
                select.dispatchEvent(new Event('change'));
                return performance.now() - start;
            }"""
        )
        sort_ms = page.evaluate(
            """() => {
                const start = performance.now();
                document.querySelector('#studies th:nth-child(5)').click();
                return performance.now() - start;
            }"""
        )
        thumbnails = page.evaluate("() => document.querySelectorAll('#studies img').length")
        timing["visible_thumbnails_decoded_ms"] = visible_ms
        return {**timing, "wall_to_ready_s": wall, "filter_ms": filter_ms, "sort_ms": sort_ms, "thumbs": thumbnails}


def measure_page(root: Path, repeats: int) -> dict[str, Any]:
    """Build the page for the run folder, then open it `repeats` times; medians."""
    started = time.perf_counter()
    page_path = write_batch_page(root)
    build = time.perf_counter() - started
    if page_path is None:
        raise SystemExit("the page could not be written; see the log")
    opens = [_open_once(page_path) for _ in range(repeats)]
    medians = {key: round(statistics.median(o[key] for o in opens), 3) for key in opens[0]}
    return {"build_s": round(build, 2), "page_mb": round(page_path.stat().st_size / 1e6, 2), **medians}


def main(argv: list[str] | None = None) -> int:
    """Make the synthetic run (reused when present), measure, write the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench" / "page")
    args = parser.parse_args(argv)
    root = args.work / f"run_{args.studies}"
    shutil.rmtree(root, ignore_errors=True)  # made afresh: the layout is the code's of today
    make_run_folder(root, args.studies)
    figures = measure_page(root, args.repeats)
    lines = [
        f"# index.html at {args.studies} studies ({date.today().isoformat()}, {os.cpu_count()} CPUs)",
        "",
        f"`python -m bench.page_open --studies {args.studies} --repeats {args.repeats}`; headless Debian Chromium;"
        f" medians of {args.repeats} fresh profiles. build_s: writing index.html (each run's end pays it);"
        " table_ready_ms: navigation start to the first table page drawn; visible_thumbnails_decoded_ms: to the"
        " thumbnails on screen decoded (the rest load as they scroll in); filter/sort: over all rows.",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in figures.items()),
        "",
    ]
    text = "\n".join(lines)
    out = REPO / "bench" / "results" / f"{date.today().isoformat()}-page-open.md"
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out} (page: {root / PAGE_NAME})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
