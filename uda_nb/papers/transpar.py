"""TransPar's experiments on the embedded digits: run specs that share 01_dann's runs, the paper's numbers, and the
estimate of the transferable ratio tau from a domain distance (eq. 11-12).

Every run uses 01_dann's recipe (the DANN digits network, ``center`` input norm, SGD 0.01 with momentum 0.9 and
the DANN decay, 1,500 steps of 32 + 32 images at the report budget, the A-distance and t-SNE samples of the
budget), so the DANN and source-only runs on mnist -> mnistm *are* 01_dann's cached runs; on syn -> street the
network has BatchNorm, as in 00_data (:data:`MODELS`). A TransPar run is the
same spec with ``transpar={...}`` (:class:`uda_nb.methods.transpar.TransParConfig`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import Budget, resolve_budget
from ..data import make_task
from ..experiments import RunSpec, run
from ..metrics import discriminator_distance, extract_features
from ..methods import create
from ..methods.transpar import transferable_ratio

PAIRS = (("mnist", "mnistm"), ("syn", "street"))
LR = 0.01  # 01_dann's recipe
MODEL = {"norm": "center"}
#: the network per pair: 01_dann's on mnist -> mnistm (its runs are shared); on syn -> street 00_data's, with
#: BatchNorm: without it DANN's digits network collapses on the *source* (10 % source test accuracy for DANN and
#: source-only alike, seeds 0 and 1; benchmarks/RESULTS.md, "TransPar: first runs")
MODELS = {("mnist", "mnistm"): MODEL, ("syn", "street"): {"batch_norm": True}}


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


def spec(method: str, source: str, target: str, budget: str | Budget | None = None,
         transpar: dict | None = None, **changes) -> RunSpec:
    """A run on ``source -> target`` with 01_dann's recipe (module docstring) on the pair's network
    (:data:`MODELS`); ``transpar``: ``None`` for the plain method or the TransPar settings (``{"ratio": tau}``)."""
    budget = resolve_budget(budget)
    base = RunSpec.from_budget(method, budget, source=source, target=target, batch_size=budget.batch_size, lr=LR,
                               model=model_for(source, target), adist_samples=budget.adist_samples,
                               snapshot_samples=budget.tsne_points)
    if transpar is not None:
        changes["transpar"] = dict(transpar)
    return RunSpec(**{**base.__dict__, **changes})


# ------------------------------------------------------------------------------------------------- the ratio

FEATURES = ("pixels", "random", "source")


def ratio_features(kind: str, source: str, target: str, budget: str | Budget | None = None, n: int = 1000,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of ``n`` training images per domain (seeded draw) for the domain distance of eq. 11, before any
    adaptation. ``kind``: ``"pixels"`` (the images, flattened), ``"random"`` (the DANN digits network at its seeded
    initialisation: a fixed random feature extractor) or ``"source"`` (the source-only run of ``seed``, trained on
    source labels only: the closest analogue here of the paper's ImageNet network, a network trained on labeled data
    other than the target). Returns ``((n, D), (n, D))``."""
    if kind not in FEATURES:
        raise ValueError(f"Unknown ratio features {kind!r}: choose one of {FEATURES}.")
    task = make_task(source, target, device="cpu")
    g = torch.Generator().manual_seed(seed)
    xs = task.source.images[torch.randperm(len(task.source), generator=g)[:n]]
    xt = task.target.images[torch.randperm(len(task.target), generator=g)[:n]]
    if kind == "pixels":
        return xs.flatten(1), xt.flatten(1)
    if kind == "random":
        net = create("source_only", task.num_classes, task.image_shape, seed=seed,
                     **model_for(source, target)).eval()
    else:
        net = run(spec("source_only", source, target, budget), seed).method
    return extract_features(net, xs), extract_features(net, xt)


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
