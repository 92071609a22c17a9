"""DANN: domain-adversarial training by gradient reversal (Ganin & Lempitsky, ICML 2015).

The saddle-point objective, eq. (1)-(3) of the paper,
    E(theta_f, theta_y, theta_d) = L_y(theta_f, theta_y) - lambda * L_d(theta_f, theta_d),
is optimised with plain SGD by inserting the gradient reversal layer R (eq. 9-10) between the features and
the domain classifier: R(x) = x forward, dR/dx = -lambda I backward. Minimising ``L_y + L_d(R(f))`` then
trains the domain classifier to separate the domains and the feature extractor to confuse it. lambda follows
eq. (14), ``lambda_p = 2 / (1 + exp(-gamma p)) - 1`` (:func:`uda_nb.schedules.grl_lambda`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..schedules import grl_lambda
from .base import Batch, Method


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.coeff * grad, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """R_lambda(x): identity forward, gradient multiplied by ``-coeff`` backward (DANN eq. 9-10)."""
    return _ReverseGrad.apply(x, float(coeff))


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse`; ``coeff`` (lambda) can be changed between steps."""

    def __init__(self, coeff: float = 1.0):
        super().__init__()
        self.coeff = coeff

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.coeff)

    def extra_repr(self) -> str:
        return f"coeff={self.coeff}"


class DomainAdversarialLoss(nn.Module):
    """L_d of DANN (eq. 3 with the logistic loss): binary cross-entropy of the domain classifier G_d on reversed
    features, source labelled 1 and target 0, averaged over the ``B_s + B_t`` samples.

    forward(f_s ``(B_s, D)``, f_t ``(B_t, D)``, coeff lambda) -> (loss scalar, domain accuracy scalar).
    The discriminator receives the gradient of L_d; the features receive ``-lambda`` times it (through R).
    """

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor, coeff: float = 1.0):
        f = grad_reverse(torch.cat([f_s, f_t]), coeff)
        logits = self.discriminator(f)
        target = torch.cat([torch.ones(len(f_s), device=f.device), torch.zeros(len(f_t), device=f.device)])
        loss = F.binary_cross_entropy_with_logits(logits, target)
        acc = ((logits > 0).float() == target).float().mean()
        return loss, acc.detach()


class DANN(Method):
    """DANN: ``L_y(source) + L_d(R_lambda(features))`` with ``lambda = lambda_max * lambda_p`` (eq. 14).

    Source and target go through the feature extractor in one concatenated batch (half source, half target,
    as in the paper's 128-image batches). ``disc_lr_mult`` scales the domain classifier's learning rate (1 in
    the paper; a slower or faster adversary is a knob of the recipe search in ``benchmarks/``). ``entropy``: the
    weight ``alpha`` of a target entropy term ``alpha * mean_j H(softmax(G_y(f_t_j)))`` (0, the paper: DANN has
    none); GSDA's L^c carries the same term (its eq. 4-5), so a DANN control with GSDA's ``alpha`` compares the
    alignment alone (05_gsda's partial-DA rows).
    """

    name = "dann"

    def __init__(self, features: nn.Module, classifier: nn.Module, discriminator: nn.Module,
                 gamma: float = 10.0, lambda_max: float = 1.0, disc_lr_mult: float = 1.0, entropy: float = 0.0):
        super().__init__(features, classifier)
        if disc_lr_mult <= 0:
            raise ValueError(f"disc_lr_mult must be positive, got {disc_lr_mult}.")
        if isinstance(entropy, bool) or not isinstance(entropy, (int, float)) or not entropy >= 0:
            raise ValueError(f"entropy (the target entropy weight alpha) must be a number >= 0, got {entropy!r}; "
                             "0 is DANN's paper, 0.2 GSDA's partial-DA value.")
        self.entropy = float(entropy)
        self.lr_mult = {**self.lr_mult, "adversarial": float(disc_lr_mult)}
        self.discriminator = discriminator
        self.domain_loss = DomainAdversarialLoss(discriminator)
        self.gamma = gamma
        self.lambda_max = lambda_max

    def roles(self):
        return {**super().roles(), "adversarial": list(self.discriminator.parameters())}

    def adaptation_factor(self, progress: float) -> float:
        return self.lambda_max * grl_lambda(progress, self.gamma)

    def compute_loss(self, batch: Batch, progress: float):
        n_s = len(batch.x_s)
        f = self.features(torch.cat([batch.x_s, batch.x_t]))
        f_s, f_t = f[:n_s], f[n_s:]
        loss_cls = F.cross_entropy(self.classifier(f_s), batch.y_s)
        coeff = self.adaptation_factor(progress)
        loss_dom, dom_acc = self.domain_loss(f_s, f_t, coeff)
        loss = loss_cls + loss_dom
        logs = {}
        self.offer_target_logits(lambda: self.classifier(f_t))  # TransPar's entropy reuses this pass (eq. 10)
        if self.entropy:
            log_p = F.log_softmax(self.classifier(f_t), dim=1)
            ent = -(log_p.exp() * log_p).sum(dim=1).mean()
            loss = loss + self.entropy * ent
            logs["entropy"] = ent.detach()
        return loss, {"loss": loss.detach(), "loss_cls": loss_cls.detach(), "loss_domain": loss_dom.detach(),
                      "domain_acc": dom_acc, "lambda": torch.tensor(coeff), **logs}
