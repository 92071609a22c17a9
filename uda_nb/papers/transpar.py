"""TransPar's experiments on the embedded digits: run specs that share 01_dann's runs, the paper's numbers, and the
estimate of the transferable ratio tau from a domain distance (eq. 11-12).

Every run uses 01_dann's recipe (the DANN digits network, ``center`` input norm, SGD 0.01 with momentum 0.9 and
the DANN decay, 1,500 steps of 32 + 32 images at the report budget, the A-distance and t-SNE samples of the
budget), so the DANN and source-only runs on mnist -> mnistm *are* 01_dann's cached runs; on syn -> street the
network has BatchNorm, as in 00_data (:data:`MODELS`). A TransPar run is the
same spec with ``transpar={...}`` (:class:`uda_nb.methods.transpar.TransParConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..config import Budget, resolve_budget
from ..data import make_task
from ..experiments import RunResult, RunSpec, run, run_seeds
from ..metrics import discriminator_distance, extract_features
from ..methods import create
from ..methods.transpar import REFERENCE_ENTROPY, transferable_ratio

PAIRS = (("mnist", "mnistm"), ("syn", "street"))
LR = 0.01  # 01_dann's recipe
MODEL = {"norm": "center"}
#: the network per pair: 01_dann's on mnist -> mnistm (its runs are shared); on syn -> street 00_data's, with
#: BatchNorm: without it DANN's digits network collapses on the *source* (10 % source test accuracy for DANN and
#: source-only alike, seeds 0 and 1; benchmarks/results/transpar.md, "TransPar: first runs")
MODELS = {("mnist", "mnistm"): MODEL, ("syn", "street"): {"batch_norm": True}}


#: method options per pair. DANN on syn -> street with the BatchNorm network and DANN's lambda up to 1 never learns
#: the *source* (10-14 % source test accuracy at 750 steps, seeds 0 and 1; with lambda up to 0.3: 44 / 75 %); with
#: lambda up to 0.1, MDD's reference coefficient, it reaches 96 / 92 % (benchmarks/results/transpar.md, "TransPar notebook
#: sizing"). Chosen on source accuracy only: no target label.
OPTIONS = {("syn", "street"): {"dann": {"lambda_max": 0.1}}}


def options_for(method: str, source: str, target: str) -> dict:
    """The method options of a pair (:data:`OPTIONS`; the method's defaults elsewhere)."""
    return dict(OPTIONS.get((source, target), {}).get(method, {}))


def model_for(source: str, target: str) -> dict:
    """The network options of a pair (:data:`MODELS`; 01_dann's network for any other pair)."""
    return dict(MODELS.get((source, target), MODEL))

#: TransPar Table I (Office-31, ResNet-50, average accuracy %): the method and its TransPar version
PAPER_TABLE1 = {"source-only": (76.1, 80.6), "DANN": (82.2, 88.0), "MCD": (86.5, 86.7), "MDD": (88.9, 89.9)}
#: Table V (TransPar-MDD on Office-31, average %): which modules are divided (FE feature extractor, SH source
#: hypothesis, DD domain discrepancy module; -EN without the entropy term). Its text says DANN; its caption and
#: numbers are MDD's (89.9 is Table I's TransPar-MDD).
PAPER_TABLE5 = {"FE": 88.6, "SH": 88.9, "DD": 88.8, "FE+DD": 89.2, "FE+SH": 89.4, "FE+SH-EN": 89.1, "FE+SH+DD": 89.9}
#: Table VI (TransPar-MDD on Office-31, average %): update rules and scores
PAPER_TABLE6 = {"one-shot-start": 88.3, "one-shot-last": 88.5, "iterative": 89.9, "weight only": 89.0,
                "gradient only": 88.9, "both": 89.9}
#: Table VII (RHD -> H3D, PCK %): RegDA and TransPar-RegDA
PAPER_TABLE7 = {"RegDA": 70.9, "TransPar-RegDA": 72.4}
#: the roles of uda_nb's methods by the paper's module names
MODULES = {"FE": "feature", "SH": "task", "DD": "adversarial"}


#: MDD's optimiser as TLlib's (``examples/.../mdd.py``: SGD with Nesterov momentum, L2 weight decay 5e-4; its
#: from-scratch digits recipe keeps lr 0.01), on TLlib's bottleneck and heads (:data:`uda_nb.methods.REFERENCE_HEADS`).
#: With TransPar the decay is TransPar's own (eq. 15-16), so the wrapped optimizer has none.
MDD_OPTIMIZER = {"optimizer": "nesterov", "weight_decay": 5e-4}
#: MDD's network as network options, for a source-only baseline on it (``spec(..., mdd_network=True)``)
MDD_NETWORK = {"head": "tllib", "bottleneck": 1024}


def spec(method: str, source: str, target: str, budget: str | Budget | None = None,
         transpar: dict | None = None, **changes) -> RunSpec:
    """A run on ``source -> target`` with 01_dann's recipe (module docstring) on the pair's network
    (:data:`MODELS`) and options (:data:`OPTIONS`); MDD with TLlib's optimiser (:data:`MDD_OPTIMIZER`).
    ``transpar``: ``None`` for the plain method or the TransPar settings (``{"ratio": tau}``); the entropy weight
    defaults to the authors' for the method (:data:`uda_nb.methods.transpar.REFERENCE_ENTROPY`: 0.01 for MDD)."""
    budget = resolve_budget(budget)
    base = RunSpec.from_budget(method, budget, source=source, target=target, batch_size=budget.batch_size, lr=LR,
                               model=model_for(source, target), adist_samples=budget.adist_samples,
                               snapshot_samples=budget.tsne_points, options=options_for(method, source, target))
    if method == "mdd":
        changes = {**MDD_OPTIMIZER, **changes}
    elif changes.pop("mdd_network", False):  # source-only on MDD's network and optimiser: MDD's matched baseline
        changes = {**MDD_OPTIMIZER, "model": {**model_for(source, target), **MDD_NETWORK}, **changes}
    changes.update(transpar_changes(method, transpar))
    return RunSpec(**{**base.__dict__, **changes})


def transpar_changes(method: str, transpar: dict | None) -> dict:
    """The spec fields a TransPar run changes: ``transpar`` with the authors' entropy weight for the method
    (:data:`uda_nb.methods.transpar.REFERENCE_ENTROPY`) unless given, and no decay in the wrapped optimizer (TransPar
    applies its own); ``{}`` for a plain run."""
    if transpar is None:
        return {}
    transpar = dict(transpar)
    if method in REFERENCE_ENTROPY and REFERENCE_ENTROPY[method] != 0.1:
        transpar.setdefault("entropy", REFERENCE_ENTROPY[method])
    return {"transpar": transpar, "weight_decay": 0.0}


# ------------------------------------------------------------------------------------------------- the ratio

FEATURES = ("pixels", "random", "source")
#: the paper's features for eq. 11, in the pretrained regime: the ImageNet network with its random bottleneck
PRETRAINED_FEATURES = "imagenet"


def ratio_features(kind: str, source: str, target: str, budget: str | Budget | None = None, n: int = 1000,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of ``n`` training images per domain (seeded draw) for the domain distance of eq. 11, before any
    adaptation. ``kind``: ``"pixels"`` (the images, flattened), ``"random"`` (the DANN digits network at its seeded
    initialisation: a fixed random feature extractor) or ``"source"`` (the source-only run of ``seed``, trained on
    source labels only: the closest analogue here of the paper's ImageNet network, a network trained on labeled data
    other than the target). Returns ``((n, D), (n, D))``."""
    if kind not in (*FEATURES, PRETRAINED_FEATURES):
        raise ValueError(f"Unknown ratio features {kind!r}: choose one of {(*FEATURES, PRETRAINED_FEATURES)}.")
    task = make_task(source, target, device="cpu")
    xs, xt = _ratio_images(task, n, seed)
    if kind == "pixels":
        return xs.flatten(1), xt.flatten(1)
    if kind == "random":
        net = create("source_only", task.num_classes, task.image_shape, seed=seed,
                     **model_for(source, target)).eval()
    elif kind == PRETRAINED_FEATURES:
        net = _untrained_pretrained(task, None, None, seed)
    else:
        net = run(table_spec("source_only", source, target, budget), seed).method
    return extract_features(net, xs), extract_features(net, xt)


def _ratio_images(task, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training images per domain of ``task``, a seeded draw (the target's carry no labels), on the CPU."""
    g = torch.Generator().manual_seed(seed)
    return (task.source.images[torch.randperm(len(task.source), generator=g)[:n]].cpu(),
            task.target.images[torch.randperm(len(task.target), generator=g)[:n]].cpu())


def _untrained_pretrained(task, backbone: str | None, model: dict | None, seed: int):
    """The authors' network for eq. 11: the pretrained backbone under a randomly initialised bottleneck, in eval
    mode, before any training (``None``: :data:`PRETRAINED_BACKBONE` / :data:`PRETRAINED_MODEL`)."""
    return create("dann", task.num_classes, task.image_shape, seed=seed, backbone=backbone or PRETRAINED_BACKBONE,
                  **(PRETRAINED_MODEL if model is None else model)).eval()


def pretrained_ratio(task, backbone: str | None = None, model: dict | None = None, n: int = 1000,
                     seed: int = 0) -> dict[str, float]:
    """eq. 11-12 as the paper and the authors' code compute it: the pretrained network with its randomly initialised
    bottleneck, in eval mode, before any training, on ``n`` training images per domain of ``task`` (seeded draw; no
    target label is read). Returns ``{"d_A", "tau"}``."""
    xs, xt = _ratio_images(task, n, seed)
    net = _untrained_pretrained(task, backbone, model, seed)
    d_a = discriminator_distance(extract_features(net, xs), extract_features(net, xt), seed=seed)
    return {"d_A": d_a, "tau": transferable_ratio(d_a)}


def estimate_ratio(kind: str, source: str, target: str, budget: str | Budget | None = None, n: int = 1000,
                   seed: int = 0) -> dict[str, float]:
    """``{"d_A": eq. 11 from a two-layer domain discriminator (80/20 split, 10 epochs), "tau": eq. 12}`` on
    :func:`ratio_features`. No target label is read."""
    xs, xt = ratio_features(kind, source, target, budget, n, seed)
    d_a = discriminator_distance(xs, xt, seed=seed)
    return {"d_A": d_a, "tau": transferable_ratio(d_a)}


def tau_grid() -> np.ndarray:
    """Figure 6's ratios: 0.1, 0.2, ..., 0.9."""
    return np.round(np.arange(1, 10) / 10.0, 1)


def sweep_taus(budget: str | Budget | None, estimated: float) -> list[float]:
    """The ratios of the from-scratch sweep at ``budget`` (``TransParSizes.sweep_taus``, or Figure 6's
    :func:`tau_grid`), with the ``estimated`` ratio of eq. 12 added where it is not one of them; ascending."""
    grid = sizes_for(budget).sweep_taus
    grid = [float(t) for t in (tau_grid() if grid is None else grid)]
    return sorted({*grid, round(float(estimated), RATIO_DIGITS)})


# ----------------------------------------------------------------------------------------- notebook sizes


# ------------------------------------------------------------------------------------- the pretrained regime

#: the pretrained regime (issue 42): timm's EfficientNet-Lite0 with the ImageNet weights that ship with the pip
#: package, images resized to 64 px, the stem and blocks 0-5 frozen (their outputs cached once per image:
#: uda_nb.feature_cache), blocks[6], conv_head and its BatchNorm fine-tuned at 0.1x the heads' rate, under TLlib's
#: heads (a 256-d bottleneck, a linear classifier, a 1024-1024 BatchNorm discriminator; MDD its own 1024-wide ones).
#: Sized in benchmarks/results/transpar.md, "The pretrained regime".
PRETRAINED_BACKBONE = "efficientnet_lite0"
PRETRAINED_MODEL = {"weights": "imagenet", "frozen": 6, "input_size": 64}
PRETRAINED_PAIRS = (("syn", "street"),)
#: the optimiser of the authors' code per method (docs/references/transpar.md): DANN lr 0.01, L2 1e-3, momentum
#: 0.9; MDD L2 5e-4, Nesterov; source-only Nesterov, L2 5e-4. Source-only and MDD run at DANN's rate 0.01, not the
#: code's 0.001 and 0.004, which are for 2,500 and 20,000 iterations: at 600 steps MDD at 0.004 reached 75 % source
#: accuracy against 81 % for DANN and source-only (seeds 0-2; decided on source accuracy only,
#: benchmarks/results/transpar.md, "The pretrained regime"). With TransPar the decay is TransPar's own.
PRETRAINED_OPTIMIZER = {"source_only": {"lr": 0.01, "weight_decay": 5e-4, "optimizer": "nesterov"},
                        "dann": {"lr": 0.01, "weight_decay": 1e-3},
                        "mdd": {"lr": 0.01, "weight_decay": 5e-4, "optimizer": "nesterov"}}


def pretrained_spec(method: str, source: str, target: str, budget: str | Budget | None = None,
                    transpar: dict | None = None, steps: int | None = None, backbone: str | None = None,
                    model: dict | None = None) -> RunSpec:
    """A run of the pretrained regime (:data:`PRETRAINED_MODEL`) for the budget's ``pretrained_steps``, with the
    authors' optimiser for the method (:data:`PRETRAINED_OPTIMIZER`) and DANN's reversal rising to 1 (TLlib's,
    on both pairs). ``transpar``: as :func:`spec`. No A-distance curve, no snapshots (features are cached).
    ``backbone`` / ``model``: another network for the same recipe (real data: a ResNet-50 from a local state dict,
    every layer fine-tuned; :func:`uda_nb.papers.real_data.network_options`); ``source`` / ``target`` then only
    name the run's task, which :func:`uda_nb.experiments.run` gets as ``task=``."""
    budget = resolve_budget(budget)
    sizes = sizes_for(budget)
    changes = {**PRETRAINED_OPTIMIZER.get(method, PRETRAINED_OPTIMIZER["dann"]), **transpar_changes(method, transpar)}
    steps = int(steps or sizes.pretrained_steps)
    changes.setdefault("eval_every", max(1, steps // 10))  # ten history rows: the mask dynamics are drawn from them
    return RunSpec.from_budget(method, budget, source=source, target=target, batch_size=budget.batch_size,
                               backbone=backbone or PRETRAINED_BACKBONE,
                               model=dict(PRETRAINED_MODEL if model is None else model),
                               steps=steps, **changes)


def pretrained_table_runs(ratios: dict[tuple[str, str], float], seeds, budget: str | Budget | None = None,
                          pairs=PRETRAINED_PAIRS) -> dict[tuple[str, str, bool], list[RunResult]]:
    """:func:`method_table_runs` in the pretrained regime: ``{(pair name, method label, with TransPar): runs}``."""
    return {(pair_name(p), label, wrapped): run_seeds(pretrained_spec(
                name, *p, budget, {"ratio": ratios[p]} if wrapped else None), seeds)
            for p in pairs for label, name in TABLE_METHODS.items() for wrapped in (False, True)}


@dataclass(frozen=True)
class TransParSizes:
    """Seeds and steps of one budget. ``table_steps``: every run of the method table (``None``: the budget's
    steps, so that DANN and source-only on mnist -> mnistm are 01_dann's runs); ``sweep_steps``: the ratio sweep
    (Figure 6) of 04_transpar and the runs of 04a_transpar_scope; ``sweep_taus``: the sweep's ratios (``None``:
    Figure 6's 0.1, 0.2, ..., 0.9; the estimated ratio is always added, :func:`sweep_taus`); ``ratio_images``: images per domain for the discriminator of eq. 11; ``figure_seeds``: how many of the seeds
    the ratio sweep, the variants and Table VII use (the method table, the headline, uses all); ``regda_table``:
    whether 04_transpar runs Table VII (TransPar-RegDA on hands, which needs RegDA's own pretrained model);
    ``pretrained``: whether the notebooks run the pretrained regime (its frozen layers' outputs take about a minute
    per pair to compute, too long for a live class); ``pretrained_steps``: every run of that regime (its table on
    every seed, its sweep on the first ``pretrained_sweep_seeds``); ``pretrained_taus``: the ratios of its sweep."""

    seeds: int
    table_steps: int | None
    sweep_steps: int
    ratio_images: int = 1000
    figure_seeds: int = 2
    regda_table: bool = True
    pretrained: bool = True
    pretrained_steps: int = 600
    pretrained_taus: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    pretrained_sweep_seeds: int = 1
    sweep_taus: tuple[float, ...] | None = None


#: sized from measured step times (benchmarks/results/general.md, "Report sizing for the references' recipes"): the method
#: table, the headline, on 3 seeds; TransPar-MDD on TLlib's 1024-wide heads costs 100-140 ms a step, so the table
#: runs 400 steps (500 until issue 42's time limits) and the sweep and 04a's ablations 250 on the first two seeds. The lecture budget is sized for a live class
#: (04_transpar, 04a and 05_gsda in under 2 minutes each on 2 cores from an empty run cache; benchmarks/results/general.md,
#: "The lecture budget").
SIZES = {
    "smoke": TransParSizes(1, None, 20, ratio_images=200, figure_seeds=1, pretrained_steps=5,
                           pretrained_taus=(0.5,)),
    "lecture": TransParSizes(1, 80, 40, ratio_images=500, figure_seeds=1, regda_table=False, pretrained=False,
                             pretrained_steps=60, pretrained_taus=(0.5,)),
    # the pretrained regime at 400 steps and its sweep on one seed: at 600 steps and two seeds (2026-12-07) its runs
    # alone took about 1,100 s of 04_transpar's 25 minutes (benchmarks/results/general.md, "Report times with the
    # pretrained sections"). The from-scratch table at the same 400 steps (500 before) and the from-scratch sweep at
    # five ratios and the estimated one (nine before): the rule and the times are in general.md, "Fitting 02_regda,
    # 04_transpar and 05_gsda into their limits"
    "report": TransParSizes(3, 400, 250, pretrained_steps=400, pretrained_taus=(0.1, 0.3, 0.5, 0.7, 0.9),
                            sweep_taus=(0.1, 0.3, 0.5, 0.7, 0.9)),
    "paper": TransParSizes(5, None, 20000, ratio_images=2000, pretrained_steps=20000),
}


def sizes_for(budget: str | Budget | None) -> TransParSizes:
    return SIZES[resolve_budget(budget).name]


#: the table's methods: label -> uda_nb method name
TABLE_METHODS = {"source-only": "source_only", "DANN": "dann", "MDD": "mdd"}
#: MDD's matched baseline: source-only on MDD's network and optimiser (TLlib's bottleneck and heads), plain only
MDD_BASELINE = "source-only (MDD's network)"


def pair_name(pair: tuple[str, str]) -> str:
    return f"{pair[0]} → {pair[1]}"


def ratio_table(budget: str | Budget | None = None, seed: int = 0, pairs=PAIRS) -> pd.DataFrame:
    """eq. 11-12 on each pair and each kind of features (:data:`FEATURES`): one row per pair and kind with
    ``d_A`` and ``tau``."""
    n = sizes_for(budget).ratio_images
    rows = [{"pair": pair_name(p), "features": kind, **estimate_ratio(kind, *p, budget, n=n, seed=seed)}
            for p in pairs for kind in FEATURES]
    return pd.DataFrame(rows)


def method_table_runs(ratios: dict[tuple[str, str], float], seeds, budget: str | Budget | None = None,
                      pairs=PAIRS) -> dict[tuple[str, str, bool], list[RunResult]]:
    """Every method of :data:`TABLE_METHODS` plain and with TransPar at the pair's ratio, on every pair:
    ``{(pair name, method label, with TransPar): runs over seeds}``, and :data:`MDD_BASELINE` plain."""
    out = {}
    for p in pairs:
        for label, name in TABLE_METHODS.items():
            for wrapped in (False, True):
                tp = {"ratio": ratios[p]} if wrapped else None
                out[(pair_name(p), label, wrapped)] = run_seeds(table_spec(name, *p, budget, transpar=tp), seeds)
        out[(pair_name(p), MDD_BASELINE, False)] = run_seeds(table_spec("source_only", *p, budget, mdd_network=True),
                                                             seeds)
    return out


def table_spec(method: str, source: str, target: str, budget: str | Budget | None = None,
               transpar: dict | None = None, mdd_network: bool = False) -> RunSpec:
    """A run of the method table: :func:`spec` for the budget's ``table_steps`` (``mdd_network``: source-only on
    MDD's network and optimiser, :data:`MDD_BASELINE`)."""
    steps = sizes_for(budget).table_steps
    extra = {"mdd_network": True} if mdd_network else {}
    return spec(method, source, target, budget, transpar, **extra, **({} if steps is None else {"steps": steps}))


#: eq. 12's tau is rounded to one decimal, the grid of the sweep (Figure 6): the discriminator's own noise moves
#: it by about 0.02 (benchmarks/results/transpar.md, "TransPar: first runs")
RATIO_DIGITS = 1


def rounded_ratio(tau: float) -> float:
    return round(float(tau), RATIO_DIGITS)


def target_accuracy(runs: list[RunResult]) -> np.ndarray:
    """Per-seed target test accuracy in %."""
    return np.array([100.0 * r.final["target_acc"] for r in runs])


def short_spec(method: str, source: str, target: str, budget: str | Budget | None, steps: int,
               transpar: dict | None = None, **changes) -> RunSpec:
    """:func:`spec` for ``steps`` steps with the A-distance curve and the snapshots off (the sweeps and
    ablations read only final accuracies)."""
    changes = {"adist_samples": 0, "snapshot_samples": 0, "steps": int(steps), **changes}
    return spec(method, source, target, budget, transpar, **changes)
