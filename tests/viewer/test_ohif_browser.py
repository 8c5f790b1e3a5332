"""Our SR and SEG in OHIF (npm @ohif/app) on a real Orthanc, in headless Chromium: what a radiologist would see.

Per app, one analysed study: ankle_xray's fragment boxes drawn from the SR on the radiograph where result.json
puts them; olt_mri's SR read by OHIF (its findings listed) without breaking the viewer, and its key images;
onfh_mri's SEG overlaid on the T1 series exactly over the femoral-head and necrosis masks, its segments listed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from scipy import ndimage

from dicom_out.study_objects import SC_SERIES_NUMBER, SEG_SERIES_NUMBER, SR_SERIES_NUMBER
from tests.app_runner import REPO
from tests.viewer.conftest import FinishedRun
from tests.viewer.ohif_page import (
    answer_prompt,
    changed,
    error_boundary_shown,
    image_to_viewport,
    load_series,
    open_study,
    render_again,
    show_image,
    svg_shapes,
    viewport_pixels,
)
from viewer.browser import headless_chromium
from viewer.session import ViewedStudy, ViewerSession

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session(finished_run: FinishedRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerSession]:
    workdir = tmp_path_factory.mktemp("viewer")
    with ViewerSession(finished_run.outputs, finished_run.input, workdir, REPO / "build" / "ohif") as started:
        yield started


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with headless_chromium() as context:
        yield context


def _study(session: ViewerSession, app: str, want=lambda result: True) -> tuple[ViewedStudy, dict]:
    """The first analysed study of `app` whose result.json satisfies `want`, with that result.json."""
    for study in session.studies:
        if study.entry.app != app:
            continue
        result = json.loads((study.objects[0].parent / "result.json").read_text())
        if want(result):
            return study, result
    raise AssertionError(f"no analysed {app} study fits this test in {session.run_folders}")


def _series_number(page, series_instance_uid: str) -> int:
    number = page.evaluate(
        """uid => window.services.displaySetService.getActiveDisplaySets()
                  .find(ds => ds.SeriesInstanceUID === uid)?.SeriesNumber""",
        series_instance_uid,
    )
    assert number is not None, f"series {series_instance_uid} is not in OHIF's study browser"
    return int(number)


def _canvas_points(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


def _on_viewport(mask: np.ndarray, camera: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An image-pixel mask carried onto the viewport's canvas pixels with OHIF's camera (nearest pixel)."""
    rows, cols = np.indices(shape[:2])
    inverse = np.linalg.inv(np.vstack([camera, [0, 0, 1]]))[:2]
    image_cols, image_rows = np.round(inverse @ np.stack([cols.ravel(), rows.ravel(), np.ones(cols.size)]))
    valid = (image_cols >= 0) & (image_rows >= 0) & (image_cols < mask.shape[1]) & (image_rows < mask.shape[0])
    carried = np.zeros(cols.size, dtype=bool)
    carried[valid] = mask[image_rows[valid].astype(int), image_cols[valid].astype(int)]
    return carried.reshape(shape[:2])


def _agreement(overlay: np.ndarray, mask: np.ndarray) -> float:
    """Intersection over union of the overlay and the mask, each grown by 2 pixels (resampling tolerance)."""
    grown_overlay, grown_mask = (ndimage.binary_dilation(m, iterations=2) for m in (overlay, mask))
    return float((grown_overlay & grown_mask).sum() / max((grown_overlay | grown_mask).sum(), 1))


def _open(browser, session: ViewerSession, study: ViewedStudy):
    page = browser.new_page()
    open_study(page, session.server.study_url(study.entry.study_uid))
    assert not error_boundary_shown(page)
    return page


def test_ankle_xray_fragment_boxes_from_the_sr_lie_on_the_radiograph(session, browser, screenshots: Path) -> None:
    study, result = _study(session, "ankle_xray", lambda r: r["status"] == "ok" and r["details"]["fragments"])
    # Each box must be drawn where result.json puts it. Drawing the SR layer races OHIF's own rendering on a busy
    # machine (seen once in CI: annotations in OHIF's state, none drawn); a second fresh page settles a lost race,
    # while a box OHIF misplaces or never draws fails both.
    attempts = []
    for attempt in range(2):
        drawn, shapes = _sr_boxes_drawn(session, browser, study, result, screenshots / "ohif_ankle_xray.png")
        attempts.append(f"page {attempt + 1}: {drawn} ({shapes} SVG shapes in the viewport)")
        if min(drawn.values()) > 0.8:
            break
    assert min(drawn.values()) > 0.8, f"share of each box's outline drawn where result.json puts it: {attempts}"


