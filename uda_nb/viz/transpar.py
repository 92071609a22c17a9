"""Figures for TransPar: the update rule drawn on one layer's weights, the ratio sweep (the paper's Figure 6), the
A-distance bars (Figure 7) and which weights stay transferable during training (beyond the paper).

Inputs are plain tensors and pandas frames, so every figure can be redrawn from cached runs.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch


def _panel(ax, matrix: np.ndarray, title: str, cmap: str, vmin=None, vmax=None) -> None:
    im = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def rule_on_layer(weight: torch.Tensor, grad: torch.Tensor, ratio: float, lr: float = 0.01,
                  decay: float = 5e-4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TransPar's rule on one tensor ranked alone, for plain SGD (no momentum): ``(score, mask, step)``, each of
    ``weight``'s shape. ``score = |g w|`` (eq. 9); ``mask``: the top ``round(ratio * n)`` scores (eq. 13);
    ``step = -lr (g + decay sgn w)`` where transferable, ``-lr decay sgn w`` elsewhere (eq. 15-16)."""
    w, g = weight.detach().float(), grad.detach().float()
    score = (w * g).abs()
    keep = int(round(ratio * score.numel()))
    mask = torch.zeros(score.numel(), dtype=torch.bool)
    if keep:
        mask[torch.topk(score.flatten(), keep).indices] = True
    mask = mask.view_as(score)
    step = torch.where(mask, -lr * (g + decay * torch.sign(w)), -lr * decay * torch.sign(w))
    return score, mask, step


def plot_update_rule(weight: torch.Tensor, grad: torch.Tensor, ratio: float, rows: int = 24, cols: int = 48,
                     lr: float = 0.01, decay: float = 5e-4):
    """One layer's weights under TransPar's rule, on a ``rows x cols`` crop of the weight matrix (a conv kernel
    ``(C_out, C_in, k, k)`` is flattened to ``(C_out, C_in k k)``): ``|w|``, ``|dL/dw|``, the score
    ``T = |dL/dw * w|`` (eq. 9) and the mask of the top ``ratio`` fraction of the scores of the *whole* layer
    (eq. 13), then the step each weight receives (eq. 15-16, plain SGD: ``-lr (g + decay sgn w)`` for a
    transferable weight, ``-lr decay sgn w`` for an untransferable one). Returns the figure."""
    w = weight.detach().reshape(weight.shape[0], -1).float()
    g = grad.detach().reshape(grad.shape[0], -1).float()
    score, mask, step = rule_on_layer(w, g, ratio, lr, decay)
    crop = (slice(0, min(rows, w.shape[0])), slice(0, min(cols, w.shape[1])))
    fig, axes = plt.subplots(1, 5, figsize=(12, 3.2))
    _panel(axes[0], w.abs()[crop].numpy(), "|w|", "viridis")
    _panel(axes[1], g.abs()[crop].numpy(), "|∂L/∂w| (one batch)", "viridis")
    _panel(axes[2], score[crop].numpy(), "score T = |∂L/∂w · w| (eq. 9)", "viridis")
    _panel(axes[3], mask[crop].float().numpy(), f"transferable (top {ratio:.0%}, eq. 13)", "Greys",
           vmin=0, vmax=1)
    s = step[crop].numpy()
    vmax = float(np.abs(s).max()) or 1.0
    _panel(axes[4], s, "the step (eq. 15-16)", "RdBu_r", vmin=-vmax, vmax=vmax)
    fig.suptitle(f"{rows} x {cols} weights of one layer: only the transferable ones (black) follow the gradient; "
                 "the others only decay (bright = large)", fontsize=11)
    fig.tight_layout()
    return fig


