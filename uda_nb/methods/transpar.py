"""TransPar: transferable parameter learning (Han, Sun & Yin, "Learning Transferable Parameters for Unsupervised
Domain Adaptation", IEEE TIP 2022), as an optimizer wrapper that works on every method through its roles.

Every iteration, within each role's parameter group (the paper's modules: ``feature`` = the feature extractor
``W_f``, ``task`` = the source hypothesis ``W_c``, ``adversarial`` = the domain discrepancy module ``W_d``), each
ranked weight gets the score (eq. 9)

    T_i = |dL/dw_i * w_i|

and the top ``tau`` fraction of the group is *transferable* (eq. 13), the top ``1 - tau`` for an adversarial
module (eq. 14). Transferable weights take the ordinary step on gradient plus decay (eq. 15); untransferable
weights take the decay alone, ``w <- w - lr * lambda * sgn(w)`` (eq. 16): no gradient and, in the paper's rule,
no momentum (their optimizer state does not advance). The decay is the paper's ``lambda sgn(W)`` of eq. 6-8
(eq. 15 prints ``- lambda sgn``, a sign typo against eq. 6-8 and 16); ``decay_kind="l2"`` is ordinary
``lambda W`` decay.

What the rule means for each optimizer (``uda_nb.train.make_optimizer``):

* **SGD with momentum / Nesterov**: a transferable weight's gradient ``g + lambda sgn(w)`` enters its momentum
  buffer as usual; an untransferable weight moves by exactly ``-lr lambda sgn(w)`` and its momentum buffer keeps
  its previous value (it neither decays nor advances), so when the weight becomes transferable again its old
  velocity resumes.
* **Adam**: the transferable gradient ``g + lambda sgn(w)`` goes through Adam's moments (the decay is normalised
  with the gradient, like Adam's L2 ``weight_decay``, not AdamW's); an untransferable weight moves by exactly
  ``-lr lambda sgn(w)`` and its first and second moments stay as they were. Adam's step count is one number
  per tensor, so it advances for the whole tensor (its bias correction is shared).

Parameters with no gradient in a step (``p.grad is None``: a multi-step method's sub-step updates some roles
only, :meth:`uda_nb.methods.Method.update`) are skipped, and so are roles outside ``scope`` and parameter
kinds that are not ranked (``kinds``, conv and linear weights by default): those take the wrapped optimizer's
ordinary step. Ranks are taken among the parameters that have a gradient in that step.

Options (each says whether it is the paper or the reference code, github.com/zhyhan/TransPar):

* ``score``: ``"both"`` (eq. 9, the paper), ``"weight"`` (``|w|``) or ``"gradient"`` (``|g|``): Table VI;
* ``schedule``: ``"iterative"`` (the paper: re-ranked every step), ``"one-shot-start"`` (ranked once, at the first
  step, and the untransferable weights are pruned: set to zero and kept there) and ``"one-shot-last"``
  (ordinary training, ranked at the last step and pruned at the end, :meth:`TransPar.end_of_training`): Table VI;
* ``keep_momentum``: ``True`` (the default for the iterative rule) gives untransferable weights the decay as
  their gradient and the wrapped optimizer's step, so their momentum keeps running, as the reference code does
  (``dann-TransPar.py``); eq. 16 is written for plain SGD, so the paper is silent on momentum and the authors'
  code decides (docs/references/transpar.md; measured here +9.5 / +2.4 points at 1,500 steps, about 0 at 500).
  ``False`` freezes their optimizer state (eq. 16 read literally);
* ``kinds``: which parameters are ranked: ``"conv"`` (4-d weights), ``"linear"`` (2-d), ``"vector"`` (biases
  and normalisation scales; the paper ranks "parameters" without saying, the reference code ranks conv and
  linear weights only);
* ``scope="reference"``: what the reference code's ``LTH`` actually divides. Its final test,
  ``isinstance(m, nn.Conv2d) or isinstance(layer, nn.Linear)``, reads ``layer``, a leftover of an earlier loop
  (the container's last module), so the convolutions of the feature extractor and the heads that end in a Linear
  (the task head, MDD's adversarial head f') are divided, while DANN's discriminator (it ends in a Sigmoid) and
  the bottleneck (it ends in ReLU or Dropout) never are. Here: the ``feature`` role's convolutions, the ``task``
  role, and the ``adversarial`` role only where it is a classifier head (MDD), not a domain discriminator;
* ``ratio_direction="reference"``: the reference code's ``keep_ratio`` runs the other way, its transferable
  fraction is ``1 - tau`` for the feature extractor and the head and ``tau`` for the adversarial module (the
  paper's eq. 13-14 give ``tau`` and ``1 - tau``, ``"paper"``, the default).

The target entropy term ``alpha H(C(F(x_t)))`` of eq. 10 belongs to every TransPar run (Table V's "-EN"
column); its weight is 0.1 in the paper and in the authors' DANN script, 0.01 in their MDD, CDAN, DAN and JAN
scripts (``mdd-TransPar.py``), which :data:`REFERENCE_ENTROPY` records per method; :func:`apply_transpar` adds it to the method through :attr:`uda_nb.methods.Method.loss_terms`
(:class:`TargetEntropy`), so no method file changes.

The ratio ``tau = 1 - sigmoid(d_A)^2``, at least ``M`` (eq. 12; :func:`transferable_ratio`), with ``d_A = 1 - 2
err`` (eq. 11), half of the usual proxy A-distance ``2 (1 - 2 err)`` of :func:`uda_nb.metrics.proxy_a_distance`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F

from ..optim_wrapper import OptimizerWrapper
from .base import Batch, Method

SCORES = ("both", "weight", "gradient")
DIRECTIONS = ("paper", "reference")
#: the authors' entropy weight per base method (``dann-TransPar.py``: 0.1; ``mdd-TransPar.py``: 0.01)
REFERENCE_ENTROPY = {"dann": 0.1, "mdd": 0.01, "source_only": 0.1}
SCHEDULES = ("iterative", "one-shot-start", "one-shot-last")
DECAY_KINDS = ("sign", "l2")
KINDS = ("conv", "linear", "vector")
#: the per-element optimizer state that the paper's rule freezes on untransferable weights
_ELEMENT_STATE = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def _element_state(state: dict, p: torch.Tensor) -> dict[str, torch.Tensor]:
    """The entries of a parameter's optimizer state that hold one number per weight (not Adam's step count)."""
    return {k: v for k, v in state.items() if k in _ELEMENT_STATE and torch.is_tensor(v) and v.shape == p.shape}


def transferable_ratio(d_a: float, floor: float = 0.1) -> float:
    """``tau = max(M, 1 - (1 / (1 + exp(-d_A)))^2)`` (eq. 12) for the paper's ``d_A = 1 - 2 err`` (eq. 11) in
    ``[0, 1]``: 0.75 at ``d_A = 0`` (identical domains) and 0.4655 at ``d_A = 1``."""
    if not 0.0 < floor < 1.0:
        raise ValueError(f"The floor M must lie in (0, 1), got {floor!r} (the paper uses 0.1).")
    if not math.isfinite(d_a) or d_a < 0.0:
        raise ValueError(f"d_A must be a finite number >= 0, got {d_a!r}: pass 1 - 2 err, or half of "
                         "uda_nb.metrics.proxy_a_distance (which reports 2 (1 - 2 err)).")
    return max(floor, 1.0 - (1.0 / (1.0 + math.exp(-d_a))) ** 2)


def ratio_from_proxy_a_distance(pad: float, floor: float = 0.1) -> float:
    """:func:`transferable_ratio` of ``d_A = pad / 2``: ``pad`` is :func:`uda_nb.metrics.proxy_a_distance`'s
    ``2 (1 - 2 err)``, twice the paper's eq. 11."""
    return transferable_ratio(pad / 2.0, floor)


