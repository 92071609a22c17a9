"""Figures for GSDA: the paper's Figures 1-3 as drawings (local misalignment, the framework, the hierarchy of
discriminators with measured gradient magnitudes), each discriminator's sample weights, and the synchronisation
curves over training.

Inputs are plain tensors, lists and history frames, so every figure can be redrawn from cached runs.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from . import DOMAIN_COLORS, plot_curves

_CLASS_COLORS = plt.get_cmap("tab10").colors


def draw_misalignment(seed: int = 0, n: int = 40):
    """The paper's Figure 1 on three toy classes in 2-D: (a) the target cloud sits on the source cloud (global
    alignment holds) but two target classes sit on the wrong source classes; (b) every class on its own. Source:
    filled dots; target: crosses; colour: class. Returns the figure."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [3.0, 0.4], [1.4, 2.6]])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    titles = ("(a) global alignment only: classes 1 and 2 swapped", "(b) global and local alignment")
    for ax, title, order in zip(axes, titles, ((0, 2, 1), (0, 1, 2))):
        for k, c in enumerate(centres):
            src = c + 0.45 * rng.standard_normal((n, 2))
            tgt = centres[order[k]] + 0.45 * rng.standard_normal((n, 2)) + 0.15
            ax.scatter(*src.T, s=18, color=_CLASS_COLORS[k], alpha=0.75, linewidths=0,
                       label=f"source class {k}")
            ax.scatter(*tgt.T, s=26, color=_CLASS_COLORS[k], marker="x", alpha=0.9, label=f"target class {k}")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=9, frameon=False)
    fig.tight_layout()
    return fig


def _box(ax, xy, text, color="0.92", width=0.13, height=0.1, fontsize=9):
    x, y = xy
    ax.add_patch(plt.Rectangle((x - width / 2, y - height / 2), width, height, facecolor=color, edgecolor="0.3",
                               lw=1.0, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)


def _arrow(ax, start, end, color="0.25", style="-|>", ls="-", text=None, text_xy=None, fontsize=8):
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle=style, color=color, lw=1.2, ls=ls,
                                                          shrinkA=2, shrinkB=2), zorder=1)
    if text:
        ax.text(*(text_xy or ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.03)), text, fontsize=fontsize,
                ha="center", va="bottom", color=color)


