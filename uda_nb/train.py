"""``fit()``: the one training loop every method uses.

Per step: sample a source batch (and a target batch when the method uses the target) by index from domains
held on the training device, set each parameter group's learning rate from the progress ``p = step / steps``,
and call ``method.update``. Logs stay on the device and are read (one host sync) only every ``eval_every``
steps, where the loop also checks that the losses are finite, evaluates, runs callbacks and writes a row of
the history table.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import time
import warnings
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Protocol

import pandas as pd
import torch
from tqdm.auto import tqdm

from . import distributed
from .augment import Augmentation, get_augmentation
from .checkpoint import StopRequest, TrainingInterrupted, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import get_device, quiet
from .data.domain import Domain, Task
from .methods.base import Batch, Method
from .metrics import evaluate, evaluate_heads, extract_features, proxy_a_distance
from .schedules import lr_schedule


class IndexSampler:
    """Batches of indices into a domain of ``n`` items: a fresh random permutation each epoch, made on the
    domain's device with its own generator (no global RNG, no host round trip).

    ``ranks > 1`` (data-parallel training, :mod:`uda_nb.distributed`): every rank draws the same global batch of
    ``ranks * batch_size`` indices from the same seeded permutation and keeps its own slice, so the ranks together
    see exactly the batches one process of batch ``ranks * batch_size`` sees."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, device: torch.device, ranks: int = 1):
        if ranks > 1 and batch_size * ranks > n:
            raise ValueError(f"A domain of {n} items cannot give {ranks} ranks {batch_size} items each per step: "
                             f"lower batch_size to at most {n // ranks}, or train on fewer processes.")
        if batch_size > n:
            batch_size = n  # a tiny domain: every batch is the whole (shuffled) domain
        self.n, self.batch_size, self.generator, self.device = n, batch_size * ranks, generator, device
        self.per_rank, self.ranks = batch_size, ranks
        self._perm = None
        self._pos = n

    def state_dict(self) -> dict:
        """The position in the current permutation (the generator is the caller's to save)."""
        return {"perm": None if self._perm is None else self._perm.cpu(), "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        self._perm = None if state["perm"] is None else state["perm"].to(self.device)
        self._pos = int(state["pos"])

    def next(self) -> torch.Tensor:
        if self._pos + self.batch_size > self.n:
            self._perm = torch.randperm(self.n, generator=self.generator, device=self.generator.device)
            self._perm = self._perm.to(self.device)
            self._pos = 0
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return distributed.rank_slice(idx, self.per_rank) if self.ranks > 1 else idx


class BalancedIndexSampler:
    """Batches of indices drawn with replacement so that every class is equally likely (GSDA's class-balanced
    re-sampling of the source): item i has probability ``1 / (C * count(label_i))``, C the number of classes
    present. ``labels`` ``(n,)`` int64; same generator and device conventions as :class:`IndexSampler`."""

    def __init__(self, labels: torch.Tensor, batch_size: int, generator: torch.Generator, device: torch.device,
                 ranks: int = 1):
        labels = labels.detach().to("cpu").long()
        counts = torch.bincount(labels)
        self.weights = (1.0 / counts.clamp_min(1).double())[labels]
        self.weights = (self.weights / self.weights.sum()).to(generator.device)
        self.batch_size, self.generator, self.device = batch_size * ranks, generator, device
        self.per_rank, self.ranks = batch_size, ranks

    def state_dict(self) -> dict:
        return {}  # draws with replacement: the generator holds the whole state

    def load_state_dict(self, state: dict) -> None:
        pass

    def next(self) -> torch.Tensor:
        idx = torch.multinomial(self.weights, self.batch_size, replacement=True, generator=self.generator)
        idx = distributed.rank_slice(idx, self.per_rank) if self.ranks > 1 else idx
        return idx.to(self.device)


class Callback(Protocol):
    """Called at each evaluation point; returns extra columns for the history row."""

    def __call__(self, step: int, method: Method, task: Task) -> dict: ...


@dataclass
class FitResult:
    """What ``fit()`` returns: the trained method, the history table (one row per evaluation) and the final
    metrics on the full test splits, named by the task's metrics (``source_acc``, ``target_acc`` for
    classification; ``source_pck``, ``target_pck``, ``target_pck_MCP``, ... or ``target_mae`` for keypoints), plus
    wall-clock seconds."""

    method: Method
    history: pd.DataFrame
    final: dict
    seconds: float
    extras: dict = field(default_factory=dict)


OPTIMIZERS = ("sgd", "nesterov", "adam")
#: fit()'s precisions: float32, or bfloat16 autocast (weights and optimizer in float32)
PRECISIONS = ("fp32", "bf16")


def make_optimizer(method: Method, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                   nesterov: bool = False, kind: str = "sgd") -> torch.optim.Optimizer:
    """An optimiser over the method's role groups (one group per role, with its ``lr_mult``).

    ``kind``: ``"sgd"`` (momentum ``momentum``; DANN's optimiser), ``"nesterov"`` (SGD with Nesterov momentum:
    RegDA's adaptation stage) or ``"adam"`` (betas ``(momentum, 0.999)``: RegDA's source-only stage).
    """
    if kind not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {kind!r}: choose one of {OPTIMIZERS}.")
    groups = method.param_groups(lr, weight_decay)
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=(momentum, 0.999))
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=(nesterov or kind == "nesterov") and momentum > 0)


