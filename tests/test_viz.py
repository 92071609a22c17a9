"""Figures a class can read: each test checks what a reader sees (legend entries, titles, colour bars and their
labels, axis ranges, which images a grid shows), not only that the drawing code runs."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from uda_nb import viz  # noqa: E402
from uda_nb.data import load_domain  # noqa: E402
from uda_nb.viz.keypoints import keypoint_density, keypoint_grid  # noqa: E402
from uda_nb.papers.shift import plot_a_distance_matrix, plot_accuracy_matrix  # noqa: E402

from conftest import toy_domain  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _legend_labels(ax) -> list[str]:
    """Every legend's entries, in the order they were drawn (an earlier legend kept with ``add_artist`` first)."""
    labels = []
    for artist in [*ax.artists, ax.get_legend()]:
        if isinstance(artist, matplotlib.legend.Legend):
            labels += [t.get_text() for t in artist.get_texts()]
    return labels


def _legend_titles(ax) -> list[str]:
    return [a.get_title().get_text() for a in [*ax.artists, ax.get_legend()] if isinstance(a, matplotlib.legend.Legend)]


def _clusters(n=30, seed=0, shift=0.0):
    g = np.random.default_rng(seed)
    y = np.arange(n) % 10
    centres = g.normal(0, 6, (10, 8))
    return (centres[y] + shift + g.normal(0, 0.5, (n, 8))).astype(np.float32), y


# ---- report style ----------------------------------------------------------------------------------------

def test_use_report_style_sets_sharp_readable_defaults_without_ipython():
    from IPython import get_ipython

    with matplotlib.rc_context():
        rc = viz.use_report_style()
        assert matplotlib.rcParams["figure.dpi"] >= 110 and matplotlib.rcParams["savefig.dpi"] >= 150
        assert matplotlib.rcParams["font.size"] >= 11 and matplotlib.rcParams["legend.fontsize"] >= 10
        assert rc["savefig.dpi"] == matplotlib.rcParams["savefig.dpi"]
        viz.use_report_style(**{"font.size": 14})
        assert matplotlib.rcParams["font.size"] == 14
    assert get_ipython() is None  # outside a notebook it only sets rcParams, it creates no IPython shell


# ---- t-SNE -----------------------------------------------------------------------------------------------

def test_tsne_class_panel_has_class_and_domain_legends_and_large_markers():
    (fs, ys), (ft, yt) = _clusters(seed=0), _clusters(seed=1, shift=3.0)
    fig, ax = plt.subplots()
    viz.plot_tsne_classes(ax, [fs[:, :2], ft[:, :2]], [ys, yt], ["MNIST", "MNIST-M"], "by class")
    labels = _legend_labels(ax)
    assert [str(c) for c in range(10)] == [lab for lab in labels if lab.isdigit()]  # digits 0-9 colour legend
    assert "MNIST" in labels and "MNIST-M" in labels  # marker legend for the domains
    assert set(_legend_titles(ax)) == {"class", "domain"}
    assert all(np.all(c.get_sizes() >= 12) for c in ax.collections)  # projectable markers (default was 6-10)


def test_tsne_domain_panel_legend_and_accuracy_in_title():
    (fs, _), (ft, _) = _clusters(seed=0), _clusters(seed=1)
    fig, ax = plt.subplots()
    viz.plot_tsne_domains(ax, [fs[:, :2], ft[:, :2]], ["MNIST", "MNIST-M"], "DANN", accuracy=0.7331)
    assert ax.get_title() == "DANN — target acc 73.3 %"
    assert _legend_labels(ax) == ["MNIST", "MNIST-M"]
    viz.plot_tsne_domains(ax, [fs[:, :2]], ["MNIST"], "seed 0", accuracy="54.5 ± 2.0 %", accuracy_label="MNIST-M acc")
    assert ax.get_title() == "seed 0 — MNIST-M acc 54.5 ± 2.0 %"


def test_tsne_before_after_titles_carry_accuracies_and_legends_cover_both_columns():
    (fs, ys), (ft, yt) = _clusters(seed=0), _clusters(seed=1, shift=2.0)
    fig = viz.tsne_before_after((fs, ft), (fs * 0.5, ft * 0.5), (ys, yt), names=("MNIST", "MNIST-M"),
                                titles=("source-only", "DANN"), seed=0, accuracies=(0.523, 0.733))
    axes = np.array(fig.axes).reshape(2, 2)
    assert axes[0, 0].get_title() == "source-only — target acc 52.3 %"
    assert axes[0, 1].get_title() == "DANN — target acc 73.3 %"
    assert _legend_labels(axes[0, 1]) == ["MNIST", "MNIST-M"]  # domain colours
    assert [str(c) for c in range(10)] + ["MNIST", "MNIST-M"] == _legend_labels(axes[1, 1])  # classes, markers
    assert "domain" in axes[0, 0].get_ylabel() and "class" in axes[1, 0].get_ylabel()
    # the old call (no accuracies) keeps working and titles stay plain
    fig = viz.tsne_before_after((fs, ft), (fs, ft), (ys, yt), names=("a", "b"), titles=("x", "y"), seed=0)
    assert fig.axes[0].get_title() == "x"
    with pytest.raises(ValueError, match="one per column"):
        viz.tsne_before_after((fs, ft), (fs, ft), (ys, yt), accuracies=(0.5,))