def draw_framework(num_groups: int, num_classes: int, ax=None):
    """The paper's Figure 2: images of both domains -> feature extractor E -> features f; f -> classifier C
    (L^c: source cross-entropy + alpha x target entropy); f -> gradient reversal -> D^dom, the b group and the r
    class discriminators (L^g, L^l); the synchronisation L^syn ties the gradient magnitudes of the three levels."""
    ax = ax if ax is not None else plt.subplots(figsize=(11, 4.2))[1]
    ax.set_xlim(0, 1.1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    _box(ax, (0.07, 0.5), "images\nsource + target", width=0.12, height=0.14)
    _box(ax, (0.25, 0.5), "feature\nextractor E", color="#cfe2f3")
    _box(ax, (0.42, 0.5), "features f", color="white", width=0.1)
    _box(ax, (0.62, 0.85), "classifier C\nL$^c$ = CE + α·entropy", color="#d9ead3", width=0.2, height=0.12)
    _box(ax, (0.62, 0.5), "gradient\nreversal (×λ)", color="#f4cccc", width=0.13)
    levels = ((0.55, "D$^{dom}$ (1)\nL$^g$"), (0.5, f"D$^{{grp}}_q$ ({num_groups})\nL$^{{grp}}$"),
              (0.45, f"D$^{{cls}}_k$ ({num_classes})\nL$^{{cls}}$"))
    ys = (0.78, 0.5, 0.22)
    for y, (_, text) in zip(ys, levels):
        _box(ax, (0.85, y), text, color="#fff2cc", width=0.15, height=0.13)
        _arrow(ax, (0.685, 0.5), (0.775, y))
    _arrow(ax, (0.13, 0.5), (0.185, 0.5))
    _arrow(ax, (0.315, 0.5), (0.37, 0.5))
    _arrow(ax, (0.47, 0.53), (0.52, 0.82))
    _arrow(ax, (0.47, 0.5), (0.555, 0.5))
    ax.annotate("", xy=(0.94, 0.25), xytext=(0.94, 0.75),
                arrowprops=dict(arrowstyle="<|-|>", color="#b45f06", lw=1.4, connectionstyle="arc3,rad=-0.5"))
    ax.text(1.0, 0.5, "L$^{syn}$: equal\ngradient\nmagnitudes", fontsize=8, color="#b45f06", ha="left", va="center")
    ax.text(0.62, 0.36, "L$^{syn}$ reaches E without\nreversal: E helps synchronise", fontsize=8, ha="center",
            va="top", color="#b45f06")
    ax.text(0.62, 0.1, "class weights p (source: one-hot label;\ntarget: C's softmax, detached)",
            fontsize=8, ha="center", color="0.3")
    ax.set_title("GSDA: one feature extractor, one classifier, 1 + b + r discriminators", fontsize=11)
    return ax


def draw_hierarchy(norms: torch.Tensor | Sequence[float], groups: list[list[int]], ax=None, title: str = ""):
    """The paper's Figure 3 with measured numbers: D^dom on top, the b group discriminators below it, the class
    discriminators under their group; each node shows its summed gradient magnitude G (eq. 10-11, in the order
    dom, groups, classes of :class:`uda_nb.methods.gsda.StackedDiscriminators`), and each level's gap
    (``|G^dom - sum_q G^grp_q|``, ``|G^grp_q - sum_{k in q} G^cls_k|``) is written beside it."""
    g = np.asarray(norms.detach().cpu() if isinstance(norms, torch.Tensor) else norms, dtype=float)
    b = len(groups)
    r = sum(len(q) for q in groups)
    if len(g) != 1 + b + r:
        raise ValueError(f"draw_hierarchy needs 1 + b + r = {1 + b + r} magnitudes, got {len(g)}.")
    ax = ax if ax is not None else plt.subplots(figsize=(11, 4))[1]
    ax.set_xlim(-0.5, r - 0.5)
    ax.set_ylim(-0.35, 2.55)
    ax.axis("off")
    order = [k for q in groups for k in q]
    x_cls = {k: i for i, k in enumerate(order)}
    x_grp = [np.mean([x_cls[k] for k in q]) for q in groups]
    x_dom = (r - 1) / 2
    y_dom, y_grp, y_cls = 2.2, 1.15, 0.1

    def node(x, y, text, color, w):
        ax.add_patch(plt.Rectangle((x - w / 2, y - 0.2), w, 0.4, facecolor=color, edgecolor="0.3", zorder=2))
        ax.text(x, y, text, ha="center", va="center", fontsize=11, zorder=3)

    node(x_dom, y_dom, f"D$^{{dom}}$\nG = {g[0]:.3f}", "#fff2cc", 1.6)
    ax.text(x_dom + 1.0, y_dom, f"|G$^{{dom}}$ − Σ G$^{{grp}}$| = {abs(g[0] - g[1:1 + b].sum()):.4f}", fontsize=11,
            va="center", color="#b45f06")
    for q, members in enumerate(groups):
        ax.plot([x_dom, x_grp[q]], [y_dom - 0.2, y_grp + 0.2], color="0.5", lw=1, zorder=1)
        gap = abs(g[1 + q] - sum(g[1 + b + k] for k in members))
        node(x_grp[q], y_grp, f"D$^{{grp}}_{q + 1}$ {{{','.join(map(str, members))}}}\nG = {g[1 + q]:.3f}, "
             f"gap {gap:.4f}", "#fce5cd", 1.9)
        for k in members:
            ax.plot([x_grp[q], x_cls[k]], [y_grp - 0.2, y_cls + 0.2], color="0.7", lw=0.8, zorder=1)
            node(x_cls[k], y_cls, f"{k}\n{g[1 + b + k]:.3f}", "#d9ead3", 0.85)
    if title:
        ax.set_title(title, fontsize=11)
    return ax


def plot_sample_weights(weights: torch.Tensor, groups: list[list[int]], row_labels: Sequence[str], ax=None):
    """Each discriminator's weight for a few samples (eq. 7-8): rows are samples, columns D^dom, the groups and
    the classes; the values are written in the cells."""
    w = np.asarray(weights.detach().cpu(), dtype=float)
    b = len(groups)
    cols = ["dom"] + [f"grp {q + 1}" for q in range(b)] + [f"cls {k}" for k in range(w.shape[1] - 1 - b)]
    ax = ax if ax is not None else plt.subplots(figsize=(12, 0.45 * len(w) + 1.2))[1]
    im = ax.imshow(w, cmap="Greens", vmin=0, vmax=1, aspect="auto")
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            ax.text(j, i, f"{w[i, j]:.2f}".rstrip("0").rstrip(".") if w[i, j] else "0", ha="center", va="center",
                    fontsize=10, color="white" if w[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(row_labels)), row_labels)
    for x in (0.5, 0.5 + b):
        ax.axvline(x, color="0.3", lw=1)
    plt.colorbar(im, ax=ax, label="sample weight", fraction=0.03)
    ax.set_xlabel("discriminator")
    return ax


#: the history columns of the synchronisation gaps and what they are
SYNC_GAPS = {"sync_dom_grp": "|G$^{dom}$ − Σ$_q$ G$^{grp}_q$| (eq. 11)",
             "sync_grp_cls": "mean$_q$ |G$^{grp}_q$ − Σ$_{k∈q}$ G$^{cls}_k$| (eq. 10)"}
#: the magnitudes on each side of the gaps
SYNC_SIDES = {"sync_dom_norm": "G$^{dom}$", "sync_grp_norm_sum": "Σ$_q$ G$^{grp}_q$",
              "sync_cls_norm_sum": "Σ$_k$ G$^{cls}_k$"}
#: the discriminators' weighted accuracies (uda_nb.methods.gsda.discriminator_accuracies)
DISC_ACCURACIES = {"domain_acc": "D$^{dom}$", "group_acc": "D$^{grp}$ (mean over groups)",
                   "class_acc": "D$^{cls}$ (mean over classes)"}


def plot_sync_gaps(frames: dict[str, pd.DataFrame], axes=None, colors: dict[str, str] | None = None):
    """The two synchronisation gaps over training, one line per run label (mean and band over seeds; frames from
    :func:`uda_nb.experiments.history_frame`). Returns the axes."""
    axes = axes if axes is not None else plt.subplots(1, 2, figsize=(12, 3.8))[1]
    for ax, (col, label) in zip(axes, SYNC_GAPS.items()):
        plot_curves(frames, col, ax=ax, ylabel="gap (gradient magnitude)", colors=colors, ylim=(0, None))
        ax.set_ylim(bottom=0)
        ax.set_title(label)
    return axes


def plot_levels(frame: pd.DataFrame, columns: dict[str, str], ax=None, ylabel: str = "", title: str = ""):
    """Several history columns of one run label over training (mean and band over seeds), labelled by
    ``columns`` (``{column: legend label}``): the three levels' magnitudes (:data:`SYNC_SIDES`) or accuracies
    (:data:`DISC_ACCURACIES`)."""
    ax = ax if ax is not None else plt.subplots(figsize=(6, 3.8))[1]
    frames = {label: frame[["step", "seed", col]].rename(columns={col: "value"}) for col, label in columns.items()}
    colors = {label: DOMAIN_COLORS[i] for i, label in enumerate(columns.values())}
    plot_curves(frames, "value", ax=ax, ylabel=ylabel, colors=colors)
    if all("acc" in c for c in columns):
        ax.set_ylim(0, 1.03)
        ax.axhline(0.5, color="0.4", ls="--", lw=1.0)
    else:
        ax.set_ylim(bottom=0)
    ax.set_title(title)
    return ax
