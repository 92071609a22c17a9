"""Figures for DRT: the three dynamic residuals drawn on one layer, the kernels a trained layer computes per image,
and the source-domain study (Figure 2).

Shapes: images ``(C, H, W)`` in ``[0, 1]``; kernels ``(C_out, C_in, k, k)``.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..models.dynamic import DynamicConv2d

_VARIANT_TITLES = {"attention": "channel attention (eq. 3): ΔW = Λ(x) W0",
                   "routing": "subspace routing (eq. 4): ΔW = Σᵢ πᵢ(x) Φᵢ",
                   "combined": "combination (eq. 5): ΔW = Λ(x) W0 + Σᵢ πᵢ(x) Φᵢ"}


def _tile(ax, kernel: torch.Tensor, title: str, vmax: float) -> None:
    ax.imshow(kernel.numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_dynamic_variants(images: Sequence[torch.Tensor], names: Sequence[str], seed: int = 0, channel: int = 0,
                          kernel_size: int = 5, num_bases: int = 4):
    """One freshly initialised 5 x 5 dynamic layer per variant (seeded, so the pictures are the same every run),
    applied to each image: the static kernel ``W0``, the image's residual ``ΔW(x)`` and its kernel
    ``W(x) = W0 + ΔW(x)`` (output ``channel``, summed over the input channels), and the coefficients behind them
    (``Λ`` of that channel, ``π`` over the K bases). Rows: variant x image. Returns the figure."""
    rows = [(v, i) for v in ("attention", "routing", "combined") for i in range(len(images))]
    fig, axes = plt.subplots(len(rows), 4, figsize=(9.5, 1.9 * len(rows)),
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    for variant in ("attention", "routing", "combined"):
        torch.manual_seed(seed)
        layer = DynamicConv2d(images[0].shape[0], 8, kernel_size, padding=kernel_size // 2, variant=variant,
                              num_bases=num_bases)
        with torch.no_grad():
            for i, image in enumerate(images):
                r = rows.index((variant, i))
                x = image.unsqueeze(0)
                coeff = layer.dynamic_coefficients(x)
                w0 = layer.weight[channel].sum(0)
                w = layer.kernel_for(x)[0, channel].sum(0)
                vmax = float(max(w0.abs().max(), w.abs().max()))
                _tile(axes[r, 0], w0, "W0 (static)", vmax)
                _tile(axes[r, 1], w - w0, f"ΔW({names[i]})", vmax)
                _tile(axes[r, 2], w, f"W({names[i]})", vmax)
                ax = axes[r, 3]
                labels, values, colours = [], [], []
                if "attention" in coeff:
                    labels.append(f"Λ{channel}")
                    values.append(float(coeff["attention"][0, channel]))
                    colours.append("tab:orange")
                if "routing" in coeff:
                    labels += [f"π{j + 1}" for j in range(num_bases)]
                    values += coeff["routing"][0].tolist()
                    colours += ["tab:blue"] * num_bases
                ax.bar(labels, values, color=colours)
                ax.set_ylim(0, 1)
                ax.set_title(_VARIANT_TITLES[variant] if i == 0 else f"coefficients for {names[i]}", fontsize=9)
                ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def plot_trained_kernels(method, images: Sequence[torch.Tensor], names: Sequence[str], layer: str = "conv2",
                         channel: int = 0):
    """What a *trained* dynamic layer computes for each image: the static kernel ``W0``, the image's residual
    ``ΔW(x)`` and kernel ``W(x)`` (output ``channel``, summed over the input channels; one colour scale for every
    row, so that the rows compare, with a colour bar per row), and the routing coefficients ``π(x)`` behind them.
    ``method``: a trained method whose ``features`` hold the dynamic layer named ``layer`` (``"conv2"`` of
    drt-digits); ``images``: ``(C, H, W)`` each. Rows: images. Returns the figure."""
    from ..models.dynamic import dynamic_layers

    layers = {name.split(".")[-1]: m for name, m in dynamic_layers(method.features).items()}
    if layer not in layers or layers[layer].branch is None:
        dynamic = [n for n, m in layers.items() if m.branch is not None]
        raise ValueError(f"plot_trained_kernels: {layer!r} is not a dynamic layer of this network; its dynamic layers "
                         f"are {dynamic}.")
    conv = layers[layer]
    seen: list[torch.Tensor] = []
    hook = conv.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    was_training = method.training
    method.eval()
    try:
        with torch.no_grad():
            for image in images:
                method.features(image.unsqueeze(0).to(next(method.parameters()).device))
    finally:
        hook.remove()
        method.train(was_training)
    # hspace: the second row's title clears the first row's tick labels
    fig, axes = plt.subplots(len(images), 4, figsize=(10.5, 2.9 * len(images)),
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.5], "hspace": 0.55}, squeeze=False)
    with torch.no_grad():
        w0 = conv.weight[channel].sum(0).cpu()
        vmax = max([float(w0.abs().max())] + [float(conv.kernel_for(x)[0, channel].sum(0).abs().max()) for x in seen])
        for r, (x, name) in enumerate(zip(seen, names)):
            coeff = conv.dynamic_coefficients(x)
            w = conv.kernel_for(x)[0, channel].sum(0).cpu()
            for ax, kernel, title in zip(axes[r, :3], (w0, w - w0, w), ("W0 (static)", f"ΔW({name})", f"W({name})")):
                im = ax.imshow(kernel.numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
                ax.set_title(title, fontsize=11)
                ax.set_xticks([])
                ax.set_yticks([])
            fig.colorbar(im, ax=axes[r, :3].tolist(), shrink=0.8, pad=0.02)
            ax = axes[r, 3]
            pi = coeff["routing"][0].cpu().tolist() if "routing" in coeff else []
            ax.bar([f"π{j + 1}" for j in range(len(pi))], pi, color="tab:blue")
            ax.axhline(1 / max(1, len(pi)), color="0.4", ls="--", lw=1)
            ax.set_ylim(0, 1)
            ax.set_title(f"routing coefficients for {name}", fontsize=11)
            ax.tick_params(labelsize=10)
    return fig


def plot_source_drops(study: pd.DataFrame, ax=None, paper_drop: float | None = None):
    """Figure 2's analogue: for each source domain, the accuracy the multi-source models lose against a model
    trained on that domain alone (points; mean over targets that have the domain as a source, one dot per seed
    and model). ``study``: :func:`uda_nb.papers.drt.source_domain_study`'s frame."""
    ax = ax or plt.gca()
    per_seed = study.groupby(["model", "source domain", "seed"], sort=False)["drop"].mean().reset_index()
    models = list(dict.fromkeys(study["model"]))
    domains = list(dict.fromkeys(study["source domain"]))
    width = 0.8 / len(models)
    colours = plt.get_cmap("tab10")
    for j, model in enumerate(models):
        sub = per_seed[per_seed["model"] == model]
        means = [sub[sub["source domain"] == d]["drop"].mean() for d in domains]
        xs = np.arange(len(domains)) + (j - (len(models) - 1) / 2) * width
        ax.bar(xs, means, width * 0.9, color=colours(j), alpha=0.75, label=model)
        for x, d in zip(xs, domains):
            vals = sub[sub["source domain"] == d]["drop"].to_numpy()
            ax.scatter(np.full(len(vals), x), vals, color="black", s=10, zorder=3,
                       label="one seed" if (j, x) == (0, xs[0]) else None)
    if paper_drop is not None:
        ax.axhline(paper_drop, color="0.4", ls="--", lw=1, label=f"paper, static: {paper_drop} points")
    ax.axhline(0, color="0.2", lw=0.8)
    ax.set_xticks(np.arange(len(domains)), domains)
    ax.set_ylabel("accuracy lost on the source domain (points)")
    ax.legend(frameon=False)
    return ax