def fit(method: Method, task: Task, steps: int, batch_size: int = 64, *, lr: float | None = None,
        momentum: float | None = None, weight_decay: float | None = None, schedule: str | Callable[[float], float] = "dann",
        optimizer: torch.optim.Optimizer | str | None = None, eval_every: int | None = None,
        eval_samples: int | None = 1000, seed: int = 0, device: torch.device | str | None = None,
        callbacks: tuple[Callback, ...] = (), progress: bool | None = None, desc: str | None = None,
        channels_last: bool = True, augment: str | Augmentation | None = None,
        balance_source: bool = False, sync_batchnorm: bool = False, precision: str = "fp32",
        checkpoint: str | Path | None = None,
        checkpoint_every: int | None = None, checkpoint_seconds: float | None = 300.0) -> FitResult:
    """Train ``method`` on ``task`` for ``steps`` updates and return a :class:`FitResult`.

    batch_size: images per domain per step (source and target each). lr: base learning rate ``mu0`` (default
    0.01); momentum (default 0.9) and weight_decay (default 0) build the optimizer. With a ready optimizer its own
    groups set all three: passing a different value is an error, not silently ignored.
    ``schedule``: factor of progress (``"dann"``: ``1 / (1 + 10 p)^0.75``, ``"constant"``, or a function).
    optimizer: ``None`` or a name (``"sgd"``, ``"nesterov"``, ``"adam"``) for :func:`make_optimizer` with
    ``momentum`` and ``weight_decay``, or a ready optimizer over ``method.param_groups`` (wrappers such as
    TransPar). eval_every: steps between history rows (default ``steps // 10``);
    eval_samples: images per test split used for the in-training accuracies (logging only; ``None`` = all).
    seed: drives batch sampling and the evaluation samples; model initialisation is the caller's
    (``methods.create(..., seed=)``, or :func:`uda_nb.experiments.run`), dropout draws from the global RNG.
    channels_last: store images and convolution weights channels-last (same numbers up to float rounding,
    ~20 % faster on CPU; see benchmarks/RESULTS.md).
    augment: ``None`` or a recipe of :mod:`uda_nb.augment` (``"appearance"``: RegDA's reference colour jitter and
    blur; ``"appearance+geometry"``: with its rotation and zoom, source keypoints moved along) applied to every
    source and target training batch, never to evaluation; its draws come from their own generator seeded by
    ``seed``.
    balance_source: draw source batches class-balanced, with replacement (:class:`BalancedIndexSampler`; GSDA's
    training aid) instead of epoch-wise permutations; classification tasks only. Off by default.

    **Several processes** (``torchrun``, :mod:`uda_nb.distributed`): each rank trains on its own ``batch_size``
    images per domain, a slice of one global batch; every optimizer step (every sub-step of a multi-step method)
    first averages the gradients over the ranks; augmentation and dropout draw per rank. Rank 0 evaluates, runs
    the callbacks and shows the progress bar; every rank returns rank 0's history and final metrics, and the logged
    losses are means over the ranks. ``sync_batchnorm``: BatchNorm statistics over every rank's batch (CUDA only;
    by default each rank normalises its own batch).

    precision: ``"fp32"`` (default) or ``"bf16"``: every iteration (forward and backward) under
    ``torch.autocast`` with bfloat16, the weights and the optimizer in float32; no loss scaling is needed for
    bfloat16. Meant for CUDA; it also runs on the CPU (slower there). Which methods it suits:
    ``benchmarks/results/distributed.md``, "bf16 autocast: which methods it suits".

    **Checkpoints** (:mod:`uda_nb.checkpoint`): with ``checkpoint`` (a file path) the run is saved there every
    ``checkpoint_every`` steps, whenever ``checkpoint_seconds`` have passed since the last save (checked after each
    step; ``None``: never by time), and on SIGTERM (then :class:`uda_nb.checkpoint.TrainingInterrupted` is raised
    after the save). If the file already holds a checkpoint of this run (same ``steps`` and number of processes),
    training resumes from it; on the CPU the result equals an uninterrupted run's bit for bit. A damaged file is
    reported, removed and the run starts from step 0.
    """
    augmentation = get_augmentation(augment)
    if precision not in PRECISIONS:
        raise ValueError(f"fit: precision must be one of {PRECISIONS}, got {precision!r}.")
    if balance_source and task.kind != "classification":
        raise ValueError("fit: balance_source re-samples the source by class; this task has no classes "
                         f"({task.kind}). Pass balance_source=False.")
    if isinstance(optimizer, torch.optim.Optimizer):
        _check_ready_optimizer(optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay)
        lr = _ready_lr(optimizer) if lr is None else lr
    lr = 0.01 if lr is None else lr
    momentum = 0.9 if momentum is None else momentum
    weight_decay = 0.0 if weight_decay is None else weight_decay
    callbacks = _check_fit_args(method, task, steps, batch_size, lr, momentum, weight_decay, optimizer, eval_every,
                                eval_samples, seed, callbacks)
    device = distributed.rank_device(get_device(device))
    ranks, main = distributed.world_size(), distributed.is_main()
    task = task.to(device)
    if sync_batchnorm and ranks > 1:
        method = distributed.sync_batchnorm(method, device)
    method = method.to(device)
    if channels_last:
        task = task.channels_last()
        method = method.to(memory_format=torch.channels_last)
    method.train()
    if optimizer is None or isinstance(optimizer, str):
        optimizer = make_optimizer(method, lr, momentum, weight_decay, kind=optimizer or "sgd")
    if ranks > 1:
        optimizer = distributed.AveragedGradients(optimizer)  # every (sub-)step: the gradients' mean over ranks
    lr_factor = lr_schedule(schedule)
    eval_every = eval_every if eval_every is not None else max(1, steps // 10)
    show = ((not quiet()) if progress is None else progress) and main

    gen = torch.Generator(device="cpu").manual_seed(seed)  # the same on every rank: one global batch, sliced
    source_sampler = (BalancedIndexSampler(task.source.labels, batch_size, gen, device, ranks) if balance_source
                      else IndexSampler(len(task.source), batch_size, gen, device, ranks))
    target_sampler = IndexSampler(len(task.target), batch_size, gen, device, ranks) if method.uses_target else None
    # augmentation and dropout draw per rank (rank 0 keeps the one-process streams)
    aug_gen = torch.Generator(device="cpu").manual_seed(seed + 104729 + 7919 * distributed.rank()) \
        if augmentation else None
    if distributed.rank() > 0:
        torch.manual_seed(seed * 1_000_003 + distributed.rank())
    eval_src = _eval_subset(task.source_test, eval_samples, seed)
    eval_tgt = _eval_subset(task.target_test, eval_samples, seed)

    rows: list[dict] = []
    sums: dict[str, torch.Tensor] = {}
    count, first_step, before = 0, 0, 0.0  # before: seconds trained before a resume
    samplers = {"source": source_sampler, "target": target_sampler}
    if checkpoint is not None:
        saved = load_checkpoint(checkpoint)
        if saved is not None and (saved["steps"], saved["world_size"]) != (steps, ranks):
            warnings.warn(f"Checkpoint {str(checkpoint)!r} belongs to a run of {saved['steps']} steps on "
                          f"{saved['world_size']} process(es), not {steps} on {ranks}: starting from step 0.",
                          stacklevel=2)
            saved = None
        if saved is not None:
            first_step, count, before = saved["step"], saved["count"], saved["seconds"]
            rows, sums = saved["rows"], {k: v.to(device) for k, v in saved["sums"].items()}
            _restore(saved, method, optimizer, samplers, gen, aug_gen, callbacks, device)
    last_save = start = time.perf_counter()
    bar = tqdm(total=steps, initial=first_step, desc=desc or f"{method.name} {task.name}", disable=not show,
               leave=False, mininterval=1.0)
    scores = None
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
                else contextlib.nullcontext())
    stop = StopRequest() if checkpoint is not None else contextlib.nullcontext()
    with stop:
        for step in range(first_step, steps):
            p = step / steps
            factor = lr_factor(p)
            for group in optimizer.param_groups:
                group["lr"] = group.get("base_lr", lr) * factor
            batch = _batch(task, source_sampler.next(), target_sampler)
            if augmentation is not None:
                batch = _augmented(batch, augmentation, aug_gen)
            with autocast:
                logs = method.iteration(batch, p, optimizer)
            if step + 1 == steps and hasattr(optimizer, "end_of_training"):
                optimizer.end_of_training()  # TransPar's one-shot-last ranks and prunes here, before the last scores
            for k, v in logs.items():
                sums[k] = sums[k] + v if k in sums else v.detach().clone()
            count += 1
            bar.update(1)
            if (step + 1) % eval_every == 0 or step + 1 == steps:
                row = {"step": step + 1, "progress": (step + 1) / steps, "lr": lr * factor}
                row.update({k: float(v) / count for k, v in distributed.average_logs(sums).items()})
                _check_finite(row, method, step + 1, lr, task)  # the same values on every rank: all stop together
                if main:  # the other ranks go on to the next step's all-reduce, which waits for this one
                    scores = _scores(method, task, eval_src, eval_tgt)  # target: logging only, never chooses anything
                    row.update(scores)
                    for cb in callbacks:
                        row.update(cb(step + 1, method, task))
                    row["seconds"] = time.perf_counter() - start
                    rows.append(row)
                    headline = ("loss", f"source_{task.metrics[0]}", f"target_{task.metrics[0]}")
                    bar.set_postfix({k: f"{row[k]:.3f}" for k in headline if k in row})
                sums, count = {}, 0
            if checkpoint is not None:
                due = [stop.requested, checkpoint_every is not None and (step + 1) % checkpoint_every == 0,
                       checkpoint_seconds is not None and time.perf_counter() - last_save >= checkpoint_seconds]
                stop_now, by_steps, by_time = distributed.any_rank(due)  # every rank decides alike
                if (stop_now or by_steps or by_time) and step + 1 < steps:
                    _save_checkpoint(checkpoint, step + 1, steps, ranks, method, optimizer, samplers, gen, aug_gen,
                                     callbacks, rows, sums, count, before + time.perf_counter() - start)
                    last_save = time.perf_counter()
                if stop_now and step + 1 < steps:
                    bar.close()
                    raise TrainingInterrupted(f"Stopped by SIGTERM after step {step + 1} of {steps}; the checkpoint "
                                              f"{str(checkpoint)!r} resumes it: run the same call again.")
    bar.close()
    seconds = before + time.perf_counter() - start
    method.eval()
    final = None
    if main:
        if rows and rows[-1]["step"] == steps and scores is not None and eval_src is task.source_test \
                and eval_tgt is task.target_test:
            # the last history row already evaluated the final model on the full test splits
            final = scores
        else:
            final = _scores(method, task, task.source_test, task.target_test)
    rows, final, seconds = distributed.broadcast_from_main((rows, final, seconds))
    return FitResult(method=method, history=pd.DataFrame(rows), final=final, seconds=seconds,
                     extras={"resumed_from": first_step})


