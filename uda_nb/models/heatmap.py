"""The heatmap keypoint detector of RegDA (Figure 2): a feature generator ``psi`` and heatmap heads ``f``, ``f'``.

``psi`` is a Simple Baseline (Xiao et al. 2018): a strided convolutional trunk, then transposed convolutions
that upsample back to the heatmap size. The paper uses an ImageNet-pretrained ResNet (18 on dSprites, 101 on
hands) and heads of width 256; no pretrained weights exist offline, so the embedded tasks use a small trunk
trained from scratch, sized from measured CPU speed (``benchmarks/results/regda.md``, "Heatmap network sizing").
:class:`ResNetTrunk` builds the paper's kind of trunk for real data (ResNet-18 ... ResNet-101), with local weights
when you have them.

Shapes: images ``(B, C, H, W)`` -> ``psi`` -> feature maps ``(B, D, h, w)`` -> head -> heatmap logits
``(B, K, h, w)``, with ``h = H / stride``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .backbones import InputNorm

#: trunk presets measured in benchmarks/bench_heatmap.py: strided conv widths, upsampling width, head width and,
#: optionally, which stages keep their stride-1 conv (``refine``; all by default). ``lean`` is ``tiny`` without the
#: stride-1 conv at half resolution (the costliest layer per MAC: 16 channels at 32 x 32) and with heads half as
#: wide, about 25-30 % less time per step (benchmarks/results/regda.md, "A leaner heatmap network").
HEATMAP_SIZES = {
    "tiny": {"widths": (16, 32, 48), "up_width": 32, "head_width": 32},
    "lean": {"widths": (16, 32, 48), "up_width": 32, "head_width": 16, "refine": (False, True, True)},
    "small": {"widths": (24, 48, 64), "up_width": 48, "head_width": 48},
    "medium": {"widths": (32, 64, 128), "up_width": 64, "head_width": 64},
}


NORM_LAYERS = ("batch", "group")


def _norm(kind: str, channels: int) -> nn.Module:
    """``batch``: BatchNorm (the paper's networks); ``group``: GroupNorm with groups of 8 channels (per-image
    statistics: the same computation in training and evaluation, whatever the domain of the batch)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(max(1, channels // 8), channels)
    raise ValueError(f"Unknown norm_layer {kind!r}: choose one of {NORM_LAYERS}.")


def _conv_bn(cin: int, cout: int, stride: int = 1, kernel: int = 3, norm: str = "batch") -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), _norm(norm, cout), nn.ReLU(inplace=True)]


class HeatmapTrunk(nn.Module):
    """``psi``: input normalisation, ``len(widths)`` stages (a stride-2 conv then, where ``refine`` says so (every
    stage by default), a stride-1 conv, each Conv-BN-ReLU), then ``upsample`` transposed 4x4 stride-2 convolutions of ``up_width`` channels (Simple
    Baseline's deconvolution head). Output stride ``2 ** (len(widths) - upsample)``.

    ``(B, in_channels, H, W)`` -> ``(B, up_width, H / stride, W / stride)``.
    """

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (16, 32, 48), up_width: int = 32,
                 upsample: int = 1, norm: str = "center", norm_layer: str = "batch",
                 refine: tuple[bool, ...] | None = None):
        super().__init__()
        if upsample >= len(widths):
            raise ValueError(f"upsample={upsample} must be smaller than the number of strided stages {len(widths)}.")
        refine = (True,) * len(widths) if refine is None else tuple(refine)
        if len(refine) != len(widths):
            raise ValueError(f"refine has {len(refine)} flags for {len(widths)} stages: give one per stage.")
        layers: list[nn.Module] = [InputNorm(norm)]
        cin = in_channels
        for i, (w, extra) in enumerate(zip(widths, refine)):
            layers += _conv_bn(cin, w, 2, 5 if i == 0 else 3, norm_layer)
            if extra:
                layers += _conv_bn(w, w, norm=norm_layer)
            cin = w
        for _ in range(upsample):
            layers += [nn.ConvTranspose2d(cin, up_width, 4, 2, 1, bias=False), _norm(norm_layer, up_width),
                       nn.ReLU(inplace=True)]
            cin = up_width
        self.body = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.out_channels = cin
        self.stride = 2 ** (len(widths) - upsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"HeatmapTrunk expects (N, {self.in_channels}, H, W) images, got {tuple(x.shape)}.")
        return self.body(x)


class HeatmapHead(nn.Module):
    """A regressor ``f`` (or ``f'``): Conv3x3-BN-ReLU-Conv1x1 -> ``K`` heatmap logits (RegDA section 5.2.2,
    "2-layer convolution neural networks with width 256"; ``width`` here as measured).

    ``(B, D, h, w)`` -> ``(B, K, h, w)``. ``num_keypoints`` is exposed as ``num_classes`` too, so shape checks
    shared with classification read one name.
    """

    def __init__(self, in_channels: int, num_keypoints: int, width: int = 32, norm_layer: str = "batch"):
        super().__init__()
        self.net = nn.Sequential(*_conv_bn(in_channels, width, norm=norm_layer), nn.Conv2d(width, num_keypoints, 1))
        self.num_keypoints = self.num_classes = num_keypoints

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


