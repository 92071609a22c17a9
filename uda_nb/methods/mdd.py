"""MDD: margin disparity discrepancy (Zhang, Liu, Long & Jordan, ICML 2019, "Bridging Theory and Algorithm for
Domain Adaptation"), for classification.

Networks: a feature extractor psi (``features``, role ``feature``), the main classifier f (``classifier``, role
``task``) and an auxiliary, adversarial classifier f' of the same shape (``adversary``, role ``adversarial``) that
sees the features through the gradient reversal layer R (:func:`uda_nb.methods.dann.grad_reverse`). For a batch of
``B_s`` source images ``x_s`` with labels ``y`` and ``B_t`` target images ``x_t`` (one concatenated pass, as in
the reference code):

    y_s = f(psi(x_s)), y_t = f(psi(x_t))                    logits (B_s, K), (B_t, K)
    y_s_adv = f'(R(psi(x_s))), y_t_adv = f'(R(psi(x_t)))    logits (B_s, K), (B_t, K)
    h_s = argmax_k y_s, h_t = argmax_k y_t                  f's predictions (B_s,), (B_t,); no gradient

The paper's margin disparity discrepancy (its Definition of MDD, made trainable in its algorithm section) is
``D_gamma = E_t[L'(f'(psi(x_t)), h_t)] - gamma E_s[L(f'(psi(x_s)), h_s)]``: the adversary f' should agree with f on
the source and disagree with it on the target, and psi should make that impossible. With the paper's surrogate
losses (L: cross-entropy; L': the "modified cross-entropy" ``log(1 - softmax)``, which is bounded and does not
explode the way ``-CE`` would when f' disagrees) the quantity minimised here is

    disparity = gamma * CE(y_s_adv, h_s) + NLL(log(1 - softmax(y_t_adv) + eps), h_t)                      (1)
              = gamma * mean_i -log softmax(y_s_adv)_i[h_s,i] - mean_j log(1 - softmax(y_t_adv)_j[h_t,j] + eps)
              = -D_gamma (up to eps),
    loss      = CE(y_s, y) + trade_off * disparity                                                        (2)

Minimising (2) over all parameters: f' descends (1) directly, so it learns to agree with f on the source (CE to
h_s, weighted by gamma) and to disagree with f on the target (push softmax(y_t_adv)[h_t] to 0), i.e. it maximises
D_gamma; psi receives (1)'s gradient through R, multiplied by ``-lambda``, so it ascends (1) (minimises D_gamma):
the paper's minimax ``min_{f, psi} CE + eta D_gamma``, ``max_{f'} D_gamma`` with ``eta = trade_off``. f gets no
gradient from (1) (argmax), only from the source cross-entropy. (Equation numbers above are this module's; the
paper's own numbering was not checked here.)

Mapping to the reference, Transfer-Learning-Library ``tllib/alignment/mdd.py``:

* ``ClassificationMarginDisparityDiscrepancy(margin)`` returns ``-gamma CE(y_s_adv, h_s) + mean log(1 - p)`` (its
  target term is ``-F.nll_loss(shift_log(1 - softmax(y_t_adv)), h_t)``), i.e. D_gamma; the example script minimises
  ``cls_loss + trade_off * (-mdd(...))``, which is (2). Their adversarial head sits behind a
  ``WarmStartGradientReverseLayer``, as f' here sits behind R: same gradients for every network.
* ``shift_log(x) = log(clamp(x + 1e-6, max=1))``: ``eps = 1e-6`` is added inside the log of the target term only
  (the source term is an ordinary, log-softmax cross-entropy), so a target sample on which f' already puts
  probability 1 on h_t costs ``log(1e-6)`` ~ -13.8 rather than -inf.
* ``margin = 4`` (gamma): the reference's Office-31 value (``--margin 4``). ``trade_off = 1``: ``--trade-off 1``.
* GRL coefficient: the reference's warm start
  ``lambda_i = lo + (hi - lo) (2 / (1 + exp(-alpha i / N)) - 1)`` with ``alpha = 1, lo = 0, hi = 0.1, N = max_iters
  = 1000``, stepped once per iteration, while the example trains ``epochs x iters_per_epoch = 20 x 1000 = 20000``
  iterations. With progress ``p = i / 20000`` that is ``i / N = 20 p``, so
  ``lambda(p) = lambda_max * grl_lambda(p, lambda_gamma)`` (:func:`uda_nb.schedules.grl_lambda`, DANN's eq. 14
  shape) with ``lambda_max = hi = 0.1`` and ``lambda_gamma = alpha * 20000 / N = 20``: 0 at ``p = 0`` (the warm
  start: psi first learns from the source labels alone), 0.1 tanh(1) ~ 0.076 at ``p = 0.1`` and ~0.1 from
  ``p ~ 0.3`` on. For a run of ``S`` steps that should follow the reference's per-iteration curve exactly, pass
  ``lambda_gamma = S / 1000``.
* The network is TLlib's by default (:data:`uda_nb.methods.REFERENCE_HEADS`): a bottleneck Linear(D, 1024) -
  BatchNorm - ReLU - Dropout 0.5 (N(0, 0.005), bias 0.1) on the task's feature extractor, then f and f' each
  Linear(1024, 1024) - ReLU - Dropout 0.5 - Linear(1024, K) (N(0, 0.01), bias 0); ``head="mlp", bottleneck=0``
  gives DANN's fc100-fc100 heads instead. TLlib's optimiser (SGD with Nesterov momentum, weight decay 5e-4) is the
  run spec's (:data:`uda_nb.papers.transpar.MDD_OPTIMIZER`). Not reproduced: TLlib's 0.1 learning rate on the
  backbone, its convention for a *pretrained* backbone; our digits networks train from scratch
  (docs/references/mdd.md).

Predictions (``forward``) use f; f' exists only for training.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ..schedules import grl_lambda
from .base import Batch, Method
from .dann import grad_reverse

#: added inside the log of the target term, as the reference's ``shift_log`` (offset 1e-6)
SHIFT_LOG_EPS = 1e-6


def shift_log(x: torch.Tensor, eps: float = SHIFT_LOG_EPS) -> torch.Tensor:
    """``log(min(x + eps, 1))`` elementwise: a log that stays finite (>= log eps) at ``x = 0`` (tllib's
    ``shift_log``)."""
    return torch.log(torch.clamp(x + eps, max=1.0))


def source_disparity(y_s: torch.Tensor, y_s_adv: torch.Tensor) -> torch.Tensor:
    """``CE(y_s_adv, argmax y_s)``, the mean over the batch; logits ``(B_s, K)`` twice -> scalar. Small when f'
    agrees with f on the source."""
    return F.cross_entropy(y_s_adv, y_s.detach().argmax(dim=1))


def target_disparity(y_t: torch.Tensor, y_t_adv: torch.Tensor, eps: float = SHIFT_LOG_EPS) -> torch.Tensor:
    """``NLL(log(1 - softmax(y_t_adv) + eps), argmax y_t)`` = mean over the batch of ``-log(1 - q[h_t] + eps)``,
    ``q = softmax(y_t_adv)``; logits ``(B_t, K)`` twice -> scalar in ``[0, -log eps]``. Small when f' disagrees with f
    on the target."""
    return F.nll_loss(shift_log(1.0 - F.softmax(y_t_adv, dim=1), eps), y_t.detach().argmax(dim=1))


def margin_disparity(y_s: torch.Tensor, y_s_adv: torch.Tensor, y_t: torch.Tensor, y_t_adv: torch.Tensor,
                     margin: float = 4.0, eps: float = SHIFT_LOG_EPS) -> torch.Tensor:
    """Eq. (1) of :mod:`uda_nb.methods.mdd`: ``margin * CE(y_s_adv, h_s) + NLL(log(1 - softmax(y_t_adv) + eps), h_t)``
    with ``h = argmax`` of the main classifier's logits (no gradient through it); ``(B_s, K)``, ``(B_s, K)``,
    ``(B_t, K)``, ``(B_t, K)`` -> scalar. This is the negative of tllib's ``ClassificationMarginDisparityDiscrepancy``
    (the adversary descends it)."""
    if y_s.shape != y_s_adv.shape or y_t.shape != y_t_adv.shape or y_s.dim() != 2 or y_t.dim() != 2 \
            or y_s.shape[1] != y_t.shape[1]:
        raise ValueError(f"margin_disparity needs (B_s, K) source and (B_t, K) target logits of both classifiers, got "
                         f"{tuple(y_s.shape)}, {tuple(y_s_adv.shape)}, {tuple(y_t.shape)}, {tuple(y_t_adv.shape)}.")
    return margin * source_disparity(y_s, y_s_adv) + target_disparity(y_t, y_t_adv, eps)


class MDD(Method):
    """MDD with features psi, main classifier f (``classifier``) and adversarial classifier f' (``adversary``);
    one update minimises ``CE(y_s, y) + trade_off * disparity`` (module docstring, eq. 1-2) with f' behind a
    gradient reversal layer of coefficient ``lambda_max * grl_lambda(p, lambda_gamma)``.

    margin: gamma, the weight of the source agreement term (4, the reference's Office-31 value; 1 is plain
    disparity discrepancy); trade_off: eta, the weight of the disparity in the total loss (1); lambda_max,
    lambda_gamma: the warm-start schedule of the reversal coefficient (0.1 and 20, tllib's
    ``WarmStartGradientReverseLayer(alpha=1, lo=0, hi=0.1, max_iters=1000)`` over its 20000 iterations).
    """

    name = "mdd"

    def __init__(self, features: nn.Module, classifier: nn.Module, adversary: nn.Module, margin: float = 4.0,
                 trade_off: float = 1.0, lambda_max: float = 0.1, lambda_gamma: float = 20.0):
        super().__init__(features, classifier)
        if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not margin > 0:
            raise ValueError(f"margin (MDD's gamma) must be a positive number, got {margin!r}: use e.g. 4 (the "
                             "reference's Office-31 value) or 1 (plain disparity discrepancy).")
        if isinstance(trade_off, bool) or not isinstance(trade_off, numbers.Real) or not trade_off >= 0:
            raise ValueError(f"trade_off (the disparity weight) must be >= 0, got {trade_off!r}: use 1 (the reference) "
                             "or 0 for source-only training.")
        if isinstance(lambda_max, bool) or not isinstance(lambda_max, numbers.Real) or not lambda_max >= 0:
            raise ValueError(f"lambda_max (the final gradient-reversal coefficient) must be >= 0, got {lambda_max!r}: "
                             "use 0.1 (the reference's hi).")
        if isinstance(lambda_gamma, bool) or not isinstance(lambda_gamma, numbers.Real) or not lambda_gamma > 0:
            raise ValueError(f"lambda_gamma (the warm-up speed of the reversal coefficient) must be positive, got "
                             f"{lambda_gamma!r}: use 20 (the reference's 20000 iterations / max_iters 1000).")
        self.adversary = adversary
        self.margin, self.trade_off = float(margin), float(trade_off)
        self.lambda_max, self.lambda_gamma = float(lambda_max), float(lambda_gamma)

    def roles(self):
        return {**super().roles(), "adversarial": list(self.adversary.parameters())}

    def adaptation_factor(self, progress: float) -> float:
        """The gradient-reversal coefficient lambda at training progress ``p`` in [0, 1]: 0 at the start."""
        return self.lambda_max * grl_lambda(progress, self.lambda_gamma)

    def compute_loss(self, batch: Batch, progress: float):
        if batch.x_t is None:
            raise ValueError("MDD needs target images in the batch (Batch.x_t).")
        n_s = len(batch.x_s)
        z = self.features(torch.cat([batch.x_s, batch.x_t]))  # one pass: shared batch-norm statistics, as tllib
        y = self.classifier(z)
        coeff = self.adaptation_factor(progress)
        y_adv = self.adversary(grad_reverse(z, coeff))  # f' descends the disparity, psi ascends it (x lambda)
        y_s, y_t, y_s_adv, y_t_adv = y[:n_s], y[n_s:], y_adv[:n_s], y_adv[n_s:]
        self.offer_target_logits(y_t)  # TransPar's entropy on this y_t, as mdd-TransPar.py (eq. 10)
        loss_cls = F.cross_entropy(y_s, batch.y_s)
        src = source_disparity(y_s, y_s_adv)
        tgt = target_disparity(y_t, y_t_adv)
        disparity = self.margin * src + tgt
        loss = loss_cls + self.trade_off * disparity
        with torch.no_grad():
            agree_s = (y_s_adv.argmax(1) == y_s.argmax(1)).float().mean()
            agree_t = (y_t_adv.argmax(1) == y_t.argmax(1)).float().mean()
        return loss, {"loss": loss.detach(), "loss_cls": loss_cls.detach(), "disparity": disparity.detach(),
                      "disparity_source": src.detach(), "disparity_target": tgt.detach(),
                      "agreement_source": agree_s, "agreement_target": agree_t, "lambda": torch.tensor(coeff)}
