"""Model contracts: the meta.json every exported model carries, one typed class per model kind.

The exporter (`training.export`) refuses to write a model whose meta does not parse here, and the model
store parses it again when it loads the file, so an app holds a `ClassifierMeta`, `DetectorMeta` or
`SegmenterMeta` and never reads a meta key by string. The kind is the meta's "task":

* "classification" → ClassifierMeta: input size, channels, mean/std, intensity scaling, labels,
  positive index and threshold; `crop` when the classifier reads a square crop around a detection;
* "detection" → DetectorMeta: the same preprocessing plus the RetinaNet geometry under "detector";
* "segmentation" → SegmenterMeta: input size, crop side in mm, normalisation, activation and threshold.

Every key is checked at once and the error lists every missing or wrong one, so a bad model stops a run at
start (exit 2) instead of failing each study.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

__all__ = [
    "ModelMetaError",
    "ModelMeta",
    "ImageNormalisation",
    "SquareCrop",
    "DetectorGeometry",
    "ClassifierMeta",
    "DetectorMeta",
    "SegmenterMeta",
    "parse_model_meta",
    "MetaT",
]


class ModelMetaError(ValueError):
    """A model's meta.json lacks a key its kind needs, or holds a value of the wrong type."""


class _Reader:
    """Reads typed values from a meta mapping, collecting every problem before raising once."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where
        self.problems: list[str] = []

    def _get(self, key: str, default: Any) -> Any:
        if key in self.data:
            return self.data[key]
        if default is _REQUIRED:
            self.problems.append(f"{key!r} missing")
        return default

    def string(self, key: str, default: Any = None) -> str:
        value = self._get(key, _REQUIRED if default is None else default)
        if value is _REQUIRED:
            return ""
        if not isinstance(value, str):
            self.problems.append(f"{key!r} should be a string, got {value!r}")
            return ""
        return value

    def number(self, key: str, default: Any = None) -> float:
        value = self._get(key, _REQUIRED if default is None else default)
        if value is _REQUIRED:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.append(f"{key!r} should be a number, got {value!r}")
            return 0.0
        return float(value)

    def integer(self, key: str, default: Any = None) -> int:
        value = self._get(key, _REQUIRED if default is None else default)
        if value is _REQUIRED:
            return 0
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(f"{key!r} should be an integer, got {value!r}")
            return 0
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            self.problems.append(f"{key!r} should be true or false, got {value!r}")
            return default
        return value

    def sequence(self, key: str, kind: type, length: int | None = None, default: Any = None) -> tuple:
        value = self._get(key, _REQUIRED if default is None else default)
        if value is _REQUIRED:
            return ()
        ok = isinstance(value, Sequence) and not isinstance(value, str)
        ok = ok and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
        if not ok or (length is not None and len(value) != length) or not value:
            size = f"{length} " if length else "a non-empty list of "
            name = getattr(kind, "__name__", str(kind))
            self.problems.append(f"{key!r} should be {size}{name} values, got {value!r}")
            return ()
        return tuple(value)

    def mapping(self, key: str, required: bool = True) -> Mapping[str, Any] | None:
        value = self._get(key, _REQUIRED if required else None)
        if value is _REQUIRED or value is None:
            return None if not required else {}
        if not isinstance(value, Mapping):
            self.problems.append(f"{key!r} should be an object, got {value!r}")
            return {}
        return value

    def nested(self, key: str, required: bool = True) -> _Reader | None:
        value = self.mapping(key, required)
        if value is None:
            return None
        return _Reader(value, f"{self.where}[{key!r}]")

    def adopt(self, inner: _Reader) -> None:
        self.problems += [f"{inner.where}: {p}" for p in inner.problems]

    def check(self) -> None:
        if self.problems:
            raise ModelMetaError(f"{self.where}: " + "; ".join(self.problems))


_REQUIRED = object()


@dataclass(frozen=True)
class ImageNormalisation:
    """How an image becomes model input: intensity scaling to [0, 1], then per-channel (x - mean) / std.

    intensity "percentile": modality values (MONOCHROME1 mirrored) between their 0.5th and 99.5th percentiles,
    padding left out (every model of this suite); "voi": presentation values, the image's own VOI (window or VOI
    LUT, `dicom_in.pixel_decode.presentation_values`), for a model trained on what a viewer shows.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    intensity: str = "percentile"

    INTENSITIES: ClassVar[tuple[str, ...]] = ("percentile", "voi")

    @classmethod
    def read(cls, meta: _Reader, channels: int) -> ImageNormalisation:
        mean = meta.sequence("mean", float | int)
        std = meta.sequence("std", float | int)
        intensity = meta.string("intensity", "percentile")
        if intensity not in cls.INTENSITIES:
            meta.problems.append(f"'intensity' {intensity!r} is not supported (expected one of {cls.INTENSITIES})")
        if mean and std and (len(mean) != channels or len(std) != channels):
            meta.problems.append(f"'mean'/'std' need {channels} values each (one per channel), got {mean} / {std}")
        if any(s <= 0 for s in std):
            meta.problems.append(f"'std' values must be positive, got {std}")
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std), intensity)


