"""The typed model contracts: every kind parses what the exporters write, and every gap is named at once."""

from __future__ import annotations

import pytest

from inference.model_meta import ClassifierMeta, DetectorMeta, ModelMetaError, SegmenterMeta, parse_model_meta

CLASSIFIER = {
    "name": "c",
    "version": "1.0.0",
    "task": "classification",
    "labels": ["no", "yes"],
    "input_size": [64, 64],
    "channels": 3,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "threshold": 0.5,
    "outputs": ["probabilities", "cam"],
    "demo": True,
}
DETECTOR = {
    "name": "d",
    "version": "1.0.0",
    "task": "detection",
    "labels": ["fragment"],
    "input_size": [256, 256],
    "channels": 1,
    "mean": [0.0],
    "std": [1.0],
    "outputs": ["boxes", "scores"],
    "detector": {
        "feature_map_strides": [8, 16],
        "base_anchor_shapes": [[8, 8], [12, 12]],
        "score_thresh": 0.3,
        "topk_candidates_per_level": 100,
        "nms_thresh": 0.2,
        "detections_per_img": 5,
    },
}
SEGMENTER = {
    "name": "s",
    "version": "1.0.0",
    "task": "segmentation",
    "labels": ["background", "femoral_head"],
    "input_size": [128, 128],
    "channels": 1,
    "crop_mm": 100.0,
    "normalisation": "per-crop percentile",
    "outputs": ["logits"],
    "activation": "sigmoid",
    "threshold": 0.5,
}


def test_each_kind_parses_to_its_typed_contract() -> None:
    classifier = parse_model_meta(CLASSIFIER)
    assert isinstance(classifier, ClassifierMeta) and classifier.crop is None and classifier.demo
    assert classifier.normalisation.mean == (0.485, 0.456, 0.406) and classifier.input_size == (64, 64)
    assert classifier.banner == "DEMO MODEL - NOT FOR CLINICAL USE"
    detector = parse_model_meta(DETECTOR)
    assert isinstance(detector, DetectorMeta)
    assert detector.detector.base_anchor_shapes == ((8.0, 8.0), (12.0, 12.0)) and detector.detector.nms_thresh == 0.2
    segmenter = parse_model_meta(SEGMENTER)
    assert isinstance(segmenter, SegmenterMeta) and segmenter.crop_mm == 100.0 and not segmenter.demo
    assert segmenter.banner == "Research use"


@pytest.mark.parametrize(
    ("meta", "dropped", "message"),
    [
        (CLASSIFIER, ("threshold", "mean"), r"'mean' missing; .*'threshold' missing"),
        (SEGMENTER, ("crop_mm",), r"'crop_mm' missing"),
        (DETECTOR, ("detector",), r"'detector' missing"),
    ],
)
def test_every_missing_key_is_named(meta: dict, dropped: tuple[str, ...], message: str) -> None:
    with pytest.raises(ModelMetaError, match=message):
        parse_model_meta({k: v for k, v in meta.items() if k not in dropped}, where="m.ts")


def test_wrong_values_are_named_with_the_value() -> None:
    with pytest.raises(ModelMetaError, match=r"'input_size' should be 2 int values, got \[64\]"):
        parse_model_meta({**CLASSIFIER, "input_size": [64]})
    with pytest.raises(ModelMetaError, match=r"'mean'/'std' need 3 values each"):
        parse_model_meta({**CLASSIFIER, "mean": [0.5]})
    with pytest.raises(ModelMetaError, match=r"\['detector'\]: 'nms_thresh' should be a number, got 'x'"):
        parse_model_meta({**DETECTOR, "detector": {**DETECTOR["detector"], "nms_thresh": "x"}})
    with pytest.raises(ModelMetaError, match=r"'task' must be one of .*got 'regression'"):
        parse_model_meta({**CLASSIFIER, "task": "regression"})
    with pytest.raises(ModelMetaError, match=r"'positive_index' 2 is not an index of labels"):
        parse_model_meta({**CLASSIFIER, "positive_index": 2})


def test_a_crop_classifier_carries_its_margin() -> None:
    meta = parse_model_meta({**CLASSIFIER, "crop": {"source": "original", "size": 64, "margin": 0.5}})
    assert meta.crop is not None and meta.crop.margin == 0.5