def _save_checkpoint(path, step, steps, ranks, method, optimizer, samplers, gen, aug_gen, callbacks, rows, sums,
                     count, seconds) -> None:
    """Write the state after ``step`` steps (rank 0 writes; every rank's random states go into the file)."""
    mine = {"rng": rng_state(), "aug_generator": None if aug_gen is None else aug_gen.get_state()}
    per_rank = distributed.gather_to_main(mine)
    if not distributed.is_main():
        return
    extra = getattr(optimizer, "extra_state", None)
    save_checkpoint(path, {
        "step": step, "steps": steps, "world_size": ranks, "seconds": seconds, "count": count,
        "model": method.state_dict(), "optimizer": optimizer.state_dict(),
        "optimizer_extra": extra() if extra is not None else {},
        "samplers": {k: (None if s is None else s.state_dict()) for k, s in samplers.items()},
        "generator": gen.get_state(), "per_rank": per_rank, "rows": rows,
        "sums": {k: v.detach().cpu() for k, v in sums.items()},
        "callbacks": [cb.state_dict() if hasattr(cb, "state_dict") else None for cb in callbacks]})


def _restore(saved, method, optimizer, samplers, gen, aug_gen, callbacks, device) -> None:
    """Put a checkpoint's state back (the counterpart of :func:`_save_checkpoint`)."""
    method.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    if saved["optimizer_extra"]:
        optimizer.load_extra_state(saved["optimizer_extra"])
    for k, s in samplers.items():
        if s is not None:
            s.load_state_dict(saved["samplers"][k])
    gen.set_state(saved["generator"])
    mine = saved["per_rank"][distributed.rank()]
    set_rng_state(mine["rng"])
    if aug_gen is not None:
        aug_gen.set_state(mine["aug_generator"])
    for cb, state in zip(callbacks, saved["callbacks"]):
        if state is not None:
            cb.load_state_dict(state)


