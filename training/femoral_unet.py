"""Femoral-head U-Net with the ONFH paper's two extra supervision paths (geometric and pixel-level).

Li et al. (ONFH on hip T1 MRI) add to a U-Net "geometric supervision and pixel-level supervision ... each an
independent path as a constraint". Here (our reading of that one sentence):

* geometric supervision: a head on the last decoder features regresses the femoral head's shape as a normalised
  signed distance map (tanh, negative inside), so the network is pushed towards a smooth, round, hole-free head;
* pixel-level supervision: deep-supervision 1x1 segmentation heads on the coarser decoder scales, each trained
  against the downsampled mask.

Both paths only shape the shared features during training: `forward` (the TorchScript entry point) returns the
main segmentation logits alone, so the exported model costs the same as the plain U-Net. With both flags off the
module is exactly the plain U-Net (no unused heads), which is the ablation baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from monai.networks.blocks import Convolution, ResidualUnit, UpSample
from torch import nn

__all__ = ["GeoPixelUNet", "GeoPixelOutput"]


@dataclass
class GeoPixelOutput:
    """Training outputs: main logits (B,1,H,W), deep-supervision logits (coarse to fine), SDF map or None."""

    logits: torch.Tensor
    deep_logits: list[torch.Tensor]
    sdf: torch.Tensor | None


class _DecoderStage(nn.Module):
    """Upsample x2, concatenate the encoder skip, fuse with a residual unit."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, act: str, dropout: float) -> None:
        super().__init__()
        self.up = UpSample(2, in_channels, out_channels, scale_factor=2, mode="deconv")
        self.fuse = ResidualUnit(
            2, 2 * out_channels, out_channels, strides=1, subunits=2, norm=norm, act=act, dropout=dropout
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.up(x), skip], dim=1))


class GeoPixelUNet(nn.Module):
    """2D U-Net (MONAI residual units) with optional SDF head (`geometric`) and deep supervision (`pixel`).

    Hyper-parameters have no defaults here: training.train_segmenter.SegmenterConfig is their one source.
    """

    def __init__(
        self,
        *,
        channels: tuple[int, ...],
        geometric: bool,
        pixel: bool,
        norm: str,
        act: str,
        dropout: float = 0.0,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"GeoPixelUNet needs at least two levels, got channels={channels}")
        self.channels = tuple(channels)
        self.geometric = geometric
        self.pixel = pixel
        encoders = [ResidualUnit(2, in_channels, channels[0], strides=1, subunits=2, norm=norm, act=act)]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            # Strided residual units downsample (as in MONAI's UNet) instead of max-pooling.
            encoders.append(ResidualUnit(2, c_in, c_out, strides=2, subunits=2, norm=norm, act=act, dropout=dropout))
        self.encoders = nn.ModuleList(encoders)
        # Decoder stages run deepest first: stage k maps channels[-1-k] -> channels[-2-k].
        self.decoders = nn.ModuleList(
            [_DecoderStage(channels[i], channels[i - 1], norm, act, dropout) for i in range(len(channels) - 1, 0, -1)]
        )
        self.seg_head = Convolution(2, channels[0], 1, kernel_size=1, conv_only=True)
        # One head per decoder output coarser than full resolution, i.e. every stage but the last.
        self.deep_heads = nn.ModuleList(
            [Convolution(2, channels[i - 1], 1, kernel_size=1, conv_only=True) for i in range(len(channels) - 1, 1, -1)]
            if pixel
            else []
        )
        self.sdf_head = (
            nn.Sequential(
                # No normalisation here: with instance norm the SDF regression learned several times slower.
                Convolution(2, channels[0], channels[0], kernel_size=3, norm=None, act=act),
                Convolution(2, channels[0], 1, kernel_size=1, conv_only=True),
                nn.Tanh(),
            )
            if geometric
            else None
        )

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Decoder outputs, coarsest first; the last one is at full resolution."""
        skips: list[torch.Tensor] = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
        outputs: list[torch.Tensor] = []
        level = len(skips) - 2
        for decoder in self.decoders:
            x = decoder(x, skips[level])
            outputs.append(x)
            level -= 1
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Segmentation logits (B,1,H,W); H and W must be divisible by 2**(levels-1)."""
        return self.seg_head(self._features(x)[-1])

    @torch.jit.unused
    def forward_train(self, x: torch.Tensor) -> GeoPixelOutput:
        """Main logits plus the deep-supervision logits and the SDF map the extra losses need."""
        features = self._features(x)
        deep = [head(feat) for head, feat in zip(self.deep_heads, features[:-1], strict=True)] if self.pixel else []
        sdf = self.sdf_head(features[-1]) if self.sdf_head is not None else None
        return GeoPixelOutput(logits=self.seg_head(features[-1]), deep_logits=deep, sdf=sdf)
