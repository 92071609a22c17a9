"""A digits network with a dynamic residual on every convolution (DRT section 3.3), and its static twin.

The paper adds a dynamic residual to each conv layer of the digits LeNet. Figures 4-5 compare the coefficients of
*low* and *high* layers, so this network has three convolutions (``conv1`` low ... ``conv3`` high)::

    InputNorm -> [DynamicConv2d k x k -> BatchNorm -> ReLU -> MaxPool 2] x 3 -> flatten

with kernels 5, 5, 3 (padded to keep the side) and widths ``widths`` (default 32, 48, 64): ``(N, C, 32, 32)`` ->
``(N, 64 * 4 * 4)``. ``dynamic="static"`` is the same network with every residual off (the static baseline: same
W0 layers, no branch, no bases), so static and dynamic runs differ only by the residuals.

``static_stem=True`` keeps ``conv1`` static, as the authors' dynamic ResNet keeps its RGB stem static: a branch on
the RGB image pools it to its mean colour, so ``conv1``'s coefficients could read nothing else (03_drt).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .backbones import InputNorm
from .dynamic import VARIANTS, DynamicConv2d

KERNELS = (5, 5, 3)


class DynamicDigitsFeatures(nn.Module):
    """Three dynamic convolution stages for 32 x 32 digits. ``(N, in_channels, H, W)`` -> ``(N, out_features)``.

    dynamic: a :class:`DynamicConv2d` variant (``"static"``, ``"attention"``, ``"routing"``, ``"combined"``);
    num_bases: K; widths: output channels of the three stages; norm: :class:`InputNorm`; batch_norm: BatchNorm
    after each convolution (on by default: three stages from scratch train poorly without it); image_size: a side
    divisible by 8; static_stem: ``conv1`` without a residual (module docstring).
    """

    def __init__(self, in_channels: int = 3, widths: tuple[int, int, int] = (32, 48, 64), dynamic: str = "routing",
                 num_bases: int = 4, norm: str = "center", batch_norm: bool = True,
                 image_size: int | tuple[int, int] = 32, static_stem: bool = False, **conv_options):
        super().__init__()
        if dynamic not in VARIANTS:
            raise ValueError(f"Unknown DRT variant {dynamic!r}: choose one of {VARIANTS} ('static' is the baseline).")
        if len(widths) != len(KERNELS):
            raise ValueError(f"widths must give {len(KERNELS)} stage widths, got {widths!r}.")
        height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if height % 8 or width % 8 or min(height, width) < 8:
            raise ValueError(f"DynamicDigitsFeatures halves the side three times: image sides must be multiples of 8, "
                             f"got {height}x{width}; resize the images (torch.nn.functional.interpolate).")
        self.norm = InputNorm(norm)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        cin = in_channels
        for i, (k, w) in enumerate(zip(KERNELS, widths), start=1):
            variant = "static" if (i == 1 and static_stem) else dynamic
            layers[f"conv{i}"] = DynamicConv2d(cin, w, k, padding=k // 2, bias=not batch_norm, variant=variant,
                                               num_bases=num_bases, **conv_options)
            if batch_norm:
                layers[f"bn{i}"] = nn.BatchNorm2d(w)
            layers[f"relu{i}"] = nn.ReLU(inplace=True)
            layers[f"pool{i}"] = nn.MaxPool2d(2)
            cin = w
        layers["flatten"] = nn.Flatten()
        self.body = nn.Sequential(layers)
        self.in_channels, self.image_size, self.dynamic = in_channels, (height, width), dynamic
        self.static_stem = bool(static_stem)
        self.out_features = widths[-1] * (height // 8) * (width // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[-2:]) != self.image_size:
            h, w = self.image_size
            raise ValueError(f"DynamicDigitsFeatures was built for (N, {self.in_channels}, {h}, {w}) images, got "
                             f"{tuple(x.shape)}: build it for the task's images (methods.create(..., "
                             "task.image_shape)).")
        return self.body(self.norm(x))
