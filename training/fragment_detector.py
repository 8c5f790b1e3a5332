"""The fragment detector: a light conv backbone + MONAI FPN feeding MONAI's RetinaNet (2D, one class), its
settings in one `DetectorConfig`, and a RetinaNetDetector subclass that trains without torchvision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from monai.apps.detection.networks.retinanet_detector import RetinaNetDetector
from monai.apps.detection.networks.retinanet_network import RetinaNet
from monai.apps.detection.utils.anchor_utils import AnchorGeneratorWithAnchorShape
from monai.losses import BoxGIoULoss
from monai.networks.blocks.feature_pyramid_network import FeaturePyramidNetwork
from torch import Tensor, nn

from inference.model_meta import DetectorGeometry

__all__ = [
    "anchor_generator",
    "build_detector",
    "DetectorConfig",
    "FragmentFeatureExtractor",
    "build_fragment_detector_network",
    "TrainableRetinaNetDetector",
    "build_trainable_detector",
]


def anchor_generator(geometry: DetectorGeometry) -> AnchorGeneratorWithAnchorShape:
    """Anchors (w, h) at the finest FPN level, scaled by each level's stride relative to the finest."""
    strides = list(geometry.feature_map_strides)
    scales = [s / strides[0] for s in strides]
    shapes = [list(shape) for shape in geometry.base_anchor_shapes]
    return AnchorGeneratorWithAnchorShape(feature_map_scales=scales, base_anchor_shapes=shapes, indexing="ij")


def build_detector(network: torch.jit.ScriptModule | nn.Module, geometry: DetectorGeometry) -> RetinaNetDetector:
    """MONAI's RetinaNetDetector (eval mode) around `network`, with the anchors and box selection of `geometry`.

    The reference for the app's inference.retinanet_boxes.RetinaNetBoxes (tests/inference compares the two).
    """
    detector = RetinaNetDetector(
        network=network,
        anchor_generator=anchor_generator(geometry),
        spatial_dims=2,
        num_classes=1,
        size_divisible=int(max(geometry.feature_map_strides)),
    )
    detector.set_box_selector_parameters(
        score_thresh=geometry.score_thresh,
        topk_candidates_per_level=geometry.topk_candidates_per_level,
        nms_thresh=geometry.nms_thresh,
        detections_per_img=geometry.detections_per_img,
    )
    return detector.eval()


# Settings the app needs to reproduce the training-time geometry; the rest of DetectorConfig is training only.
_GEOMETRY_FIELDS = (
    "input_size",
    "channels",
    "fpn_channels",
    "feature_map_strides",
    "base_anchor_shapes",
    "score_thresh",
    "nms_thresh",
    "detections_per_img",
    "topk_candidates_per_level",
    "labels",
)


@dataclass
class DetectorConfig:
    """Every detector setting: geometry (written to meta["detector"]) and training hyper-parameters."""

    # 384: a 2-4 mm fragment is then 4-7 pixels; at 256 it was 2-5, too few to place a box on (measured on the hard
    # phantoms: 5 of 8 small fragments missed at 256, 2 of 8 at 384 with the anchors below).
    input_size: int = 384
    # One stride-2 stage per entry: strides 2, 4, 8, 16.
    channels: tuple[int, ...] = (16, 32, 48, 64)
    fpn_channels: int = 32  # RetinaNet heads use GroupNorm(8): keep a multiple of 8
    feature_map_strides: tuple[int, ...] = (8, 16)
    # (w, h) at the finest level; each coarser level scales them by its stride ratio: 6-32 px anchors here.
    base_anchor_shapes: tuple[tuple[int, int], ...] = ((6, 6), (10, 10), (16, 16))
    score_thresh: float = 0.3
    nms_thresh: float = 0.2
    detections_per_img: int = 5
    topk_candidates_per_level: int = 100
    labels: tuple[str, ...] = ("fragment",)
    # training
    epochs: int = 30
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    atss_candidates: int = 4
    sampler_batch_per_image: int = 64
    sampler_positive_fraction: float = 0.3
    flip_prob: float = 0.5
    intensity_jitter: float = 0.1
    # "giou": generalised IoU on the decoded boxes, which is what a match at IoU 0.5 asks of a 2-4 mm fragment's
    # box; "smooth_l1": MONAI's default on the encoded offsets.
    box_loss: str = "giou"

    def detector_meta(self) -> dict[str, Any]:
        """The geometry for meta["detector"] (JSON-ready lists)."""
        data = asdict(self)
        return {key: _to_json(data[key]) for key in _GEOMETRY_FIELDS}

    def geometry(self) -> DetectorGeometry:
        """The geometry as the app reads it back from the meta (inference.model_meta.DetectorGeometry)."""
        return DetectorGeometry(
            feature_map_strides=tuple(self.feature_map_strides),
            base_anchor_shapes=tuple((float(w), float(h)) for w, h in self.base_anchor_shapes),
            score_thresh=float(self.score_thresh),
            topk_candidates_per_level=int(self.topk_candidates_per_level),
            nms_thresh=float(self.nms_thresh),
            detections_per_img=int(self.detections_per_img),
        )

    def training_meta(self) -> dict[str, Any]:
        """The training hyper-parameters, for meta["training"]."""
        data = asdict(self)
        return {f.name: _to_json(data[f.name]) for f in fields(self) if f.name not in _GEOMETRY_FIELDS}


