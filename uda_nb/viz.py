"""Figures: sample grids, t-SNE of features, training and A-distance curves, schedules.

Every function draws on a Matplotlib ``Axes`` (or makes a figure) and returns it; nothing here changes the
backend or global style, so notebooks show the figures inline and scripts can save them.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .data.domain import Domain

DOMAIN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def sample_grid(domains: Sequence[Domain], per_row: int = 12, seed: int = 0, figsize_scale: float = 0.9):
    """One row of random images per domain, labelled with their class when the view has labels."""
    fig, axes = plt.subplots(len(domains), per_row, figsize=(per_row * figsize_scale, len(domains) * figsize_scale * 1.15),
                             squeeze=False)
    g = torch.Generator().manual_seed(seed)
    for r, dom in enumerate(domains):
        idx = torch.randperm(len(dom), generator=g)[:per_row]
        for c, ax in enumerate(axes[r]):
            ax.axis("off")
            if c >= len(idx):
                continue
            img = dom.images[idx[c]].detach().cpu().permute(1, 2, 0).numpy()
            ax.imshow(img.squeeze() if img.shape[2] == 1 else img, cmap="gray" if img.shape[2] == 1 else None,
                      vmin=0, vmax=1)
            if dom.labels is not None and dom.class_names:
                ax.set_title(dom.class_names[int(dom.labels[idx[c]])], fontsize=8, pad=2)
        axes[r][0].text(-0.15, 0.5, f"{dom.name}\n({dom.split})", transform=axes[r][0].transAxes, ha="right",
                        va="center", fontsize=10)
    fig.subplots_adjust(left=0.08, wspace=0.05, hspace=0.35)
    return fig


def tsne_embed(*feature_sets, seed: int = 0, perplexity: float = 30.0) -> list[np.ndarray]:
    """One t-SNE (scikit-learn, PCA init, seeded) of several feature sets ``(N_i, D)`` fitted jointly; returns
    their 2-D embeddings ``(N_i, 2)`` in the same order, so the sets share one map."""
    from sklearn.manifold import TSNE

    arrays = [f.detach().float().cpu().numpy() if isinstance(f, torch.Tensor) else np.asarray(f, np.float32)
              for f in feature_sets]
    x = np.concatenate(arrays)
    perplexity = min(perplexity, max(5.0, (len(x) - 1) / 3.0))
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    cuts = np.cumsum([len(a) for a in arrays])[:-1]
    return np.split(emb, cuts)


def plot_tsne_domains(ax, embeddings: Sequence[np.ndarray], names: Sequence[str], title: str = ""):
    """Scatter each domain's 2-D embedding in its own colour (DANN Figure 3: blue source, red target)."""
    for i, (emb, name) in enumerate(zip(embeddings, names)):
        ax.scatter(emb[:, 0], emb[:, 1], s=6, alpha=0.6, c=DOMAIN_COLORS[i % len(DOMAIN_COLORS)], label=name,
                   linewidths=0)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="best", fontsize=8, markerscale=2)
    return ax


def plot_tsne_classes(ax, embeddings: Sequence[np.ndarray], labels: Sequence, names: Sequence[str], title: str = ""):
    """Scatter embeddings coloured by class (tab10), one marker per domain (o source, x target, ...)."""
    markers = ("o", "x", "^", "s", "d")
    for i, (emb, lab, name) in enumerate(zip(embeddings, labels, names)):
        lab = np.asarray(lab.cpu() if isinstance(lab, torch.Tensor) else lab)
        ax.scatter(emb[:, 0], emb[:, 1], s=8 if markers[i] != "x" else 10, c=lab, cmap="tab10", vmin=0, vmax=9,
                   marker=markers[i % len(markers)], alpha=0.7, linewidths=0.6 if markers[i] == "x" else 0,
                   label=name)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    # legend by marker only (the colours are classes, not domains)
    handles = [plt.Line2D([], [], ls="", marker=markers[i % len(markers)], color="0.3", label=name)
               for i, name in enumerate(names)]
    ax.legend(handles=handles, loc="best", fontsize=8)
    return ax


def tsne_before_after(before: tuple, after: tuple, labels: tuple, names: tuple = ("source", "target"),
                      titles: tuple = ("source-only", "DANN"), seed: int = 0):
    """The paper's Figure 3 as a 2 x 2 figure: t-SNE of (source, target) features before and after adaptation,
    coloured by domain (top) and by class (bottom). ``before``/``after``: ``(f_s, f_t)``; ``labels``:
    ``(y_s, y_t)`` used for colour only."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 9.5))
    for col, (feats, title) in enumerate(zip((before, after), titles)):
        emb = tsne_embed(*feats, seed=seed)
        plot_tsne_domains(axes[0, col], emb, names, f"{title}: by domain")
        plot_tsne_classes(axes[1, col], emb, labels, names, f"{title}: by class")
    fig.tight_layout()
    return fig


def plot_curves(frames: dict[str, pd.DataFrame], column: str, ax=None, x: str = "step", ylabel: str | None = None,
                scale: float = 1.0, colors: dict[str, str] | None = None):
    """Mean (line) and +- std band over seeds of ``column`` against ``x``, one line per label. Each frame is a
    long table with a ``seed`` column (:func:`uda_nb.experiments.history_frame`); ``colors`` maps labels to
    colours so a method keeps its colour across figures."""
    ax = ax if ax is not None else plt.subplots(figsize=(5, 3.5))[1]
    for i, (label, df) in enumerate(frames.items()):
        if column not in df:
            continue
        g = df.groupby(x)[column]
        m, s = g.mean() * scale, g.std().fillna(0.0) * scale
        color = (colors or {}).get(label, DOMAIN_COLORS[i % len(DOMAIN_COLORS)])
        ax.plot(m.index, m.values, label=label, color=color, marker="o", ms=3)
        ax.fill_between(m.index, (m - s).values, (m + s).values, color=color, alpha=0.2)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or column)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_schedule(fn: Callable[[float], float], ax=None, label: str | None = None, **kwargs):
    """Draw a schedule ``fn(p)`` for ``p`` in [0, 1]."""
    from .schedules import schedule_curve

    ax = ax if ax is not None else plt.subplots(figsize=(4.5, 3))[1]
    p, v = schedule_curve(fn)
    ax.plot(p, v, label=label, **kwargs)
    ax.set_xlabel("training progress p")
    ax.grid(alpha=0.3)
    if label:
        ax.legend(fontsize=8)
    return ax
