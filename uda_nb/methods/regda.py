"""RegDA: regressive domain adaptation for keypoint detection (Jiang et al., CVPR 2021), and DD.

Three networks: the feature generator ``psi`` (``features``, role ``feature``), the regressor ``f``
(``classifier``, role ``task``) and the adversarial regressor ``f'`` (``adversary``, role ``adversarial``).
One iteration is three sub-steps (section 4.4), each updating only its roles (the multi-step contract of
:meth:`uda_nb.methods.Method.update`):

1. eq. 12, roles ``feature, task, adversarial``, source batch:
   ``L_T(f(psi(x_s)), y_s) + eta L_T(f'(psi(x_s)), J(f(psi(x_s))))``;
2. eq. 13, role ``adversarial``, target batch: ``f'`` minimises ``eta L_F(f'(psi(x_t)), f(psi(x_t)))``, i.e. it
   moves towards the *ground-false* map ``P_F`` (eq. 9-11; eq. 15 for one keypoint), which maximises its
   disparity with ``f`` on the target;
3. eq. 14, role ``feature``, same target batch: ``psi`` minimises ``eta L_T(f'(psi(x_t)), J(f(psi(x_t))))``,
   pulling ``f'`` back onto ``f``'s predictions.

``J`` is an argmax, so no gradient reaches ``f`` through it. Table 3's variants are the ``variant`` option:

* ``"regda"`` (min L_F / min L_T, the paper's method),
* ``"dd"`` (max L_T / min L_T: Disparity Discrepancy (Zhang et al. 2019) extended to keypoints with ``L_T``,
  the paper's baseline; the minimax is written as two sub-steps, f' maximising and psi minimising the same
  ``L_T``, which is what a gradient reversal layer between ``psi`` and ``f'`` computes in one pass, updated
  alternately instead of simultaneously),
* ``"lf_minimax"`` (min L_F / max L_F: the minimax played on ``L_F``).

Protocol (section 5.2.2): ``psi`` comes from a source-only model trained with ``L_T`` (``RunSpec.init_from``),
``f`` and ``f'`` start fresh (``init_modules=("features",)``; keeping the pretrained ``f`` is
``init_modules=("features", "classifier")``). Optimiser: SGD with Nesterov momentum 0.9, the regressors at
10x the generator's learning rate (``head_lr_mult=10``).

Reference-code option: ``warm_start=True`` puts the Transfer-Learning-Library's warm-start gradient layer
between ``psi`` and ``f'``: every gradient ``psi`` receives *through f'* (the eq. 12 adversarial term and all
of eq. 14) is scaled by ``c(p) = 0.1 (2 / (1 + exp(-warm_gamma p)) - 1)``, rising from 0 to about 0.1 over
training (the reference schedules it by iteration, 0 -> 0.1 with ``max_iters=1000``; here by progress ``p``).

Reference-code option: ``margin`` multiplies eq. 12's ``f'`` term, so objective 1 reads
``L_T(f, y_s) + margin * eta * L_T(f', J(f))`` on the source while objectives 2 and 3 keep ``eta``. The
Transfer-Learning-Library's ``regda.py`` trains with ``margin = 4`` (its "margin gamma", the name MDD gives the
weight of the source disparity); the paper's eq. 12 is ``margin = 1``, the default.

Reference-code option: ``target_passes=2`` runs the target batch through ``psi`` and ``f`` a second time for
objective 3, as the reference code's ``regda.py`` does (its steps B and C each call ``model(x_t)``). The weights
and the batch are the same in both passes, so every gradient and every parameter update is the same as with one
pass; what changes is BatchNorm's running statistics in ``psi`` and ``f``, which see the target batch twice per
iteration (source, target, target) instead of once. With momentum 0.1 the statistics used at test time then end
about 70 % target instead of about 53 %. The paper does not say; the default is one pass.

Reference-code option: ``head_init="reference"`` initialises every convolution of ``f`` and ``f'`` as the
Transfer-Learning-Library's ``PoseResNet2d._make_head`` does, weights from N(0, 0.001^2) and zero biases, instead of
PyTorch's default (uniform, bound ``1 / sqrt(fan_in)``). A fresh head then starts with logits of about 1e-3, a
flat heatmap, and every gradient that ``psi`` receives through it starts about a hundred times smaller and grows
as the head's last layer learns. A pretrained ``f`` loaded afterwards (``RunSpec.init_modules``) replaces its
initialisation. The paper does not say; the default is PyTorch's.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..losses.heatmaps import GroundFalseLoss, heatmap_argmax
from .base import Batch
from .keypoint import KeypointMethod

HEAD_INITS = ("default", "reference")
#: the reference code's head initialisation: N(0, REFERENCE_HEAD_STD^2) weights, zero biases
REFERENCE_HEAD_STD = 1e-3

VARIANTS = {"regda": ("min_lf", "min_lt"), "dd": ("max_lt", "min_lt"), "lf_minimax": ("min_lf", "max_lf")}


class _ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.coeff, None


def scale_grad(x: torch.Tensor, coeff: float) -> torch.Tensor:
    """Identity forward; gradient multiplied by ``coeff`` backward (the reference code's gradient layer)."""
    return x if coeff == 1.0 else _ScaleGrad.apply(x, float(coeff))


def reference_head_init(head: nn.Module) -> None:
    """In place: every ``Conv2d`` of ``head`` gets N(0, 0.001^2) weights and zero biases (the reference code's
    regression heads); other layers (BatchNorm) keep theirs."""
    for m in head.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=REFERENCE_HEAD_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class RegDA(KeypointMethod):
    """RegDA / DD for heatmap keypoint detection (module docstring: sub-steps, variants, options).

    adversary: ``f'``, a head like ``f``; eta: trade-off (1 in the paper); variant: ``"regda"``, ``"dd"`` or
    ``"lf_minimax"``; area: ``None`` for eq. 9-10's ground-false map (K >= 2) or the pixel box
    ``(x0, x1, y0, y1)`` of eq. 15 (one keypoint; dSprites ``(16, 48, 16, 48)``); head_lr_mult: learning-rate
    multiplier of ``f`` and ``f'``; margin: extra weight of eq. 12's ``f'`` term on the source; target_passes: 1,
    or the reference code's 2 forward passes of the target batch per iteration; head_init: ``"default"`` or the
    reference code's ``"reference"`` initialisation of both heads (module docstring).
    """

    name = "regda"

    def __init__(self, features: nn.Module, classifier: nn.Module, adversary: nn.Module, sigma: float,
                 eta: float = 1.0, variant: str = "regda", area: tuple[float, float, float, float] | None = None,
                 head_lr_mult: float = 10.0, warm_start: bool = False, warm_gamma: float = 10.0,
                 source_loss: str = "kl", margin: float = 1.0, target_passes: int = 1,
                 head_init: str = "default"):
        super().__init__(features, classifier, sigma, source_loss)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}.")
        if not eta > 0:
            raise ValueError(f"eta must be positive, got {eta}.")
        if not margin > 0:
            raise ValueError(f"margin must be positive (1 is the paper's eq. 12, 4 the reference code's), "
                             f"got {margin}.")
        if area is None and classifier.num_keypoints < 2:
            raise ValueError("RegDA's ground-false map (eq. 9-10) sums the OTHER keypoints' Gaussians, and this task "
                             "has one keypoint: pass area=(x0, x1, y0, y1), the pixel box where keypoints can lie "
                             "(eq. 15; dSprites (16, 48, 16, 48), found in domain.meta['keypoint_area']).")
        if target_passes not in (1, 2):
            raise ValueError(f"target_passes must be 1 (one target forward pass per iteration) or 2 (the reference "
                             f"code's: a second pass for objective 3), got {target_passes!r}.")
        if head_init not in HEAD_INITS:
            raise ValueError(f"head_init must be one of {HEAD_INITS} (PyTorch's initialisation, or the reference "
                             f"code's N(0, 0.001^2) weights and zero biases), got {head_init!r}.")
        if head_init == "reference":
            for head in (classifier, adversary):
                reference_head_init(head)
        self.adversary = adversary
        self.head_init = head_init
        self.eta, self.variant, self.margin = float(eta), variant, float(margin)
        self.target_passes = int(target_passes)
        self.warm_start, self.warm_gamma = bool(warm_start), float(warm_gamma)
        self.ground_false = GroundFalseLoss(self.stride, self.sigma, area)
        self.lr_mult = {"task": float(head_lr_mult), "adversarial": float(head_lr_mult)}

    def roles(self):
        return {**super().roles(), "adversarial": list(self.adversary.parameters())}

    def heads(self):
        return {"task": self.classifier, "adversarial": self.adversary}

    def grad_coeff(self, progress: float) -> float:
        """The factor on gradients reaching ``psi`` through ``f'`` (1 unless ``warm_start``)."""
        if not self.warm_start:
            return 1.0
        return 0.1 * (2.0 / (1.0 + math.exp(-self.warm_gamma * progress)) - 1.0)

    def _disparity(self, kind: str, adv_logits: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """``L_T(f', J(f))`` or ``L_F(f', f)``, signed: ``max_*`` returns the negative (a loss to minimise)."""
        loss = self.kl(adv_logits, pred) if kind.endswith("lt") else self.ground_false(adv_logits, pred)
        return -loss if kind.startswith("max") else loss

    def update(self, batch: Batch, progress: float, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        if batch.x_t is None:
            raise ValueError("RegDA needs target images in the batch (Batch.x_t).")
        coeff = self.grad_coeff(progress)
        adv_kind, gen_kind = VARIANTS[self.variant]

        # Objective 1 (eq. 12): psi, f, f' on the source.
        z_s = self.features(batch.x_s)
        logits_s = self.classifier(z_s)
        loss_sup = self.supervised_loss(logits_s, batch.y_s, batch.visible_s)
        loss_src_adv = self.kl(self.adversary(scale_grad(z_s, coeff)), heatmap_argmax(logits_s, self.stride))
        src_weight = self.margin * self.eta
        self.substep(optimizer, loss_sup + src_weight * loss_src_adv, ("feature", "task", "adversarial"))

        # The target batch through the updated psi; f's predictions J(f) carry no gradient.
        z_t = self.features(batch.x_t)
        with torch.no_grad():
            pred_t = heatmap_argmax(self.classifier(z_t), self.stride)

        # Objective 2 (eq. 13): f' alone, psi's features detached.
        adv_logits = self.adversary(z_t.detach())
        loss_adv = self.eta * self._disparity(adv_kind, adv_logits, pred_t)
        self.substep(optimizer, loss_adv, ("adversarial",))

        # Objective 3 (eq. 14): psi alone, through the updated (fixed) f'. The reference code's second pass gives the
        # same features and predictions (psi and f did not move); only BatchNorm's running statistics see it.
        if self.target_passes == 2:
            z_t = self.features(batch.x_t)
            with torch.no_grad():
                pred_t = heatmap_argmax(self.classifier(z_t), self.stride)
        adv_logits = self.adversary(scale_grad(z_t, coeff))
        loss_gen = self.eta * self._disparity(gen_kind, adv_logits, pred_t)
        self.substep(optimizer, loss_gen, ("feature",))

        with torch.no_grad():
            pred_adv = heatmap_argmax(adv_logits, self.stride)
            disparity = (pred_adv - pred_t).norm(dim=-1).mean()
        return {"loss": (loss_sup + src_weight * loss_src_adv).detach(), "loss_source": loss_sup.detach(),
                "loss_source_adv": loss_src_adv.detach(), "loss_adversary": loss_adv.detach(),
                "loss_generator": loss_gen.detach(), "disparity_px": disparity,
                "grad_coeff": torch.tensor(coeff)}