@dataclass(frozen=True)
class TransParConfig:
    """The settings of one TransPar run (a ``RunSpec.transpar`` dict holds these fields).

    ratio: ``tau``, the transferable fraction of every non-adversarial group (eq. 13; an adversarial group keeps
    ``1 - tau``, so ``tau = 1`` freezes it: DANN's discriminator then never learns); scope: the roles that are
    divided (the others train normally: Table V), ``None`` for every role of the method (the paper divides all
    three modules), ``"reference"`` for what the authors' code divides (module docstring); adversarial_roles: roles
    that keep ``1 - tau`` (eq. 14); ratio_direction: ``"paper"`` or ``"reference"`` (module docstring);
    decay: ``lambda``; decay_kind: ``"sign"`` (the paper) or ``"l2"``; score, schedule, keep_momentum, kinds:
    see the module docstring; entropy: ``alpha`` of eq. 10 (0.1 in the paper; 0 turns the term off, Table V's
    "-EN").
    """

    ratio: float
    scope: tuple[str, ...] | str | None = None
    adversarial_roles: tuple[str, ...] = ("adversarial",)
    decay: float = 5e-4
    decay_kind: str = "sign"
    score: str = "both"
    schedule: str = "iterative"
    keep_momentum: bool | None = None
    kinds: tuple[str, ...] = ("conv", "linear")
    entropy: float = 0.1
    ratio_direction: str = "paper"

    def __post_init__(self):
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)) or not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"TransPar ratio tau must lie in (0, 1], got {self.ratio!r} (transferable_ratio() "
                             "computes the paper's from d_A).")
        for name, value, allowed in (("score", self.score, SCORES), ("schedule", self.schedule, SCHEDULES),
                                     ("decay_kind", self.decay_kind, DECAY_KINDS)):
            if value not in allowed:
                raise ValueError(f"Unknown TransPar {name} {value!r}: choose one of {allowed}.")
        if self.ratio_direction not in DIRECTIONS:
            raise ValueError(f"Unknown TransPar ratio_direction {self.ratio_direction!r}: choose one of {DIRECTIONS}.")
        if isinstance(self.scope, str) and self.scope != "reference":
            raise TypeError(f"TransPar scope must be a tuple of role names, None (every role) or 'reference' (what "
                            f"the authors' code divides), got the string {self.scope!r}: write ({self.scope!r},).")
        for name in ("scope", "adversarial_roles", "kinds"):
            if name == "scope" and (self.scope is None or self.scope == "reference"):
                continue
            if isinstance(getattr(self, name), str):
                raise TypeError(f"TransPar {name} must be a tuple of names, got the string {getattr(self, name)!r}: "
                                f"write ({getattr(self, name)!r},).")
            object.__setattr__(self, name, tuple(getattr(self, name)))
        bad = sorted(set(self.kinds) - set(KINDS))
        if bad or not self.kinds:
            raise ValueError(f"TransPar kinds must be a non-empty subset of {KINDS}, got {self.kinds!r}.")
        if self.keep_momentum and self.schedule != "iterative":
            raise ValueError("keep_momentum is the reference code's iterative rule; the one-shot schedules prune "
                             "(their untransferable weights stay zero): use schedule='iterative' with it.")
        if self.keep_momentum is None:
            object.__setattr__(self, "keep_momentum", self.schedule == "iterative")
        if self.decay < 0 or self.entropy < 0:
            raise ValueError(f"TransPar decay and entropy must be >= 0, got {self.decay!r} and {self.entropy!r}.")

    @classmethod
    def from_dict(cls, settings: dict) -> "TransParConfig":
        """From a ``RunSpec.transpar`` dict, with a clear error for an unknown field."""
        if isinstance(settings, TransParConfig):
            return settings
        if not isinstance(settings, dict):
            raise TypeError(f"transpar must be a dict of TransParConfig fields such as {{'ratio': 0.6}}, got "
                            f"{type(settings).__name__}.")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise ValueError(f"Unknown TransPar settings {unknown}: the fields are {known}.")
        if "ratio" not in settings:
            raise ValueError("TransPar needs a ratio: {'ratio': tau} (transferable_ratio(d_A) gives the paper's).")
        return cls(**settings)

    def as_dict(self) -> dict:
        return asdict(self)