@dataclass(frozen=True)
class SquareCrop:
    """A classifier that reads a square crop around a box: side = longest box side x (1 + margin)."""

    margin: float
    source: str = "original"


@dataclass(frozen=True)
class DetectorGeometry:
    """RetinaNet anchors and box selection, written at training time so inference builds the same detector."""

    feature_map_strides: tuple[int, ...]
    base_anchor_shapes: tuple[tuple[float, float], ...]
    score_thresh: float
    topk_candidates_per_level: int
    nms_thresh: float
    detections_per_img: int

    @classmethod
    def read(cls, meta: _Reader) -> DetectorGeometry:
        shapes = meta.sequence("base_anchor_shapes", Sequence)
        if shapes and not all(len(s) == 2 and all(isinstance(v, int | float) for v in s) for s in shapes):
            meta.problems.append(f"'base_anchor_shapes' should be (w, h) pairs, got {shapes!r}")
            shapes = ()
        return cls(
            feature_map_strides=tuple(int(v) for v in meta.sequence("feature_map_strides", int)),
            base_anchor_shapes=tuple((float(w), float(h)) for w, h in shapes),
            score_thresh=meta.number("score_thresh"),
            topk_candidates_per_level=meta.integer("topk_candidates_per_level"),
            nms_thresh=meta.number("nms_thresh"),
            detections_per_img=meta.integer("detections_per_img"),
        )


@dataclass(frozen=True)
class ModelMeta:
    """What every model states about itself: name, version, task, labels, input, outputs, provenance."""

    TASK: ClassVar[str] = ""

    name: str
    version: str
    labels: tuple[str, ...]
    input_size: tuple[int, int]
    channels: int
    outputs: tuple[str, ...]
    demo: bool
    training: Mapping[str, Any] = field(repr=False)
    raw: Mapping[str, Any] = field(repr=False, compare=False)  # the whole meta.json, for model cards

    @property
    def banner(self) -> str:
        """What the pictures made with this model say about it."""
        return "DEMO MODEL - NOT FOR CLINICAL USE" if self.demo else "Research use"

    @property
    def weights_sha256(self) -> str:
        """SHA-256 of the weights (state dict), written by the exporter."""
        return str(self.raw.get("weights_sha256", ""))

    @staticmethod
    def _common(meta: _Reader) -> dict[str, Any]:
        size = meta.sequence("input_size", int, length=2)
        return {
            "name": meta.string("name"),
            "version": meta.string("version"),
            "labels": meta.sequence("labels", str),
            "input_size": (int(size[0]), int(size[1])) if size else (0, 0),
            "channels": meta.integer("channels", 1),
            "outputs": meta.sequence("outputs", str),
            "demo": meta.flag("demo", False),
            "training": meta.mapping("training", required=False) or {},
            "raw": meta.data,
        }

    @classmethod
    def read(cls, meta: _Reader) -> ModelMeta:
        raise NotImplementedError