def _batch(task: Task, s_idx: torch.Tensor, target_sampler: IndexSampler | None) -> Batch:
    """The source images and targets at ``s_idx`` (labels, or keypoints + visibility) and a target batch."""
    src = task.source
    x_t = task.target.images[target_sampler.next()] if target_sampler else None
    if task.kind == "keypoints":
        return Batch(src.images[s_idx], src.keypoints[s_idx], x_t, src.visible[s_idx])
    return Batch(src.images[s_idx], src.labels[s_idx], x_t)


def _augmented(batch: Batch, augmentation: Augmentation, generator: torch.Generator) -> Batch:
    """The batch with its images augmented (source, then target). Labels stay as they are; source keypoints and
    their visibility follow a geometric augmentation (a keypoint that leaves the image becomes invisible)."""
    y_s, visible_s = batch.y_s, batch.visible_s
    if augmentation.geometric and batch.y_s.dim() == 3:  # keypoints (B, K, 2)
        x_s, y_s, visible_s = augmentation.with_keypoints(batch.x_s, batch.y_s, batch.visible_s, generator)
    else:
        x_s = augmentation(batch.x_s, generator)
    x_t = augmentation(batch.x_t, generator) if batch.x_t is not None else None
    return Batch(x_s, y_s, x_t, visible_s)


