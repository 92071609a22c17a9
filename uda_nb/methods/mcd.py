"""MCD: maximum classifier discrepancy (Saito et al., CVPR 2018), DRT's default alignment loss.

A generator ``G`` (``features``, role ``feature``) and two classifiers ``F1`` (``classifier``) and ``F2``
(``classifier2``), both role ``task``. The discrepancy of two predictions on the same images is

    d(p1, p2) = mean over the batch and the classes of |p1 - p2|,   p = softmax(F(G(x)))

(MCD eq. 1, the L1 distance divided by the number of classes). One iteration has three sub-steps, each updating
only its roles (the multi-step contract of :meth:`uda_nb.methods.Method.update`):

* step A, roles ``feature, task``: ``CE(F1(G(x_s)), y_s) + CE(F2(G(x_s)), y_s)``;
* step B, role ``task`` (G fixed): ``CE_s(F1) + CE_s(F2) - lam * d(F1(G(x_t)), F2(G(x_t)))``: the classifiers
  stay right on the source and disagree as much as they can on the target;
* step C, role ``feature`` (F1, F2 fixed), ``num_k`` times: ``lam * d(F1(G(x_t)), F2(G(x_t)))``: the generator
  moves the target features to where the classifiers agree.

``lam`` is DRT's ``lambda`` of eq. 6 (``L = L_ce + lambda L_d`` with ``L_d`` the discrepancy; 50 in the
paper's section 4.4): it weighs the discrepancy wherever it appears, against the source cross-entropy in step B
and alone in step C (where it scales the generator's step). The original MCD paper uses 1 and ``num_k = 4`` on
digits.

``one_step=True`` is DRT's reference code: both classifiers sit behind a gradient reversal layer on the target
features and one update minimises ``CE_s(F1) + CE_s(F2) - lam * d(F1(R(G(x_t))), F2(R(G(x_t))))`` over all
roles: the classifiers maximise the discrepancy, the generator (through R) minimises it, simultaneously rather
than in alternation. Predictions (``forward``) use ``F1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Batch, Method
from .dann import grad_reverse


def classifier_discrepancy(logits1: torch.Tensor, logits2: torch.Tensor) -> torch.Tensor:
    """MCD's ``d``: the mean over batch and classes of ``|softmax(logits1) - softmax(logits2)|``; ``(B, K)``
    twice -> scalar in ``[0, 2 / K]``."""
    if logits1.shape != logits2.shape or logits1.dim() != 2:
        raise ValueError(f"classifier_discrepancy needs two (B, K) logit tensors of one shape, got "
                         f"{tuple(logits1.shape)} and {tuple(logits2.shape)}.")
    return (F.softmax(logits1, dim=1) - F.softmax(logits2, dim=1)).abs().mean()


class MCD(Method):
    """MCD with a generator ``features`` and classifiers ``classifier`` (F1) and ``classifier2`` (F2); see the
    module docstring for the three sub-steps. lam: the discrepancy weight (DRT eq. 6, 50 in the paper); num_k:
    generator updates per iteration (step C); one_step: the reference code's gradient-reversal form."""

    name = "mcd"

    def __init__(self, features: nn.Module, classifier: nn.Module, classifier2: nn.Module, lam: float = 50.0,
                 num_k: int = 4, one_step: bool = False):
        super().__init__(features, classifier)
        if not lam > 0:
            raise ValueError(f"lam (the discrepancy weight) must be positive, got {lam!r}; DRT uses 50, MCD 1.")
        if isinstance(num_k, bool) or not isinstance(num_k, int) or num_k < 1:
            raise ValueError(f"num_k (generator steps per iteration) must be a whole number >= 1, got {num_k!r}.")
        self.classifier2 = classifier2
        self.lam, self.num_k, self.one_step = float(lam), int(num_k), bool(one_step)

    def roles(self):
        return {"feature": list(self.features.parameters()),
                "task": list(self.classifier.parameters()) + list(self.classifier2.parameters())}

    def _source_ce(self, z_s: torch.Tensor, y_s: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.classifier(z_s), y_s) + F.cross_entropy(self.classifier2(z_s), y_s)

    def _discrepancy(self, z_t: torch.Tensor) -> torch.Tensor:
        return classifier_discrepancy(self.classifier(z_t), self.classifier2(z_t))

    def update(self, batch: Batch, progress: float, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        if batch.x_t is None:
            raise ValueError("MCD needs target images in the batch (Batch.x_t).")
        if self.one_step:
            return self._one_step(batch, optimizer)

        # Step A: source cross-entropy of both classifiers, generator and classifiers.
        loss_a = self._source_ce(self.features(batch.x_s), batch.y_s)
        self.substep(optimizer, loss_a, ("feature", "task"))

        # Step B: classifiers only (the generator's features detached): right on the source, apart on the target.
        with torch.no_grad():
            z_s, z_t = self.features(batch.x_s), self.features(batch.x_t)
        ce_b = self._source_ce(z_s, batch.y_s)
        disc_b = self._discrepancy(z_t)
        self.substep(optimizer, ce_b - self.lam * disc_b, ("task",))

        # Step C: the generator only, num_k times, towards features on which the (fixed) classifiers agree.
        for _ in range(self.num_k):
            disc_c = self._discrepancy(self.features(batch.x_t))
            self.substep(optimizer, self.lam * disc_c, ("feature",))
        return {"loss": loss_a.detach(), "loss_cls": loss_a.detach() / 2, "discrepancy_max": disc_b.detach(),
                "discrepancy": disc_c.detach()}

    def _one_step(self, batch: Batch, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        n_s = len(batch.x_s)
        z = self.features(torch.cat([batch.x_s, batch.x_t]))
        ce = self._source_ce(z[:n_s], batch.y_s)
        disc = self._discrepancy(grad_reverse(z[n_s:]))
        loss = ce - self.lam * disc
        self.substep(optimizer, loss, ("feature", "task"))
        return {"loss": loss.detach(), "loss_cls": ce.detach() / 2, "discrepancy": disc.detach()}
