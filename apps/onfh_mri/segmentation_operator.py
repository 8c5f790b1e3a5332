"""onfh_mri operator: decodes the axial T1 series, finds both femoral heads and segments each with the U-Net."""

from __future__ import annotations

import logging

import numpy as np
import torch
from monai.deploy.core import Fragment
from scipy import ndimage

from apps.onfh_mri.hip_crop import HipCrop, normalise_crop
from apps.onfh_mri.hip_locator import HeadLocation, locate_femoral_heads, patient_x_of_columns
from operators.model_store import LoadedModel, ModelStore
from operators.study_stage import StudyStageOperator
from operators.study_work import SeriesImages, StudyWork

__all__ = ["FemoralHeadSegmentationOperator", "segment_head", "series_geometry"]

logger = logging.getLogger(__name__)


def series_geometry(images: SeriesImages) -> tuple[tuple[float, float], np.ndarray]:
    """Pixel spacing (row, col) in mm and the patient x of each column, from the first slice's header."""
    header = images.instances[0].header
    spacing = (float(header.PixelSpacing[0]), float(header.PixelSpacing[1]))
    column_x = patient_x_of_columns(
        list(header.ImageOrientationPatient), list(header.ImagePositionPatient), spacing, int(header.Columns)
    )
    return spacing, column_x


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = ndimage.sum(mask, labels, index=range(1, count + 1))
    return labels == (int(np.argmax(sizes)) + 1)


def segment_head(
    model: LoadedModel, volume: np.ndarray, location: HeadLocation, spacing: tuple[float, float], batch_size: int
) -> np.ndarray:
    """Femoral-head mask (slices, rows, cols) on the source grid: crop per slice, U-Net, back to the source."""
    size = int(model.meta["input_size"][0])
    crop = HipCrop(location.center_rc, float(model.meta["crop_mm"]), size, spacing)
    batch = np.stack([normalise_crop(crop.crop(plane)) for plane in volume])[:, None]
    logits = model.predict(torch.from_numpy(batch), batch_size=batch_size)[model.meta["outputs"][0]]
    probabilities = torch.sigmoid(logits[:, 0]).numpy()
    threshold = float(model.meta["threshold"])
    masks = np.stack([crop.uncrop(p, volume.shape[1:]) >= threshold for p in probabilities])
    # One head per side: keep the 3D component the locator pointed at (or the largest when it missed).
    labels, _ = ndimage.label(masks)
    r, c = (int(round(v)) for v in location.center_rc)
    inside = 0 <= r < masks.shape[1] and 0 <= c < masks.shape[2]
    at_centre = labels[location.slice_index, r, c] if inside else 0
    return labels == at_centre if at_centre else _largest_component(masks)


class FemoralHeadSegmentationOperator(StudyStageOperator):
    """Per decoded series: per hip the located head and its mask (outputs "head_R"/"head_L").

    Named input:
        decoded_series: StudyWork whose series_images carry the axial T1 slices' pixels.
    Named output:
        head_masks: StudyWork whose series_images carry pixels and, per side found, a boolean mask volume.
    """

    INPUT = "decoded_series"
    OUTPUT = "head_masks"
    STAGE = "inference"

    def __init__(self, fragment: Fragment, *args, model_store: ModelStore, batch_size: int = 8, **kwargs) -> None:
        self._store = model_store
        self._batch_size = batch_size
        super().__init__(fragment, *args, **kwargs)

    def process(self, work: StudyWork) -> None:
        for images in work.series_images:
            selected = images.selected
            shapes = {p.shape for p in images.pixels}
            if len(shapes) != 1:
                raise ValueError(f"series {selected.series.uid} mixes slice sizes {sorted(shapes)}")
            volume = np.stack(images.pixels).astype(np.float32)
            spacing, column_x = series_geometry(images)
            model = self._store.get(selected.model)
            for side, location in locate_femoral_heads(volume, spacing, column_x).items():
                images.outputs[f"head_{side}"] = segment_head(model, volume, location, spacing, self._batch_size)
