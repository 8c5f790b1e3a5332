"""Image classifiers that return class probabilities and a class activation map in one forward pass."""

from __future__ import annotations

import torch
from monai.networks.nets import resnet18, resnet50
from torch import nn

__all__ = ["CamClassifier", "build_resnet_classifier", "RESNET_STAGES"]

# Stage names of MONAI's ResNet, in forward order; `freeze_through` takes one of them.
RESNET_STAGES = ("conv1", "bn1", "act", "maxpool", "layer1", "layer2", "layer3", "layer4")


class CamClassifier(nn.Module):
    """features → global average pool → linear → softmax; CAM = linear weights · feature map.

    For a network that ends in global average pooling and one linear layer the class activation map is
    exact (Zhou et al. 2016) and needs no autograd hooks, so the scripted model returns it directly.
    Outputs: probabilities (B, classes) and cam (B, h, w) for class `cam_class`.
    """

    def __init__(self, features: nn.Module, num_features: int, num_classes: int = 2, cam_class: int = 1) -> None:
        super().__init__()
        self.features = features
        self.fc = nn.Linear(num_features, num_classes)
        self.cam_class = cam_class

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.features(x)
        logits = self.fc(fmap.mean(dim=(2, 3)))
        weights = self.fc.weight[self.cam_class]
        cam = torch.einsum("c,bchw->bhw", weights, fmap)
        return torch.softmax(logits, dim=1), cam

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-softmax scores, for training with cross-entropy."""
        return self.fc(self.features(x).mean(dim=(2, 3)))


def build_resnet_classifier(depth: int = 50, num_classes: int = 2, pretrained: str | None = None) -> CamClassifier:
    """MONAI's 2D ResNet (50 or 18) with the final layer replaced for `num_classes`.

    `pretrained` is a user-supplied state-dict file (e.g. ImageNet weights); nothing is downloaded.
    """
    factory = {50: resnet50, 18: resnet18}[depth]
    # MONAI defaults conv1 to stride 1 (meant for 3D volumes); the ImageNet ResNet uses stride 2, which
    # matches ImageNet weight files and needs a quarter of the compute.
    net = factory(spatial_dims=2, n_input_channels=3, num_classes=1000, conv1_t_stride=2)
    if pretrained:
        state = torch.load(pretrained, map_location="cpu", weights_only=True)
        missing, unexpected = net.load_state_dict(state, strict=False)
        if len([k for k in missing if not k.startswith("fc.")]) > 0:
            raise ValueError(f"Pretrained file {pretrained} lacks backbone weights: {missing[:5]}...")
    features = nn.Sequential(*[getattr(net, name) for name in RESNET_STAGES])
    return CamClassifier(features, net.fc.in_features, num_classes)