def _to_json(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    return value


def _stage(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class FragmentFeatureExtractor(nn.Module):
    """Stride-2 conv stages → FPN on the stages at `feature_map_strides`; `out_channels` as RetinaNet asks."""

    def __init__(
        self, in_channels: int, channels: Sequence[int], feature_map_strides: Sequence[int], fpn_channels: int
    ) -> None:
        super().__init__()
        stage_strides = [2 ** (i + 1) for i in range(len(channels))]
        missing = [s for s in feature_map_strides if s not in stage_strides]
        if missing:
            raise ValueError(f"Strides {missing} not produced by {len(channels)} stages (strides {stage_strides})")
        widths = [in_channels, *channels]
        self.stages = nn.ModuleList([_stage(widths[i], widths[i + 1]) for i in range(len(channels))])
        self.return_stages: list[int] = [stage_strides.index(s) for s in feature_map_strides]
        self.fpn = FeaturePyramidNetwork(2, [channels[i] for i in self.return_stages], fpn_channels)
        self.out_channels = fpn_channels

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        features: dict[str, Tensor] = {}
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.return_stages:
                features[str(i)] = x
        return self.fpn(features)


def build_fragment_detector_network(config: DetectorConfig, in_channels: int = 1) -> RetinaNet:
    """MONAI RetinaNet (2D, one class) on the light backbone; scripts with torch.jit.script."""
    num_anchors = len(config.base_anchor_shapes)
    extractor = FragmentFeatureExtractor(in_channels, config.channels, config.feature_map_strides, config.fpn_channels)
    return RetinaNet(
        spatial_dims=2,
        num_classes=len(config.labels),
        num_anchors=num_anchors,
        feature_extractor=extractor,
        size_divisible=max(config.feature_map_strides),
    )


class TrainableRetinaNetDetector(RetinaNetDetector):
    """RetinaNetDetector whose anchor matching calls MONAI's ATSS matcher directly.

    The stock method dispatches on `isinstance(..., torchvision Matcher)`, which fails when torchvision is absent
    (MONAI's error message invites this override).
    """

    def compute_anchor_matched_idxs(
        self, anchors: list[Tensor], targets: list[dict[str, Tensor]], num_anchor_locs_per_level: Sequence[int]
    ) -> list[Tensor]:
        matched = []
        for anchors_per_image, targets_per_image in zip(anchors, targets, strict=True):
            boxes = targets_per_image[self.target_box_key].to(anchors_per_image.device)
            if boxes.numel() == 0:
                matched.append(torch.full((anchors_per_image.shape[0],), -1, dtype=torch.int64))
                continue
            _, idxs = self.proposal_matcher(
                boxes, anchors_per_image, num_anchor_locs_per_level, self.num_anchors_per_loc
            )
            matched.append(idxs)
        return matched


def build_trainable_detector(network: nn.Module, config: DetectorConfig) -> TrainableRetinaNetDetector:
    """The training wrapper: same anchors and box selection as the app's `build_detector`, plus ATSS + HNS."""
    reference = build_detector(network, config.geometry())
    detector = TrainableRetinaNetDetector(
        network=network,
        anchor_generator=anchor_generator(config.geometry()),
        spatial_dims=2,
        num_classes=len(config.labels),
        size_divisible=max(config.feature_map_strides),
    )
    detector.box_selector = reference.box_selector
    detector.set_atss_matcher(num_candidates=config.atss_candidates, center_in_gt=False)
    detector.set_hard_negative_sampler(
        batch_size_per_image=config.sampler_batch_per_image, positive_fraction=config.sampler_positive_fraction
    )
    if config.box_loss == "giou":
        detector.set_box_regression_loss(BoxGIoULoss(reduction="mean"), encode_gt=False, decode_pred=True)
    elif config.box_loss != "smooth_l1":
        raise ValueError(f"box_loss must be 'smooth_l1' or 'giou', got {config.box_loss!r}")
    return detector
