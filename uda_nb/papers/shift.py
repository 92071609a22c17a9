"""How large is a domain shift? Two measurements used by the data tour (``notebooks/00_data.ipynb``):

- :func:`cross_domain_accuracy`: train a classifier on each domain (cached runs of the source-only learner),
  test it on every domain. The diagonal is train-on-target (the oracle of each pair); an off-diagonal
  entry ``(s, t)`` is the source-only accuracy of ``s -> t``. Their difference is the accuracy a shift
  costs, the room a UDA method has.
- :func:`a_distance_matrix`: proxy A-distances (Ben-David et al.; DANN paper section 4) between every pair
  of domains on a fixed feature map: how linearly separable the domains are.
- :func:`plot_accuracy_matrix`, :func:`plot_a_distance_matrix`: both matrices as annotated heatmaps with
  labelled axes and a colour bar in their units.

Labels of every domain are used here on purpose: this measures the datasets, it adapts nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from ..data import load_domain
from ..experiments import RunSpec, run
from ..metrics import accuracy, proxy_a_distance


def cross_domain_accuracy(domains: Sequence[str], spec: RunSpec, seeds: Sequence[int], *,
                          progress: bool | None = None, device=None) -> pd.DataFrame:
    """Train ``spec`` (a ``source_only`` spec; its source/target are replaced) on each domain's train split
    and test it on every domain's test split.

    Returns a long table with columns ``seed, train, test, accuracy`` (accuracy in [0, 1]),
    ``len(domains)**2 * len(seeds)`` rows. Runs are cached like any other (``uda_nb.experiments.run``).
    """
    if spec.method != "source_only":
        raise ValueError(f"cross_domain_accuracy trains the source-only learner; got method {spec.method!r}.")
    tests = {name: load_domain(name, "test", spec.data_seed) for name in domains}
    rows = []
    for train_name in domains:
        # target = the same domain: source-only never reads it, and the spec stays a plain embedded task
        train_spec = replace(spec, source=train_name, target=train_name)
        for seed in seeds:
            model = run(train_spec, int(seed), progress=progress, device=device).method
            for test_name, test in tests.items():
                rows.append({"seed": int(seed), "train": train_name, "test": test_name,
                             "accuracy": accuracy(model, test)})
    return pd.DataFrame(rows)


def accuracy_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy over seeds as a ``train x test`` matrix (rows: trained on, columns: tested on)."""
    order = list(dict.fromkeys(table["train"]))
    return table.groupby(["train", "test"])["accuracy"].mean().unstack().loc[order, order]


def shift_per_seed(table: pd.DataFrame, source: str, target: str) -> pd.DataFrame:
    """Per training seed, for the pair ``source -> target``: ``source_only`` (trained on source, tested on
    target), ``oracle`` (trained and tested on target) and ``shift = oracle - source_only``, in accuracy
    points; indexed by seed (only seeds with both runs). The per-seed values a claim decides on."""
    so = table[(table.train == source) & (table.test == target)].set_index("seed")["accuracy"] * 100
    orc = table[(table.train == target) & (table.test == target)].set_index("seed")["accuracy"] * 100
    if so.empty or orc.empty:
        raise ValueError(f"Pair {source}->{target}: train on both {source!r} and {target!r} first "
                         "(cross_domain_accuracy over a list holding both).")
    frame = pd.DataFrame({"source_only": so, "oracle": orc}).dropna()
    frame["shift"] = frame["oracle"] - frame["source_only"]
    return frame.sort_index()


def shift_table(table: pd.DataFrame, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Per pair ``source -> target``: source-only accuracy (trained on source, tested on target), train-on-target
    accuracy (trained and tested on target) and their difference, in accuracy points, mean and std over seeds.

    Columns: ``pair, source_only, oracle, shift`` (means, points) and ``*_std`` (sample std over seeds, 0 for
    one seed); the differences are taken per seed before averaging (:func:`shift_per_seed`).
    """
    rows = []
    for source, target in pairs:
        per_seed = shift_per_seed(table, source, target)
        ddof = 1 if len(per_seed) > 1 else 0
        row = {"pair": f"{source}->{target}"}
        for col in ("source_only", "oracle", "shift"):
            row[col], row[col + "_std"] = per_seed[col].mean(), per_seed[col].std(ddof=ddof)
        rows.append(row)
    return pd.DataFrame(rows)[["pair", "source_only", "source_only_std", "oracle", "oracle_std", "shift",
                               "shift_std"]]


def a_distance_matrix(samples: dict[str, torch.Tensor], features: Callable[[torch.Tensor], torch.Tensor] | None = None,
                      seed: int = 0) -> pd.DataFrame:
    """Proxy A-distance between every pair of ``samples`` (name -> images ``(N, C, H, W)``), on
    ``features(images) -> (N, D)`` (default: the raw pixels). Symmetric, zero diagonal, values in [0, 2]."""
    names = list(samples)
    with torch.no_grad():
        feats = {n: (features(x) if features is not None else x.flatten(1)) for n, x in samples.items()}
    m = np.zeros((len(names), len(names)))
    for i, j in itertools.combinations(range(len(names)), 2):
        m[i, j] = m[j, i] = proxy_a_distance(feats[names[i]], feats[names[j]], seed=seed)
    return pd.DataFrame(m, index=names, columns=names)


def plot_accuracy_matrix(matrix: pd.DataFrame, ax=None, *, title: str | None = None, n_seeds: int | None = None):
    """The train-on-one / test-on-every matrix (percent, rows: trained on, columns: tested on) as an annotated
    heatmap over the full 0-100 % range, the diagonal (train-on-target) outlined."""
    from ..viz import heatmap

    seeds = f", mean of {n_seeds} seed{'s' if n_seeds != 1 else ''}" if n_seeds else ""
    return heatmap(matrix, ax, xlabel="tested on (test split)", ylabel="trained on (train split)",
                   cbar_label=f"test accuracy (%{seeds})", vmin=0, vmax=100, fmt=".1f", cmap="viridis",
                   title=title, highlight_diagonal=True)


def plot_a_distance_matrix(matrix: pd.DataFrame, ax=None, *, title: str | None = None, colorbar: bool = True):
    """A proxy A-distance matrix as an annotated heatmap over its full range [0, 2] (dark: separable)."""
    from ..viz import heatmap

    return heatmap(matrix, ax, xlabel="domain", ylabel="domain", vmin=0, vmax=2, fmt=".2f", cmap="magma_r",
                   title=title, colorbar=colorbar,
                   cbar_label="proxy A-distance (0 = indistinguishable, 2 = separable)")