def plot_gains(panels: dict[str, tuple[dict[str, np.ndarray], dict[str, float]]], seeds: Sequence[int],
               ylabel: str = "points", figsize_per_panel: tuple[float, float] = (4.2, 4.0)):
    """One panel per ablation: each row's effect per seed (dots, one colour per seed, the mean as a bar) beside
    the paper's effect for that row (a black cross), on a shared y axis so that panels compare.

    ``panels``: title -> (label -> per-seed values, shape ``(len(seeds),)``; label -> the paper's value, points).
    A row missing from the paper's dict is drawn without a cross."""
    fig, axes = plt.subplots(1, len(panels), figsize=(figsize_per_panel[0] * len(panels), figsize_per_panel[1]),
                             sharey=True, squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (title, (ours, paper)) in zip(axes[0], panels.items()):
        labels = list(ours)
        xs = np.arange(len(labels))
        ax.bar(xs, [float(np.mean(ours[k])) for k in labels], 0.6, color="0.85", zorder=1)
        for s, seed in enumerate(seeds):
            ax.scatter(xs + (s - (len(seeds) - 1) / 2) * 0.12, [float(np.asarray(ours[k])[s]) for k in labels],
                       color=colours(s), s=28, zorder=3, label=f"seed {seed}")
        px = [x for x, k in zip(xs, labels) if k in paper]
        ax.scatter(px, [paper[k] for k in labels if k in paper], marker="x", color="black", s=60, zorder=4,
                   label="paper (DomainNet)")
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xticks(xs, labels, rotation=20, ha="right")
        ax.set_title(title)
    axes[0][0].set_ylabel(ylabel)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(names), frameon=False)
    fig.tight_layout()
    return fig
