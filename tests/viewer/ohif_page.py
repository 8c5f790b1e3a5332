"""Driving OHIF 3 in a Playwright page: open a study, load a series, read the viewport, map image pixels to it.

OHIF puts cornerstone3D (`window.cornerstone`, `window.cornerstoneTools`) and its services (`window.services`)
on the page; the tests read the viewport's camera and annotations there, and the panels from the DOM.
"""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

__all__ = [
    "open_study",
    "load_series",
    "answer_prompt",
    "show_image",
    "viewport_pixels",
    "image_to_viewport",
    "changed",
    "error_boundary_shown",
    "render_again",
    "svg_shapes",
    "VIEWPORT_CANVAS",
]

VIEWPORT_CANVAS = ".cornerstone-viewport-element canvas"
_SETTLE = 1.5  # seconds for the last frame to render after a change (software GL)


def _wait_rendered(page, timeout_ms: int = 60000) -> None:
    page.wait_for_function(
        """() => {
            const element = document.querySelector('.cornerstone-viewport-element');
            const enabled = element && cornerstone.getEnabledElement(element);
            return enabled && enabled.viewport.getCurrentImageId && enabled.viewport.getCurrentImageId()
                && enabled.viewport.canvas.width > 0;
        }""",
        timeout=timeout_ms,
    )
    time.sleep(_SETTLE)


def open_study(page, url: str) -> None:
    """Open OHIF's viewer on one study and wait until the study browser and a rendered image are there."""
    page.goto(url)
    page.wait_for_selector("[data-series]", timeout=90000)
    _wait_rendered(page)


def load_series(page, series_number: int, rendered: bool = True) -> None:
    """Double-click a series in the study browser (as a user loads it); wait for an image unless not `rendered`."""
    page.locator(f'[data-series="{series_number}"]').first.dblclick()
    time.sleep(_SETTLE)
    if rendered:
        _wait_rendered(page)


def answer_prompt(page, answer: str = "Yes", timeout_ms: int = 30000) -> None:
    """Click an answer of the viewport's prompt (e.g. "Do you want to open this Segmentation?")."""
    page.get_by_role("button", name=answer).click(timeout=timeout_ms)
    time.sleep(_SETTLE)
    _wait_rendered(page)


def show_image(page, sop_instance_uid: str) -> None:
    """Scroll the viewport's stack to the image with this SOP Instance UID."""
    index = page.evaluate(
        """uid => {
            const enabled = cornerstone.getEnabledElement(document.querySelector('.cornerstone-viewport-element'));
            const index = enabled.viewport.getImageIds().findIndex(id => id.includes(`/instances/${uid}/`));
            if (index >= 0) enabled.viewport.setImageIdIndex(index);
            return index;
        }""",
        sop_instance_uid,
    )
    assert index >= 0, f"image {sop_instance_uid} is not in the viewport's stack"
    _wait_rendered(page)
    current = page.evaluate(
        "() => cornerstone.getEnabledElement(document.querySelector('.cornerstone-viewport-element'))"
        ".viewport.getCurrentImageId()"
    )
    assert f"/instances/{sop_instance_uid}/" in current


def viewport_pixels(page) -> np.ndarray:
    """The viewport canvas as the screen shows it (RGB, canvas pixels)."""
    box = page.locator(VIEWPORT_CANVAS).first.bounding_box()
    png = page.screenshot(clip=box)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def image_to_viewport(page) -> np.ndarray:
    """The 2x3 affine from the current image's (column, row) pixel coordinates to viewport canvas pixels."""
    corners = page.evaluate(
        """() => {
            const enabled = cornerstone.getEnabledElement(document.querySelector('.cornerstone-viewport-element'));
            const viewport = enabled.viewport;
            const imageId = viewport.getCurrentImageId();
            return [[0, 0], [1, 0], [0, 1]].map(point =>
                viewport.worldToCanvas(cornerstone.utilities.imageToWorldCoords(imageId, point)));
        }"""
    )
    origin, along_x, along_y = (np.asarray(c, dtype=float) for c in corners)
    return np.column_stack([along_x - origin, along_y - origin, origin])


def changed(before: np.ndarray, after: np.ndarray, threshold: int = 24) -> np.ndarray:
    """Pixels whose colour moved by more than `threshold` in any channel."""
    assert before.shape == after.shape, f"viewport changed size: {before.shape} vs {after.shape}"
    return np.abs(before.astype(int) - after.astype(int)).max(axis=2) > threshold


def error_boundary_shown(page) -> bool:
    """True when OHIF replaced the viewer with its "Something went wrong" screen."""
    return page.get_by_text("Something went wrong").count() > 0


def render_again(page) -> None:
    """Ask cornerstone to render every viewport again (annotation layers are drawn on the image-rendered event)."""
    page.evaluate("() => cornerstone.getRenderingEngines().forEach(engine => engine.render())")
    time.sleep(0.5)


def svg_shapes(page) -> int:
    """How many SVG shapes (annotation drawings) the viewport holds: for messages when nothing shows."""
    return page.evaluate(
        "() => document.querySelectorAll('.cornerstone-viewport-element svg :is(rect, path, polyline, line, circle)')"
        ".length"
    )
