"""Losses for the femoral-head U-Net: Dice+BCE (main head), deep supervision (pixel-level), SDF regression (geometric).

`signed_distance` builds the geometric target: the Euclidean distance to the mask boundary, clipped at `clip_px`
and scaled to [-1, 1], negative inside, so it matches the tanh output of the network's SDF head.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss
from scipy.ndimage import distance_transform_edt
from torch import nn

from training.femoral_unet import GeoPixelOutput

__all__ = ["signed_distance", "deep_supervision_loss", "sdf_loss", "GeoPixelLoss"]


def signed_distance(mask: np.ndarray, clip_px: float) -> np.ndarray:
    """Signed distance to the mask boundary in pixels, clipped to ±clip_px and divided by it (negative inside)."""
    if clip_px <= 0:
        raise ValueError(f"clip_px must be positive, got {clip_px}")
    inside = np.asarray(mask).astype(bool)
    if not inside.any():
        return np.ones(inside.shape, np.float32)
    if inside.all():
        return -np.ones(inside.shape, np.float32)
    # Pixel centres sit half a pixel from the boundary between an inside and an outside pixel; subtracting 0.5
    # puts the zero level set on that boundary, so a pixel's sign is exactly its mask membership.
    outside_dist = distance_transform_edt(~inside) - 0.5
    inside_dist = distance_transform_edt(inside) - 0.5
    sdf = np.where(inside, -inside_dist, outside_dist)
    return (np.clip(sdf, -clip_px, clip_px) / clip_px).astype(np.float32)


def deep_supervision_loss(deep_logits: list[torch.Tensor], target: torch.Tensor, loss: nn.Module) -> torch.Tensor:
    """Weighted mean of `loss` over coarse logits against area-downsampled (soft) masks; finer scales weigh more."""
    if not deep_logits:
        return target.new_zeros(())
    full = target.shape[-1]
    total = target.new_zeros(())
    weight_sum = 0.0
    for logits in deep_logits:
        # Area pooling keeps the boundary's partial volume instead of the aliasing of nearest-neighbour masks.
        small = F.interpolate(target, size=logits.shape[-2:], mode="area")
        weight = logits.shape[-1] / full
        total = total + weight * loss(logits, small)
        weight_sum += weight
    return total / weight_sum


def sdf_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the tanh SDF head and the normalised signed distance target."""
    return F.l1_loss(predicted, target)


class GeoPixelLoss(nn.Module):
    """Dice+BCE on the main logits, plus `pixel_weight` x deep supervision and `geometric_weight` x SDF L1."""

    def __init__(self, *, dice_weight: float, bce_weight: float, pixel_weight: float, geometric_weight: float) -> None:
        super().__init__()
        # Single output channel with sigmoid: MONAI's DiceCELoss then uses binary cross-entropy on the logits.
        self.dice_ce = DiceCELoss(sigmoid=True, lambda_dice=dice_weight, lambda_ce=bce_weight)
        self.pixel_weight = pixel_weight
        self.geometric_weight = geometric_weight

    def forward(
        self, output: GeoPixelOutput, mask: torch.Tensor, sdf: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """(total loss, its parts as floats); `mask` and `sdf` are (B,1,H,W) floats."""
        main = self.dice_ce(output.logits, mask)
        parts = {"main": float(main.detach())}
        total = main
        if output.deep_logits and self.pixel_weight > 0:
            deep = deep_supervision_loss(output.deep_logits, mask, self.dice_ce)
            parts["pixel"] = float(deep.detach())
            total = total + self.pixel_weight * deep
        if output.sdf is not None and self.geometric_weight > 0:
            if sdf is None:
                raise ValueError("the model has an SDF head, so GeoPixelLoss needs the signed-distance target")
            geo = sdf_loss(output.sdf, sdf)
            parts["geometric"] = float(geo.detach())
            total = total + self.geometric_weight * geo
        parts["total"] = float(total.detach())
        return total, parts
