"""Feature extractors.

``DigitsFeatures`` is the DANN paper's MNIST feature extractor (Ganin & Lempitsky 2015, supplementary;
Figure 4 of the JMLR version): conv5x5-32, maxpool 2, ReLU, conv5x5-48, maxpool 2, ReLU, flatten. On 3 x 32 x 32
inputs it gives 48 x 5 x 5 = 1,200 features. Later digit methods (DRT, GSDA, TransPar on digits) reuse it.
"""

from __future__ import annotations

import torch
from torch import nn


class InputNorm(nn.Module):
    """Input preprocessing, label-free and identical for every domain.

    ``"center"``: ``(x - 0.5) / 0.5``, the paper's mean subtraction with a fixed mean;
    ``"image"``: per-image standardisation, ``(x - mean(x)) / std(x)`` over all pixels and channels of each
    image (no statistics shared across images, so nothing learned from either domain);
    ``"imagenet"``: ``(x - mean) / std`` with ImageNet's channel statistics, the recipe of ImageNet-pretrained
    weights (:mod:`uda_nb.models.pretrained`);
    ``"none"``: identity. Input/output ``(N, C, H, W)``.
    """

    MODES = ("none", "center", "image", "imagenet")
    IMAGENET_MEAN = (0.485, 0.456, 0.406)
    IMAGENET_STD = (0.229, 0.224, 0.225)

    def __init__(self, mode: str = "center"):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"Unknown input normalisation {mode!r}: use one of {self.MODES}.")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "center":
            return (x - 0.5) * 2.0
        if self.mode == "imagenet":
            if x.shape[1] != 3:
                raise ValueError(f"ImageNet normalisation needs RGB images (N, 3, H, W), got {tuple(x.shape)}.")
            mean = x.new_tensor(self.IMAGENET_MEAN).view(1, 3, 1, 1)
            std = x.new_tensor(self.IMAGENET_STD).view(1, 3, 1, 1)
            return (x - mean) / std
        if self.mode == "image":
            flat = x.flatten(1)
            mean = flat.mean(1).view(-1, 1, 1, 1)
            std = flat.std(1).clamp_min(1e-3).view(-1, 1, 1, 1)
            return (x - mean) / std
        return x

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class DigitsFeatures(nn.Module):
    """DANN's MNIST feature extractor. Input ``(N, C, 32, 32)``; output ``(N, 1200)``.

    ``in_channels`` 3 for the embedded digit domains; ``norm`` see :class:`InputNorm`; ``batch_norm`` adds
    BatchNorm after each convolution (not in the paper; off by default); ``image_size``: the side of square
    images, or ``(H, W)``; the output width follows from it (``48 * 5 * 5`` for 32x32).
    """

    def __init__(self, in_channels: int = 3, norm: str = "center", batch_norm: bool = False,
                 image_size: int | tuple[int, int] = 32):
        super().__init__()
        bn = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        self.norm = InputNorm(norm)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=5), bn(32), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(32, 48, kernel_size=5), bn(48), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Flatten(),
        )
        height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.out_side = (_side(height), _side(width))
        if min(self.out_side) < 1:
            raise ValueError(f"DigitsFeatures needs images of at least 16x16 pixels, got {height}x{width}: upsample "
                             "them (torch.nn.functional.interpolate(images, size=32, mode='bilinear')).")
        self.out_features = 48 * self.out_side[0] * self.out_side[1]
        self.in_channels = in_channels
        self.image_size = (height, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Python checks on the shape only (no device sync): a wrong size would otherwise surface as a matmul
        # shape error in the classifier.
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"DigitsFeatures expects (N, {self.in_channels}, H, W) images, got {tuple(x.shape)}.")
        if (_side(x.shape[2]), _side(x.shape[3])) != self.out_side:
            h, w = self.image_size
            raise ValueError(f"This network was built for {h}x{w} images but got {x.shape[2]}x{x.shape[3]}: build it "
                             "for the task's images (methods.create(name, task.num_classes, task.image_shape)) or "
                             "resize the images.")
        return self.body(self.norm(x))


def _side(size: int) -> int:
    """Spatial side after conv5 - pool2 - conv5 - pool2."""
    return ((size - 4) // 2 - 4) // 2
