"""Figures for keypoint domains (hands, dSprites positions): images with their skeleton and keypoints.

Matplotlib only; nothing here changes the backend or global style (works with Agg). Coordinates follow
:class:`~uda_nb.data.keypoints.KeypointDomain`: pixel ``(x, y)`` from the top-left corner of the top-left
pixel, so the image is drawn with ``extent=(0, W, H, 0)`` and a keypoint lands exactly where it belongs.
"""

from __future__ import annotations

from typing import Sequence

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
        ax.set_title(title, fontsize=8, pad=2)
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
                  figsize_scale: float = 1.3):
    """One row of ``per_row`` random images per keypoint domain, with keypoints and skeleton when the view
    has them (skeleton colours from ``domain.meta['skeleton_colors']`` when present). Works for unlabeled
    views (images only) and for single-keypoint domains without a skeleton. Returns the figure, which has
    ``len(domains) * per_row`` axes."""
    fig, axes = plt.subplots(len(domains), per_row, squeeze=False,
                             figsize=(per_row * figsize_scale, len(domains) * figsize_scale * 1.08))
    g = torch.Generator().manual_seed(seed)
    for r, dom in enumerate(domains):
        idx = torch.randperm(len(dom), generator=g)[:per_row]
        colors = (getattr(dom, "meta", None) or {}).get("skeleton_colors")
        skeleton = tuple(getattr(dom, "skeleton", ()) or ())
        keypoints = getattr(dom, "keypoints", None)
        visible = getattr(dom, "visible", None)
        for c, ax in enumerate(axes[r]):
            if c >= len(idx):
                ax.axis("off")
                continue
            i = int(idx[c])
            draw_keypoints(ax, dom.images[i], None if keypoints is None else keypoints[i],
                           None if visible is None else visible[i], skeleton=skeleton, colors=colors,
                           show_keypoints=show_keypoints)
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[r][0].text(-0.1, 0.5, f"{dom.name}\n({dom.split})", transform=axes[r][0].transAxes, ha="right",
                        va="center", fontsize=9)
    fig.subplots_adjust(left=0.1, right=0.99, top=0.98, bottom=0.02, wspace=0.04, hspace=0.06)
    return fig


__all__ = ["draw_keypoints", "keypoint_grid"]