def _sr_boxes_drawn(session, browser, study, result: dict, screenshot: Path) -> tuple[dict[str, float], int]:
    """On a fresh page: the radiograph, then our SR over it; per box the share of its outline drawn, SVG shapes."""
    fragments = result["details"]["fragments"]
    radiograph = fragments[0]["sop_instance_uid"]
    on_it = [f for f in fragments if f["sop_instance_uid"] == radiograph]
    series = next(r for r in result["details"]["radiographs"] if r["sop_instance_uid"] == radiograph)
    page = _open(browser, session, study)
    load_series(page, _series_number(page, series["series_instance_uid"]))
    show_image(page, radiograph)
    before, camera = viewport_pixels(page), image_to_viewport(page)

    load_series(page, SR_SERIES_NUMBER)
    assert not error_boundary_shown(page)
    # OHIF offers to track the report's findings: it found measurements it can place on images
    assert page.get_by_text("continue tracking measurements").count() == 1
    answer_prompt(page, "No")  # tracking (hydration) fails in OHIF 3.13.2 for TID 1410 groups with measurements
    show_image(page, radiograph)
    np.testing.assert_allclose(image_to_viewport(page), camera, atol=0.5)
    annotated = page.evaluate(
        """() => cornerstoneTools.annotation.state.getAllAnnotations()
                  .filter(a => a.metadata.toolName === 'DICOMSRDisplay')
                  .map(a => a.metadata.referencedImageId)"""
    )
    assert sum(f"/instances/{radiograph}/" in image for image in annotated) == len(on_it)

    # changed pixels along each box's whole outline; the SR layer is drawn on an image-rendered event after the
    # annotations arrive, and on a busy machine that event can come first: ask for renders until the boxes show
    deadline = time.monotonic() + 30
    while True:
        drawn = _outlines_drawn(before, viewport_pixels(page), camera, on_it)
        if min(drawn.values()) > 0.8 or time.monotonic() > deadline:
            break
        render_again(page)
    page.screenshot(path=str(screenshot))
    shapes = svg_shapes(page)
    page.close()
    return drawn, shapes


def _outlines_drawn(before: np.ndarray, after: np.ndarray, camera: np.ndarray, fragments: list) -> dict[str, float]:
    """Per fragment, the share of its box outline (away from the canvas edges) where the viewport changed."""
    moved = ndimage.binary_dilation(changed(before, after), iterations=3)
    drawn = {}
    for fragment in fragments:
        x0, y0, x1, y1 = fragment["box"]
        t = np.linspace(0.0, 1.0, 25)[:, None]
        outline = np.vstack([[x0, y0] + t * [x1 - x0, 0], [x1, y0] + t * [0, y1 - y0],
                             [x1, y1] - t * [x1 - x0, 0], [x0, y1] - t * [0, y1 - y0]])  # fmt: skip
        u, v = np.round(_canvas_points(camera, outline)).astype(int).T
        inside = (u >= 0) & (v >= 0) & (u < moved.shape[1]) & (v < moved.shape[0])
        assert inside.all(), f"{fragment['tracking_id']} lies outside the viewport"
        # a line on the canvas's very edge is clipped there: judge the outline away from the edges
        away = (u >= 3) & (v >= 3) & (u < moved.shape[1] - 3) & (v < moved.shape[0] - 3)
        drawn[fragment["tracking_id"]] = round(float(moved[v[away], u[away]].mean()), 2)
    return drawn