def _scores(method: Method, task: Task, source: Domain, target: Domain) -> dict[str, float]:
    """The task's metrics on a source and a target test set, named ``source_<metric>`` / ``target_<metric>``;
    for a method with an adversarial regressor (RegDA's f') also ``target_<metric>_adversary`` (its Figure 9).

    Work is not repeated: f and f' share one feature pass, and a task whose source and target test sets are the
    same split (a pretraining run names its domain as both) is evaluated once."""
    heads = ("task", "adversarial") if "adversarial" in getattr(method, "heads", dict)() else ("task",)
    on_target = evaluate_heads(method, target, heads)
    on_source = on_target["task"] if _same_split(source, target) else evaluate(method, source)
    out = {**{f"source_{k}": v for k, v in on_source.items()},
           **{f"target_{k}": v for k, v in on_target["task"].items()}}
    if "adversarial" in on_target:
        out.update({f"target_{m}_adversary": on_target["adversarial"][m] for m in task.metrics})
    return out


def _same_split(a: Domain, b: Domain) -> bool:
    """Whether two test sets hold the same images and targets (then one evaluation serves both)."""
    if a is b:
        return True
    if type(a) is not type(b) or (a.name, a.split, len(a)) != (b.name, b.split, len(b)):
        return False
    fields = ("images", "keypoints", "visible") if hasattr(a, "keypoints") else ("images", "labels")
    pairs = [(getattr(a, f), getattr(b, f)) for f in fields]
    return all((x is None and y is None) or (x is not None and y is not None and torch.equal(x, y)) for x, y in pairs)