# ---- curves ----------------------------------------------------------------------------------------------

def _history(n_seeds=3, base=0.5):
    return pd.DataFrame([{"seed": s, "step": st, "target_acc": base + 0.01 * s + st / 10000, "a_distance": 1.5}
                         for s in range(n_seeds) for st in (100, 200, 300)])


def test_plot_curves_defines_the_band_marks_points_and_keeps_accuracy_axes_honest():
    fig, ax = plt.subplots()
    viz.plot_curves({"source-only": _history(base=0.5), "DANN": _history(base=0.7)}, "target_acc", ax=ax,
                    ylabel="target accuracy (%)", scale=100, colors={"DANN": "#d62728"})
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "line: mean, band: ± 1 std over 3 seeds"
    assert [t.get_text() for t in legend.get_texts()] == ["source-only", "DANN"]
    assert all(line.get_marker() == "o" and len(line.get_xdata()) == 3 for line in ax.lines)
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2  # one band per method
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 100  # full accuracy range, no zoom
    assert ax.get_xlim()[0] == 0 and "step" in ax.get_xlabel() and "%" in ax.get_ylabel()
    assert ax.lines[1].get_color() == "#d62728"


def test_plot_curves_floor_is_stated_and_one_seed_has_no_band():
    fig, ax = plt.subplots()
    viz.plot_curves({"DANN": _history(n_seeds=1)}, "target_acc", ax=ax, scale=100, floor=40, chance=50)
    assert ax.get_ylim()[0] == 40
    assert any("starts at 40" in t.get_text() for t in ax.texts)  # the raised floor is said on the axes
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "mean of 1 seed (no band)"
    assert "chance (50)" in [t.get_text() for t in legend.get_texts()]
    fig, ax = plt.subplots()
    viz.plot_curves({"DANN": _history()}, "a_distance", ax=ax, ylabel="proxy A-distance")
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 2  # A-distance over its whole range [0, 2]


def test_plot_schedule_keeps_its_keywords_and_labels_progress():
    fig, ax = plt.subplots()
    viz.plot_schedule(lambda p: p ** 2, ax=ax, label="square", color="k", ls="--", ylabel="$\\lambda_p$")
    assert ax.lines[0].get_linestyle() == "--" and ax.get_xlim() == (0, 1)
    assert "progress" in ax.get_xlabel() and ax.get_ylabel() == "$\\lambda_p$"


# ---- heatmaps --------------------------------------------------------------------------------------------

def test_heatmap_has_colorbar_with_unit_axis_labels_and_annotated_values():
    m = pd.DataFrame([[96.3, 48.1], [60.0, 94.2]], index=["mnist", "mnistm"], columns=["mnist", "mnistm"])
    fig, ax = plt.subplots()
    plot_accuracy_matrix(m, ax, n_seeds=2)
    cbar = ax.images[0].colorbar
    assert cbar is not None and cbar.ax.get_ylabel() == "test accuracy (%, mean of 2 seeds)"
    assert "trained on" in ax.get_ylabel() and "tested on" in ax.get_xlabel()
    assert sorted(t.get_text() for t in ax.texts) == ["48.1", "60.0", "94.2", "96.3"]
    assert ax.images[0].get_clim() == (0, 100)  # the full range, not the data's
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mnist", "mnistm"]
    assert len(ax.patches) == 2  # the diagonal (train-on-target) outlined
    # contrast: a dark cell gets white text, a bright one black
    colors = {t.get_text(): t.get_color() for t in ax.texts}
    assert colors["96.3"] == "black" and colors["48.1"] == "white"


def test_a_distance_heatmap_range_and_label():
    a = pd.DataFrame([[0.0, 1.48], [1.48, 0.0]], index=["mnist", "mnistm"], columns=["mnist", "mnistm"])
    fig, axes = plt.subplots(1, 2)
    plot_a_distance_matrix(a, axes[0], title="pixels", colorbar=False)
    plot_a_distance_matrix(a, axes[1], title="features")
    assert axes[0].images[0].colorbar is None
    assert "proxy A-distance" in axes[1].images[0].colorbar.ax.get_ylabel()
    assert axes[1].images[0].get_clim() == (0, 2) and axes[1].get_title() == "features"
    assert "1.48" in [t.get_text() for t in axes[1].texts]


# ---- grids -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dsprites_test():
    return [load_domain(name, "test", seed=0) for name in ("dsprites-color", "dsprites-noisy", "dsprites-scream")]


def _drawn(ax) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


