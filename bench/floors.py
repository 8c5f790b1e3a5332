"""Model floors: each app's forward passes alone, over the inputs the app would build, already in memory.

Inputs are prepared with the apps' own functions (selection, decode, preprocessing, crops) outside the timing;
only the model calls (and, for the detector, MONAI's box decoding and NMS, which are part of the model's
work) are timed. Nothing in a pipeline can be faster than this.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from apps.batch import BatchApplication
from apps.onfh_mri.app import OnfhMriApp
from apps.onfh_mri.hip_regions import hip_regions, series_geometry, series_volume
from operators.box_detector import to_source_box
from operators.crop_classifier import crop_model_input
from operators.fragment_detection import detect_boxes, detector_from_meta
from operators.model_store import ModelStore, pick_device
from operators.preprocess import PreprocessSpec, make_preprocessor, scale_to_unit
from operators.series_decoder import decode_selected
from operators.series_selection import SelectionRules, select_series
from operators.study_index import index_folder, load_study
from operators.study_work import SeriesImages

__all__ = ["classifier_floor", "fragment_floor", "segmenter_floor", "median_pass_seconds", "FLOORS", "REPEATS"]


def _decoded(input_dir: Path, rules_path: Path) -> list[SeriesImages]:
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


def classifier_floor(
    input_dir: Path,
    rules_path: Path,
    models: Path,
    batch_size: int = BatchApplication.default_batch_size,
    repeats: int = REPEATS,
) -> dict[str, float]:
    """olt_mri: every selected slice through its weighting's classifier."""
    store = ModelStore(models)  # the device the apps pick: CUDA when present
    batches = []
    for images in _decoded(input_dir, rules_path):
        model = store.get(images.selected.model)
        batches.append((model, make_preprocessor(PreprocessSpec.from_meta(model.meta))(images.pixels)))
    seconds = median_pass_seconds([lambda m=m, t=t: m.predict(t, batch_size) for m, t in batches], repeats)
    return {"seconds": seconds, "images": float(sum(len(t) for _, t in batches))}


def fragment_floor(
    input_dir: Path,
    rules_path: Path,
    models: Path,
    batch_size: int = BatchApplication.default_batch_size,
    repeats: int = REPEATS,
) -> dict[str, float]:
    """ankle_xray: the detector on every radiograph, then the classifier on a crop of every detection."""
    store = ModelStore(models)  # the device the apps pick: CUDA when present
    classifier = store.get("ankle_xray_classifier")
    calls, images_count = [], 0
    for images in _decoded(input_dir, rules_path):
        model = store.get(images.selected.model)
        detector = detector_from_meta(model.module, model.meta)
        batch = make_preprocessor(PreprocessSpec.from_meta(model.meta))(images.pixels)
        found = detect_boxes(detector, batch)
        size = tuple(model.meta["input_size"])
        crops = []
        for pixels, (boxes, _) in zip(images.pixels, found, strict=True):
            unit = scale_to_unit(pixels) if len(boxes) else None
            crops += [
                crop_model_input(unit, to_source_box(tuple(map(float, b)), size, pixels.shape), classifier.meta)
                for b in boxes
            ]
        calls.append(lambda d=detector, b=batch: detect_boxes(d, b))
        if crops:
            stacked = torch.from_numpy(np.stack(crops))
            calls.append(lambda t=stacked: classifier.predict(t, batch_size))
        images_count += len(images.pixels)
    return {"seconds": median_pass_seconds(calls, repeats), "images": float(images_count)}


def segmenter_floor(
    input_dir: Path,
    rules_path: Path,
    models: Path,
    batch_size: int = OnfhMriApp.default_batch_size,
    repeats: int = REPEATS,
) -> dict[str, float]:
    """onfh_mri: the U-Net on every slice's crop of every hip the locator finds, both hips in one pass."""
    store = ModelStore(models)  # the device the apps pick: CUDA when present
    calls, crops_count = [], 0
    for images in _decoded(input_dir, rules_path):
        model = store.get(images.selected.model)
        spacing, column_x = series_geometry(images)
        regions, crops = hip_regions(series_volume(images), spacing, column_x, model.meta)
        if regions:
            batch = torch.from_numpy(crops)
            calls.append(lambda m=model, b=batch: m.predict(b, batch_size))
            crops_count += len(crops)
    return {"seconds": median_pass_seconds(calls, repeats), "images": float(crops_count)}


FLOORS = {"olt_mri": classifier_floor, "ankle_xray": fragment_floor, "onfh_mri": segmenter_floor}
