"""Headless Debian Chromium driven by Playwright, for the browser tests and the page benchmark.

Debian's `chromium` (installed with apt when missing, as root), never a browser Playwright downloads: Playwright
only drives the executable it is given. A fresh profile per launch, and the flags that keep a headless Chromium
off the network (no background networking, component updates, sync or QUIC).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pacs.debian import DebianInstallError, apt_install

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "BrowserError", "ensure_chromium", "headless_chromium"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class BrowserError(RuntimeError):
    """Chromium or Playwright is missing and can't be installed."""


def ensure_chromium() -> str:
    """The path of Debian's Chromium, installed with apt when missing (needs root); BrowserError otherwise."""
    if not Path(CHROMIUM).is_file():
        try:
            apt_install(("chromium",))
        except DebianInstallError as exc:
            raise BrowserError(f"Chromium: {exc}") from exc
    if not Path(CHROMIUM).is_file():
        raise BrowserError(f"{CHROMIUM} missing after `apt-get install chromium`")
    return CHROMIUM


@contextmanager
def headless_chromium(width: int = 1400, height: int = 900) -> Iterator[BrowserContext]:
    """A Playwright browser context on headless Debian Chromium with a fresh, temporary profile."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserError("Playwright for Python is missing: pip install -r requirements-dev.txt") from exc
    executable = ensure_chromium()
    profile = Path(tempfile.mkdtemp(prefix="msk-maps-chromium-"))
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=executable,
                args=list(CHROMIUM_ARGS),
                headless=True,
                viewport={"width": width, "height": height},
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
