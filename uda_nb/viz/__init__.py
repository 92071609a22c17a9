"""Figures a class can read: sample grids, t-SNE of features, training and A-distance curves, schedules,
annotated heatmaps.

Every function draws on a Matplotlib ``Axes`` (or makes a figure) and returns it. Nothing here changes the
backend or the global style on import; a notebook calls :func:`use_report_style` once at the top for
readable fonts and figures that stay sharp on a projector (PNG at a higher resolution).

Conventions of every figure: axis labels say what is measured and in which unit; a shaded band is defined in
the legend (``line: mean, band: ± 1 std over N seeds``); accuracy axes start at a stated floor (0 unless the
caller asks for another, and then the axis says so), never at an automatic zoom; a heatmap has labelled axes,
a colour bar with its unit, and its values written in the cells.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..data.domain import Domain

DOMAIN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
DOMAIN_MARKERS = ("o", "x", "^", "s", "d")

#: The report style: set by :func:`use_report_style` (figure dpi for the screen, savefig dpi for files).
REPORT_RC = {
    "figure.dpi": 120,
    "savefig.dpi": 160,
    "savefig.bbox": "tight",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "figure.titlesize": 13,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.interpolation": "nearest",
}
#: Resolution of the PNGs a notebook shows inline (and that the HTML reports embed).
INLINE_DPI = 150


def use_report_style(inline_dpi: int = INLINE_DPI, **overrides) -> dict:
    """Readable, projector-sharp figures for a notebook: call once at the top.

    Sets :data:`REPORT_RC` (plus ``overrides``, e.g. ``{"font.size": 12}``) in Matplotlib's ``rcParams`` and,
    inside IPython/Jupyter, makes the inline backend emit PNG rendered at ``inline_dpi`` (sharper than the
    default 100 dpi, small enough that an executed report stays a few MB). Outside IPython only the
    ``rcParams`` change. Returns the ``rcParams`` it set.
    """
    rc = {**REPORT_RC, **overrides}
    mpl.rcParams.update(rc)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the notebook extras
        return rc
    if get_ipython() is None:
        return rc
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        from matplotlib_inline.config import InlineBackend
    except ImportError:  # pragma: no cover
        return rc
    # Stored in the inline backend's config too, so a backend activated after this call keeps the setting.
    cfg = InlineBackend.instance()
    cfg.figure_formats = {"png"}
    cfg.print_figure_kwargs = {**cfg.print_figure_kwargs, "dpi": inline_dpi, "bbox_inches": "tight"}
    set_matplotlib_formats("png", dpi=inline_dpi, bbox_inches="tight")
    return rc


def _percent(value) -> str:
    """``0.523 -> "52.3 %"``; ``52.3 -> "52.3 %"``; a string passes through (e.g. ``"54.5 ± 2.0 %"``)."""
    if isinstance(value, str):
        return value
    value = float(value)
    return f"{value * 100 if abs(value) <= 1.0 else value:.1f} %"


def _grid_indices(domains: Sequence, per_row: int, seed: int, same_indices: bool) -> list[list[int]]:
    """Which images each row shows: random per row, or one draw shared by every row (``same_indices``)."""
    g = torch.Generator().manual_seed(seed)
    if same_indices:
        sizes = sorted({len(d) for d in domains})
        if len(sizes) > 1:
            raise ValueError(f"same_indices needs domains of one size (one factor stream), got sizes {sizes}.")
        idx = torch.randperm(sizes[0], generator=g)[:per_row].tolist()
        return [list(idx) for _ in domains]
    return [torch.randperm(len(d), generator=g)[:per_row].tolist() for d in domains]


def sample_grid(domains: Sequence[Domain], per_row: int = 12, seed: int = 0, figsize_scale: float = 0.9, *,
                same_indices: bool = False, label_size: float | None = None):
    """One row of random images per domain, each labelled with its class when the view has labels.

    ``same_indices``: every row shows the images at the same indices (for domains generated from one
    factor stream, e.g. the dSprites renderings or MNIST / MNIST-M, each column is then one set of factors).
    The figure remembers what it drew: ``fig.grid_indices`` (one list of indices per row).
    """
    fig, axes = plt.subplots(len(domains), per_row, squeeze=False,
                             figsize=(per_row * figsize_scale, len(domains) * figsize_scale * 1.2))
    rows = _grid_indices(domains, per_row, seed, same_indices)
    label_size = label_size or mpl.rcParams["font.size"]
    for r, (dom, idx) in enumerate(zip(domains, rows)):
        for c, ax in enumerate(axes[r]):
            ax.axis("off")
            if c >= len(idx):
                continue
            img = dom.images[idx[c]].detach().cpu().permute(1, 2, 0).numpy()
            ax.imshow(img.squeeze() if img.shape[2] == 1 else img, cmap="gray" if img.shape[2] == 1 else None,
                      vmin=0, vmax=1, interpolation="nearest")
            if dom.labels is not None and dom.class_names:
                ax.set_title(dom.class_names[int(dom.labels[idx[c]])], fontsize=label_size, pad=2)
        axes[r][0].text(-0.12, 0.5, f"{dom.name}\n({dom.split})", transform=axes[r][0].transAxes, ha="right",
                        va="center", fontsize=label_size + 1)
    fig.subplots_adjust(left=0.09, right=0.99, wspace=0.06, hspace=0.4)
    fig.grid_indices = rows
    return fig


def tsne_embed(*feature_sets, seed: int = 0, perplexity: float = 30.0, max_iter: int = 1000) -> list[np.ndarray]:
    """One t-SNE (scikit-learn, PCA init, seeded) of several feature sets ``(N_i, D)`` fitted jointly; returns
    their 2-D embeddings ``(N_i, 2)`` in the same order, so the sets share one map. ``max_iter``: optimisation
    steps (scikit-learn's default 1,000; a widget that must redraw within a second uses fewer points and 500)."""
    from sklearn.manifold import TSNE

    arrays = [f.detach().float().cpu().numpy() if isinstance(f, torch.Tensor) else np.asarray(f, np.float32)
              for f in feature_sets]
    x = np.concatenate(arrays)
    perplexity = min(perplexity, max(5.0, (len(x) - 1) / 3.0))
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
               max_iter=max_iter).fit_transform(x)
    cuts = np.cumsum([len(a) for a in arrays])[:-1]
    return np.split(emb, cuts)


