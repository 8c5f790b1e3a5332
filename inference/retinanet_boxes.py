"""RetinaNet box selection at inference, torch only: what MONAI's `RetinaNetDetector.forward` does in eval mode.

Importing anything under `monai` runs MONAI's `__init__`, which imports all of MONAI (scipy.signal, pandas,
sklearn, ...: seconds of start-up for a process that runs one study). The app only needs the detector's
post-processing, so it is reproduced here step for step from MONAI 1.6 (monai/apps/detection): padding to
`size_divisible` at the end (detector_utils.pad_images), per-level anchors (AnchorGeneratorWithAnchorShape,
indexing "ij"), box decoding (BoxCoder.decode_single, weights 1), per-level score threshold and top-k, clipping
to the unpadded image (clip_boxes_to_image, remove_empty), NMS over all levels (batched_nms), detections per
image. 2D only. The same arithmetic in the same order, so boxes and scores equal MONAI's bit for bit; MONAI stays
the reference (training builds its RetinaNetDetector, tests/inference/test_retinanet_boxes.py compares both).

Like MONAI's detector, images come in as (B, C, W, H) (see inference.box_detection.to_detector_layout) and
boxes go out as (x0, y0, x1, y1) along those two axes.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inference.model_meta import DetectorGeometry

__all__ = ["RetinaNetBoxes", "cell_anchors"]

# MONAI's BoxCoder default clip for the exp() of the size offsets, and box_utils' COMPUTE_DTYPE.
_BOXES_XFORM_CLIP = math.log(1000.0 / 16)
_COMPUTE_DTYPE = torch.float32


def cell_anchors(geometry: DetectorGeometry) -> list[Tensor]:
    """Per FPN level, the anchors (A, 4) centred on 0: base (w, h) scaled by the level's stride / the finest's."""
    strides = list(geometry.feature_map_strides)
    shapes = torch.Tensor([list(shape) for shape in geometry.base_anchor_shapes])
    anchors = []
    for stride in strides:
        half = (stride / strides[0]) * shapes / 2.0
        anchors.append(torch.cat([-half, half], dim=1).round().to(dtype=torch.float32))
    return anchors


class RetinaNetBoxes:
    """A RetinaNet network plus the box selection of its `DetectorGeometry`, as MONAI's detector in eval mode.

    Called on (B, C, W, H) images it returns, per image, a dict with `target_box_key` (N, 4) boxes,
    `pred_score_key` (N,) scores and `target_label_key` (N,) labels, highest score first (MONAI's output).
    """

    target_box_key = "boxes"
    target_label_key = "labels"
    pred_score_key = "labels_scores"

    def __init__(self, network: torch.jit.ScriptModule | nn.Module, geometry: DetectorGeometry) -> None:
        self.network = network
        # As RetinaNetDetector.get_attribute_from_network: the network's own attributes win.
        self.spatial_dims = int(getattr(network, "spatial_dims", 2))
        if self.spatial_dims != 2:
            raise ValueError(f"Only 2D detectors are supported; the network has spatial_dims={self.spatial_dims}")
        self.num_classes = int(getattr(network, "num_classes", 1))
        divisible: Any = getattr(network, "size_divisible", int(max(geometry.feature_map_strides)))
        self.size_divisible = tuple(divisible) if isinstance(divisible, tuple | list) else (int(divisible),) * 2
        self.cls_key = str(getattr(network, "cls_key", "classification"))
        self.box_reg_key = str(getattr(network, "box_reg_key", "box_regression"))
        self.cell_anchors = cell_anchors(geometry)
        self.num_anchors_per_loc = self.cell_anchors[0].shape[0]
        network_anchors = int(getattr(network, "num_anchors", self.num_anchors_per_loc))
        if network_anchors != self.num_anchors_per_loc:
            raise ValueError(
                f"Number of feature map channels ({network_anchors}) "
                f"should match with number of anchors at each location ({self.num_anchors_per_loc})."
            )
        self.score_thresh = geometry.score_thresh
        self.topk_candidates_per_level = geometry.topk_candidates_per_level
        self.nms_thresh = geometry.nms_thresh
        self.detections_per_img = geometry.detections_per_img
        self.box_coder_weights = (1.0,) * 2 * self.spatial_dims

    def eval(self) -> RetinaNetBoxes:
        """Puts the network in eval mode (this class has no training mode)."""
        self.network.eval()
        return self

    def __call__(self, images: Tensor) -> list[dict[str, Tensor]]:
        """Detections per image of a (B, C, W, H) batch (RetinaNetDetector.forward, eval, no inferer)."""
        if images.ndim != 2 + self.spatial_dims:
            raise ValueError(f"Expected images (B, C, W, H); got shape {tuple(images.shape)}")
        images, image_sizes = self._pad(images)
        head_outputs = self._head_outputs(self.network(images))
        anchors = self._anchors(images, head_outputs[self.cls_key])
        num_anchor_locs_per_level = [x.shape[2:].numel() for x in head_outputs[self.cls_key]]
        reshaped = {key: self._reshape_maps(head_outputs[key]) for key in (self.cls_key, self.box_reg_key)}
        return self._postprocess(reshaped, anchors, image_sizes, num_anchor_locs_per_level)

    def _pad(self, images: Tensor) -> tuple[Tensor, list[list[int]]]:
        """Zero padding at the end of each spatial axis up to a multiple of size_divisible (pad_images)."""
        orig_size = list(images.shape[-self.spatial_dims :])
        divisible = zip(orig_size, self.size_divisible, strict=True)
        new_size = [int(math.ceil(dim / k) * k) if k > 0 else dim for dim, k in divisible]
        pad = [(0, max(new - old, 0)) for new, old in zip(new_size, orig_size, strict=True)]
        torch_pad = [value for pair in pad for value in pair[::-1]][::-1]
        sizes = [orig_size] * images.shape[0]
        if max(torch_pad) == 0:
            return images, sizes
        return F.pad(images, torch_pad, mode="constant"), sizes

    def _head_outputs(self, outputs: Any) -> dict[str, list[Tensor]]:
        """The network's outputs as {cls_key: [per level], box_reg_key: [per level]}."""
        if isinstance(outputs, tuple | list):
            half = len(outputs) // 2
            return {self.cls_key: list(outputs[:half]), self.box_reg_key: list(outputs[half:])}
        return {key: [value] if isinstance(value, Tensor) else list(value) for key, value in outputs.items()}

    def _anchors(self, images: Tensor, feature_maps: list[Tensor]) -> Tensor:
        """All anchors of one image (sum(HWA), 4), level by level (AnchorGenerator.forward, indexing "ij")."""
        grid_sizes = [list(feature_map.shape[-self.spatial_dims :]) for feature_map in feature_maps]
        image_size = images.shape[-self.spatial_dims :]
        dtype, device = feature_maps[0].dtype, feature_maps[0].device
        anchors = []
        for size, base_anchors in zip(grid_sizes, self.cell_anchors, strict=True):
            base_anchors = base_anchors.to(dtype=dtype, device=device)
            strides = [
                torch.tensor(image_size[axis] // size[axis], dtype=torch.int64, device=device)
                for axis in range(self.spatial_dims)
            ]
            centers = [
                torch.arange(0, size[axis], dtype=torch.int32, device=device) * strides[axis] + strides[axis] // 2
                for axis in range(self.spatial_dims)
            ]
            centers = [c.reshape(-1) for c in torch.meshgrid(centers, indexing="ij")]
            shifts = torch.stack(centers * 2, dim=1)
            width = self.spatial_dims * 2
            anchors.append((shifts.view(-1, 1, width) + base_anchors.view(1, -1, width)).reshape(-1, width))
        return torch.cat(anchors)

    def _reshape_maps(self, result_maps: list[Tensor]) -> Tensor:
        """(B, C*A, H, W) per level → (B, sum(HWA), C) (RetinaNetDetector._reshape_maps)."""
        reshaped = []
        for result_map in result_maps:
            batch_size = result_map.shape[0]
            num_channel = result_map.shape[1] // self.num_anchors_per_loc
            view_shape = (batch_size, -1, num_channel) + tuple(result_map.shape[-self.spatial_dims :])
            result = result_map.view(view_shape).permute(0, 3, 4, 1, 2).reshape(batch_size, -1, num_channel)
            if torch.isnan(result).any() or torch.isinf(result).any():
                if torch.is_grad_enabled():
                    raise ValueError("Concatenated result is NaN or Inf.")
                warnings.warn("Concatenated result is NaN or Inf.", stacklevel=2)
            reshaped.append(result)
        return torch.cat(reshaped, dim=1)

    def _postprocess(
        self,
        head_outputs: dict[str, Tensor],
        anchors: Tensor,
        image_sizes: list[list[int]],
        num_anchor_locs_per_level: list[int],
    ) -> list[dict[str, Tensor]]:
        """Decoded, selected boxes per image (RetinaNetDetector.postprocess_detections)."""
        per_level = [locs * self.num_anchors_per_loc for locs in num_anchor_locs_per_level]
        class_logits = list(head_outputs[self.cls_key].split(per_level, dim=1))
        box_regression = list(head_outputs[self.box_reg_key].split(per_level, dim=1))
        level_anchors = list(anchors.split(per_level))
        compute_dtype = class_logits[0].dtype
        detections = []
        for index, image_size in enumerate(image_sizes):
            boxes = [
                self._decode(regression[index].to(torch.float32), level).to(compute_dtype)
                for regression, level in zip(box_regression, level_anchors, strict=True)
            ]
            logits = [level[index] for level in class_logits]
            selected_boxes, selected_scores, selected_labels = self._select(boxes, logits, image_size)
            detections.append(
                {
                    self.target_box_key: selected_boxes,
                    self.pred_score_key: selected_scores,
                    self.target_label_key: selected_labels,
                }
            )
        return detections

    def _decode(self, rel_codes: Tensor, reference_boxes: Tensor) -> Tensor:
        """Boxes (N, 4) from regression offsets and anchors (BoxCoder.decode_single)."""
        reference_boxes = reference_boxes.to(rel_codes.dtype)
        offset = reference_boxes.shape[-1]
        dims = self.spatial_dims
        # xyxy → centre/size (CenterSizeMode.corners_to_boxes; its "+ TO_REMOVE" adds 0.0)
        centers = [(reference_boxes[:, axis] + reference_boxes[:, axis + dims]) / 2.0 for axis in range(dims)]
        sizes = [reference_boxes[:, axis + dims] - reference_boxes[:, axis] for axis in range(dims)]
        low, high = [], []
        for axis in range(dims):
            size, center = sizes[axis], centers[axis]
            delta_center = rel_codes[:, axis::offset] / self.box_coder_weights[axis]
            delta_size = rel_codes[:, dims + axis :: offset] / self.box_coder_weights[axis + dims]
            delta_size = torch.clamp(delta_size.to(_COMPUTE_DTYPE), max=_BOXES_XFORM_CLIP)
            pred_center = delta_center * size[:, None] + center[:, None]
            pred_size = (torch.exp(delta_size) * size[:, None]).to(delta_center.dtype)
            if torch.isnan(pred_size).any() or torch.isinf(pred_size).any():
                raise ValueError("pred_whd_axis is NaN or Inf.")
            half = torch.tensor(0.5, dtype=pred_center.dtype, device=pred_size.device) * pred_size
            low.append(pred_center - half)
            high.append(pred_center + half)
        return torch.stack(low + high, dim=2).flatten(1)

    def _select(
        self, boxes_list: list[Tensor], logits_list: list[Tensor], spatial_size: list[int]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Per level threshold + top-k + clip, then NMS over all levels (BoxSelector.select_boxes_per_image)."""
        boxes_dtype, logits_dtype = boxes_list[0].dtype, logits_list[0].dtype
        image_boxes, image_scores, image_labels = [], [], []
        for boxes, logits in zip(boxes_list, logits_list, strict=True):
            num_classes = logits.shape[-1]
            scores = torch.sigmoid(logits.to(torch.float32)).flatten()
            keep_idxs = scores > self.score_thresh
            scores = scores[keep_idxs]
            flat_idxs = torch.where(keep_idxs)[0]
            num_topk = min(self.topk_candidates_per_level, flat_idxs.size(0))
            top_scores, idxs = scores.to(torch.float32).topk(num_topk)
            flat_idxs = flat_idxs[idxs]
            labels = flat_idxs % num_classes
            clipped, keep = self._clip(boxes[torch.div(flat_idxs, num_classes, rounding_mode="floor")], spatial_size)
            image_boxes.append(clipped)
            image_scores.append(top_scores[keep])
            image_labels.append(labels[keep])
        all_boxes = torch.cat(image_boxes, dim=0)
        all_scores = torch.cat(image_scores, dim=0)
        all_labels = torch.cat(image_labels, dim=0)
        keep = self._batched_nms(all_boxes, all_scores, all_labels)
        return all_boxes[keep].to(boxes_dtype), all_scores[keep].to(logits_dtype), all_labels[keep]

    def _clip(self, boxes: Tensor, spatial_size: list[int]) -> tuple[Tensor, Tensor]:
        """Boxes clamped to [0, size] per axis, those under 1 px on an axis dropped (clip_boxes_to_image)."""
        boxes = boxes.clone().to(dtype=_COMPUTE_DTYPE)
        dims = self.spatial_dims
        for axis in range(dims):
            end = float(max(spatial_size[axis], 0))
            boxes[:, axis] = boxes[:, axis].clamp(min=0.0, max=end)
            boxes[:, axis + dims] = boxes[:, axis + dims].clamp(min=0.0, max=end)
        keep = boxes[:, dims] >= boxes[:, 0] + 1
        for axis in range(1, dims):
            keep = keep & (boxes[:, axis + dims] >= boxes[:, axis] + 1)
        return boxes[keep], keep

    def _batched_nms(self, boxes: Tensor, scores: Tensor, labels: Tensor) -> Tensor:
        """NMS within each label (batched_nms: boxes offset per label so labels never overlap)."""
        if boxes.shape[0] == 0:
            return torch.zeros(0, dtype=torch.long, device=boxes.device)
        boxes = boxes.to(torch.float32)
        offsets = labels.to(boxes) * (boxes.max() + 1)
        return self._nms(boxes + offsets[:, None], scores.to(boxes))

    def _nms(self, boxes: Tensor, scores: Tensor) -> Tensor:
        """Greedy NMS, highest score first, ties in input order (non_max_suppression with box_iou)."""
        sort_idxs = torch.argsort(scores, dim=0, descending=True, stable=True)
        boxes_sort = boxes[sort_idxs, :]
        pick: list[int] = []
        idxs = torch.arange(boxes_sort.shape[0], device=boxes.device, dtype=torch.long)
        while len(idxs) > 0:
            i = int(idxs[0].item())
            pick.append(i)
            if len(pick) >= self.detections_per_img >= 1:
                break
            overlap = self._iou(boxes_sort[idxs, :], boxes_sort[i : i + 1, :])
            to_keep = (overlap <= self.nms_thresh).flatten()
            to_keep[0] = False  # always drop idxs[0], just picked
            idxs = idxs[to_keep]
        return sort_idxs[pick]

    def _iou(self, boxes1: Tensor, boxes2: Tensor) -> Tensor:
        """IoU (N, M) of two box sets, in float32 (box_iou)."""
        dims = self.spatial_dims
        boxes1, boxes2 = boxes1.to(_COMPUTE_DTYPE), boxes2.to(_COMPUTE_DTYPE)
        area1 = self._area(boxes1)
        area2 = self._area(boxes2)
        lt = torch.max(boxes1[:, None, :dims], boxes2[:, :dims])
        rb = torch.min(boxes1[:, None, dims:], boxes2[:, dims:])
        inter = torch.prod((rb - lt).clamp(min=0), dim=-1, keepdim=False)
        union = area1[:, None] + area2 - inter
        iou = inter / (union + torch.finfo(_COMPUTE_DTYPE).eps)
        if torch.isnan(iou).any() or torch.isinf(iou).any():
            raise ValueError("Box IoU is NaN or Inf.")
        return iou

    def _area(self, boxes: Tensor) -> Tensor:
        """Area of each xyxy box (box_area)."""
        dims = self.spatial_dims
        area = boxes[:, dims] - boxes[:, 0]
        for axis in range(1, dims):
            area = area * (boxes[:, axis + dims] - boxes[:, axis])
        return area