def test_olt_mri_sr_is_read_by_ohif_and_its_key_images_show(session, browser, screenshots: Path) -> None:
    study, result = _study(session, "olt_mri", lambda r: r["status"] == "ok")
    tracking_ids = sorted(f["tracking_id"] for f in result["report"]["findings"])
    page = _open(browser, session, study)
    load_series(page, SR_SERIES_NUMBER, rendered=False)  # nothing to draw: no finding has an image region
    page.wait_for_function(
        "() => window.services.displaySetService.getActiveDisplaySets().some(ds => ds.Modality === 'SR' && ds.isLoaded)"
    )
    # OHIF 3.13.2 throws on TID 1501 groups (no image region) unless viewer/app_config.py works around it
    assert not error_boundary_shown(page)
    read = page.evaluate(
        """() => window.services.displaySetService.getActiveDisplaySets()
                  .filter(ds => ds.Modality === 'SR' && ds.isLoaded)
                  .flatMap(ds => ds.measurements.map(m => m.TrackingIdentifier))"""
    )
    assert sorted(read) == tracking_ids

    load_series(page, SC_SERIES_NUMBER)
    # the key image of the most probable series: OHIF shows it with the heat map and the call burned in
    top = max(result["details"]["series"], key=lambda series: series["probability"])
    key_image = next(p for p in study.objects if p.name == f"key_{top['rule'].replace(' ', '_')}_sc.dcm")
    show_image(page, str(pydicom.dcmread(key_image, stop_before_pixels=True).SOPInstanceUID))
    shown = viewport_pixels(page)
    assert (np.ptp(shown.astype(int), axis=2) > 60).mean() > 0.01, "the key image's colour heat map is not shown"
    page.screenshot(path=str(screenshots / "ohif_olt_mri.png"))
    page.close()


def test_onfh_mri_seg_overlays_the_t1_series_in_the_right_place(session, browser, screenshots: Path) -> None:
    study, result = _study(session, "onfh_mri", lambda r: r["status"] == "ok" and r["details"]["hips"])
    seg_path = next(p for p in study.objects if p.name.endswith("_seg.dcm"))
    seg = hd.seg.segread(seg_path)
    hips = result["details"]["hips"]
    key = max(hips.values(), key=lambda hip: hip["head_pixels_key"])["key_slice_sop_instance_uid"]
    masks = seg.get_pixels_by_source_instance(
        [key], ignore_spatial_locations=True, assert_missing_frames_are_empty=True
    )[0]  # (rows, cols, segments)
    expected = masks.any(axis=-1)
    assert expected.any(), "the SEG has nothing on the key slice"

    page = _open(browser, session, study)
    load_series(page, _series_number(page, result["details"]["series_instance_uid"]))
    show_image(page, key)
    before, camera = viewport_pixels(page), image_to_viewport(page)
    load_series(page, SEG_SERIES_NUMBER)
    answer_prompt(page, "Yes")
    show_image(page, key)
    np.testing.assert_allclose(image_to_viewport(page), camera, atol=0.5)
    on_viewport = _on_viewport(expected, camera, before.shape)
    deadline = time.monotonic() + 20  # the labelmap is drawn after the image: a busy machine lags
    while True:
        overlay = changed(before, viewport_pixels(page))
        if overlay.sum() > 0.5 * on_viewport.sum() or time.monotonic() > deadline:
            break
        time.sleep(1)
    page.screenshot(path=str(screenshots / "ohif_onfh_mri.png"))  # again below, with the segments listed
    assert overlay.sum() > 0.5 * on_viewport.sum(), "the SEG overlay is missing"
    # within 2-3 canvas pixels (the viewport resamples the mask, ~2 canvas pixels per image pixel): the overlay
    # is where the masks are, and covers them
    near = ndimage.binary_dilation(on_viewport, iterations=3)
    assert overlay[near].sum() / overlay.sum() > 0.95, "the overlay lies outside the segmented pixels"
    covered = ndimage.binary_dilation(overlay, iterations=2)[on_viewport].mean()
    assert covered > 0.9, f"only {covered:.0%} of the segmented pixels carry the overlay"
    # and it fits the masks better than the same masks mirrored left-right or up-down, or moved by 4 pixels
    fit = _agreement(overlay, on_viewport)
    wrong = {"mirrored": expected[:, ::-1], "flipped": expected[::-1], "moved": np.roll(expected, 4, axis=1)}
    for name, mask in wrong.items():
        worse = _agreement(overlay, _on_viewport(mask, camera, overlay.shape))
        assert fit > worse + 0.1, f"the overlay fits the masks {name} ({worse:.2f}) about as well ({fit:.2f})"

    page.locator('[data-cy="panelSegmentation-btn"]').click()
    labels = [str(item.SegmentLabel) for item in seg.SegmentSequence]
    for label in labels:
        page.get_by_text(label, exact=True).first.wait_for(timeout=20000)
    listed = page.evaluate(
        """() => window.services.segmentationService.getSegmentations()
                  .flatMap(s => Object.values(s.segments).filter(Boolean).map(x => x.label))"""
    )
    assert sorted(listed) == sorted(labels)
    page.screenshot(path=str(screenshots / "ohif_onfh_mri.png"))
    page.close()
