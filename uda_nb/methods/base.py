"""The contract every method follows, so that one ``fit()`` trains them all.

A method is an ``nn.Module`` that owns its networks, names its parameters by *role* (``feature``, ``task``,
``adversarial``, ...; TransPar and learning-rate multipliers act on roles) and implements one training
update. Most methods only write :meth:`Method.compute_loss`; methods with several sub-steps per batch (MCD,
RegDA) override :meth:`Method.update`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Batch:
    """One training batch: labeled source images and their targets, unlabeled target images.

    x_s: ``(B, C, H, W)``; y_s: the source targets, ``(B,)`` int64 class indices for a classification task or
    ``(B, K, 2)`` float pixel keypoints for a keypoint task; visible_s: ``(B, K)`` bool keypoint visibility
    (keypoint tasks only, else ``None``); x_t: ``(B, C, H, W)`` or ``None`` when the method does not use the
    target. There is deliberately no target-label field.
    """

    x_s: torch.Tensor
    y_s: torch.Tensor
    x_t: torch.Tensor | None = None
    visible_s: torch.Tensor | None = None


class Method(nn.Module):
    """Base class: a feature extractor ``features`` and a label classifier ``classifier``.

    Subclasses add modules and extend :meth:`roles`. ``uses_target`` tells ``fit()`` whether to sample target
    batches at all (source-only does not).
    """

    name = "method"
    uses_target = True
    #: what the method predicts: ``"classification"`` (class logits) or ``"keypoints"`` (heatmaps); ``fit()``
    #: checks it against the task's kind
    task_kind = "classification"
    #: ``(C, H, W)`` the networks were built for (set by :func:`uda_nb.methods.create`; ``None``: unknown), so
    #: ``fit()`` can say so when a task's images differ
    image_shape: tuple[int, int, int] | None = None
    #: learning-rate multiplier per role (e.g. a pretrained backbone at 0.1); missing roles use 1.0
    lr_mult: dict[str, float] = {}
    #: extra loss terms that a wrapper adds to any method without touching its file (TransPar's target entropy,
    #: :class:`uda_nb.methods.transpar.TargetEntropy`): callables ``term(method, batch, progress)`` returning
    #: ``(loss, logs)`` or ``None``, each with a ``roles`` tuple. In every iteration (:meth:`iteration`) a term is
    #: added once, to the first loss that updates all of its roles: the whole loss of a one-step method, the
    #: first such sub-step of a multi-step one (MCD's step A); a method with no such sub-step never gets it.
    loss_terms: tuple = ()

    def __init__(self, features: nn.Module, classifier: nn.Module):
        super().__init__()
        self.features = features
        self.classifier = classifier

    @property
    def num_classes(self) -> int | None:
        """Outputs of the label classifier (``None`` when the classifier does not say)."""
        return getattr(self.classifier, "num_classes", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, num_classes)`` for images ``(N, C, H, W)``."""
        return self.classifier(self.features(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The features that are aligned (and drawn in t-SNE / A-distance): ``(N, D)``."""
        return self.features(x)

    def roles(self) -> dict[str, list[nn.Parameter]]:
        """Parameters grouped by role. Every trainable parameter must appear exactly once."""
        return {"feature": list(self.features.parameters()), "task": list(self.classifier.parameters())}

    def module_lr_mults(self) -> dict[int, float]:
        """``{id(parameter): multiplier}`` for the parameters of submodules that carry a ``param_lr_mult``
        attribute (a pretrained backbone at 0.1, TLlib's convention: :func:`uda_nb.methods.create`'s
        ``backbone_lr``), or a ``param_lr_mults`` dict for single direct parameters; the innermost wins."""
        out: dict[int, float] = {}
        for module in self.modules():  # parents come before their children, so children overwrite
            if module is self:
                continue
            mult = getattr(module, "param_lr_mult", None)
            if mult is not None:
                for p in module.parameters():
                    out[id(p)] = float(mult)
            # ``param_lr_mults``: {name of a direct parameter: multiplier}, for one parameter of a module whose
            # others keep the module's rate (a pretrained convolution's fresh dynamic bases)
            for name, value in getattr(module, "param_lr_mults", {}).items():
                p = getattr(module, name, None)
                if isinstance(p, nn.Parameter):
                    out[id(p)] = float(value)
        return out

    def param_groups(self, lr: float, weight_decay: float = 0.0) -> list[dict]:
        """Optimizer parameter groups, one per role, each carrying ``role``, ``base_lr`` and ``lr_mult``. A role
        whose parameters have different module multipliers (:meth:`module_lr_mults`: a pretrained backbone and
        the bottleneck after it, both ``feature``) gets one group per multiplier, backbone first; TransPar then
        ranks each group on its own, as the reference ranks backbone and bottleneck separately."""
        groups = []
        seen: set[int] = set()
        module_mults = self.module_lr_mults()
        for role, params in self.roles().items():
            params = [p for p in params if p.requires_grad]
            for p in params:
                if id(p) in seen:
                    raise ValueError(f"{type(self).__name__}.roles() lists a parameter twice (role {role!r}).")
                seen.add(id(p))
            split: dict[float, list] = {}
            for p in params:
                split.setdefault(module_mults.get(id(p), 1.0), []).append(p)
            for part_mult, part in split.items():
                mult = self.lr_mult.get(role, 1.0) * part_mult
                groups.append({"params": part, "role": role, "lr_mult": mult, "base_lr": lr * mult,
                               "lr": lr * mult, "weight_decay": weight_decay})
        missing = [n for n, p in self.named_parameters() if p.requires_grad and id(p) not in seen]
        if missing:
            raise ValueError(f"{type(self).__name__}.roles() misses parameters {missing[:4]}; give each a role.")
        return groups

    def compute_loss(self, batch: Batch, progress: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The total loss to minimise for one batch and a dict of detached scalars to log."""
        raise NotImplementedError

    def update(self, batch: Batch, progress: float, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """One training iteration; returns a dict of detached scalars to log.

        The default is one step: zero grad, :meth:`compute_loss`, backward, ``optimizer.step()``.

        **Multi-step contract** (MCD, RegDA, ... override this): an iteration made of several sub-steps calls
        :meth:`substep` once per sub-step with the loss of that sub-step and the *roles* it updates. In each
        sub-step only those roles' parameters receive a gradient; every other parameter's ``.grad`` is ``None``
        (not zero), so SGD's momentum and weight decay and Adam's moments leave it exactly as it was, and an
        optimizer wrapper (TransPar) sees which parameters a sub-step moves by ``p.grad is not None``.
        ``optimizer`` holds one parameter group per role (:meth:`param_groups`), each tagged ``group['role']``.
        """
        optimizer.zero_grad(set_to_none=True)
        loss, logs = self.compute_loss(batch, progress)
        loss = self.with_loss_terms(loss, tuple(self.roles()))
        loss.backward()
        optimizer.step()
        return logs

    def iteration(self, batch: Batch, progress: float, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """What ``fit()`` calls once per training step: :meth:`update` with the :attr:`loss_terms` hooked in (their
        logs join the update's)."""
        if not self.loss_terms:
            return self.update(batch, progress, optimizer)
        self._iteration = {"batch": batch, "progress": progress, "pending": list(self.loss_terms), "logs": {}}
        try:
            logs = self.update(batch, progress, optimizer)
            return {**logs, **self._iteration["logs"]}
        finally:
            self._iteration = None

    def offer_target_logits(self, logits) -> None:
        """Called by :meth:`compute_loss` (or a sub-step's loss) with the target batch's class logits ``(N_t,
        classes)`` from its own forward pass over ``cat(x_s, x_t)``, or a zero-argument callable that makes them from
        that pass's features. A loss term that needs them (TransPar's entropy, eq. 10) then reuses that pass, as the
        authors' code does (``y_t`` of the joint forward; shared batch-norm statistics), instead of a second,
        target-only forward. Only the loss that the next :meth:`with_loss_terms` call receives may use them."""
        it = getattr(self, "_iteration", None)
        if it is not None:
            it["target_logits"] = logits

    def shared_target_logits(self) -> torch.Tensor | None:
        """The target logits offered for the loss now being completed (:meth:`offer_target_logits`), or ``None``
        when the method offered none (the term then runs its own forward pass)."""
        it = getattr(self, "_iteration", None)
        logits = it.get("current_target_logits") if it else None
        if callable(logits):
            logits = logits()
            it["current_target_logits"] = logits  # made once, even if several terms read them
        return logits

    def with_loss_terms(self, loss: torch.Tensor, roles: tuple[str, ...]) -> torch.Tensor:
        """``loss`` plus the pending :attr:`loss_terms` whose roles ``roles`` all update (each once per
        iteration); ``loss`` itself outside :meth:`iteration` or without terms. Target logits offered while
        ``loss`` was computed (:meth:`offer_target_logits`) serve this call only: a later sub-step's graph is
        another one."""
        it = getattr(self, "_iteration", None)
        if not it:
            return loss
        it["current_target_logits"] = it.pop("target_logits", None)
        if not it["pending"]:
            return loss
        for term in [t for t in it["pending"] if set(getattr(t, "roles", ())) <= set(roles)]:
            it["pending"].remove(term)
            out = term(self, it["batch"], it["progress"])
            if out is not None:
                extra, logs = out
                loss = loss + extra
                it["logs"].update(logs)
        return loss

    def role_params(self, *roles: str) -> list[nn.Parameter]:
        """The trainable parameters of the named roles (in role order)."""
        table = self.roles()
        unknown = [r for r in roles if r not in table]
        if unknown:
            raise ValueError(f"{type(self).__name__} has no role(s) {unknown}; its roles are {list(table)}.")
        return [p for r in roles for p in table[r] if p.requires_grad]

    def substep(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, roles: tuple[str, ...]) -> None:
        """One sub-step of a multi-step update: gradients of ``loss`` for the parameters of ``roles`` only
        (``torch.autograd.grad``, so no other parameter accumulates anything), every other ``.grad`` set to
        ``None``, then ``optimizer.step()``: only the parameters of ``roles`` move. See :meth:`update`."""
        params = self.role_params(*roles)
        optimizer.zero_grad(set_to_none=True)
        loss = self.with_loss_terms(loss, roles)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for p, g in zip(params, grads):
            p.grad = g  # None for a parameter this loss does not reach: the optimizer skips it
        optimizer.step()