def _check_whole(name: str, value, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fix = f"int({value!r})" if isinstance(value, float) and value.is_integer() else "a whole number"
        raise TypeError(f"{name} must be a whole number >= {minimum}{' or None' if allow_none else ''}, got "
                        f"{value!r} ({type(value).__name__}): pass {fix}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")


def _check_number(name: str, value, low: float, high: float | None = None, low_open: bool = False,
                  hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__}).")
    bad = not math.isfinite(value) or value < low or (low_open and value == low) or (high is not None
                                                                                    and value >= high)
    if bad:
        span = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'})"
        raise ValueError(f"{name} must be a finite number in {span}, got {value!r}.{hint}")


def _ready_lr(optimizer: torch.optim.Optimizer) -> float | None:
    """The base rate a ready optimizer's groups were built with (``base_lr / lr_mult`` of
    :meth:`Method.param_groups`' groups, else the first group's ``lr``)."""
    group = optimizer.param_groups[0]
    if "base_lr" in group:
        return float(group["base_lr"]) / float(group.get("lr_mult", 1.0))
    return float(group["lr"])


def _check_ready_optimizer(optimizer: torch.optim.Optimizer, **given) -> None:
    """A ready optimizer sets the rate, momentum and weight decay itself: refuse a different value passed to fit()
    beside it (it would be ignored silently)."""
    held = {"lr": _ready_lr(optimizer), "momentum": optimizer.param_groups[0].get("momentum"),
            "weight_decay": optimizer.param_groups[0].get("weight_decay")}
    for name, value in given.items():
        if value is None or held[name] is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isclose(
                float(value), float(held[name]), rel_tol=1e-9, abs_tol=1e-12):
            raise ValueError(f"fit: {name}={value!r} conflicts with the ready optimizer, whose groups hold "
                             f"{name}={held[name]!r} and which fit() uses as it is: build the optimizer with "
                             f"{name}={value!r} (train.make_optimizer(method, lr, momentum, weight_decay)), or leave "
                             f"{name} out of fit().")


def _check_fit_args(method, task, steps, batch_size, lr, momentum, weight_decay, optimizer, eval_every,
                    eval_samples, seed, callbacks) -> tuple:
    """Clear errors for fit()'s arguments and for a model that does not fit the task; warnings for tiny
    domains. Python-side checks only: nothing here touches the data."""
    if not isinstance(method, Method):
        raise TypeError(f"fit trains a uda_nb Method (methods.create(...)), got {type(method).__name__}.")
    if not isinstance(task, Task):
        raise TypeError(f"fit needs a Task, got {type(task).__name__}: build one with make_task(source, target, "
                        "source_test=..., target_test=...).")
    _check_whole("steps", steps, 1)
    _check_whole("batch_size", batch_size, 1)
    _check_whole("eval_every", eval_every, 1, allow_none=True)
    _check_whole("eval_samples", eval_samples, 1, allow_none=True)
    _check_whole("seed", seed, 0)
    _check_number("lr", lr, 0.0, low_open=True, hint=" Try 0.01 (DANN's digits recipe).")
    _check_number("momentum", momentum, 0.0, 1.0)
    _check_number("weight_decay", weight_decay, 0.0)
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {optimizer!r}: choose one of {OPTIMIZERS} or pass a "
                             "torch.optim.Optimizer.")
    elif optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a name {OPTIMIZERS} or a torch.optim.Optimizer over the method's "
                        f"param_groups, got {type(optimizer).__name__}.")
    if callable(callbacks):
        raise TypeError("callbacks must be a tuple of callbacks: pass callbacks=(cb,), not callbacks=cb.")
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables (step, method, task) -> dict; got {type(cb).__name__}.")
    if method.image_shape is not None and tuple(method.image_shape) != tuple(task.image_shape):
        raise ValueError(f"{type(method).__name__} was built for images of shape {tuple(method.image_shape)} but "
                         f"task {task.name!r} has {tuple(task.image_shape)}: build it with "
                         "methods.create(name, task.num_classes, task.image_shape).")
    if method.task_kind != task.kind:
        raise ValueError(f"{type(method).__name__} is a {method.task_kind} method but task {task.name!r} is a "
                         f"{task.kind} task: build the method for the task, methods.for_task(name, task) (keypoint "
                         f"methods: {sorted(_keypoint_methods())}).")
    if task.kind == "keypoints" and method.num_classes is not None and method.num_classes != task.num_classes:
        raise ValueError(f"{type(method).__name__} predicts {method.num_classes} keypoints but task {task.name!r} has "
                         f"{task.num_classes} ({', '.join(task.source.keypoint_names[:5])}"
                         f"{', ...' if task.num_classes > 5 else ''}): build it with methods.for_task(name, task).")
    if isinstance(task.source, Domain) and method.num_classes is not None and method.num_classes != task.num_classes:
        raise ValueError(f"{type(method).__name__} outputs {method.num_classes} classes but task {task.name!r} has "
                         f"{task.num_classes} ({', '.join(task.source.class_names[:5])}"
                         f"{', ...' if task.num_classes > 5 else ''}): build it with methods.create(name, "
                         "task.num_classes, task.image_shape).")
    splits = [("source", task.source)] + ([("target", task.target)] if method.uses_target else [])
    for role, dom in splits:
        if len(dom) < batch_size:
            warnings.warn(f"task.{role} {dom.name!r} has only {len(dom)} image(s), fewer than batch_size={batch_size}: "
                          f"every batch is the whole domain, so the model sees the same {len(dom)} image(s) at every "
                          "step. Use more images or a smaller batch_size.", stacklevel=3)
    return callbacks