def plot_ratio_sweep(sweep: pd.DataFrame, ax=None, *, estimated: float | None = None,
                     baseline: Sequence[float] | None = None, baseline_label: str = "DANN",
                     value: str = "accuracy"):
    """Figure 6: target accuracy against the ratio tau, one dot per seed and a line through the per-tau means.
    ``sweep`` has columns ``ratio``, ``seed`` and ``value``; ``estimated`` marks the tau of eq. 11-12;
    ``baseline`` draws the plain method's per-seed accuracies as thin horizontal lines."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    if baseline is not None:
        for i, b in enumerate(baseline):
            ax.axhline(b, color="0.5", lw=1, ls="--", label=f"{baseline_label} (one line per seed)" if i == 0 else None)
    sns.stripplot(data=sweep, x="ratio", y=value, hue="seed", native_scale=True, jitter=0.01, size=6, ax=ax,
                  palette="deep")
    means = sweep.groupby("ratio")[value].mean()
    ax.plot(means.index, means.to_numpy(), color="k", lw=1.2, label="mean over seeds")
    if estimated is not None:
        ax.axvline(estimated, color="tab:red", lw=1.2, label=f"estimated tau = {estimated:.2f} (eq. 12)")
    ax.set_xlabel("transferable ratio tau")
    ax.set_ylabel("target accuracy (%)")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [f"seed {lab}" if lab.isdigit() else lab for lab in labels], loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def plot_distance_bars(frame: pd.DataFrame, ax=None, value: str = "A-distance", x: str = "model",
                       baseline=None, baseline_label: str = ""):
    """Figure 7 (and 04a's tables as pictures): one bar per ``x`` value (mean over seeds) with one dot per seed;
    ``frame`` has columns ``x``, ``seed`` and ``value``, in the order the bars should appear. ``baseline``: per-seed
    values of a reference drawn as dashed lines (one per seed), labelled ``baseline_label``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    order = list(dict.fromkeys(frame[x]))
    sns.barplot(data=frame, x=x, y=value, order=order, errorbar=None, color="0.8", ax=ax)
    sns.stripplot(data=frame, x=x, y=value, order=order, hue="seed", palette="deep", size=7, ax=ax)
    for i, b in enumerate(baseline if baseline is not None else ()):
        ax.axhline(b, color="0.4", ls="--", lw=1, label=f"{baseline_label} (one line per seed)" if i == 0 else None)
    ax.set_xlabel("")
    ax.legend(title="seed", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


#: the modules of a method by their TransPar roles (04_transpar, section 1)
MODULE_NAMES = {"feature": "feature extractor", "task": "task head", "adversarial": "adversarial module"}


def readable_masks(rows) -> pd.DataFrame:
    """:class:`uda_nb.methods.transpar.MaskTracker` rows with two readable columns for figures and text: ``module``
    (the role's module, :data:`MODULE_NAMES`) and ``tensor`` (the ranked tensors numbered in network order within
    their module, ``feature extractor 1``, ``feature extractor 2``, ...; ``"*"`` on a module's persistence row)."""
    rows = pd.DataFrame(rows)
    module = rows["role"].map(lambda role: MODULE_NAMES.get(role, role))
    labels, count = {}, {}
    for name, mod in dict.fromkeys(zip(rows["name"], module)):
        if name != "*":
            count[mod] = count.get(mod, 0) + 1
            labels[(name, mod)] = f"{mod} {count[mod]}"
    return rows.assign(module=module, tensor=[labels.get(key, "*") for key in zip(rows["name"], module)])


def plot_mask_dynamics(rows: pd.DataFrame, axes=None):
    """Which weights are transferable over training (beyond the paper), from
    :class:`uda_nb.methods.transpar.MaskTracker` rows (``step, role, name, fraction``), labelled by
    :func:`readable_masks`. First axes: the transferable fraction of each ranked tensor against the step (the ratio
    is set per module, so the layers of one module can share it unevenly); second axes (same step axis): per
    module, the fraction of the weights transferable at the previous row that still are."""
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(8, 7.6))
    readable = readable_masks(rows)
    layers = readable[readable["tensor"] != "*"]
    stay = readable[readable["tensor"] == "*"]
    sns.lineplot(data=layers, x="step", y="fraction", hue="tensor", style="module", marker="o", ax=axes[0])
    axes[0].set_ylabel("transferable fraction of the tensor")
    axes[0].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    sns.lineplot(data=stay, x="step", y="fraction", hue="module", marker="o", ax=axes[1])
    axes[1].set_xlim(axes[0].get_xlim())
    axes[1].set_ylabel("still transferable since the previous point")
    axes[1].set_ylim(0, 1.02)
    for ax in axes:
        ax.set_xlabel("training step")
    return axes
