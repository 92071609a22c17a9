"""Run a method over seeds with results cached on disk, and summarise them as mean +- std tables.

A :class:`RunSpec` is the full configuration of one training run except its seed. ``run(spec, seed)`` looks
for ``data/cache/runs/<key>/`` (key = hash of the spec, the seed, the device type, :data:`RUNS_VERSION` and the
generator versions of its domains), and otherwise trains, then writes ``model.pt``, ``extras.pt`` and finally
``result.json`` (each atomically; ``result.json`` last, so its presence means the entry is complete). A
corrupt entry is recomputed with a warning. Bump :data:`RUNS_VERSION` when a change to the code changes results.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import math
import numbers
import pickle
import shutil
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import distributed, methods
from .cache import atomic_write, config_key, load_json, save_json
from .config import Budget, cache_dir, get_device, seed_everything
from .data import EMBEDDED, make_task, oracle_task, partial_domain, partial_task
from .data.domain import Task
from .methods.transpar import MaskTracker, TransParConfig, apply_transpar
from .metrics import gap_covered, mean_std
from .models.dynamic import DynamicConv2d
from .train import ADistanceLogger, FeatureSnapshots, FitResult, fit, make_optimizer

RUNS_VERSION = 2  # 2: result.json records the history's column order
#: the file in a run's cache folder that holds its checkpoint while it trains (uda_nb.checkpoint)
CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a training run but its seed.

    method: ``source_only``, ``oracle`` (source-only on the labeled target: the upper bound), ``dann``
    (classification), ``dd``, ``regda`` (keypoints). source / target: embedded domain names (the task kind
    follows from them). model: options of :func:`uda_nb.methods.create` for the network (``norm``,
    ``batch_norm``, ...); options: the method's own options (``gamma``, ``lambda_max``, ``variant``, ...).
    adist_samples / snapshot_samples: per-domain sample sizes for the A-distance curve and the feature
    snapshots (0 = off).

    backbone: the network (``None``: the task kind's default, ``digits`` or ``heatmap-tiny``); optimizer:
    ``sgd``, ``nesterov`` or ``adam`` (:func:`uda_nb.train.make_optimizer`). init_from: another spec whose
    trained weights (same seed, from the run cache, trained first if missing) initialise this run's modules
    named in ``init_modules`` (module attributes: ``features`` is psi / the feature extractor, ``classifier``
    the task head); its cache key is part of this run's key. Pretrain-then-adapt: RegDA and DD start from one
    source-only run per seed instead of training it again. augment: a training-batch augmentation of
    :mod:`uda_nb.augment` (``"appearance"``: RegDA's reference colour jitter and blur; ``"appearance+geometry"``:
    with its rotation and zoom) or ``None``. transpar:
    ``None`` or the fields of :class:`uda_nb.methods.transpar.TransParConfig` (``{"ratio": 0.6}`` at least):
    the method trains with TransPar's update rule wrapped around its optimizer and the target entropy term.
    target_classes: ``None`` or the classes the target keeps (partial domain adaptation,
    :func:`uda_nb.data.partial_task`: the source keeps every class); the oracle then trains on that partial target.
    balance_source: class-balanced source batches (``fit(balance_source=True)``; GSDA's training aid).
    world_size: how many processes train the run together (``torchrun``, :mod:`uda_nb.launch`); ``batch_size`` is
    then each process's, so the run sees ``world_size * batch_size`` images per domain per step, and the world size
    is part of its cache key. A notebook loads such a run from the cache like any other. sync_batchnorm: BatchNorm
    statistics over every process's batch (CUDA only; :func:`uda_nb.train.fit`). precision: ``"fp32"`` or ``"bf16"``
    (autocast; :func:`uda_nb.train.fit`).
    """

    method: str
    source: str | tuple[str, ...] = "mnist"
    target: str = "mnistm"
    steps: int = 1500
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "dann"
    model: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    eval_every: int | None = None
    eval_samples: int | None = 1000
    adist_samples: int = 0
    snapshot_samples: int = 0
    data_seed: int = 0
    backbone: str | None = None
    optimizer: str = "sgd"
    init_from: "RunSpec | None" = None
    init_modules: tuple[str, ...] = ("features",)
    augment: str | None = None
    transpar: dict | None = None
    target_classes: tuple[int, ...] | None = None
    balance_source: bool = False
    world_size: int = 1
    sync_batchnorm: bool = False
    precision: str = "fp32"

    def __post_init__(self):
        # Checks only: a valid spec is stored (and hashed into its cache key) exactly as given.
        self._check_types()
        if self.method not in methods.METHODS:
            close = difflib.get_close_matches(str(self.method).lower(), methods.METHODS, n=1)
            raise ValueError(f"RunSpec: unknown method {self.method!r}: choose one of {sorted(methods.METHODS)}."
                             + (f" Did you mean {close[0]!r}?" if close else ""))
        for name in ("steps", "batch_size", "world_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"RunSpec: {name} must be a whole number >= 1, got {value!r}"
                                 + (f": pass int({value!r})." if isinstance(value, float) else "."))
        if not isinstance(self.model, dict) or not isinstance(self.options, dict):
            raise TypeError("RunSpec: model and options must be dicts (model={'norm': 'center'}, "
                            "options={'gamma': 10.0}).")
        from .train import OPTIMIZERS
        known = sorted({b for kind in methods.BACKBONES.values() for b in kind})
        if self.backbone is not None and not methods.is_known_backbone(self.backbone):
            raise ValueError(f"RunSpec: unknown backbone {self.backbone!r}: choose one of {known}, 'timm:<name>' for "
                             "any timm architecture (with model={'weights': <checkpoint path>}), or None for the "
                             "task's default.")
        from .train import PRECISIONS
        if self.precision not in PRECISIONS:
            raise ValueError(f"RunSpec: precision must be one of {PRECISIONS}, got {self.precision!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"RunSpec: optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}.")
        if self.augment is not None:
            from .augment import get_augmentation
            get_augmentation(self.augment)  # a clear error for an unknown name
        if self.transpar is not None:
            TransParConfig.from_dict(self.transpar)  # a clear error for a bad setting
            if self.method == "oracle":
                raise ValueError("RunSpec: TransPar adapts to an unlabeled target; the oracle trains on target labels.")
        if self.target_classes is not None:
            tc = self.target_classes
            if isinstance(tc, (str, bytes)) or not isinstance(tc, tuple) or not tc or not all(
                    isinstance(c, numbers.Integral) and not isinstance(c, bool) and c >= 0 for c in tc):
                raise ValueError(f"RunSpec: target_classes must be a non-empty tuple of class ids such as (0, 1, 2, 3, "
                                 f"4), got {tc!r}.")
        if self.method == "adda" and (self.init_from is None or "classifier" not in self.init_modules):
            raise ValueError("RunSpec: ADDA adapts a trained source model: pass init_from=<a source_only spec on the "
                             "same network> and init_modules=('features', 'classifier') (uda_nb.methods.adda).")
        if self.init_from is not None:
            if not isinstance(self.init_from, RunSpec):
                raise TypeError(f"RunSpec: init_from must be a RunSpec (the pretraining run), got "
                                f"{type(self.init_from).__name__}.")
            if self.method == "oracle" or self.init_from.method == "oracle":
                raise ValueError("RunSpec: init_from cannot involve the oracle (it trains on target labels): "
                                 "pretrain with method='source_only'.")
            if isinstance(self.init_modules, str) or not self.init_modules:
                raise ValueError(f"RunSpec: init_modules must be a non-empty tuple of module names such as "
                                 f"('features',), got {self.init_modules!r}.")

    def _check_types(self) -> None:
        """Wrong types are refused here, naming the field, rather than failing later inside training: a list where
        a name is expected, a number given as a string (as YAML reads ``5e1``), a name where a number is expected.
        numpy numbers count as numbers."""
        def number_text(value) -> str:
            return (f": pass float({value!r})" if _parses_as_number(value) else "") if isinstance(value, str) else ""

        if not isinstance(self.method, str):
            raise TypeError(f"RunSpec: method must be a method's name such as 'dann', got {self.method!r} "
                            f"({type(self.method).__name__}).")
        for name in ("source", "target"):
            value = getattr(self, name)
            ok = isinstance(value, str) or (name == "source" and isinstance(value, tuple) and value
                                            and all(isinstance(v, str) for v in value))
            if not ok:
                hint = (f": pass a tuple, source={tuple(value)!r}" if name == "source" and isinstance(value, list)
                        else "")
                raise TypeError(f"RunSpec: {name} must be a domain's name{' or a tuple of names' if name == 'source' else ''}"
                                f", got {value!r} ({type(value).__name__}){hint}.")
        for name, low, high in (("lr", 0.0, None), ("momentum", 0.0, 1.0), ("weight_decay", 0.0, None)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"RunSpec: {name} must be a number, got {value!r} ({type(value).__name__})"
                                f"{number_text(value)}.")
            if not math.isfinite(float(value)) or value < low or (name == "lr" and value == 0) or (
                    high is not None and value > high):
                raise ValueError(f"RunSpec: {name}={value!r} is out of range ("
                                 + {"lr": "> 0, e.g. 0.01", "momentum": "0 to 1, e.g. 0.9",
                                    "weight_decay": ">= 0, e.g. 5e-4"}[name] + ").")
        for name in ("eval_every", "eval_samples", "adist_samples", "snapshot_samples", "data_seed"):
            value = getattr(self, name)
            if value is None and name in ("eval_every", "eval_samples"):
                continue
            low = 1 if name in ("eval_every", "eval_samples") else 0
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise TypeError(f"RunSpec: {name} must be a whole number >= {low}, got {value!r} "
                                f"({type(value).__name__})" + (f": pass int({value!r})" if isinstance(
                                    value, (str, float)) and _parses_as_number(value) else "") + ".")
        if not isinstance(self.schedule, str):
            raise TypeError(f"RunSpec: schedule must be a schedule's name (a RunSpec is cached by its fields, so no "
                            f"function), got {self.schedule!r}.")
        from .schedules import lr_schedule
        lr_schedule(self.schedule)  # a clear error for an unknown name
        if isinstance(self.options, dict) and self.method in methods.METHODS:
            _check_option_types(self.method, self.options)

    @classmethod
    def from_budget(cls, method: str, budget: Budget, **overrides) -> "RunSpec":
        """A spec sized by a :class:`~uda_nb.config.Budget` (steps, batch size, evaluation cadence)."""
        base = dict(steps=budget.steps, batch_size=budget.batch_size, eval_every=budget.eval_every,
                    eval_samples=budget.eval_samples)
        return cls(method=method, **{**base, **overrides})

    def with_method(self, method: str, **changes) -> "RunSpec":
        return replace(self, method=method, **changes)


