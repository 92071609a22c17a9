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


class Classifier(nn.Module):
    """Label predictor G_y. DANN's MNIST head is fc100-fc100-10. ``(N, in_features)`` -> logits ``(N, classes)``."""

    def __init__(self, in_features: int, num_classes: int, hidden: tuple[int, ...] = (100, 100),
                 dropout: float = 0.0):
        super().__init__()
        self.net = mlp(in_features, hidden, num_classes, dropout)
        self.num_classes = num_classes

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class DomainDiscriminator(nn.Module):
    """Domain classifier G_d: ``(N, in_features)`` -> one logit per sample ``(N,)`` (source = 1, target = 0).

    DANN's MNIST discriminator is fc100-1 (``hidden=(100,)``); its larger networks use 1024-1024.
    """

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (100,), dropout: float = 0.0):
        super().__init__()
        self.net = mlp(in_features, hidden, 1, dropout)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)