def _outside_legend(ax, handles, title: str, anchor_y: float, loc: str):
    leg = ax.legend(handles=handles, title=title, loc=loc, bbox_to_anchor=(1.02, anchor_y), borderaxespad=0.0,
                    frameon=False, handletextpad=0.3, labelspacing=0.35)
    leg._legend_box.align = "left"
    return leg


def _map_axes(ax) -> None:
    """A t-SNE map: no ticks (its coordinates mean nothing), a light full frame."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("0.6")


def domain_handles(names: Sequence[str], marker_size: float = 8.0) -> list:
    """Legend entries: one coloured dot per domain (the colours of :func:`plot_tsne_domains`)."""
    return [plt.Line2D([], [], ls="", marker="o", ms=marker_size, color=DOMAIN_COLORS[i % len(DOMAIN_COLORS)],
                       label=name) for i, name in enumerate(names)]


def marker_handles(names: Sequence[str], marker_size: float = 8.0) -> list:
    """Legend entries: one grey marker per domain (the markers of :func:`plot_tsne_classes`)."""
    return [plt.Line2D([], [], ls="", marker=DOMAIN_MARKERS[i % len(DOMAIN_MARKERS)], ms=marker_size, color="0.25",
                       mew=1.6, label=name) for i, name in enumerate(names)]


def class_handles(class_names: Sequence[str], marker_size: float = 8.0) -> list:
    """Legend entries: one tab10 colour per class."""
    cmap = plt.get_cmap("tab10")
    return [plt.Line2D([], [], ls="", marker="s", ms=marker_size, color=cmap(i % 10), label=str(name))
            for i, name in enumerate(class_names)]


def plot_tsne_domains(ax, embeddings: Sequence[np.ndarray], names: Sequence[str], title: str = "", *,
                      marker_size: float = 14.0, legend: str | None = "inside", accuracy=None,
                      accuracy_label: str = "target acc"):
    """Scatter each domain's 2-D embedding in its own colour (DANN Figure 3: blue source, red target).

    ``legend``: ``"inside"`` (best corner), ``"outside"`` (right of the axes) or ``None``. ``accuracy``
    (a fraction, a percentage or a string) is appended to the title: ``"DANN — target acc 73.3 %"``.
    """
    for i, (emb, name) in enumerate(zip(embeddings, names)):
        ax.scatter(emb[:, 0], emb[:, 1], s=marker_size, alpha=0.55, c=DOMAIN_COLORS[i % len(DOMAIN_COLORS)],
                   label=name, linewidths=0)
    if accuracy is not None:
        title = f"{title} — {accuracy_label} {_percent(accuracy)}" if title else f"{accuracy_label} {_percent(accuracy)}"
    ax.set_title(title)
    _map_axes(ax)
    if legend == "outside":
        _outside_legend(ax, domain_handles(names), "domain", 1.0, "upper left")
    elif legend:
        ax.legend(handles=domain_handles(names), title="domain", loc="best", framealpha=0.9)
    return ax


def plot_tsne_classes(ax, embeddings: Sequence[np.ndarray], labels: Sequence, names: Sequence[str], title: str = "",
                      *, class_names: Sequence[str] | None = None, marker_size: float = 16.0,
                      legend: str | None = "outside", accuracy=None, accuracy_label: str = "target acc"):
    """Scatter embeddings coloured by class (tab10), one marker per domain (o source, x target, ...).

    ``legend``: ``"outside"`` puts a class colour legend and a domain marker legend right of the axes,
    ``"inside"`` only the marker legend inside, ``None`` none. ``class_names`` default to ``0 .. 9``.
    """
    n_classes = 10
    for i, (emb, lab, name) in enumerate(zip(embeddings, labels, names)):
        lab = np.asarray(lab.cpu() if isinstance(lab, torch.Tensor) else lab)
        n_classes = max(n_classes, int(lab.max()) + 1 if lab.size else 0)
        marker = DOMAIN_MARKERS[i % len(DOMAIN_MARKERS)]
        hollow = marker == "x"
        ax.scatter(emb[:, 0], emb[:, 1], s=marker_size * (1.4 if hollow else 1.0), c=lab, cmap="tab10", vmin=-0.5,
                   vmax=9.5, marker=marker, alpha=0.75, linewidths=1.0 if hollow else 0, label=name)
    if accuracy is not None:
        title = f"{title} — {accuracy_label} {_percent(accuracy)}" if title else f"{accuracy_label} {_percent(accuracy)}"
    ax.set_title(title)
    _map_axes(ax)
    class_names = list(class_names) if class_names is not None else [str(c) for c in range(min(n_classes, 10))]
    if legend == "outside":
        first = _outside_legend(ax, class_handles(class_names), "class", 1.0, "upper left")
        ax.add_artist(first)
        _outside_legend(ax, marker_handles(names), "domain", 0.0, "lower left")
    elif legend:
        ax.legend(handles=marker_handles(names), title="domain", loc="best", framealpha=0.9)
    return ax


def tsne_before_after(before: tuple, after: tuple, labels: tuple, names: tuple = ("source", "target"),
                      titles: tuple = ("source-only", "DANN"), seed: int = 0, *, accuracies: tuple | None = None,
                      accuracy_label: str = "target acc", class_names: Sequence[str] | None = None,
                      marker_size: float = 14.0):
    """The paper's Figure 3 as a 2 x 2 figure: t-SNE of (source, target) features before and after adaptation,
    coloured by domain (top) and by class (bottom, marker = domain). ``before``/``after``: ``(f_s, f_t)``;
    ``labels``: ``(y_s, y_t)`` used for colour only.

    ``accuracies``: one per column (fractions, percentages or strings), shown in the column titles, e.g.
    ``accuracies=(0.523, 0.733)`` gives ``"source-only — target acc 52.3 %"``. Legends (domain colours,
    class colours, domain markers) sit right of the right-hand column and hold for both columns.
    """
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 9.5))
    accuracies = tuple(accuracies) if accuracies is not None else (None, None)
    if len(accuracies) != 2:
        raise ValueError(f"accuracies: one per column (before, after), got {len(accuracies)}.")
    for col, (feats, title, acc) in enumerate(zip((before, after), titles, accuracies)):
        emb = tsne_embed(*feats, seed=seed)
        right = col == 1
        plot_tsne_domains(axes[0, col], emb, names, title, accuracy=acc, accuracy_label=accuracy_label,
                          marker_size=marker_size, legend="outside" if right else None)
        plot_tsne_classes(axes[1, col], emb, labels, names, "", class_names=class_names,
                          marker_size=marker_size * 1.15, legend="outside" if right else None)
    axes[0, 0].set_ylabel("coloured by domain")
    axes[1, 0].set_ylabel("coloured by class (marker = domain)")
    fig.tight_layout()
    return fig


_UNIT_BOUNDS = {"acc": (0.0, 1.0), "a_distance": (0.0, 2.0)}


def _natural_bounds(column: str, scale: float) -> tuple[float, float] | None:
    """The full range of a known quantity, in plotted units: accuracies ``[0, 1] * scale``, A-distance ``[0, 2]``."""
    if column == "a_distance" or column.endswith("a_distance"):
        return _UNIT_BOUNDS["a_distance"]
    if "acc" in column or "pck" in column:
        lo, hi = _UNIT_BOUNDS["acc"]
        return lo * scale, hi * scale
    if "mae" in column or "disparity" in column:  # errors and distances: from 0, top free
        return 0.0, None
    return None


def plot_curves(frames: dict[str, pd.DataFrame], column: str, ax=None, x: str = "step", ylabel: str | None = None,
                scale: float = 1.0, colors: dict[str, str] | None = None, *, xlabel: str | None = None,
                ylim: tuple[float, float] | None = None, floor: float | None = None, chance: float | None = None,
                band: bool = True, markers: bool = True, legend_loc: str = "best"):
    """Mean (line, a marker at each evaluation) and ± 1 std band over seeds of ``column`` against ``x``, one
    line per label. Each frame is a long table with a ``seed`` column
    (:func:`uda_nb.experiments.history_frame`); ``colors`` maps labels to colours so a method keeps its colour.

    Honest axes: an accuracy column (name contains ``acc``) spans ``[0, scale]`` and ``a_distance`` ``[0, 2]``
    unless ``ylim`` says otherwise; ``floor`` starts the y axis higher (e.g. at chance) and the axis then says
    so. ``chance``: a dashed reference line, labelled in the legend. The legend says what the band is
    ("line: mean, band: ± 1 std over 3 seeds"); with one seed there is no band and the legend says that.
    """
    ax = ax if ax is not None else plt.subplots(figsize=(6, 4))[1]
    seed_counts = []
    for i, (label, df) in enumerate(frames.items()):
        if column not in df:
            continue
        n_seeds = int(df["seed"].nunique()) if "seed" in df else 1
        seed_counts.append(n_seeds)
        g = df.groupby(x)[column]
        m, s = g.mean() * scale, g.std().fillna(0.0) * scale
        color = (colors or {}).get(label, DOMAIN_COLORS[i % len(DOMAIN_COLORS)])
        ax.plot(m.index, m.values, label=label, color=color, marker="o" if markers else None,
                ms=mpl.rcParams["lines.markersize"] + 1)
        if band and n_seeds > 1:
            ax.fill_between(m.index, (m - s).values, (m + s).values, color=color, alpha=0.2, lw=0)
    if chance is not None:
        ax.axhline(chance, color="0.4", ls="--", lw=1.2, label=f"chance ({chance:g})")
    ax.set_xlabel(xlabel or ("training step (SGD updates)" if x == "step" else x))
    if x == "step":
        ax.set_xlim(left=0)
    ax.set_ylabel(ylabel or column)
    bounds = ylim or _natural_bounds(column, scale)
    if bounds is not None and bounds[1] is None:
        ax.set_ylim(bottom=bounds[0] if floor is None else floor)
    elif bounds is not None:
        lo, hi = bounds
        if floor is not None:
            lo = floor
        span = hi - lo
        ax.set_ylim(lo, hi + 0.03 * span)
        if floor is not None and floor > bounds[0]:
            ax.text(0.01, 0.01, f"y axis starts at {floor:g}", transform=ax.transAxes, fontsize="small",
                    color="0.35", va="bottom", ha="left")
    elif floor is not None:
        ax.set_ylim(bottom=floor)
    ax.grid(alpha=0.3)
    if seed_counts:
        n = sorted(set(seed_counts))
        if not band or n == [1]:
            title = "mean of 1 seed (no band)" if n == [1] else "line: mean over seeds"
        elif len(n) == 1:
            title = f"line: mean, band: ± 1 std over {n[0]} seeds"
        else:
            title = f"line: mean, band: ± 1 std over {'/'.join(map(str, n))} seeds"
        leg = ax.legend(loc=legend_loc, title=title, framealpha=0.9)
        leg._legend_box.align = "left"
    return ax


def plot_schedule(fn: Callable[[float], float], ax=None, label: str | None = None, *, ylabel: str | None = None,
                  **kwargs):
    """Draw a schedule ``fn(p)`` for ``p`` in [0, 1] (progress: the fraction of training done)."""
    from ..schedules import schedule_curve

    ax = ax if ax is not None else plt.subplots(figsize=(5, 3.4))[1]
    p, v = schedule_curve(fn)
    ax.plot(p, v, label=label, **kwargs)
    ax.set_xlabel("training progress p (fraction of steps done)")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    if label:
        ax.legend()
    return ax


def heatmap(matrix: pd.DataFrame, ax=None, *, xlabel: str = "", ylabel: str = "", cbar_label: str = "",
            vmin: float | None = None, vmax: float | None = None, fmt: str = ".2f", cmap: str = "viridis",
            title: str | None = None, annotate: bool = True, highlight_diagonal: bool = False,
            diagonal_color: str = "black", colorbar: bool = True):
    """An annotated heatmap of a labelled matrix (rows: ``matrix.index``, columns: ``matrix.columns``).

    Every cell shows its value (``fmt``), in black or white for contrast; the colour bar carries
    ``cbar_label`` (say the unit there); ``highlight_diagonal`` outlines the diagonal cells. Returns ``ax``;
    the colour bar is ``ax.images[0].colorbar``.
    """
    ax = ax if ax is not None else plt.subplots(figsize=(6, 5))[1]
    values = np.asarray(matrix, dtype=float)
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="equal", interpolation="nearest")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in matrix.columns])
    ax.set_yticks(range(values.shape[0]), [str(r) for r in matrix.index])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if annotate:
        norm, cm = im.norm, im.get_cmap()
        for (r, c), v in np.ndenumerate(values):
            if not np.isfinite(v):
                continue
            red, green, blue, _ = cm(norm(v))
            light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5
            ax.text(c, r, format(v, fmt), ha="center", va="center", color="black" if light else "white",
                    fontsize=mpl.rcParams["font.size"])
    if highlight_diagonal:
        for k in range(min(values.shape)):
            ax.add_patch(plt.Rectangle((k - 0.5, k - 0.5), 1, 1, fill=False, ec=diagonal_color, lw=2.5))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=cbar_label, fraction=0.046, pad=0.04)
    return ax


__all__ = ["use_report_style", "sample_grid", "tsne_embed", "plot_tsne_domains", "plot_tsne_classes",
           "tsne_before_after", "plot_curves", "plot_schedule", "heatmap", "domain_handles", "marker_handles",
           "class_handles", "REPORT_RC", "INLINE_DPI"]