def kth_largest(values: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th largest entry of a 1-D tensor (``1 <= k <= n``), as a 0-d tensor.

    Exact, through a sampled bracket (Floyd & Rivest's selection): the quantile is bracketed by order statistics
    of a strided sample of about 16k entries; two comparisons over ``values`` count what lies above the bracket,
    and only the entries inside it are selected from. A full ``kthvalue`` is the fallback when the bracket misses.
    On a million scores that are often tied (a ReLU network's zero gradients) this takes ~2 ms where a full
    partition takes 10-40 ms (``benchmarks/results/transpar.md``, "TransPar ranking")."""
    n = values.numel()
    if n <= 65536:
        return torch.kthvalue(values, n - k + 1).values
    sample = torch.sort(values[:: n // 16384]).values
    m = sample.numel()
    at = (n - k) / n * (m - 1)  # where the k-th largest falls in the ascending sample
    margin = 4.0 * m ** 0.5
    lo = sample[max(0, int(at - margin))]
    hi = sample[min(m - 1, int(at + margin) + 1)]
    above = int((values > hi).sum())
    if above < k and int((values >= lo).sum()) >= k:
        if lo == hi:
            return lo
        inside = values[(values >= lo) & (values <= hi)]
        return torch.kthvalue(inside, inside.numel() - (k - above) + 1).values
    return torch.kthvalue(values, n - k + 1).values


def top_mask(values: torch.Tensor, keep: int) -> torch.Tensor:
    """A boolean mask over a 1-D tensor with exactly ``keep`` entries ``True``: the ``keep`` largest, and among
    entries equal to the threshold the first ones by position."""
    n = values.numel()
    if keep <= 0:
        return torch.zeros(n, dtype=torch.bool, device=values.device)
    if keep >= n:
        return torch.ones(n, dtype=torch.bool, device=values.device)
    threshold = kth_largest(values, keep)
    mask = values > threshold
    short = keep - int(mask.sum())
    if short:
        mask[torch.nonzero(values == threshold).view(-1)[:short]] = True
    return mask


def _kind(p: torch.Tensor) -> str:
    return "conv" if p.dim() >= 3 else "linear" if p.dim() == 2 else "vector"


class TransPar(OptimizerWrapper):
    """Wraps an optimizer built over ``method.param_groups`` (one group per role, ``group['role']``) and applies
    TransPar's update rule on top of its step (module docstring). The wrapper *shares* the wrapped optimizer's
    ``param_groups`` (the same dicts) and ``state``, so ``fit()``'s learning-rate schedule reaches it.

    After every :meth:`step`, :attr:`masks` maps each ranked parameter to its last boolean mask (``True`` =
    transferable), for plots; :attr:`last_fraction` the transferable fraction per role of the last ranking.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: TransParConfig | dict):
        if isinstance(optimizer, TransPar):
            raise TypeError("This optimizer is already wrapped by TransPar.")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"TransPar wraps a torch.optim.Optimizer over method.param_groups(...) "
                            f"(train.make_optimizer), got {type(optimizer).__name__}.")
        self.config = TransParConfig.from_dict(config)
        for group in optimizer.param_groups:
            if "role" not in group:
                raise ValueError("TransPar ranks within roles: build the optimizer over method.param_groups(...) "
                                 "(uda_nb.train.make_optimizer), whose groups carry group['role'].")
            if group.get("weight_decay", 0.0):
                raise ValueError(f"The wrapped optimizer has weight_decay={group['weight_decay']} on role "
                                 f"{group['role']!r}: TransPar applies its own decay (config.decay); build the "
                                 "optimizer with weight_decay=0.")
        super().__init__(optimizer)  # the same group dicts and state, not copies
        self.masks: dict[torch.nn.Parameter, torch.Tensor] = {}
        self.last_fraction: dict[str, float] = {}
        self._frozen: dict[torch.nn.Parameter, torch.Tensor] = {}  # one-shot-start: fixed masks
        self._last_scores: dict[torch.nn.Parameter, torch.Tensor] = {}  # one-shot-last
        #: scope="reference": the parameters the authors' code divides (set by :func:`apply_transpar`)
        self.divided: set | None = None

    # -------------------------------------------------------------------------------------------- ranking

    def _score(self, p: torch.Tensor) -> torch.Tensor:
        g, w = p.grad.detach(), p.detach()
        if self.config.score == "weight":
            return w.abs()
        if self.config.score == "gradient":
            return g.abs()
        return (g * w).abs()

    def fraction(self, role: str) -> float:
        """The transferable fraction of a role's group: ``tau``, or ``1 - tau`` for an adversarial role."""
        tau = float(self.config.ratio)
        if self.config.ratio_direction == "reference":
            tau = 1.0 - tau
        return 1.0 - tau if role in self.config.adversarial_roles else tau

    def _flat_scores(self, params: list[torch.nn.Parameter]) -> torch.Tensor:
        """The scores of ``params`` (:meth:`_score`), written straight into one flat tensor in parameter order:
        the ranking's input without a temporary per parameter and a concatenation (this runs every step)."""
        flat = torch.empty(sum(p.numel() for p in params), dtype=params[0].dtype, device=params[0].device)
        start = 0
        for p in params:
            out = flat[start:start + p.numel()].view_as(p)
            if self.config.score == "weight":
                torch.abs(p.detach(), out=out)
            elif self.config.score == "gradient":
                torch.abs(p.grad.detach(), out=out)
            else:
                torch.mul(p.grad.detach(), p.detach(), out=out)
            start += p.numel()
        if self.config.score not in ("weight", "gradient"):
            flat.abs_()
        return flat

    def _rank(self, params: list[torch.nn.Parameter], scores: list[torch.Tensor] | torch.Tensor,
              role: str) -> list[torch.Tensor]:
        """Boolean masks, exactly ``round(fraction * m)`` weights ``True`` over the group's ``m`` ranked weights
        (ties at the threshold broken by position, so the count is exact; :func:`top_mask`). ``scores``: one
        tensor per parameter, or all of them flat in parameter order (:meth:`_flat_scores`)."""
        flat = scores if torch.is_tensor(scores) else torch.cat([s.reshape(-1) for s in scores])
        n = flat.numel()
        keep = int(round(self.fraction(role) * n))
        mask = top_mask(flat, keep)
        out, start = [], 0
        for p in params:
            out.append(mask[start:start + p.numel()].view_as(p))
            start += p.numel()
        self.last_fraction[role] = keep / max(1, n)
        return out

    def _ranked(self, group: dict) -> list[torch.nn.Parameter]:
        scope = self.config.scope
        if scope is not None and scope != "reference" and group["role"] not in scope:
            return []
        ranked = [p for p in group["params"] if p.grad is not None and _kind(p) in self.config.kinds]
        if self.divided is not None:
            ranked = [p for p in ranked if p in self.divided]
        return ranked

    def _decay(self, w: torch.Tensor) -> torch.Tensor:
        return self.config.decay * (torch.sign(w) if self.config.decay_kind == "sign" else w)

    # ----------------------------------------------------------------------------------------------- step

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("TransPar.step takes no closure: compute the loss and call backward first.")
        cfg = self.config
        restore = []  # (param, untransferable mask, values after the step, state entries before the step)
        for group in self.param_groups:
            params = self._ranked(group)
            if not params:
                continue
            if cfg.schedule == "one-shot-last":  # ordinary training; ranked (and pruned) at the end
                for p in params:
                    self._last_scores[p] = self._score(p).clone()
                    p.grad.add_(self._decay(p))
                continue
            if cfg.schedule == "one-shot-start":
                new = [p for p in params if p not in self._frozen]
                if new:
                    for p, m in zip(new, self._rank(new, self._flat_scores(new), group["role"])):
                        self._frozen[p] = m
                        p.mul_(m)  # pruned: the untransferable weights are set to zero and stay there
                masks = [self._frozen[p] for p in params]
            else:
                masks = self._rank(params, self._flat_scores(params), group["role"])
            lr = group["lr"]
            for p, m in zip(params, masks):
                self.masks[p] = m
                decay = self._decay(p)  # once: the gradient and eq. 16 use the same term
                if cfg.keep_momentum and cfg.schedule == "iterative":
                    # the reference code: the untransferable gradient is dropped, the optimizer (momentum
                    # included) still runs on the decay term
                    p.grad.mul_(m).add_(decay)
                    continue
                off = ~m
                p.grad.add_(decay).mul_(m)
                if cfg.schedule == "one-shot-start":
                    after = torch.zeros_like(p)  # pruned weights stay zero
                else:
                    after = p - lr * decay  # eq. 16: the decay alone
                before = {k: v.clone() for k, v in _element_state(self.state.get(p, {}), p).items()}
                restore.append((p, off, after, before))
        self.inner.step()
        for p, off, after, before in restore:
            p.copy_(torch.where(off, after, p))
            for k, now in _element_state(self.state.get(p, {}), p).items():
                # the state of an untransferable weight does not advance (zero if it had none yet)
                now.copy_(torch.where(off, before[k] if k in before else torch.zeros_like(now), now))
        return None

    def _param_index(self) -> dict:
        return {p: i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}

    def extra_state(self) -> dict:
        """What a checkpoint needs beyond the wrapped optimizer's ``state_dict()``: the last masks, the fixed masks
        of one-shot-start and the last scores of one-shot-last, keyed by the parameter's position in the groups."""
        index = self._param_index()
        return {"masks": {index[p]: m for p, m in self.masks.items()},
                "frozen": {index[p]: m for p, m in self._frozen.items()},
                "last_scores": {index[p]: v for p, v in self._last_scores.items()},
                "last_fraction": dict(self.last_fraction)}

    def load_extra_state(self, state: dict) -> None:
        params = list(p for g in self.param_groups for p in g["params"])
        self.masks = {params[i]: m.to(params[i].device) for i, m in state["masks"].items()}
        self._frozen = {params[i]: m.to(params[i].device) for i, m in state["frozen"].items()}
        self._last_scores = {params[i]: v.to(params[i].device) for i, v in state["last_scores"].items()}
        self.last_fraction = dict(state["last_fraction"])

    @torch.no_grad()
    def end_of_training(self) -> None:
        """``one-shot-last``: rank every divided group by its last step's scores and prune the untransferable
        weights (set them to zero). ``fit()`` calls this after the last iteration; other schedules do nothing."""
        if self.config.schedule != "one-shot-last":
            return
        for group in self.param_groups:
            params = [p for p in group["params"] if p in self._last_scores]
            if not params:
                continue
            for p, m in zip(params, self._rank(params, [self._last_scores[p] for p in params], group["role"])):
                self.masks[p] = m
                p.mul_(m)


class TargetEntropy:
    """``alpha * H(softmax(C(F(x_t))))``, the target entropy term of the source hypothesis (TransPar eq. 10), the
    mean over the target batch of ``-sum_k p_k log p_k``. A :attr:`~uda_nb.methods.Method.loss_terms` entry: it
    joins the sub-step that updates both ``feature`` and ``task`` (the whole loss of a one-step method; MCD's
    step A). Like the authors' code (``dann-TransPar.py``, ``mdd-TransPar.py``: ``entropy(y_t)`` of the joint
    ``cat(x_s, x_t)`` pass) it uses the target logits of the method's own forward pass where the method offers
    them (:meth:`~uda_nb.methods.Method.offer_target_logits`: DANN, MDD, GSDA, MCD's one-step form), so batch
    normalisation sees the joint batch and no second pass is paid; otherwise (MCD's three-step form) it runs one
    target-only forward pass. Keypoint methods have no class softmax: the term adds nothing there."""

    roles = ("feature", "task")

    def __init__(self, alpha: float = 0.1):
        if alpha < 0:
            raise ValueError(f"The entropy weight alpha must be >= 0, got {alpha!r} (the paper uses 0.1).")
        self.alpha = float(alpha)

    def __call__(self, method: Method, batch: Batch, progress: float):
        if method.task_kind != "classification" or batch.x_t is None or not self.alpha:
            return None
        logits = method.shared_target_logits()
        if logits is None:  # a method that offers none: a target-only forward pass of its own
            logits = method(batch.x_t)
        p = F.softmax(logits, dim=1)
        entropy = -(p * torch.log(p.clamp_min(1e-12))).sum(1).mean()
        return self.alpha * entropy, {"target_entropy": entropy.detach()}

    def __repr__(self) -> str:
        return f"TargetEntropy(alpha={self.alpha})"


def apply_transpar(method: Method, optimizer: torch.optim.Optimizer, config: TransParConfig | dict) -> TransPar:
    """Wrap ``optimizer`` with TransPar and add the target entropy term (``config.entropy``) to ``method``'s
    :attr:`~uda_nb.methods.Method.loss_terms`. Returns the wrapped optimizer to pass to ``fit()``."""
    if not isinstance(method, Method):
        raise TypeError(f"apply_transpar wraps the optimizer of a uda_nb Method (methods.create(...)), got "
                        f"{type(method).__name__}: TransPar ranks weights within the method's roles.")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"apply_transpar needs a torch.optim.Optimizer over method.param_groups(...) "
                        f"(train.make_optimizer(method, lr, momentum, 0.0)), got {type(optimizer).__name__}.")
    config = TransParConfig.from_dict(config)
    roles = set(method.roles())
    unknown = sorted(set(config.scope if isinstance(config.scope, tuple) else ()) - roles)
    if unknown:
        raise ValueError(f"TransPar scope names roles {unknown} that {type(method).__name__} does not have; its "
                         f"roles are {sorted(roles)}.")
    if config.entropy:
        method.loss_terms = (*[t for t in method.loss_terms if not isinstance(t, TargetEntropy)],
                             TargetEntropy(config.entropy))
    wrapped = TransPar(optimizer, config)
    if config.scope == "reference":
        wrapped.divided = reference_scope(method)
    return wrapped


