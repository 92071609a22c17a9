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
and alone in step C (where it scales the generator's step). MCD's own code (MCD_DA ``solver.py``) uses 1 and
``num_k = 4`` on digits, the defaults here. DRT's 50 weighs a discrepancy averaged over DomainNet's 345 classes;
ours is averaged over the task's classes, so the same pressure per unit of summed L1 on 10 classes is
``50 * 10 / 345 = 1.45`` (docs/references/mcd.md).

``one_step=True`` is DRT's reference code (``drt.py``): the generator runs once on ``cat(x_s, x_t)`` (BatchNorm
sees both domains), both classifiers on those features give the source cross-entropy, and again behind a
gradient reversal layer of coefficient ``reverse`` (their ``--lmbd 4``) on the target features for the
discrepancy; one update minimises ``CE_s(F1) + CE_s(F2) + class_balance * B_t - lam * d(F1(R(G(x_t))),
F2(R(G(x_t))))`` over all roles: the classifiers maximise the discrepancy, the generator (through R) minimises
it with ``reverse * lam``, simultaneously rather than in alternation. ``B_t = -sum_heads mean_k log(mean_b
p_bk + 1e-6)`` is their class-balance term on the target predictions (``gamma = 0.01``), and
``label_smoothing`` their smoothed cross-entropy (``--lbsm 0.01``: the true class gets ``1 - eps``, every other
class ``eps / (K - 1)``).

Predictions (``forward``): ``predict="confident"`` takes, per image, the head whose top logit is larger (DRT's
``drt.py`` test rule, which reads no labels); ``"f1"`` uses F1 alone.
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


def smoothed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy against a smoothed one-hot target, DRT's ``LabelSmoothingLoss``: the true class weighs
    ``1 - smoothing``, every other class ``smoothing / (K - 1)``; mean over the batch. ``logits`` ``(B, K)``,
    ``target`` ``(B,)``. ``smoothing = 0`` is the plain cross-entropy."""
    if smoothing == 0.0:
        return F.cross_entropy(logits, target)
    log_p = logits.log_softmax(dim=1)
    weight = torch.full_like(log_p, smoothing / (logits.shape[1] - 1))
    weight.scatter_(1, target.unsqueeze(1), 1.0 - smoothing)
    return -(weight * log_p).sum(dim=1).mean()


def class_balance(logits: torch.Tensor) -> torch.Tensor:
    """DRT's class-balance term on target predictions ``(B, K)``: ``-mean_k log(mean_b softmax(logits)_bk +
    1e-6)``, smallest (``log K``) when the batch's mean prediction is uniform over the classes."""
    return -torch.log(F.softmax(logits, dim=1).mean(dim=0) + 1e-6).mean()


PREDICT_RULES = ("confident", "f1")


class MCD(Method):
    """MCD with a generator ``features`` and classifiers ``classifier`` (F1) and ``classifier2`` (F2); see the
    module docstring for the three sub-steps. lam: the discrepancy weight (MCD's 1; DRT eq. 6); num_k: generator
    updates per iteration (step C; MCD_DA's 4); one_step: DRT's code's gradient-reversal form, with ``reverse``
    its reversal coefficient (4), ``class_balance`` its target class-balance weight (0.01) and
    ``label_smoothing`` its smoothing (0.01); predict: ``"confident"`` (DRT's rule) or ``"f1"``."""

    name = "mcd"

    def __init__(self, features: nn.Module, classifier: nn.Module, classifier2: nn.Module, lam: float = 1.0,
                 num_k: int = 4, one_step: bool = False, reverse: float = 4.0, class_balance: float = 0.0,
                 label_smoothing: float = 0.0, predict: str = "confident"):
        super().__init__(features, classifier)
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam > 0:
            raise ValueError(f"lam (the discrepancy weight) must be a positive number, got {lam!r}; MCD uses 1.")
        if isinstance(num_k, bool) or not isinstance(num_k, int) or num_k < 1:
            raise ValueError(f"num_k (generator steps per iteration) must be a whole number >= 1, got {num_k!r}.")
        for name, value in (("reverse", reverse), ("class_balance", class_balance)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r} (DRT's code: reverse 4, class_balance "
                                 "0.01).")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r} (DRT's code: 0.01).")
        if predict not in PREDICT_RULES:
            raise ValueError(f"predict must be one of {PREDICT_RULES}, got {predict!r}.")
        if class_balance and not one_step:
            raise ValueError("class_balance is a term of DRT's one-step recipe: pass one_step=True, or "
                             "class_balance=0 for MCD's three steps.")
        self.classifier2 = classifier2
        self.lam, self.num_k, self.one_step = float(lam), int(num_k), bool(one_step)
        self.reverse, self.class_balance = float(reverse), float(class_balance)
        self.label_smoothing, self.predict = float(label_smoothing), predict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, K)``: per image, those of the head with the larger top logit (``predict=
        "confident"``, DRT's rule) or F1's."""
        z = self.features(x)
        logits1 = self.classifier(z)
        if self.predict == "f1":
            return logits1
        logits2 = self.classifier2(z)
        pick2 = logits2.max(dim=1).values > logits1.max(dim=1).values
        return torch.where(pick2.unsqueeze(1), logits2, logits1)

    def roles(self):
        return {"feature": list(self.features.parameters()),
                "task": list(self.classifier.parameters()) + list(self.classifier2.parameters())}

    def _source_ce(self, z_s: torch.Tensor, y_s: torch.Tensor) -> torch.Tensor:
        eps = self.label_smoothing
        return (smoothed_cross_entropy(self.classifier(z_s), y_s, eps)
                + smoothed_cross_entropy(self.classifier2(z_s), y_s, eps))

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
        out1, out2 = self.classifier(z), self.classifier2(z)  # both heads on cat(source, target), as drt.py
        self.offer_target_logits(out1[n_s:])
        eps = self.label_smoothing
        ce = (smoothed_cross_entropy(out1[:n_s], batch.y_s, eps)
              + smoothed_cross_entropy(out2[:n_s], batch.y_s, eps))
        balance = class_balance(out1[n_s:]) + class_balance(out2[n_s:])
        disc = self._discrepancy(grad_reverse(z[n_s:], self.reverse))
        loss = ce + self.class_balance * balance - self.lam * disc
        self.substep(optimizer, loss, ("feature", "task"))
        return {"loss": loss.detach(), "loss_cls": ce.detach() / 2, "class_balance": balance.detach(),
                "discrepancy": disc.detach()}
