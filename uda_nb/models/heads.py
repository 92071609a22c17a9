"""Heads shared across methods: the label classifier and the domain discriminator."""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_features: int, hidden: tuple[int, ...], out_features: int, dropout: float = 0.0) -> nn.Sequential:
    """``Linear -> ReLU (-> Dropout)`` for each hidden width, then a final ``Linear``."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def bn_mlp(in_features: int, hidden: tuple[int, ...], out_features: int, dropout: float = 0.5) -> nn.Sequential:
    """``Dropout -> Linear -> BatchNorm1d -> ReLU`` for each hidden width, then a final ``Linear``: the MCD
    classifier of DRT's code (``ResClassifier`` in ``model/resnet_dra.py``; MCD_DA's digits heads and TLlib's
    ``tllib/alignment/mcd.py`` put BatchNorm and dropout 0.5 in the same places). Initialised as DRT's
    ``utils.weights_init``: Linear weights and biases N(0, 0.01), BatchNorm weights N(1, 0.01) and biases 0."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Dropout(dropout), nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True)]
        width = h
    layers.append(nn.Linear(width, out_features))
    net = nn.Sequential(*layers)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.normal_(m.bias, 0.0, 0.01)
        elif isinstance(m, nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, 0.01)
            nn.init.zeros_(m.bias)
    return net


def tllib_mlp(in_features: int, hidden: tuple[int, ...], out_features: int, dropout: float = 0.5) -> nn.Sequential:
    """``Linear -> ReLU -> Dropout`` for each hidden width, then a final ``Linear``, every Linear N(0, 0.01) with
    zero bias: MDD's heads f and f' in TLlib (``tllib/alignment/mdd.py`` ``ImageClassifier``, width 1024)."""
    net = mlp(in_features, hidden, out_features, dropout)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
    return net


class Bottleneck(nn.Module):
    """TLlib's bottleneck in front of MDD's heads: ``Linear(in, dim) -> BatchNorm1d -> ReLU -> Dropout(0.5)``, the
    Linear drawn N(0, 0.005) with bias 0.1 (``tllib/alignment/mdd.py``). ``features`` ``(N, in)`` ->
    ``(N, dim)``; wraps a feature extractor so that the bottleneck is part of the aligned features (role
    ``feature``), as TLlib's ``ImageClassifier`` returns the bottleneck's output as its features.
    ``style="dann"``: TLlib's DANN / TransPar bottleneck instead, ``Linear(in, dim) -> BatchNorm1d -> ReLU`` with
    PyTorch's default initialisation and no dropout (``tllib/alignment/dann.py`` ``ImageClassifier``)."""

    def __init__(self, features: nn.Module, dim: int = 1024, dropout: float = 0.5, style: str = "mdd"):
        super().__init__()
        if style not in ("mdd", "dann"):
            raise ValueError(f"Unknown bottleneck style {style!r}: 'mdd' or 'dann'.")
        self.backbone = features
        linear = nn.Linear(features.out_features, dim)
        if style == "mdd":
            nn.init.normal_(linear.weight, 0.0, 0.005)
            nn.init.constant_(linear.bias, 0.1)
        layers = [linear, nn.BatchNorm1d(dim), nn.ReLU(inplace=True)]
        self.bottleneck = nn.Sequential(*layers, *([nn.Dropout(dropout)] if style == "mdd" else []))
        self.out_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.backbone(x))


#: classifier head styles: ``"mlp"`` (DANN's fc100-fc100, no BatchNorm), ``"mcd"`` (:func:`bn_mlp`) and
#: ``"tllib"`` (:func:`tllib_mlp`, MDD's heads)
HEADS = ("mlp", "mcd", "tllib")


class Classifier(nn.Module):
    """Label predictor G_y. DANN's MNIST head is fc100-fc100-10. ``(N, in_features)`` -> logits ``(N, classes)``.

    ``head="mcd"``: the MCD / DRT classifier with BatchNorm and dropout (:func:`bn_mlp`); ``head="tllib"``: MDD's
    (:func:`tllib_mlp`); for both, ``dropout`` 0 means the references' 0.5."""

    def __init__(self, in_features: int, num_classes: int, hidden: tuple[int, ...] = (100, 100),
                 dropout: float = 0.0, head: str = "mlp"):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"Unknown classifier head {head!r}: choose one of {HEADS}.")
        if head == "mcd":
            self.net = bn_mlp(in_features, hidden, num_classes, dropout or 0.5)
        elif head == "tllib":
            self.net = tllib_mlp(in_features, hidden, num_classes, dropout or 0.5)
        else:
            self.net = mlp(in_features, hidden, num_classes, dropout)
        self.num_classes = num_classes

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class DomainDiscriminator(nn.Module):
    """Domain classifier G_d: ``(N, in_features)`` -> one logit per sample ``(N,)`` (source = 1, target = 0).

    DANN's MNIST discriminator is fc100-1 (``hidden=(100,)``); its larger networks use 1024-1024.
    ``batch_norm=True``: BatchNorm after each hidden Linear, as TLlib's (``tllib/modules/domain_discriminator.py``;
    the discriminator of the pretrained regime, 1024-1024).
    """

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (100,), dropout: float = 0.0,
                 batch_norm: bool = False):
        super().__init__()
        if batch_norm:  # TLlib's DomainDiscriminator: Linear-BatchNorm1d-ReLU per hidden layer, then one Linear
            layers: list[nn.Module] = []
            width = in_features
            for h in hidden:
                layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True)]
                width = h
            self.net = nn.Sequential(*layers, nn.Linear(width, 1))
        else:
            self.net = mlp(in_features, hidden, 1, dropout)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)
