"""onfh_mri operators around the shared inference step: per-hip crops in, per-hip head masks out.

The U-Net itself runs in the shared TorchScriptInferenceOperator between them, so locating and cropping
the next study, and mapping the last one's masks back, overlap with the forward pass instead of adding to it.
"""

from __future__ import annotations

import logging

import torch
from holoscan.core import Fragment

from apps.onfh_mri.hip_regions import HipPayload, head_mask, hip_regions, series_geometry, series_volume
from inference.model_meta import SegmenterMeta
from inference.model_store import ModelStore
from operators.study_stage import StudyStageOperator
from pipeline.study_work import StudyWork

__all__ = ["HipCropOperator", "HeadMaskOperator"]

logger = logging.getLogger(__name__)


class HipCropOperator(StudyStageOperator):
    """Per decoded series: both femoral heads located, and every slice cropped around each (the model input).

    Named input:
        decoded_series: StudyWork whose series_images carry the axial T1 slices' pixels.
    Named output:
        model_inputs: the same StudyWork; each series has a HipPayload (hips by side, "R"/"L") and the crops
        of all its hips as `model_input` (no input when no head was found).
    """

    INPUT = "decoded_series"
    OUTPUT = "model_inputs"
    STAGE = "decode_preprocess"

    def __init__(self, fragment: Fragment, *args, model_store: ModelStore, **kwargs) -> None:
        self._store = model_store
        super().__init__(fragment, *args, **kwargs)

    def process(self, work: StudyWork) -> None:
        for images in work.series_images:
            spacing, column_x = series_geometry(images)
            meta = self._store.get(images.selected.model, SegmenterMeta).meta
            regions, crops = hip_regions(series_volume(images), spacing, column_x, meta)
            images.app_data = HipPayload(regions)
            images.model_input = torch.from_numpy(crops) if regions else None
            if not regions:
                logger.warning("Study %s: no femoral head located in %s", work.uid, images.selected.series.uid)


class HeadMaskOperator(StudyStageOperator):
    """Per series and hip: the U-Net's crop probabilities mapped back to a head mask on the source grid.

    Named input:
        predictions: StudyWork whose series carry a HipPayload and the model's outputs for their crops.
    Named output:
        head_masks: the same StudyWork; each HipPayload holds a boolean head mask volume per side (logits released).
    """

    INPUT = "predictions"
    OUTPUT = "head_masks"
    STAGE = "postprocess"

    def __init__(self, fragment: Fragment, *args, model_store: ModelStore, **kwargs) -> None:
        self._store = model_store
        super().__init__(fragment, *args, **kwargs)

    def process(self, work: StudyWork) -> None:
        for images in work.series_images:
            hips = images.payload(HipPayload)
            if not hips.regions:
                continue
            meta = self._store.get(images.selected.model, SegmenterMeta).meta
            logits = images.outputs.pop(meta.outputs[0])
            shape = images.pixels[0].shape
            for side, region in hips.regions.items():
                hips.head_masks[side] = head_mask(region, logits, shape, meta.threshold)