def _parses_as_number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def _check_option_types(method: str, options: dict) -> None:
    """A method option whose default is a number must be given as a number (not ``"0.1"``)."""
    import inspect

    for kind in methods.KINDS.values():
        if method in kind:
            params = inspect.signature(kind[method].__init__).parameters
            break
    else:
        return
    for key, value in options.items():
        p = params.get(key)
        if p is None or p.default is inspect.Parameter.empty:
            continue
        default = p.default
        if isinstance(default, numbers.Real) and not isinstance(default, bool) and (
                isinstance(value, (str, bytes)) or isinstance(value, (list, dict))):
            raise TypeError(f"RunSpec: option {key!r} of {method!r} must be a number like its default {default!r}, "
                            f"got {value!r} ({type(value).__name__})"
                            + (f": pass {float(value)!r}" if isinstance(value, str) and _parses_as_number(value)
                               else "") + ".")


@dataclass
class RunResult:
    """One finished run: ``final`` metrics (full test splits), the ``history`` table, the trained ``method``
    (in eval mode on the CPU) and ``extras`` (feature snapshots). ``cached`` says whether it was loaded."""

    spec: RunSpec
    seed: int
    final: dict
    history: pd.DataFrame
    seconds: float
    method: methods.Method
    extras: dict
    cached: bool = False