def _keypoint_methods():
    from .methods import KEYPOINT_METHODS
    return KEYPOINT_METHODS


def _eval_subset(domain: Domain, n: int | None, seed: int) -> Domain:
    if n is None:
        return domain
    return domain.sample(n, torch.Generator().manual_seed(seed + 7919))


def _check_finite(row: dict, method: Method, step: int, lr: float, task: Task | None = None) -> None:
    bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        found = ""
        if task is not None:  # counted when the domains were built: no extra pass over the data
            nan = [f"task.{r} has {getattr(task, r)._nonfinite_images()[0]} images with NaN/inf pixels"
                   for r in ("source", "target") if getattr(task, r)._nonfinite_images()[0]]
            found = f" ({'; '.join(nan)}: drop them)" if nan else ""
        raise FloatingPointError(
            f"{type(method).__name__}: {', '.join(bad)} became NaN/inf by step {step}. The run diverged: lower the "
            f"learning rate (lr={lr}), check the inputs for NaN{found}, or lower the adversarial weight.")


class ADistanceLogger:
    """Callback: proxy A-distance between source and target *training* features at each evaluation.

    Uses a fixed random sample of ``samples`` images per domain (no labels are read) so the curve measures
    the features, not the sample.
    """

    def __init__(self, samples: int = 500, seed: int = 0):
        self.samples, self.seed = samples, seed
        self._xs = self._xt = None

    def __call__(self, step: int, method: Method, task: Task) -> dict:
        if self._xs is None:
            g = torch.Generator().manual_seed(self.seed)
            self._xs = task.source.sample(self.samples, g).images
            self._xt = task.target.sample(self.samples, g).images
        fs, ft = extract_features(method, self._xs), extract_features(method, self._xt)
        return {"a_distance": proxy_a_distance(fs, ft, seed=self.seed)}


class FeatureSnapshots:
    """Callback: keeps the features of a fixed sample of source and target *test* images at every evaluation
    (``snapshots[step] = (f_s, f_t)`` on the CPU), for t-SNE at checkpoints. Test labels are kept beside them
    for colouring plots only."""

    def __init__(self, samples: int = 300, seed: int = 0):
        self.samples, self.seed = samples, seed
        self.snapshots: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.source = self.target = None

    def __call__(self, step: int, method: Method, task: Task) -> dict:
        if self.source is None:
            g = torch.Generator().manual_seed(self.seed)
            self.source = task.source_test.sample(self.samples, g)
            self.target = task.target_test.sample(self.samples, g)
        self.snapshots[step] = (extract_features(method, self.source.images).cpu(),
                                extract_features(method, self.target.images).cpu())
        return {}

    def state_dict(self) -> dict:
        """The snapshots so far (for a checkpoint; the samples are drawn again from the seed)."""
        return {"snapshots": {int(k): list(v) for k, v in self.snapshots.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.snapshots = {int(k): tuple(v) for k, v in state["snapshots"].items()}
