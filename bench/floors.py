"""Model floors: each app's forward passes alone, over the inputs the app would build, already in memory.

Inputs are prepared with the apps' own functions (selection, decode, preprocessing, crops) outside the timing;
only the model calls (and, for the detector, MONAI's box decoding and NMS, which are part of the model's
work) are timed. Nothing in a pipeline can be faster than this.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

from apps.ankle_xray.app import CLASSIFIER, AnkleXrayApp
from apps.catalog import app_info
from apps.olt_mri.app import OltMriApp
from apps.onfh_mri.app import OnfhMriApp
from apps.onfh_mri.hip_regions import hip_regions, series_geometry, series_volume
from dicom_in.series_decode import DecodedSeries, decode_selected
from dicom_in.series_selection import SelectionRules, select_series
from dicom_in.study_index import index_folder, load_study
from inference.box_detection import box_detector, detect_source_boxes
from inference.model_meta import ClassifierMeta, DetectorMeta, SegmenterMeta
from inference.model_store import ModelStore, pick_device
from inference.preprocess import PreprocessSpec
from inference.preprocessor import make_preprocessor
from inference.square_crop import classify_crops, crop_inputs

__all__ = ["model_floor", "median_pass_seconds", "REPEATS"]


def _decoded(input_dir: Path, rules_path: Path) -> list[DecodedSeries]:
    """Every series the app's rules select in the folder, decoded (series without a usable image left out)."""
    index, rules = index_folder(input_dir), SelectionRules.from_file(rules_path)
    selected = [s for uid in index.study_uids for s in select_series(load_study(uid, index.studies[uid]), rules)]
    return decode_selected(selected, pick_device(), [])


REPEATS = 5  # timed passes over all calls; one pass over 3 small studies moved 12 % between bench runs


def median_pass_seconds(calls: list[Callable[[], object]], repeats: int = REPEATS) -> float:
    """Median seconds of one pass over `calls`, after a warm-up."""
    for call in calls[:2]:  # warm-up: the first calls pay for TorchScript's graph optimisation
        call()
    passes = []
    for _ in range(repeats):
        start = time.perf_counter()
        for call in calls:
            call()
        passes.append(time.perf_counter() - start)
    return float(np.median(passes))


Calls = list[Callable[[], object]]


def _classifier_calls(series: list[DecodedSeries], store: ModelStore, batch_size: int) -> tuple[Calls, int]:
    """olt_mri: every selected slice through its weighting's classifier."""
    calls, images = [], 0
    for decoded in series:
        model = store.get(decoded.selected.model, ClassifierMeta)
        batch = make_preprocessor(PreprocessSpec.from_meta(model.meta))(decoded.pixels)
        calls.append(partial(model.predict, batch, batch_size))
        images += len(batch)
    return calls, images


def _fragment_calls(series: list[DecodedSeries], store: ModelStore, batch_size: int) -> tuple[Calls, int]:
    """ankle_xray: the detector on every radiograph, then the classifier on a crop of every detection."""
    classifier = store.get(CLASSIFIER, ClassifierMeta)
    calls, images = [], 0
    for decoded in series:
        model = store.get(decoded.selected.model, DetectorMeta)
        detector = box_detector(model.module, model.meta.detector)
        batch = make_preprocessor(PreprocessSpec.from_meta(model.meta))(decoded.pixels)
        shapes = [pixels.shape for pixels in decoded.pixels]
        detect = partial(detect_source_boxes, detector, batch, model.meta.input_size, shapes, batch_size)
        calls.append(detect)
        detections = detect()
        if detections:
            crops = crop_inputs(decoded.pixels, [(d.image_index, d.box) for d in detections], classifier.meta)
            calls.append(partial(classify_crops, classifier, crops, batch_size))
        images += len(decoded.pixels)
    return calls, images


def _segmenter_calls(series: list[DecodedSeries], store: ModelStore, batch_size: int) -> tuple[Calls, int]:
    """onfh_mri: the U-Net on every slice's crop of every hip the locator finds, both hips in one pass."""
    calls, crops_count = [], 0
    for decoded in series:
        model = store.get(decoded.selected.model, SegmenterMeta)
        spacing, column_x = series_geometry(decoded)
        regions, crops = hip_regions(series_volume(decoded), spacing, column_x, model.meta)
        if regions:
            calls.append(partial(model.predict, torch.from_numpy(crops), batch_size))
            crops_count += len(crops)
    return calls, crops_count


_CALLS = {"olt_mri": _classifier_calls, "ankle_xray": _fragment_calls, "onfh_mri": _segmenter_calls}
_BATCH_SIZES = {
    "olt_mri": OltMriApp.default_batch_size,
    "ankle_xray": AnkleXrayApp.default_batch_size,
    "onfh_mri": OnfhMriApp.default_batch_size,
}


def model_floor(
    app: str, input_dir: Path, models: Path, batch_size: int | None = None, repeats: int = REPEATS
) -> dict[str, float]:
    """Median seconds of the app's forward passes over the folder's selected series, and how many images."""
    store = ModelStore(models)  # the device the apps pick: CUDA when present
    for name, kind in app_info(app).models.items():
        store.get(name, kind)
    store.convert_to_mkldnn()  # as a run of several studies does
    series = _decoded(input_dir, app_info(app).selection_rules)
    calls, images = _CALLS[app](series, store, batch_size or _BATCH_SIZES[app])
    return {"seconds": median_pass_seconds(calls, repeats), "images": float(images)}