def build_task(spec: RunSpec, device=None) -> Task:
    """The task a spec trains on (the oracle task for ``method='oracle'``)."""
    source = list(spec.source) if isinstance(spec.source, tuple) else spec.source
    if spec.target_classes is not None:
        if not isinstance(source, str):
            raise ValueError("RunSpec: target_classes (partial domain adaptation) needs a single source domain name.")
        task = partial_task(source, spec.target, spec.target_classes, seed=spec.data_seed, device=device)
        if spec.method == "oracle":
            labeled = partial_domain(spec.target, "train", spec.target_classes, spec.data_seed, task.device)
            return oracle_task(task, labeled_target=labeled)
        return task
    task = make_task(source, spec.target, seed=spec.data_seed, device=device)
    return oracle_task(task) if spec.method == "oracle" else task


def cached_prefix_task(method: methods.Method, task: Task, spec: RunSpec, *, cache: bool = True,
                       progress: bool | None = None) -> Task:
    """``task`` unchanged, or, when ``method``'s pretrained backbone has frozen layers (``model={"frozen": k}``),
    the task with its images replaced by those layers' cached outputs (:func:`uda_nb.feature_cache.prefix_task`,
    keyed by the weights' hash and the task's data); the method then trains only the later layers, and still
    takes images too. ``method.image_shape`` follows the task."""
    from .feature_cache import frozen_prefix, prefix_task

    features = frozen_prefix(method)
    if features is None:
        return task
    weights = spec.model.get("weights")
    if weights is None:  # random frozen layers: their values depend on the run's initialisation seed
        weights_hash = "random-" + hashlib.sha1(b"".join(
            p.detach().cpu().numpy().tobytes() for p in features.prefix.parameters())).hexdigest()[:16]
    else:
        weights_hash = weights_fingerprint(weights)
    out = prefix_task(task, features, weights_hash, task_fingerprint(task), cache=cache, progress=progress)
    method.image_shape = out.image_shape
    return out


