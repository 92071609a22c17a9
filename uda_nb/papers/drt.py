"""DRT's experiments on the embedded Digit-five analogue: leave-one-domain-out tasks, run specs, per-seed scores,
the source-domain study (Figure 2) and the domain probe on dynamic coefficients (Figures 4-5).

Every task merges the four other domains into one labeled source set (no domain labels reach training; the
merged set keeps a domain id per image in ``meta['parts']``, read here only to score each source domain and to
colour plots). The static baseline is the same ``drt-digits`` network with its residuals off, so a static and a
dynamic run differ only by the dynamic residuals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ..claims import fmt_mean_std
from ..config import Budget, resolve_budget
from ..data import load_domain, make_task
from ..data.domain import Task
from ..experiments import RunResult, RunSpec, run_seeds
from ..metrics import accuracy, linear_probe_accuracy
from ..models.dynamic import recording

#: the five domains in the order of the paper's Table 3 columns (its prose and M3SDA's table: the first column is
#: MNIST-M, the second MNIST; the header in the paper's text swaps them) and the paper's name for each analogue
DOMAINS = ("mnistm", "mnist", "uci", "street", "syn")
PAPER_NAMES = {"mnistm": "MNIST-M", "mnist": "MNIST", "uci": "USPS", "street": "SVHN", "syn": "Synthetic"}

#: DRT Table 3 (Digit-five, LeNet, accuracy %), columns by target, corrected order
PAPER_TABLE3 = {
    "source-only": {"mnistm": 63.37, "mnist": 90.50, "uci": 88.71, "street": 63.54, "syn": 82.44, "avg": 77.71},
    "DANN": {"mnistm": 71.30, "mnist": 97.60, "uci": 92.33, "street": 63.48, "syn": 85.34, "avg": 82.01},
    "ADDA": {"mnistm": 71.57, "mnist": 97.89, "uci": 92.83, "street": 75.48, "syn": 86.45, "avg": 84.84},
    "MCD": {"mnistm": 72.50, "mnist": 96.21, "uci": 95.33, "street": 78.89, "syn": 87.47, "avg": 86.10},
    "DRT": {"mnistm": 81.03, "mnist": 99.31, "uci": 98.40, "street": 86.67, "syn": 93.89, "avg": 91.86},
}
#: the DomainNet ablations (ResNet-101, average accuracy over the six targets, %)
PAPER_VARIANTS = {"static": 38.5, "attention": 47.8, "routing": 49.7, "combined": 49.6}  # Table 1
PAPER_NUM_BASES = {2: 48.8, 4: 49.7, 6: 49.5, 8: 49.3}  # section 4.2
PAPER_TABLE2 = {"source-only": (40.6, 42.8), "ADDA": (32.2, 44.9), "MCD": (38.5, 49.7)}  # (static, + DRT)
PAPER_SOURCE_DROP = 1.9  # Figure 2: static transfer's average loss on the source domains, points

LR = 0.03  # SGD, momentum 0.9 (the paper: 0.002 over 300 epochs; 0.03 screened on source accuracy, RESULTS.md)
#: DRT's code: weight decay 5e-4 on every module (``drt.py``), as MCD_DA and TLlib; docs/references/drt.md
WEIGHT_DECAY = 5e-4
#: the paper's step decay, the rate / 10 at a third and two thirds of training (:func:`uda_nb.schedules.thirds_step_lr_factor`)
SCHEDULE = "thirds"
#: the single-domain reference models of Figure 2: at 0.03 two of the ten collapsed (street 15 %, syn 79 % on their own
#: test split); 0.01 trains every domain to 86-99 %
SINGLE_LR = 0.01
#: ADDA's adversarial stage: the largest rate (of 0.01, 0.003, 0.001) at which the target encoder still classifies
#: the *source* test images within 5 points of the pretrained encoder (label-free for the target; at 0.01 both
#: collapse to 12-13 %, benchmarks/RESULTS.md)
ADDA_LR = 0.001
#: DRT's MCD as its authors run it (``drt.py``, docs/references/drt.md): one step with gradient reversal 4
#: (``--lmbd 4``), eta = 50 on a discrepancy averaged over DomainNet's 345 classes, which is lam = 50 * 10 / 345 on
#: our 10-class mean; class balance 0.01, label smoothing 0.01; the more confident head predicts
DRT_MCD = {"one_step": True, "lam": round(50 * 10 / 345, 3), "reverse": 4.0, "class_balance": 0.01,
           "label_smoothing": 0.01, "predict": "confident"}


@dataclass(frozen=True)
class DRTSizes:
    """Steps and seeds of one budget. ``steps``: every leave-one-out run's, trained from scratch with the alignment
    loss from the first step (as the authors' ``drt.py`` and MCD_DA do); ``single_steps``: Figure 2's
    single-domain models; ``figure_seeds``: how many of the seeds Figure 2 and the probes use; ``widths``: the
    drt-digits stage widths; ``mcd``: MCD's options (:data:`DRT_MCD`); ``evals``: history rows per run;
    ``temperature``: the routing softmax's (1 in the paper; :class:`uda_nb.models.dynamic.DynamicConv2d`);
    ``residual``: the routing kernels' shape, ``"full"`` (the paper's) or ``"1x1"`` (the reference code's)."""

    seeds: int
    steps: int
    single_steps: int
    batch_size: int = 32
    widths: tuple[int, int, int] = (16, 32, 48)
    figure_seeds: int = 2
    eval_samples: int = 500
    evals: int = 4
    temperature: float = 1.0
    residual: str = "full"
    mcd: dict = field(default_factory=lambda: dict(DRT_MCD))


#: sized from measured step times (benchmarks/results/general.md, "DRT notebook sizing, the references' recipe"): every run
#: trains from scratch for ``steps`` with its loss from the first step. The lecture budget is sized for a live class
#: (03_drt in under 2 minutes on 2 cores from an empty run cache; benchmarks/results/general.md, "The lecture budget").
SIZES = {
    "smoke": DRTSizes(1, 20, 20, batch_size=16, figure_seeds=1, eval_samples=100, evals=1),
    "lecture": DRTSizes(1, 120, 120, figure_seeds=1, eval_samples=300, evals=2),
    "report": DRTSizes(3, 700, 700),
    "paper": DRTSizes(5, 20000, 20000, batch_size=64, widths=(32, 48, 64), figure_seeds=5, eval_samples=2000,
                      evals=20),
}


def sizes_for(budget: str | Budget | None) -> DRTSizes:
    return SIZES[resolve_budget(budget).name]


def sources_of(target: str) -> tuple[str, ...]:
    """The leave-one-out sources of ``target``: the other four domains, in :data:`DOMAINS` order."""
    if target not in DOMAINS:
        raise ValueError(f"Unknown Digit-five target {target!r}: choose one of {DOMAINS}.")
    return tuple(d for d in DOMAINS if d != target)


def network(sizes: DRTSizes, dynamic: str = "routing", num_bases: int = 4) -> dict:
    """The RunSpec fields of the drt-digits network: static (``dynamic="static"``) or one of DRT's variants, with
    a static RGB stem (the authors' dynamic ResNet keeps its stem static; a branch on conv1 would pool the RGB image
    to its mean colour) and the MCD / DRT classifier heads (BatchNorm, dropout 0.5, N(0, 0.01))."""
    model = {"dynamic": dynamic, "widths": tuple(sizes.widths), "static_stem": True, "head": "mcd"}
    if dynamic in ("routing", "combined"):
        model["num_bases"] = int(num_bases)
        if sizes.temperature != 1.0:  # only then, so that the paper's softmax keeps its cache keys
            model["temperature"] = float(sizes.temperature)
        if sizes.residual != "full":  # likewise: the paper's full-size residual kernels keep their cache keys
            model["residual"] = str(sizes.residual)
    return {"backbone": "drt-digits", "model": model}


def spec(method: str, target: str, sizes: DRTSizes, dynamic: str = "static", num_bases: int = 4, *,
         sources: tuple[str, ...] | None = None, network_fields: dict | None = None, **options) -> RunSpec:
    """A leave-one-out run on ``target``: ``method`` (``source_only``, ``mcd``, ``dann``) on the drt-digits
    network, static or dynamic, from scratch with its loss from the first step. MCD takes the budget's DRT
    options (:data:`DRT_MCD`) unless ``options`` say otherwise. For a folder data set (:mod:`uda_nb.papers.real_data`)
    ``sources`` names the merged domains (default: :func:`sources_of` the embedded ``target``) and
    ``network_fields`` replaces :func:`network`'s ``backbone`` / ``model`` (:func:`real_network`)."""
    if method == "mcd":
        options = {**sizes.mcd, **options}
    fields = network(sizes, dynamic, num_bases) if network_fields is None else dict(network_fields)
    return RunSpec(method, source=tuple(sources) if sources is not None else sources_of(target), target=target,
                   steps=sizes.steps, batch_size=sizes.batch_size, lr=LR, weight_decay=WEIGHT_DECAY, schedule=SCHEDULE,
                   eval_every=max(1, sizes.steps // sizes.evals), eval_samples=sizes.eval_samples,
                   options=dict(options), **fields)


def real_network(sizes: DRTSizes, backbone: str | None, weights=None, dynamic: str = "static",
                 num_bases: int = 4) -> dict:
    """The RunSpec fields of a real-data run: ``backbone=None`` is the paper's Digit-five kind of network
    (:func:`network`, from random weights); ``"resnet18"`` ... ``"resnet101"`` is the authors' dynamic ResNet
    (DRT's residual on every block's 3 x 3 convolution, W0 the pretrained kernel of ``weights``, a local state
    dict) with the MCD / DRT heads, as in their DomainNet runs."""
    if backbone is None:
        return network(sizes, dynamic, num_bases)
    # ImageNet's input statistics with ImageNet weights (the authors' drt.py; docs/references/drt.md, "Input
    # normalisation"); the backbone at 0.1x the heads' rate comes with the weights (methods.create's backbone_lr)
    model = {"dynamic": dynamic, "head": "mcd", "weights": weights, "norm": "imagenet" if weights else "center"}
    if dynamic in ("routing", "combined"):
        model["num_bases"] = int(num_bases)
    return {"backbone": backbone, "model": model}


def real_table_specs(sizes: DRTSizes, backbone: str | None = None, weights=None, domains=None,
                     rows: dict | None = None) -> dict:
    """:func:`table_specs` for a folder data set whose domains are ``domains`` (each target's sources are the
    others), on :func:`real_network`."""
    rows = TABLE_ROWS if rows is None else rows
    domains = tuple(domains)
    return {label: (lambda t, m=m, d=d: spec(m, t, sizes, dynamic=d, sources=tuple(x for x in domains if x != t),
                                             network_fields=real_network(sizes, backbone, weights, d)))
            for label, (m, d) in rows.items()}


def adda_spec(target: str, sizes: DRTSizes, dynamic: str = "static", num_bases: int = 4) -> RunSpec:
    """ADDA from the source-only run of the same network (its features and classifier): ADDA adapts a trained
    source model by design."""
    pre = spec("source_only", target, sizes, dynamic, num_bases)
    return RunSpec("adda", source=pre.source, target=target, steps=sizes.steps, batch_size=sizes.batch_size,
                   lr=ADDA_LR, schedule="dann", eval_every=max(1, sizes.steps // sizes.evals),
                   eval_samples=sizes.eval_samples, init_from=pre, init_modules=("features", "classifier"),
                   **network(sizes, dynamic, num_bases))


def single_domain_spec(domain: str, sizes: DRTSizes, dynamic: str = "static") -> RunSpec:
    """A model trained on ``domain`` alone (Figure 2's per-domain reference: "the optimal model per domain")."""
    return RunSpec("source_only", source=domain, target=domain, steps=sizes.single_steps,
                   batch_size=sizes.batch_size, lr=SINGLE_LR, weight_decay=WEIGHT_DECAY, schedule=SCHEDULE,
                   eval_every=max(1, sizes.single_steps // sizes.evals), eval_samples=sizes.eval_samples,
                   **network(sizes, dynamic))


#: the leave-one-out table's rows: label -> (method, network variant)
TABLE_ROWS = {"source-only": ("source_only", "static"), "MCD (static)": ("mcd", "static"),
              "DRT-MCD": ("mcd", "routing")}


def table_specs(sizes: DRTSizes, rows: dict = TABLE_ROWS) -> dict:
    """``{label: target -> RunSpec}`` for :func:`run_leave_one_out`."""
    return {label: (lambda t, m=m, d=d: spec(m, t, sizes, dynamic=d)) for label, (m, d) in rows.items()}


# ------------------------------------------------------------------------------------------------ results


@dataclass
class LeaveOneOut:
    """Runs of the leave-one-out table by row label and target, one entry per seed: ``runs[label][target]``."""

    seeds: list[int]
    runs: dict[str, dict[str, list[RunResult]]] = field(default_factory=dict)

    def acc(self, label: str, target: str) -> np.ndarray:
        """Per-seed target accuracy (%) of one row on one target."""
        return np.array([r.final["target_acc"] for r in self.runs[label][target]]) * 100.0

    def mean_over_targets(self, label: str) -> np.ndarray:
        """Per seed: the accuracy averaged over the targets (%), seeds paired across targets."""
        return np.mean([self.acc(label, t) for t in self.runs[label]], axis=0)


def run_leave_one_out(rows: dict[str, Callable[[str], RunSpec]], targets=DOMAINS, seeds=(0, 1, 2),
                      progress: bool | None = None, tasks: dict[str, Task] | None = None) -> LeaveOneOut:
    """``rows``: ``{label: target -> RunSpec}``; every (row, target, seed) run, cached. ``tasks``: ``{target:
    Task}`` to train on instead of the embedded domains the specs name (a folder data set; its targets are the
    tasks' keys unless ``targets`` is given)."""
    out = LeaveOneOut([int(s) for s in seeds])
    if tasks is not None and targets is DOMAINS:
        targets = tuple(tasks)
    for label, make in rows.items():
        out.runs[label] = {t: run_seeds(make(t), out.seeds, progress=progress,
                                        **({"task": tasks[t]} if tasks is not None else {})) for t in targets}
    return out


def loo_table(res: LeaveOneOut, rows=None, paper: dict = PAPER_TABLE3, columns: dict | None = None) -> pd.DataFrame:
    """Table 3's layout: one column per target and the average (per seed, then mean ± std), ours then the
    paper's row for each method. ``columns``: ``{target: the paper's column key}`` where our targets are named
    otherwise (Digit-five's ``usps`` is the paper's column of our ``uci``)."""
    columns = columns or {}
    records = []
    for label in rows or list(res.runs):
        targets = list(res.runs[label])
        ours = {"method": label, "": "ours", **{t: fmt_mean_std(res.acc(label, t), 1) for t in targets},
                "avg": fmt_mean_std(res.mean_over_targets(label), 1)}
        records.append(ours)
        key = {"DRT-MCD": "DRT", "MCD (static)": "MCD"}.get(label, label)
        if key in paper:
            cols = {t: paper[key][columns.get(t, t)] for t in targets}
            records.append({"method": label, "": "paper", **{t: f"{v:.1f}" for t, v in cols.items()},
                            "avg": f"{np.mean(list(cols.values())):.1f}"})
    frame = pd.DataFrame(records)
    return frame.rename(columns={t: f"→ {t}" for t in {*DOMAINS, *columns}})


def per_domain_accuracy(result: RunResult, task: Task) -> dict[str, float]:
    """Accuracy (%) of a multi-source model on each source domain's test split (the merged test set's
    ``meta['parts']``); domain ids are read here, after training, never by a training step."""
    test = task.source_test
    parts, names = test.meta["parts"], test.meta["part_names"]
    return {name: 100.0 * accuracy(result.method, test.subset(parts == i)) for i, name in enumerate(names)}


def source_domain_study(loo: LeaveOneOut, labels: tuple[str, ...], singles: dict[str, list[RunResult]],
                        targets=DOMAINS) -> pd.DataFrame:
    """Figure 2's numbers: for every target, model label, seed and source domain, the multi-source model's accuracy
    on that source domain's test split beside the single-domain model's (``singles[domain]``, one run per seed,
    paired by seed; seeds without single-domain models are left out), and the drop (points)."""
    rows = []
    for target in targets:
        task = make_task(list(sources_of(target)), target, device="cpu")
        for label in labels:
            for r in loo.runs[label][target]:
                if not any(s.seed == r.seed for s in singles[next(iter(singles))]):
                    continue  # a seed without single-domain models (Figure 2 runs on the budget's figure seeds)
                for dom, acc in per_domain_accuracy(r, task).items():
                    alone = next(s for s in singles[dom] if s.seed == r.seed).final["target_acc"] * 100.0
                    rows.append({"target": target, "model": label, "seed": r.seed, "source domain": dom,
                                 "multi-source": acc, "trained alone": alone, "drop": alone - acc})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- dynamic coefficients


def coefficients(method, images: torch.Tensor, batch_size: int = 500) -> dict[str, np.ndarray]:
    """Each dynamic layer's coefficients on ``images`` ``(N, C, H, W)`` (static layers left out): ``{layer: (N, K)}`` (routing) or
    ``(N, C_out)`` (attention), ``(N, C_out + K)`` for the combination (attention first)."""
    out: dict[str, list[np.ndarray]] = {}
    method = method.eval()
    with torch.no_grad(), recording(method) as layers:
        for i in range(0, len(images), batch_size):
            method.features(images[i:i + batch_size])
            for name, layer in layers.items():
                c = layer.coefficients
                parts = [c[k] for k in ("attention", "routing") if k in c]
                if not parts:  # a static layer (the static stem) has no coefficients
                    continue
                out.setdefault(name.split(".")[-1], []).append(torch.cat(parts, 1).cpu().numpy())
    return {name: np.concatenate(v) for name, v in out.items()}


def routing_dynamics(coeffs: dict[str, np.ndarray]) -> pd.DataFrame:
    """How far from static each layer's routing is, from :func:`coefficients` of a routing model
    (``{layer: (N, K)}``, rows summing to 1): one row per layer with ``entropy`` (the mean over images of
    ``H(pi(x)) / log K``: 1 for uniform coefficients, 0 for one-hot) and ``spread`` (the std of ``pi(x)`` across the
    images, averaged over the K entries: 0 when every image gets the same kernel)."""
    rows = []
    for name, pi in coeffs.items():
        if pi.ndim != 2 or pi.shape[1] < 2 or not np.allclose(pi.sum(1), 1.0, atol=1e-4):
            raise ValueError(f"routing_dynamics needs routing coefficients (N, K >= 2) whose rows sum to 1; layer "
                             f"{name!r} has shape {pi.shape}: pass coefficients() of a 'routing' model.")
        entropy = -(pi * np.log(np.clip(pi, 1e-12, None))).sum(1) / np.log(pi.shape[1])
        rows.append({"layer": name, "entropy": float(entropy.mean()), "spread": float(pi.std(0).mean())})
    return pd.DataFrame(rows).set_index("layer")


def domain_images(n_per_domain: int, split: str = "test", seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """``n_per_domain`` held-out images of each of the five domains (a seeded draw) and their domain ids
    ``(5 n,)`` in :data:`DOMAINS` order."""
    g = torch.Generator().manual_seed(seed)
    images, ids = [], []
    for i, name in enumerate(DOMAINS):
        dom = load_domain(name, split)
        idx = torch.randperm(len(dom), generator=g)[:n_per_domain]
        images.append(dom.images[idx])
        ids.append(np.full(len(idx), i))
    return torch.cat(images), np.concatenate(ids)


def domain_probe(coeffs: dict[str, np.ndarray], domain_ids: np.ndarray, layers: tuple[str, ...],
                 seed: int = 0) -> float:
    """Held-out accuracy (%) of a linear probe predicting the domain from the named layers' coefficients,
    concatenated (:func:`uda_nb.metrics.linear_probe_accuracy`; chance is 100 / number of domains)."""
    x = np.concatenate([coeffs[name] for name in layers], axis=1)
    return 100.0 * linear_probe_accuracy(x, domain_ids, seed=seed)
