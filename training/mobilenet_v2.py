"""MobileNetV2 (Sandler et al. 2018) in plain PyTorch as a CAM classifier, and the comparator networks."""

from __future__ import annotations

from torch import Tensor, nn

from training.classifier_cam import CamClassifier, build_resnet_classifier

__all__ = ["InvertedResidual", "mobilenet_v2_features", "build_mobilenet_v2", "build_comparator", "COMPARATORS"]

# (expansion t, output channels c, repeats n, first stride s), the paper's table 2.
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
COMPARATORS = ("resnet18", "densenet121", "efficientnet-b0")


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of `divisor`, never below 90% of `value` (as the reference implementation)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """1x1 expand → 3x3 depthwise → 1x1 linear projection; identity shortcut when shape is kept."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_ch * expansion
        layers: list[nn.Module] = [] if expansion == 1 else [_conv_bn_relu(in_ch, hidden, 1, 1)]
        layers += [
            _conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: Tensor) -> Tensor:
        if self.use_residual:
            return x + self.block(x)
        return self.block(x)


def mobilenet_v2_features(
    in_channels: int = 1, width_mult: float = 1.0, output_stride: int = 32
) -> tuple[nn.Sequential, int]:
    """The feature stack and its channel count; `output_stride` 16 keeps the last stride-2 stage at stride 1.

    Stride 16 doubles the CAM resolution (4x4 on a 64x64 crop instead of 2x2) for little extra compute.
    """
    if output_stride not in (16, 32):
        raise ValueError(f"output_stride must be 16 or 32, got {output_stride}")
    first = _make_divisible(32 * width_mult)
    last = _make_divisible(1280 * max(1.0, width_mult))
    layers: list[nn.Module] = [_conv_bn_relu(in_channels, first, 3, 2)]
    current, total_stride = first, 2
    for t, c, n, s in _SETTINGS:
        out = _make_divisible(c * width_mult)
        for i in range(n):
            stride = s if i == 0 else 1
            if stride == 2 and total_stride * 2 > output_stride:
                stride = 1
            total_stride *= stride
            layers.append(InvertedResidual(current, out, stride, t))
            current = out
    layers.append(_conv_bn_relu(current, last, 1, 1))
    features = nn.Sequential(*layers)
    for module in features.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return features, last


def build_mobilenet_v2(
    in_channels: int = 1, width_mult: float = 1.0, num_classes: int = 2, output_stride: int = 32
) -> CamClassifier:
    """MobileNetV2 as a CamClassifier: scripted, it returns (probabilities, cam)."""
    features, num_features = mobilenet_v2_features(in_channels, width_mult, output_stride)
    return CamClassifier(features, num_features, num_classes)


class _GreyToRgb(nn.Module):
    """Repeat a one-channel image to the three channels the ImageNet-style ResNet stem expects."""

    def forward(self, x: Tensor) -> Tensor:
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def build_comparator(name: str, in_channels: int = 1, num_classes: int = 2) -> CamClassifier:
    """A comparator network from the paper as a CamClassifier: "resnet18", "densenet121" or "efficientnet-b0"."""
    if name == "resnet18":
        base = build_resnet_classifier(18, num_classes=num_classes)
        features = base.features if in_channels == 3 else nn.Sequential(_GreyToRgb(), base.features)
        return CamClassifier(features, base.fc.in_features, num_classes)
    if name == "densenet121":
        from monai.networks.nets import DenseNet121

        net = DenseNet121(spatial_dims=2, in_channels=in_channels, out_channels=num_classes)
        # norm5 ends `features`; MONAI's head applies the ReLU before pooling, so it belongs to the CAM features.
        return CamClassifier(nn.Sequential(net.features, nn.ReLU()), net.class_layers.out.in_features, num_classes)
    if name == "efficientnet-b0":
        from monai.networks.nets import EfficientNetBN

        net = EfficientNetBN("efficientnet-b0", pretrained=False, spatial_dims=2, in_channels=in_channels)
        net.set_swish(memory_efficient=False)  # the memory-efficient swish is a custom autograd op: not scriptable
        stem = nn.Sequential(net._conv_stem_padding, net._conv_stem, net._bn0, net._swish)
        head = nn.Sequential(net._conv_head_padding, net._conv_head, net._bn1, net._swish)
        return CamClassifier(nn.Sequential(stem, net._blocks, head), net._fc.in_features, num_classes)
    raise ValueError(f"Unknown comparator {name!r}; choose from {COMPARATORS}")