def build_method(spec: RunSpec, task: Task) -> methods.Method:
    name = "source_only" if spec.method == "oracle" else spec.method
    return methods.for_task(name, task, backbone=spec.backbone, **spec.model, **spec.options)


# Fields added after RUNS_VERSION 2 enter the cache key only when set, so the runs cached before they existed
# (every DANN report run) keep their keys.
_LATER_FIELDS = {"backbone": None, "optimizer": "sgd", "init_from": None, "init_modules": ("features",),
                 "augment": None, "transpar": None, "target_classes": None, "balance_source": False,
                 "world_size": 1, "sync_batchnorm": False, "precision": "fp32"}


def _spec_key(spec: RunSpec) -> dict:
    out = asdict(spec)
    for name, default in _LATER_FIELDS.items():
        if getattr(spec, name) == default:
            out.pop(name)
    out.pop("init_from", None)  # replaced by the pretraining run's own key (run_key)
    return out


def task_fingerprint(task: Task) -> str:
    """A short hash of a task's data (names, sizes, a strided sample of image bytes and labels), so a run on a
    user-built task (real data) never hits the cache of a run on the embedded task with the same spec."""
    h = hashlib.sha1()
    for dom in (task.source, task.target, task.source_test, task.target_test):
        h.update(f"{dom.name}|{dom.split}|{len(dom)}|{dom.image_shape}".encode())
        step = max(1, len(dom) // 64)
        h.update(dom.images[::step].detach().cpu().contiguous().numpy().tobytes())
        if dom.labels is not None:
            h.update(dom.labels[::step].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def data_versions(spec: RunSpec) -> dict[str, int]:
    """The generator version of every embedded domain a spec trains or tests on: a run trained on an older
    version of a domain must not be reused once the generator changed."""
    names = list(spec.source) if isinstance(spec.source, tuple) else [spec.source]
    return {n: EMBEDDED[n].version for n in [*names, spec.target] if n in EMBEDDED}


#: recipe versions of the pieces whose code changed results after RUNS_VERSION 2, so that their cached runs are
#: retrained while every other run keeps its key. 2 (2026-12-07, issue 40): MCD's one-step form with DRT's
#: heads, balance and smoothing; MDD on TLlib's bottleneck and heads; drt-digits' branch initialised as the
#: authors'; TransPar's reference defaults (docs/references/). TransPar 3: ties at the ranking threshold are
#: broken by position (``methods.transpar.top_mask``; a partial sort broke them arbitrarily). efficientnet_lite0 4
#: and the ResNets 4 (issue 42): TLlib's heads and 0.1x backbone learning rate on a backbone that starts from weights.
#: TransPar 5 (issue 42): its entropy term reuses the method's joint forward pass (TargetEntropy), as the authors' code.
RECIPE_VERSIONS = {"method": {"mcd": 2, "mdd": 2},
                   "backbone": {"drt-digits": 2, "efficientnet_lite0": 4, "resnet18": 4, "resnet34": 4,
                                "resnet50": 4, "resnet101": 4},
                   "transpar": 5}


def recipe_version(spec: RunSpec) -> int:
    """The newest :data:`RECIPE_VERSIONS` entry that applies to ``spec`` (its method, backbone or TransPar);
    0 when none does (the run's key is then as before the table existed)."""
    found = [RECIPE_VERSIONS["method"].get(spec.method, 0), RECIPE_VERSIONS["backbone"].get(spec.backbone, 0),
             RECIPE_VERSIONS["transpar"] if spec.transpar is not None else 0]
    return max(found)


_WEIGHTS_HASHES: dict[tuple, str] = {}


def weights_fingerprint(weights) -> str:
    """A short hash of the weights file a spec's network starts from (``model={"weights": ...}``:
    ``"imagenet"``, the file that ships with EfficientNet-Lite0, or a path), so that a run is retrained when the
    file changes; ``"missing"`` when there is no such file (building the network then says what to do). Hashes are
    remembered per path, size and modification time."""
    if weights == "imagenet":
        from .models.pretrained import efficientnet_lite0_weights_path
        try:
            path = efficientnet_lite0_weights_path()
        except FileNotFoundError:
            return "missing"
    else:
        path = Path(weights).expanduser()
    if not path.is_file():
        return "missing"
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _WEIGHTS_HASHES:
        h = hashlib.sha1()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _WEIGHTS_HASHES[memo] = h.hexdigest()[:16]
    return _WEIGHTS_HASHES[memo]


def run_key(spec: RunSpec, seed: int, device: torch.device, task: Task | None = None) -> str:
    """The cache folder name of a run: the spec, the seed, the device type, the recipe version of its method,
    backbone and TransPar (:func:`recipe_version`), the generator versions of its embedded domains and (for a task
    passed in by the caller) the task's data fingerprint, and for a network that starts from a weights file, the
    file's hash (:func:`weights_fingerprint`)."""
    key = {"spec": _spec_key(spec), "seed": seed, "device": device.type, "version": RUNS_VERSION,
           "data": data_versions(spec)}
    if recipe_version(spec):
        key["recipe"] = recipe_version(spec)
    if spec.init_from is not None:
        key["init_from"] = run_key(spec.init_from, seed, device, task)
    if task is not None:
        key["task"] = task_fingerprint(task)
    if spec.model.get("weights") is not None:  # only then: every other run keeps its key
        key["weights"] = weights_fingerprint(spec.model["weights"])
    return config_key(key)


#: the cache keys of the runs this process has trained and of those it loaded from the run cache (each counted
#: once, however often it is loaded), so that a report's running time can say how much of it was training
#: (:func:`runs_note`)
RUN_COUNTS: dict[str, set[str]] = {"trained": set(), "loaded": set()}


def runs_note(counts: dict[str, int] | None = None) -> str:
    """What this process's runs were, for a notebook's closing line: ``"all 26 runs were loaded from disk, saved when
    an earlier execution trained them"``, ``"3 runs were trained and 23 were loaded from disk, saved by an earlier
    execution"`` or ``"12 runs were trained"``. ``counts``: numbers
    ``{"trained": n, "loaded": m}`` instead of this process's (a run trained here and loaded again later counts
    as trained)."""
    if counts is None:
        trained = len(RUN_COUNTS["trained"])
        loaded = len(RUN_COUNTS["loaded"] - RUN_COUNTS["trained"])
    else:
        trained, loaded = int(counts["trained"]), int(counts["loaded"])

    def runs(n: int) -> str:
        return f"{n:,} run{'' if n == 1 else 's'}"

    if trained == 0:
        if not loaded:
            return "no run was trained or loaded"
        return (f"all {runs(loaded)} were" if loaded > 1 else "its one run was") + (
            " loaded from disk, saved when an earlier execution trained them" if loaded > 1 else
            " loaded from disk, saved when an earlier execution trained it")
    was = "was" if trained == 1 else "were"
    return f"{runs(trained)} {was} trained" + (
        f" and {loaded:,} {'was' if loaded == 1 else 'were'} loaded from disk, saved by an earlier execution"
        if loaded else "")


def run(spec: RunSpec, seed: int, *, cache: bool = True, device=None, progress: bool | None = None,
        task: Task | None = None, checkpoint_every: int | None = None,
        checkpoint_seconds: float | None = 300.0) -> RunResult:
    """Train ``spec`` with ``seed`` (or load the cached result). Deterministic on one CPU for a given seed and
    thread count (``torch.get_num_threads()``: a run's floats change with it, and the cache key does not hold it).

    ``task``: train on this task instead of the one the spec names (e.g. real data); the cache key then
    includes a fingerprint of its data.

    With the cache on, a run that trains keeps a checkpoint in its cache folder (``checkpoint.pt``) every
    ``checkpoint_every`` steps, every ``checkpoint_seconds`` (default 5 minutes) and on SIGTERM
    (:func:`uda_nb.train.fit`); calling ``run`` again after an interruption (a lost kernel, a pre-empted GPU)
    resumes from it, and the finished run removes it.
    """
    _check_run_args(spec, seed, task)
    device = distributed.rank_device(get_device(device))
    folder = cache_dir("runs") / run_key(spec, seed, device, task)
    if cache:
        loaded = _load(folder, spec, seed, task)
        if loaded is not None:
            RUN_COUNTS["loaded"].add(folder.name)
            return loaded
    # a run of several processes trains only under torchrun (uda_nb.launch); any process can load it, above
    distributed.check_world_size(spec.world_size, f"RunSpec({spec.method!r}, {spec.source!r} -> {spec.target!r})")
    init = None
    if spec.init_from is not None:  # the pretrained run first (cached), so its weights are ready
        init = run(spec.init_from, seed, cache=cache, device=device, progress=progress, task=task)
    if task is None:
        with distributed.main_first():  # rank 0 builds a missing data set, the others then read it
            task = build_task(spec, device)
    seed_everything(seed)  # model initialisation (the same on every rank) and dropout
    method = build_method(spec, task)
    with distributed.main_first():
        task = cached_prefix_task(method, task, spec, cache=cache, progress=progress)
    if init is not None:
        load_modules(method, init.method, spec.init_modules)
    optimizer, tracker = spec.optimizer, None
    if spec.transpar is not None:
        optimizer = apply_transpar(method, make_optimizer(method, spec.lr, spec.momentum, spec.weight_decay,
                                                          kind=spec.optimizer), spec.transpar)
        tracker = MaskTracker(optimizer, method)
    callbacks = []
    if spec.adist_samples:
        callbacks.append(ADistanceLogger(spec.adist_samples, seed=seed))
    snaps = FeatureSnapshots(spec.snapshot_samples, seed=seed) if spec.snapshot_samples else None
    if tracker is not None:
        callbacks.append(tracker)
    if snaps is not None:
        callbacks.append(snaps)
    result: FitResult = fit(method, task, spec.steps, spec.batch_size, lr=spec.lr, momentum=spec.momentum,
                            weight_decay=spec.weight_decay, schedule=spec.schedule, optimizer=optimizer,
                            eval_every=spec.eval_every,
                            eval_samples=spec.eval_samples, seed=seed, device=device, callbacks=tuple(callbacks),
                            progress=progress, desc=f"{spec.method} seed {seed}", augment=spec.augment,
                            balance_source=spec.balance_source, sync_batchnorm=spec.sync_batchnorm,
                            precision=spec.precision,
                            checkpoint=(folder / CHECKPOINT) if cache else None, checkpoint_every=checkpoint_every,
                            checkpoint_seconds=checkpoint_seconds)
    extras = {}
    if snaps is not None:
        extras = {"snapshots": snaps.snapshots, "snapshot_source_labels": snaps.source.labels.cpu(),
                  "snapshot_target_labels": snaps.target.labels.cpu()}
    if tracker is not None:
        extras["transpar_masks"] = tracker.rows
    method = result.method.cpu().eval()
    out = RunResult(spec, seed, result.final, result.history, result.seconds, method, extras)
    if cache and distributed.is_main():
        _save(folder, out)
        (folder / CHECKPOINT).unlink(missing_ok=True)  # the finished run needs no checkpoint
    distributed.barrier()  # no rank goes on (to a run that loads this one) before it is written
    RUN_COUNTS["trained"].add(folder.name)
    return out


def load_modules(method: methods.Method, source: methods.Method, modules: tuple[str, ...]) -> None:
    """Copy the weights and buffers (BatchNorm statistics included) of the named modules of ``source`` into
    ``method``; shapes must match (same backbone).

    One difference is allowed: ``method`` may have dynamic residuals (:class:`~uda_nb.models.dynamic.DynamicConv2d`
    bases and coefficient branches) that ``source``, the same network with its residuals off, lacks. The static
    parts (``W0``, BatchNorm, classifier) are then loaded and the residuals keep their fresh initialisation: DRT's
    protocol of adding the dynamic residual to a trained static network (its DomainNet runs start from an
    ImageNet-trained ResNet)."""
    state = source.state_dict()
    for name in modules:
        if not isinstance(getattr(method, name, None), torch.nn.Module) or not isinstance(getattr(source, name, None),
                                                                                      torch.nn.Module):
            raise ValueError(f"init_modules names {name!r}, which is not a module of both {type(source).__name__} "
                             f"and {type(method).__name__} (their modules: "
                             f"{sorted(n for n, _ in method.named_children())}).")
        target = getattr(method, name)
        part = {k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")}
        own = target.state_dict()
        missing = [k for k in own if k not in part and not _is_dynamic_residual(target, k)]
        unexpected = [k for k in part if k not in own]
        resized = [f"{k} {tuple(part[k].shape)} -> {tuple(v.shape)}" for k, v in own.items()
                   if k in part and part[k].shape != v.shape]
        if missing or unexpected or resized:  # checked first, so a refused load changes nothing
            found = "; ".join(f"{what}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}" for what, keys in
                              (("missing", missing), ("unexpected", unexpected), ("other shapes", resized)) if keys)
            raise ValueError(f"Cannot initialise {name!r} from the pretrained run: the networks differ (same "
                             f"backbone and model options needed; {found}).")
        target.load_state_dict(part, strict=False)


def _is_dynamic_residual(module: torch.nn.Module, key: str) -> bool:
    """Whether state-dict entry ``key`` of ``module`` is a dynamic residual's (a DynamicConv2d's bases or branch)."""
    path = "." + key
    if path.endswith(".bases"):
        owner = path[:-len(".bases")]
    elif ".branch." in path:
        owner = path[:path.rindex(".branch.")]
    else:
        return False
    owner = owner[1:]  # "" is the module itself
    try:
        return isinstance(module.get_submodule(owner), DynamicConv2d)
    except AttributeError:
        return False


def _check_run_args(spec: RunSpec, seed: int, task: Task | None) -> None:
    """The spec, the seed and a caller's task agree (an oracle spec needs an oracle task, and the reverse)."""
    if not isinstance(spec, RunSpec):
        raise TypeError(f"run needs a RunSpec, got {type(spec).__name__}.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"run: seed must be a whole number >= 0, got {seed!r}.")
    if task is None:
        return
    if not isinstance(task, Task):
        raise TypeError(f"run: task must be a Task (make_task(...)), got {type(task).__name__}.")
    is_oracle = task.name.startswith("oracle:")
    if spec.method == "oracle" and not is_oracle:
        raise ValueError(f"RunSpec method 'oracle' trains on the target's labeled training split, but task "
                         f"{task.name!r} is a plain UDA task (its target has no labels): it would train source-only "
                         "and call it the oracle. Pass task=oracle_task(task, labeled_target=<the labeled target "
                         "training Domain>) (uda_nb.data.oracle_task).")
    if spec.method != "oracle" and is_oracle:
        raise ValueError(f"task {task.name!r} is an oracle task (target labels in the source slot) but the spec's "
                         f"method is {spec.method!r}: pass the plain task for {spec.method!r}, and the oracle task "
                         "with spec.with_method('oracle').")


def run_seeds(spec: RunSpec, seeds, **kwargs) -> list[RunResult]:
    """``run(spec, seed)`` for each seed (cached)."""
    if isinstance(seeds, numbers.Integral):
        raise TypeError(f"seeds must be a list of seeds, got the number {seeds}: pass range({seeds}) for seeds "
                        f"0..{seeds - 1}, or [{seeds}] for that one seed.")
    return [run(spec, int(s) if isinstance(s, numbers.Integral) else s, **kwargs) for s in seeds]


def run_grid(specs: dict[str, RunSpec], seeds, **kwargs) -> dict[str, list[RunResult]]:
    """Every spec over every seed: ``{label: [RunResult per seed]}``."""
    if not isinstance(specs, dict):
        raise TypeError(f"run_grid takes a dict {{label: RunSpec}}, got {type(specs).__name__}.")
    return {label: run_seeds(spec, seeds, **kwargs) for label, spec in specs.items()}


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _save(folder: Path, res: RunResult) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "model.pt", _torch_bytes(res.method.state_dict()))
    atomic_write(folder / "extras.pt", _torch_bytes(res.extras))
    save_json(folder / "result.json", {"spec": asdict(res.spec), "seed": res.seed, "final": res.final,
                                       "seconds": res.seconds, "history": res.history.to_dict(orient="list"),
                                       "history_columns": list(res.history.columns)})


def _load(folder: Path, spec: RunSpec, seed: int, task: Task | None) -> RunResult | None:
    meta = load_json(folder / "result.json")
    if meta is None:
        return None
    try:
        history = pd.DataFrame(meta["history"])[meta["history_columns"]]  # JSON keys are sorted; restore order
        final, seconds = meta["final"], meta["seconds"]
        shapes = task if task is not None else build_task(spec, "cpu")
        method = build_method(spec, shapes)
        method.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
        # weights_only: tensors, dicts, tuples and numbers only; a cache file from elsewhere cannot run code
        extras = torch.load(folder / "extras.pt", map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        warnings.warn(f"Cached run {folder.name} holds objects other than tensors, dicts and numbers; loading them "
                      "was refused (a pickled object could run code); recomputing it.", stacklevel=3)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    except Exception as exc:  # truncated files, an older layout, a model that changed shape: recompute
        warnings.warn(f"Cached run {folder.name} is corrupt or outdated ({type(exc).__name__}: {exc}); "
                      "recomputing it.", stacklevel=3)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return RunResult(spec, seed, final, history, seconds, method.eval(), extras, cached=True)


# ----------------------------------------------------------------------------------------------- tables


def format_mean_std(values, scale: float = 100.0, digits: int = 1) -> str:
    """``"76.7 +- 1.2"`` from per-seed values (scaled, e.g. accuracies to percent)."""
    m, s = mean_std(np.asarray(list(values)) * scale)
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def summary_table(results: dict[str, list[RunResult]], metric: str = "target_acc",
                  paper: dict[str, float] | None = None, scale: float = 100.0) -> pd.DataFrame:
    """One row per method: mean, std, ``mean ± std`` (in percent by default), the paper's number, seeds."""
    rows = []
    for label, runs in results.items():
        vals = np.array([r.final[metric] for r in runs]) * scale
        m, s = mean_std(vals)
        rows.append({"method": label, "mean": m, "std": s, "ours": f"{m:.1f} ± {s:.1f}",
                     "paper": (paper or {}).get(label, np.nan), "seeds": len(vals)})
    return pd.DataFrame(rows).set_index("method")


def gap_covered_per_seed(method: list[RunResult], source_only: list[RunResult], oracle: list[RunResult],
                         metric: str = "target_acc") -> np.ndarray:
    """Gap covered for each seed, pairing the runs of the three rows by seed."""
    by_seed = lambda runs: {r.seed: r.final[metric] for r in runs}  # noqa: E731
    m, s, o = by_seed(method), by_seed(source_only), by_seed(oracle)
    seeds = sorted(set(m) & set(s) & set(o))
    if not seeds:
        raise ValueError("gap_covered_per_seed: the three result lists share no seed.")
    return np.array([gap_covered(m[k], s[k], o[k]) for k in seeds])


def history_frame(runs: list[RunResult]) -> pd.DataFrame:
    """The histories of several seeds stacked into one long table with a ``seed`` column."""
    return pd.concat([r.history.assign(seed=r.seed) for r in runs], ignore_index=True)