def test_dsprites_grid_with_same_indices_shows_the_same_factors_in_each_column(dsprites_test):
    per_row = 6
    fig = keypoint_grid(dsprites_test, per_row=per_row, seed=3, same_indices=True,
                        column_title=lambda d, i: f"shape {int(d.meta['shape'][i])}")
    rows = fig.grid_indices
    assert len(rows) == 3 and rows[0] == rows[1] == rows[2] and len(rows[0]) == per_row
    axes = np.array(fig.axes).reshape(3, per_row)
    for c in range(per_row):
        picked = []
        for r, dom in enumerate(dsprites_test):
            drawn = _drawn(axes[r, c])
            # the drawn pixels are the image at the index the grid reports ...
            i = rows[r][c]
            assert np.allclose(drawn, dom.images[i].permute(1, 2, 0).numpy())
            picked.append((int(dom.meta["shape"][i]), float(dom.meta["scale"][i]), float(dom.meta["orientation"][i]),
                           tuple(dom.keypoints[i, 0].tolist())))
        # ... and every rendering of the column holds the same shape, scale, angle and position
        assert picked[0] == picked[1] == picked[2]
        assert axes[0, c].get_title() == f"shape {picked[0][0]}" and axes[1, c].get_title() == ""
    # without same_indices the rows are independent draws: the factors differ somewhere
    fig = keypoint_grid(dsprites_test, per_row=per_row, seed=3)
    assert fig.grid_indices[0] != fig.grid_indices[1]


def test_sample_grid_same_indices_and_class_titles():
    a, b = toy_domain("a", n=40, seed=0), toy_domain("b", n=40, seed=1)
    fig = viz.sample_grid([a, b], per_row=5, seed=0, same_indices=True)
    assert fig.grid_indices[0] == fig.grid_indices[1]
    axes = np.array(fig.axes).reshape(2, 5)
    for c, i in enumerate(fig.grid_indices[0]):
        assert np.allclose(_drawn(axes[1, c]), b.images[i].permute(1, 2, 0).numpy())
        assert axes[1, c].get_title() == str(int(b.labels[i]))
    with pytest.raises(ValueError, match="one size"):
        viz.sample_grid([a, toy_domain("c", n=30)], per_row=3, same_indices=True)
    # the default (a new draw per row) is unchanged: the same images as before this option existed
    g = torch.Generator().manual_seed(0)
    expected = [torch.randperm(40, generator=g)[:5].tolist(), torch.randperm(40, generator=g)[:5].tolist()]
    assert viz.sample_grid([a, b], per_row=5, seed=0).grid_indices == expected


def test_keypoint_grid_legend_for_hidden_keypoints_and_colours():
    from uda_nb.data.keypoints import KeypointDomain

    vis = torch.ones(4, 2, dtype=torch.bool)
    vis[0, 1] = False
    dom = KeypointDomain("toy", "test", torch.rand(4, 3, 16, 16), torch.rand(4, 2, 2) * 16, vis, ("a", "b"),
                         ((0, 1),))
    fig = keypoint_grid([dom], per_row=4, seed=0, color_legend={"finger": "#2ca02c"})
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["visible keypoint", "hidden keypoint (bone dashed)", "finger"]
    assert len(fig.axes) == 4  # the legend adds no axes
    fig = keypoint_grid([dom], per_row=4, seed=0, show_keypoints=False)
    assert not fig.legends


def test_keypoint_density_labels_pixels_and_colorbar(dsprites_test):
    fig, ax = plt.subplots()
    keypoint_density(ax, dsprites_test[0].keypoints, area=(16, 16, 32, 32), title="positions")
    assert ax.get_xlabel() == "x (pixels)" and ax.get_ylabel() == "y (pixels)"
    assert ax.get_ylim() == (64, 0)  # y down, like the images
    cbar = ax.collections[0].colorbar
    assert cbar.ax.get_ylabel() == "keypoints per 2×2-pixel bin"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["middle area A"]
    counts = np.asarray(ax.collections[0].get_array())
    assert counts.sum() == len(dsprites_test[0])  # every keypoint counted once


def test_plot_gains_shares_the_y_axis_marks_each_seed_and_the_paper():
    from uda_nb.viz.drt import plot_gains

    panels = {"A": ({"x": np.array([1.0, 3.0]), "y": np.array([-2.0, 0.0])}, {"x": 5.0}),
              "B": ({"z": np.array([4.0, 6.0])}, {"z": -1.0})}
    fig = plot_gains(panels, seeds=[0, 1])
    a, b = fig.axes
    assert a.get_shared_y_axes().joined(a, b)
    # bars are the per-row means; the paper's cross is drawn only where the paper has the row
    assert [round(p.get_height(), 6) for p in a.patches] == [2.0, -1.0]
    crosses = [c for c in a.collections if c.get_label() == "paper (DomainNet)"]
    assert len(crosses) == 1 and crosses[0].get_offsets().tolist() == [[0.0, 5.0]]
    seeds = [c for c in a.collections if c.get_label().startswith("seed")]
    assert [c.get_label() for c in seeds] == ["seed 0", "seed 1"]
    assert sorted(y for c in seeds for _, y in c.get_offsets().tolist()) == [-2.0, 0.0, 1.0, 3.0]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["seed 0", "seed 1", "paper (DomainNet)"]
    plt.close(fig)
