"""Figures for keypoint domains (hands, dSprites positions): images with their skeleton and keypoints.

Matplotlib only; nothing here changes the backend or global style (works with Agg). Coordinates follow
:class:`~uda_nb.data.keypoints.KeypointDomain`: pixel ``(x, y)`` from the top-left corner of the top-left
pixel, so the image is drawn with ``extent=(0, W, H, 0)`` and a keypoint lands exactly where it belongs.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

DEFAULT_COLOR = "#ff7f0e"


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def draw_keypoints(ax, image, keypoints=None, visible=None, skeleton: Sequence[tuple[int, int]] = (),
                   colors: Sequence | None = None, point_size: float = 14.0, linewidth: float = 1.4,
                   show_keypoints: bool = True, title: str | None = None):
    """Show ``image`` (``(C, H, W)`` tensor or array, float in [0, 1] or uint8) on ``ax`` with its skeleton and
    keypoints ``(K, 2)`` pixel ``(x, y)``.

    ``visible (K,)``: visible keypoints are filled dots, invisible ones hollow rings, and bones touching an
    invisible keypoint are dashed (``None``: all visible). ``colors``: one colour per skeleton edge (e.g. a
    hand's finger colours); keypoints take the colour of the first edge that ends at them. Without keypoints
    (an unlabeled view) only the image is drawn. Returns ``ax``.
    """
    img = _numpy(image)
    if img.ndim == 3 and img.shape[0] in (1, 3):  # (C, H, W) -> (H, W, C); (H, W, C) passes through
        img = img.transpose(1, 2, 0)
    if img.dtype != np.uint8:
        img = np.clip(img.astype(np.float32), 0.0, 1.0)
    h, w = img.shape[:2]
    gray = img.ndim == 2 or img.shape[-1] == 1
    ax.imshow(img.squeeze(-1) if gray and img.ndim == 3 else img, cmap="gray" if gray else None,
              vmin=0 if img.dtype != np.uint8 else None, vmax=1 if img.dtype != np.uint8 else None,
              extent=(0, w, h, 0), interpolation="nearest")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="small", pad=2)
    if keypoints is None or not show_keypoints:
        return ax
    kp = _numpy(keypoints).astype(np.float32).reshape(-1, 2)
    vis = np.ones(len(kp), dtype=bool) if visible is None else _numpy(visible).astype(bool).reshape(-1)
    edge_colors = list(colors) if colors is not None else [DEFAULT_COLOR] * len(skeleton)
    point_colors = [None] * len(kp)
    for (a, b), col in zip(skeleton, edge_colors):
        both = vis[a] and vis[b]
        ax.plot(kp[[a, b], 0], kp[[a, b], 1], color=col, lw=linewidth, ls="-" if both else "--",
                alpha=0.9 if both else 0.6, solid_capstyle="round")
        for j in (b, a):
            if point_colors[j] is None:
                point_colors[j] = col
    point_colors = [c if c is not None else DEFAULT_COLOR for c in point_colors]
    for j, (x, y) in enumerate(kp):
        if vis[j]:
            ax.scatter([x], [y], s=point_size, c=[point_colors[j]], edgecolors="white", linewidths=0.6, zorder=3)
        else:
            ax.scatter([x], [y], s=point_size, facecolors="none", edgecolors=[point_colors[j]], linewidths=1.0,
                       zorder=3)
    return ax


def keypoint_grid(domains: Sequence, per_row: int = 8, seed: int = 0, show_keypoints: bool = True,
                  figsize_scale: float = 1.3, *, same_indices: bool = False,
                  column_title: Callable[[object, int], str] | None = None, legend: bool | None = None,
                  color_legend: dict[str, str] | None = None):
    """One row of ``per_row`` random images per keypoint domain, with keypoints and skeleton when the view
    has them (skeleton colours from ``domain.meta['skeleton_colors']`` when present). Works for unlabeled
    views (images only) and for single-keypoint domains without a skeleton. Returns the figure, which has
    ``len(domains) * per_row`` axes.

    ``same_indices``: every row shows the images at the same indices. The dSprites renderings come from one
    style-independent factor stream, so each column is then one shape / scale / angle / position drawn in
    every style. ``column_title(domain, index)``: a title above each column of the first row (e.g. the
    factors). ``legend``: a figure legend for visible (filled dot) and hidden (ring) keypoints; by default
    when a drawn domain has hidden keypoints. ``color_legend``: extra legend entries ``{label: colour}`` (e.g.
    a hand's fingers). ``fig.grid_indices``: the indices each row shows.
    """
    from . import _grid_indices

    fig, axes = plt.subplots(len(domains), per_row, squeeze=False,
                             figsize=(per_row * figsize_scale, len(domains) * figsize_scale * 1.08
                                      + (0.3 if column_title else 0.0)))
    rows = _grid_indices(domains, per_row, seed, same_indices)
    any_hidden = False
    for r, (dom, idx) in enumerate(zip(domains, rows)):
        colors = (getattr(dom, "meta", None) or {}).get("skeleton_colors")
        skeleton = tuple(getattr(dom, "skeleton", ()) or ())
        keypoints = getattr(dom, "keypoints", None)
        visible = getattr(dom, "visible", None)
        for c, ax in enumerate(axes[r]):
            if c >= len(idx):
                ax.axis("off")
                continue
            i = int(idx[c])
            vis = None if visible is None else visible[i]
            if show_keypoints and keypoints is not None and vis is not None and not bool(_numpy(vis).all()):
                any_hidden = True
            draw_keypoints(ax, dom.images[i], None if keypoints is None else keypoints[i], vis, skeleton=skeleton,
                           colors=colors, show_keypoints=show_keypoints)
            if r == 0 and column_title is not None:
                ax.set_title(column_title(dom, i), fontsize="small", pad=3)
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[r][0].text(-0.1, 0.5, f"{dom.name}\n({dom.split})", transform=axes[r][0].transAxes, ha="right",
                        va="center", fontsize=plt.rcParams["font.size"])
    top = 0.98 if column_title is None else 1 - 0.45 / fig.get_figheight()
    fig.subplots_adjust(left=0.1, right=0.99, top=top, bottom=0.02, wspace=0.04, hspace=0.06)
    handles = []
    if legend or (legend is None and any_hidden):
        handles += [plt.Line2D([], [], ls="", marker="o", ms=7, color=DEFAULT_COLOR, mec="white",
                               label="visible keypoint"),
                    plt.Line2D([], [], ls="", marker="o", ms=7, mfc="none", mec=DEFAULT_COLOR, mew=1.5,
                               label="hidden keypoint (bone dashed)")]
    if show_keypoints and color_legend:
        handles += [plt.Line2D([], [], color=col, lw=3, label=name) for name, col in color_legend.items()]
    if handles:
        fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.55, 0.0), ncol=len(handles),
                   frameon=False, columnspacing=1.2, handlelength=1.5)
    fig.grid_indices = rows
    return fig


def keypoint_density(ax, keypoints, size: int = 64, bins: int = 32, title: str | None = None, cmap: str = "magma",
                     area: tuple[float, float, float, float] | None = None, area_label: str = "middle area A",
                     colorbar: bool = True, norm=None):
    """Where keypoints fall: a 2-D histogram of pixel positions ``(..., 2)`` over a ``size x size`` image
    (y down, like the images), with axis labels in pixels and a colour bar in keypoints per bin.

    ``area``: ``(x0, y0, width, height)`` outlined in red and named ``area_label`` in a legend. ``norm``: a
    matplotlib colour normalisation (e.g. one ``PowerNorm`` with a shared ``vmax``, so that several maps share one
    colour scale). Returns ``ax``.
    """
    pts = _numpy(keypoints).reshape(-1, 2)
    _, _, _, im = ax.hist2d(pts[:, 0], pts[:, 1], bins=bins, range=[[0, size], [0, size]], cmap=cmap, norm=norm)
    if area is not None:
        x0, y0, w, h = area
        ax.add_patch(plt.Rectangle((x0, y0), w, h, fill=False, ec="red", lw=2, label=area_label))
        ax.legend(loc="lower right", framealpha=0.9)
    ax.set_xlim(0, size)
    ax.set_ylim(size, 0)
    ax.set_aspect("equal")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    if title:
        ax.set_title(title)
    if colorbar:
        bin_px = size / bins
        ax.figure.colorbar(im, ax=ax, label=f"keypoints per {bin_px:g}×{bin_px:g}-pixel bin", fraction=0.046,
                           pad=0.04)
    return ax


def prediction_grid(domain, indices: Sequence[int], predictions: dict[str, torch.Tensor], *,
                    scores: dict[str, str] | None = None, figsize_scale: float = 1.35):
    """The same images in every row: the truth first, then each model's predicted skeleton.

    ``domain``: a labeled keypoint domain (the truth row uses its keypoints and visibility); ``indices``: the
    images (columns); ``predictions``: ``{row label: (N, K, 2)}`` pixel predictions for the whole domain (rows in
    order). Predicted keypoints are all drawn as visible (a model predicts every keypoint); a keypoint hidden in
    the truth keeps its ring in the truth row only. ``scores``: text added to a row's label (e.g. its PCK).
    Returns the figure.
    """
    rows = {"truth": (domain.keypoints, domain.visible), **{k: (v, None) for k, v in predictions.items()}}
    colors = (domain.meta or {}).get("skeleton_colors")
    fig, axes = plt.subplots(len(rows), len(indices), squeeze=False,
                             figsize=(len(indices) * figsize_scale, len(rows) * figsize_scale * 1.05))
    for r, (label, (kp, vis)) in enumerate(rows.items()):
        for c, i in enumerate(indices):
            draw_keypoints(axes[r][c], domain.images[int(i)], kp[int(i)], None if vis is None else vis[int(i)],
                           skeleton=domain.skeleton, colors=colors)
        text = label if not scores or label not in scores else f"{label}\n{scores[label]}"
        axes[r][0].text(-0.08, 0.5, text, transform=axes[r][0].transAxes, ha="right", va="center")
    fig.subplots_adjust(left=0.16, right=0.99, top=0.99, bottom=0.01, wspace=0.04, hspace=0.05)
    return fig


def _overlay(ax, image, heat, title: str, cmap: str = "viridis"):
    """A probability map over a greyed copy of the image, with its own colour bar (each map has its own range)."""
    img = _numpy(image).transpose(1, 2, 0)
    h, w = img.shape[:2]
    ax.imshow(np.clip(img, 0, 1).mean(-1), cmap="gray", vmin=0, vmax=1, extent=(0, w, h, 0))
    im = ax.imshow(_numpy(heat), extent=(0, w, h, 0), cmap=cmap, alpha=0.75, interpolation="nearest", vmin=0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize="small")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="probability per cell")
    return im


def regda_maps(image, truth, visible, logits_f, pseudo, ground_false, keypoint: int, names: Sequence[str],
               skeleton=(), colors=None, predicted=None):
    """RegDA's maps for one image and one keypoint ``k``, drawn over the image (four panels, two by two):

    the truth; ``sigma(f)_k``, the regressor's spatial softmax (eq. 7); ``P_T(J(f))_k``, the pseudo-label that
    psi pulls f' towards (eq. 6, 14); ``P_F(J(f))_k``, the ground-false map f' is pulled to (eq. 9-11): mass on
    the *other* keypoints' predicted positions. Maps are ``(h, w)`` probabilities (each sums to 1, each with its
    own colour bar). Every map panel marks the true position of ``k`` (white ring) and, given ``predicted``
    ``(2,)``, f's prediction ``J(f)_k`` (red cross). Returns the figure.
    """
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 7.6))
    axes = axes.flatten()
    draw_keypoints(axes[0], image, truth, visible, skeleton=skeleton, colors=colors,
                   title=f"truth ({names[keypoint]!r} ringed)")
    kx, ky = _numpy(truth)[keypoint]
    panels = [(logits_f, f"σ(f) for {names[keypoint]} (eq. 7)"), (pseudo, "P_T(J(f)): pseudo-label (eq. 6)"),
              (ground_false, "P_F(J(f)): ground false (eq. 10)")]
    for ax, (heat, title) in zip(axes[1:], panels):
        _overlay(ax, image, heat, title)
    for ax in axes:
        ax.add_patch(plt.Circle((kx, ky), 3.5, fill=False, ec="white", lw=2))
        if predicted is not None and ax is not axes[0]:
            px, py = _numpy(predicted)
            ax.plot(px, py, marker="x", color="red", ms=9, mew=2.5, ls="")
    handles = [plt.Line2D([], [], ls="", marker="o", mfc="none", mec="0.3", ms=10, mew=2, label="true position"),
               plt.Line2D([], [], ls="", marker="x", color="red", ms=9, mew=2.5, label="f's prediction J(f)")]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.55, -0.06))
    fig.tight_layout()
    return fig


def wrong_prediction_distances(ax, distances: dict[str, np.ndarray], threshold: float, bins: int = 20,
                               max_px: float = 30.0):
    """Where wrong predictions land: for every wrong visible keypoint prediction, its distance (pixels) to the
    nearest *other* true keypoint of the image (RegDA section 4.2: mistakes land on other keypoints). One
    step histogram per model, as the share of that model's wrong predictions; the dashed line is the PCK
    threshold (a wrong prediction left of it sits on another keypoint). Returns ``ax``."""
    edges = np.linspace(0, max_px, bins + 1)
    for label, d in distances.items():
        d = np.asarray(d, dtype=float)
        d = d[np.isfinite(d)]
        if not len(d):
            continue
        near = float((d < threshold).mean())
        weights = np.full(len(d), 100.0 / len(d))
        ax.hist(np.clip(d, 0, max_px), bins=edges, weights=weights, histtype="step", lw=2,
                label=f"{label}: {len(d)} wrong, {100 * near:.0f} % within {threshold:g} px of another keypoint")
    ax.axvline(threshold, color="0.3", ls="--", lw=1.2)
    ax.set_xlabel("distance from a wrong prediction to the nearest other true keypoint (pixels; last bin: ≥ "
                  f"{max_px:g})")
    ax.set_ylabel("% of the model's wrong predictions")
    ax.set_xlim(0, max_px)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    ax.grid(alpha=0.3)
    return ax


__all__ = ["draw_keypoints", "keypoint_grid", "keypoint_density", "prediction_grid", "regda_maps",
           "wrong_prediction_distances"]
