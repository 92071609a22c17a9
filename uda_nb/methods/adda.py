"""ADDA: adversarial discriminative domain adaptation (Tzeng et al., CVPR 2017), a row of DRT's Table 2.

ADDA adapts in two stages. First a source encoder ``M_s`` and classifier ``C`` are trained on labeled source
images (any source-only run). Then a *target* encoder ``M_t``, initialised from ``M_s``, is trained against a
domain discriminator ``D`` while ``M_s`` and ``C`` stay fixed; target images are classified by ``C(M_t(x))``.
With ``D``'s logit ``D(z)`` (source = 1) and ``BCE`` the binary cross-entropy on logits, one iteration is two
sub-steps (ADDA eq. 9, the GAN loss with inverted labels), each updating only its role (the multi-step contract
of :meth:`uda_nb.methods.Method.update`):

* role ``adversarial`` (``D``): ``BCE(D(M_s(x_s)), 1) + BCE(D(M_t(x_t)), 0)``, the sum of the two batch means;
* role ``feature`` (``M_t``): ``BCE(D(M_t(x_t)), 1)``: the target encoder makes its features look like source
  features (inverted labels, not a reversed gradient: stronger gradients early on, ADDA section 3.2).

In uda_nb the first stage is the spec's ``init_from``: a source-only run on the same network whose ``features``
and ``classifier`` are loaded (``init_modules=("features", "classifier")``), so ADDA shares the source-only
row's runs through the cache. ``M_s`` is a frozen copy of ``features`` taken at the first update, when the
pretrained weights are in place; it runs in eval mode (its BatchNorm statistics stay the pretrained ones). The
source images never reach ``M_t`` or ``C`` during adaptation: ``C`` is fixed, and the source labels are not
used at all after pretraining. Predictions (``forward``, ``embed``) use ``M_t``, for source images too.

The paper's LeNet setting: Adam at 2e-4 (beta1 = 0.5) for ``D`` and ``M_t``, a 500-500 discriminator, 10,000
iterations of 128 + 128 images. Here the optimizer and steps come from the spec like any other method.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .base import Batch, Method


class ADDA(Method):
    """ADDA's adversarial stage: ``features`` is the target encoder ``M_t``, ``classifier`` the fixed source
    classifier ``C``, ``discriminator`` the domain discriminator ``D`` (``(N, D)`` features -> ``(N,)`` logits,
    source = 1). Start it from a source-only run (``RunSpec(init_from=..., init_modules=("features",
    "classifier"))``); see the module docstring."""

    name = "adda"

    def __init__(self, features: nn.Module, classifier: nn.Module, discriminator: nn.Module):
        super().__init__(features, classifier)
        self.discriminator = discriminator
        self.source_features = copy.deepcopy(features)  # M_s: replaced by the pretrained M_t at the first update
        for p in list(self.source_features.parameters()) + list(self.classifier.parameters()):
            p.requires_grad_(False)  # fixed in the adversarial stage: no role, no optimizer group
        # whether M_s has been taken from the (by then pretrained) features; a buffer, so saved runs keep it
        self.register_buffer("source_frozen", torch.tensor(False))

    def roles(self):
        return {"feature": list(self.features.parameters()), "adversarial": list(self.discriminator.parameters())}

    def train(self, mode: bool = True):
        super().train(mode)
        self.source_features.eval()  # M_s keeps its pretrained BatchNorm statistics
        return self

    def freeze_source(self) -> None:
        """``M_s`` := a frozen copy of the current ``features`` (done once, at the first update)."""
        self.source_features.load_state_dict(self.features.state_dict())
        self.source_frozen.fill_(True)

    def discriminator_loss(self, z_s: torch.Tensor, z_t: torch.Tensor) -> torch.Tensor:
        """``BCE(D(z_s), 1) + BCE(D(z_t), 0)`` for source features ``(B_s, D)`` and target features ``(B_t, D)``."""
        d_s, d_t = self.discriminator(z_s), self.discriminator(z_t)
        return (F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s))
                + F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t)))

    def encoder_loss(self, z_t: torch.Tensor) -> torch.Tensor:
        """``BCE(D(z_t), 1)``: the inverted-label loss of the target encoder."""
        d_t = self.discriminator(z_t)
        return F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t))

    def update(self, batch: Batch, progress: float, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        if batch.x_t is None:
            raise ValueError("ADDA needs target images in the batch (Batch.x_t).")
        if not bool(self.source_frozen):
            self.freeze_source()
        with torch.no_grad():
            z_s = self.source_features(batch.x_s)
        z_t = self.features(batch.x_t)  # one pass of M_t serves both sub-steps (M_t only moves in the second)
        # Discriminator: source features of M_s against target features of M_t (M_t fixed here).
        loss_d = self.discriminator_loss(z_s, z_t.detach())
        self.substep(optimizer, loss_d, ("adversarial",))
        # Target encoder: fool the updated, now fixed, discriminator, inverted labels.
        loss_t = self.encoder_loss(z_t)
        self.substep(optimizer, loss_t, ("feature",))
        return {"loss": loss_t.detach(), "loss_disc": loss_d.detach()}
