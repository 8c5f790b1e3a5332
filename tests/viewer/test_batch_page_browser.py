"""index.html of a finished run, opened from the file system in headless Chromium: it shows every study and failure,
decodes every thumbnail, filters and sorts, and logs no error."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from report_page import PAGE_NAME
from tests.viewer.conftest import FinishedRun
from viewer.browser import headless_chromium

pytestmark = pytest.mark.slow


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _matching(page, section: str) -> int:
    return int(page.locator(f"#{section}").get_attribute("data-matching"))


def _record_problems(page) -> list[str]:
    """Console errors, page errors and failed requests of the page, as they come."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    return problems


def _decode_every_thumbnail(page) -> list[tuple[str, int]]:
    """Load every thumbnail of the current table page (they are lazy) and return (src, naturalWidth) of each."""
    return page.evaluate(
        """async () => {
            const images = [...document.querySelectorAll('#studies img')];
            images.forEach(img => { img.loading = 'eager'; });
            await Promise.all(images.map(img => img.decode().catch(() => null)));
            return images.map(img => [img.getAttribute('src'), img.naturalWidth]);
        }"""
    )


def test_index_html_shows_the_run_in_a_real_browser(finished_run: FinishedRun, screenshots: Path) -> None:
    with headless_chromium() as browser:
        for folder in finished_run.outputs:
            results = _rows(folder / "results.csv")
            failures = _rows(folder / "failures.csv")
            page = browser.new_page()
            problems = _record_problems(page)
            page.goto((folder / PAGE_NAME).resolve().as_uri())
            page.wait_for_selector("body[data-ready=true]")

            assert _matching(page, "studies") == len(results)
            assert _matching(page, "failures") == len(failures)
            assert page.locator("#studies tbody tr").count() == min(50, len(results))
            page.select_option("#studies .page-size", "200")
            assert page.locator("#studies tbody tr").count() == min(200, len(results))

            # every thumbnail of every table page is a decodable picture, and the ok studies have some
            thumbnails = []
            while True:
                thumbnails += _decode_every_thumbnail(page)
                if page.locator("#studies .next").is_disabled():
                    break
                page.click("#studies .next")
            assert thumbnails and all(width > 0 for _, width in thumbnails), thumbnails
            page.select_option("#studies .page-size", "50")

            # filters: by status, by app, by call; each count agrees with results.csv
            statuses = Counter(row["status"] for row in results)
            for status, count in statuses.items():
                page.select_option("#studies .filter-status", status)
                assert _matching(page, "studies") == count
                assert page.locator("#studies tbody tr").count() == min(50, count)
            page.select_option("#studies .filter-status", "__all__")
            apps = page.eval_on_selector_all("#studies .filter-app option", "o => o.map(x => x.value)")
            assert set(apps) - {"__all__"} == {row.get("app") or folder.name for row in results}
            page.select_option("#studies .filter-app", apps[-1])
            assert _matching(page, "studies") == sum((row.get("app") or folder.name) == apps[-1] for row in results)
            page.select_option("#studies .filter-app", "__all__")
            calls = page.eval_on_selector_all("#studies .filter-call option", "o => o.map(x => x.value)")
            named = [c for c in calls if c not in ("__all__", "")]
            assert named, "no study has a call"
            page.select_option("#studies .filter-call", named[0])
            shown_calls = page.eval_on_selector_all("#studies td:nth-child(4) b", "b => b.map(e => e.textContent)")
            assert shown_calls and set(shown_calls) == {named[0]}
            page.select_option("#studies .filter-call", "__all__")
            page.fill("#studies .filter-text", results[0]["study_instance_uid"])
            assert _matching(page, "studies") == 1
            page.fill("#studies .filter-text", "")

            # sorting by the number column: descending after two clicks, empty cells last
            page.click("#studies th:nth-child(5)")
            page.click("#studies th:nth-child(5)")
            values = page.eval_on_selector_all("#studies tbody td:nth-child(5)", "t => t.map(x => x.textContent)")
            numbers = [float(v) for v in values if v]
            assert numbers == sorted(numbers, reverse=True) and values[: len(numbers)] == [f"{n:.3f}" for n in numbers]

            page.screenshot(path=str(screenshots / f"index_{folder.name}.png"), full_page=False)
            page.close()
            assert not problems, problems