def reference_scope(method: Method) -> set:
    """The parameters the authors' ``LTH`` divides (module docstring, ``scope="reference"``): the ``feature``
    role's convolution weights, every ``task`` parameter, and the ``adversarial`` role's only where it is a
    classifier head ending in a Linear (MDD's f'), not a domain discriminator (DANN's, a Sigmoid in their code)."""
    from .mdd import MDD

    roles = method.roles()
    out = {p for p in roles.get("feature", []) if p.dim() >= 3}
    out |= set(roles.get("task", []))
    if isinstance(method, MDD):
        out |= set(roles.get("adversarial", []))
    return out


class MaskTracker:
    """A ``fit()`` callback that follows which weights are transferable during training (beyond the paper): at
    every history row, per ranked tensor (by parameter name) the transferable fraction of its last ranking, and per
    role the *persistence*, the fraction of the weights transferable at the previous row that still are.
    :attr:`rows` is a list of dicts (``{"step", "role", "name", "fraction"}``, ``name == "*"`` for a role's
    persistence row); the history gets one ``stay_<role>`` column per role."""

    def __init__(self, optimizer: TransPar, method: Method):
        self.optimizer = optimizer
        self.names = {p: n for n, p in method.named_parameters()}
        self.roles = {p: g["role"] for g in optimizer.param_groups for p in g["params"]}
        self.rows: list[dict] = []
        self._previous: dict[torch.nn.Parameter, torch.Tensor] = {}

    def state_dict(self) -> dict:
        """The rows so far and the last masks, by parameter name (for a checkpoint)."""
        return {"rows": list(self.rows), "previous": {self.names[p]: m for p, m in self._previous.items()}}

    def load_state_dict(self, state: dict) -> None:
        by_name = {n: p for p, n in self.names.items()}
        self.rows = list(state["rows"])
        self._previous = {by_name[n]: m for n, m in state["previous"].items()}

    def __call__(self, step: int, method: Method, task) -> dict:
        out: dict[str, float] = {}
        kept: dict[str, list[int]] = {}
        for p, mask in self.optimizer.masks.items():
            role = self.roles[p]
            self.rows.append({"step": step, "role": role, "name": self.names.get(p, "?"),
                              "fraction": float(mask.float().mean())})
            if p in self._previous:
                before = self._previous[p]
                both = kept.setdefault(role, [0, 0])
                both[0] += int((before & mask).sum())
                both[1] += int(before.sum())
            self._previous[p] = mask.clone()
        for role, (stay, total) in kept.items():
            out[f"stay_{role}"] = stay / max(1, total)
            self.rows.append({"step": step, "role": role, "name": "*", "fraction": out[f"stay_{role}"]})
        return out