#: the torchvision ResNets a keypoint trunk can start from (the paper: 18 on dSprites, 101 on hands)
KEYPOINT_RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")


class ResNetTrunk(nn.Module):
    """``psi`` from a torchvision ResNet (``arch``: :data:`KEYPOINT_RESNETS`; the paper's ResNet-18 on dSprites and
    ResNet-101 on hands): the ImageNet stem and four stages (stride 32), then three 4x4 stride-2 transposed
    convolutions of width ``up_width`` (Simple Baseline), so the output stride is 4. ``weights``: a local state-dict
    file of that ResNet (nothing is downloaded); ``None``: random initialisation.
    ``(B, 3, H, W)`` -> ``(B, up_width, H / 4, W / 4)``.
    """

    def __init__(self, in_channels: int = 3, up_width: int = 256, weights: str | Path | None = None,
                 norm: str = "center", arch: str = "resnet18"):
        super().__init__()
        import torchvision.models as tvm

        if arch not in KEYPOINT_RESNETS:
            raise ValueError(f"Unknown keypoint ResNet {arch!r}: choose one of {KEYPOINT_RESNETS}.")
        net = getattr(tvm, arch)(weights=None)
        if weights is not None:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"{arch} weights {str(path)!r} not found: pass the path of a local {arch} "
                                        f"state dict (e.g. torchvision's {arch}-*.pth), or weights=None for random "
                                        "initialisation.")
            state = torch.load(path, map_location="cpu", weights_only=True)
            try:
                net.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(f"{str(path)!r} is not a {arch} state dict (torchvision's layout): "
                                 f"{str(err).splitlines()[0]} Pass the weights of the backbone you named.") from None
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        ups: list[nn.Module] = []
        cin = net.fc.in_features  # 512 for ResNet-18/34, 2048 for 50/101
        for _ in range(3):
            ups += [nn.ConvTranspose2d(cin, up_width, 4, 2, 1, bias=False), nn.BatchNorm2d(up_width),
                    nn.ReLU(inplace=True)]
            cin = up_width
        self.norm = InputNorm(norm)
        self.body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3,
                                  net.layer4, *ups)
        self.arch, self.in_channels, self.out_channels, self.stride = arch, in_channels, up_width, 4

    def set_backbone_lr(self, mult: float) -> None:
        """Train the ResNet's layers (not the deconvolutions) at ``mult`` times the rate of the rest, TLlib's
        ``PoseResNet.get_parameters`` (0.1 from ImageNet weights): each layer carries ``param_lr_mult``, which
        :meth:`uda_nb.methods.Method.param_groups` reads."""
        for module in list(self.body)[:8]:  # conv1, bn1, relu, maxpool, layer1-4
            module.param_lr_mult = float(mult)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.norm(x))


def heatmap_trunk(backbone: str, in_channels: int, image_size: tuple[int, int], norm: str = "center",
                  weights: str | Path | None = None, norm_layer: str = "batch") -> nn.Module:
    """``psi`` by name: ``heatmap-tiny`` / ``heatmap-lean`` / ``heatmap-small`` / ``heatmap-medium`` (:data:`HEATMAP_SIZES`, trained
    from scratch) or ``resnet18`` ... ``resnet101`` (:class:`ResNetTrunk`). The image sides must be multiples of the
    stride."""
    if backbone in KEYPOINT_RESNETS:
        trunk = ResNetTrunk(in_channels, weights=weights, norm=norm, arch=backbone)
    else:
        size = backbone.removeprefix("heatmap-")
        if size not in HEATMAP_SIZES:
            raise ValueError(f"Unknown heatmap backbone {backbone!r}: choose one of "
                             f"{[f'heatmap-{s}' for s in HEATMAP_SIZES] + list(KEYPOINT_RESNETS)}.")
        preset = HEATMAP_SIZES[size]
        trunk = HeatmapTrunk(in_channels, preset["widths"], preset["up_width"], norm=norm, norm_layer=norm_layer,
                             refine=preset.get("refine"))
    h, w = image_size
    need = 32 if backbone in KEYPOINT_RESNETS else 2 ** len(HEATMAP_SIZES.get(backbone.removeprefix("heatmap-"),
                                                                         {"widths": (0,) * 3})["widths"])
    if h % need or w % need:
        raise ValueError(f"The {backbone} keypoint network needs image sides that are multiples of {need}, got "
                         f"{h}x{w}: resize the images (torch.nn.functional.interpolate) and scale the keypoints "
                         "by the same factor.")
    return trunk


def head_width(backbone: str) -> int:
    """The head width that goes with a trunk preset (256 for ResNet, as in the paper)."""
    return 256 if backbone in KEYPOINT_RESNETS else HEATMAP_SIZES[backbone.removeprefix("heatmap-")]["head_width"]
