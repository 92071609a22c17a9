"""torchvision ResNets as DRT backbones for real data (DomainNet, Office-31): the dynamic residual on the 3 x 3
convolution of every block only (DRT section 4.1: "The dynamic residual is only added on the 3 x 3 kernel of each
bottleneck block").

:class:`ResNetFeatures` is the classification feature extractor: the ResNet without its final fully connected
layer, ``(N, 3, H, W)`` -> ``(N, 512)`` (ResNet-18/34) or ``(N, 2048)`` (ResNet-50/101), input normalised by
:class:`~uda_nb.models.InputNorm`. ``weights``: a local torchvision state-dict file (nothing is downloaded;
without one the network starts random, which real-data notebooks must say). :func:`make_dynamic` swaps each
block's 3 x 3 convolution (``conv2`` of a Bottleneck, the second 3 x 3 of a BasicBlock) for a
:class:`~uda_nb.models.DynamicConv2d` whose static kernel ``W0`` *is* the original (pretrained) kernel, so a
model with zero residuals computes exactly what the static ResNet does.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .backbones import InputNorm
from .dynamic import DynamicConv2d

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101")


def make_dynamic(net: nn.Module, variant: str = "routing", num_bases: int = 4, **conv_options) -> nn.Module:
    """Replace, in place, the 3 x 3 ``conv2`` of every residual block of a torchvision ResNet by a dynamic
    convolution with the same weights as ``W0``; returns ``net``. ``variant="static"`` leaves it unchanged."""
    if variant == "static":
        return net
    blocks = [m for m in net.modules() if hasattr(m, "conv2") and isinstance(m.conv2, nn.Conv2d)]
    if not blocks:
        raise ValueError(f"{type(net).__name__} has no residual blocks with a conv2: pass a torchvision ResNet.")
    for block in blocks:
        conv = block.conv2
        if conv.groups != 1 or conv.dilation != (1, 1) or conv.kernel_size != (3, 3):
            raise ValueError(f"make_dynamic handles 3 x 3 convolutions without groups or dilation, got {conv} "
                             "(ResNeXt and dilated ResNets are not supported).")
        dyn = DynamicConv2d(conv.in_channels, conv.out_channels, 3, stride=conv.stride[0], padding=conv.padding[0],
                            bias=conv.bias is not None, variant=variant, num_bases=num_bases, **conv_options)
        with torch.no_grad():
            dyn.weight.copy_(conv.weight)
            if conv.bias is not None:
                dyn.bias.copy_(conv.bias)
        block.conv2 = dyn
    return net


class ResNetFeatures(nn.Module):
    """A torchvision ResNet without its classifier, optionally with DRT's dynamic 3 x 3 convolutions.
    ``(N, 3, H, W)`` -> ``(N, out_features)``; see the module docstring."""

    def __init__(self, arch: str = "resnet50", weights: str | Path | None = None, dynamic: str = "static",
                 num_bases: int = 4, norm: str = "center", temperature: float = 1.0, residual: str = "full"):
        super().__init__()
        import torchvision.models as tvm

        if arch not in ARCHS:
            raise ValueError(f"Unknown ResNet {arch!r}: choose one of {ARCHS}.")
        net = getattr(tvm, arch)(weights=None)
        if weights is not None:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"{arch} weights {str(path)!r} not found: pass the path of a local {arch} "
                                        "state dict (torchvision's file), or weights=None for random initialisation.")
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.out_features = net.fc.in_features
        net.fc = nn.Identity()
        self.norm = InputNorm(norm)
        self.body = make_dynamic(net, dynamic, num_bases, temperature=temperature, residual=residual)
        self.arch, self.dynamic, self.in_channels = arch, dynamic, 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"ResNetFeatures expects (N, 3, H, W) images, got {tuple(x.shape)}.")
        return self.body(self.norm(x))