@dataclass(frozen=True)
class ClassifierMeta(ModelMeta):
    """An image classifier: softmax probabilities and a class activation map ("probabilities", "cam")."""

    TASK: ClassVar[str] = "classification"

    normalisation: ImageNormalisation = field(default=ImageNormalisation((0.0,), (1.0,)))
    positive_index: int = 1
    threshold: float = 0.5
    crop: SquareCrop | None = None

    @classmethod
    def read(cls, meta: _Reader) -> ClassifierMeta:
        common = cls._common(meta)
        crop = None
        crop_reader = meta.nested("crop", required=False)
        if crop_reader is not None:
            crop = SquareCrop(margin=crop_reader.number("margin"), source=crop_reader.string("source", "original"))
            meta.adopt(crop_reader)
        positive = meta.integer("positive_index", 1)
        if common["labels"] and not 0 <= positive < len(common["labels"]):
            meta.problems.append(f"'positive_index' {positive} is not an index of labels {common['labels']}")
        normalisation = ImageNormalisation.read(meta, common["channels"])
        if crop is not None and normalisation.intensity != "percentile":
            meta.problems.append(
                "a crop classifier reads crops of the percentile window: 'intensity' must be 'percentile'"
            )
        return cls(
            **common,
            normalisation=normalisation,
            positive_index=positive,
            threshold=meta.number("threshold"),
            crop=crop,
        )


@dataclass(frozen=True)
class DetectorMeta(ModelMeta):
    """A box detector (RetinaNet): outputs boxes and scores; anchors and box selection in `detector`."""

    TASK: ClassVar[str] = "detection"

    normalisation: ImageNormalisation = field(default=ImageNormalisation((0.0,), (1.0,)))
    detector: DetectorGeometry | None = None

    @classmethod
    def read(cls, meta: _Reader) -> DetectorMeta:
        common = cls._common(meta)
        geometry_reader = meta.nested("detector")
        geometry = DetectorGeometry.read(geometry_reader)
        meta.adopt(geometry_reader)
        return cls(**common, normalisation=ImageNormalisation.read(meta, common["channels"]), detector=geometry)


@dataclass(frozen=True)
class SegmenterMeta(ModelMeta):
    """A binary segmenter on square crops `crop_mm` wide: one logits map, sigmoid, threshold."""

    TASK: ClassVar[str] = "segmentation"

    crop_mm: float = 0.0
    normalisation_method: str = ""
    activation: str = "sigmoid"
    threshold: float = 0.5

    @classmethod
    def read(cls, meta: _Reader) -> SegmenterMeta:
        common = cls._common(meta)
        crop_mm = meta.number("crop_mm")
        if "crop_mm" in meta.data and crop_mm <= 0:
            meta.problems.append(f"'crop_mm' must be positive, got {crop_mm}")
        activation = meta.string("activation", "sigmoid")
        if activation != "sigmoid":
            meta.problems.append(f"'activation' {activation!r} is not supported (expected 'sigmoid')")
        return cls(
            **common,
            crop_mm=crop_mm,
            normalisation_method=meta.string("normalisation"),
            activation=activation,
            threshold=meta.number("threshold"),
        )


_KINDS: dict[str, type[ModelMeta]] = {k.TASK: k for k in (ClassifierMeta, DetectorMeta, SegmenterMeta)}
MetaT = TypeVar("MetaT", bound=ModelMeta)


def parse_model_meta(data: Mapping[str, Any], where: str = "meta.json") -> ModelMeta:
    """The typed contract of a meta.json; raises ModelMetaError listing every missing or wrong key."""
    if not isinstance(data, Mapping):
        raise ModelMetaError(f"{where}: expected a JSON object, got {type(data).__name__}")
    task = data.get("task")
    if task not in _KINDS:
        raise ModelMetaError(f"{where}: 'task' must be one of {sorted(_KINDS)}, got {task!r}")
    reader = _Reader(data, where)
    meta = _KINDS[task].read(reader)
    if meta.outputs and meta.labels and task == "classification" and "probabilities" not in meta.outputs:
        reader.problems.append(f"'outputs' of a classifier must name 'probabilities', got {meta.outputs}")
    reader.check()
    return meta
