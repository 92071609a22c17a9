"""The pieces 05_gsda builds on: its specs share DANN's runs with 04_transpar, Table 1's rows switch exactly one
part on at a time, the partial-DA specs keep the target's classes, and the hierarchy figure writes the gaps of
eq. 10-11 computed from the magnitudes it is given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from uda_nb.data import make_task
from uda_nb.experiments import build_method, build_task, run_key
from uda_nb.viz.gsda import draw_hierarchy, plot_sample_weights
from uda_nb.methods.gsda import LEVELS
from uda_nb.papers import gsda as G
from uda_nb.papers import transpar as T


@pytest.mark.parametrize("pair", G.PAIRS)
def test_dann_rows_are_04_transpars_runs(pair):
    ours, theirs = G.spec("dann", *pair, "report"), T.table_spec("dann", *pair, "report")
    task = make_task(*pair, device="cpu")
    cpu = torch.device("cpu")
    assert run_key(ours, 0, cpu, task) == run_key(theirs, 0, cpu, task)


def test_gsda_follows_dann_s_reversal_coefficient_per_pair_and_logs_ten_rows():
    street = G.spec("gsda", "syn", "street", "report")
    assert street.options["lambda_max"] == T.options_for("dann", "syn", "street")["lambda_max"] == 0.1
    assert "lambda_max" not in G.spec("gsda", "mnist", "mnistm", "report").options
    assert street.eval_every == street.steps // 10
    # an explicit option wins over the pair's
    assert G.spec("gsda", "syn", "street", "report", {"lambda_max": 1.0}).options["lambda_max"] == 1.0


def test_table_rows_add_one_part_each():
    task = build_task(G.spec("gsda", "mnist", "mnistm", "smoke"), device="cpu")
    built = {label: build_method(G.spec("gsda", "mnist", "mnistm", "smoke", opts), task)
             for label, opts in G.ABLATION.items()}
    parts = {label: (m.levels, m.beta) for label, m in built.items()}
    assert parts == {"global": ((), 0.0), "+ class": (("class",), 0.0), "+ group": (LEVELS, 0.0),
                     G.FULL: (LEVELS, 1.0)}


def test_partial_specs_keep_the_target_classes_and_the_paper_s_partial_weights():
    for label in G.PARTIAL_METHODS:
        s = G.partial_spec(label, "smoke")
        assert s.target_classes == G.PARTIAL_CLASSES and (s.source, s.target) == G.PARTIAL_PAIR
    gsda = G.partial_spec("GSDA", "smoke")
    assert gsda.method == "gsda" and gsda.options["alpha"] == 0.2 and gsda.options["beta"] == 10.0
    assert "alpha" not in G.partial_spec("DANN", "smoke").options
    pre = G.partial_spec("GSDA, from the source-only model", "smoke")
    assert pre.init_from == G.partial_spec("source-only", "smoke")
    assert set(pre.init_modules) == {"features", "classifier"} and pre.options == gsda.options
    assert G.partial_spec("DANN", "smoke").init_from is None
    with pytest.raises(ValueError, match="choose one of"):
        G.partial_spec("gsda", "smoke")
    task = build_task(gsda, device="cpu")
    assert task.target.labels is None  # the training split carries no target label
    assert set(task.target_test.labels.unique().tolist()) == set(G.PARTIAL_CLASSES)


def test_hierarchy_figure_writes_the_gaps_of_the_magnitudes_it_is_given():
    groups = [[0, 2], [1]]
    # dom, grp1, grp2, cls0, cls1, cls2
    norms = [1.0, 0.5, 0.25, 0.125, 0.3, 0.25]
    fig, ax = plt.subplots()
    draw_hierarchy(norms, groups, ax=ax)
    texts = " | ".join(t.get_text() for t in ax.texts)
    assert f"{abs(1.0 - 0.75):.4f}" in texts                 # |G_dom - (G_grp1 + G_grp2)|
    assert f"gap {abs(0.5 - (0.125 + 0.25)):.4f}" in texts   # group {0, 2}
    assert f"gap {abs(0.25 - 0.3):.4f}" in texts             # group {1}
    with pytest.raises(ValueError, match="1 \\+ b \\+ r = 6"):
        draw_hierarchy(norms[:-1], groups, ax=ax)
    plt.close(fig)


def test_sample_weight_picture_shows_every_weight():
    w = torch.tensor([[1.0, 1.0, 0.0, 1.0, 0.0, 0.0], [1.0, 0.2, 0.8, 0.1, 0.8, 0.1]])
    fig, ax = plt.subplots()
    plot_sample_weights(w, [[0, 2], [1]], ["source", "target"], ax=ax)
    assert np.allclose(ax.images[0].get_array(), w.numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["dom", "grp 1", "grp 2", "cls 0", "cls 1", "cls 2"]
    plt.close(fig)


def test_training_aids_row_is_full_gsda_with_balanced_source_and_confident_targets():
    aids, full = G.aids_spec("syn", "street", "smoke"), G.spec("gsda", "syn", "street", "smoke")
    assert aids.balance_source and not full.balance_source
    assert aids.options == {**full.options, "confidence_threshold": G.CONFIDENCE_THRESHOLD}


def test_sync_and_level_curves_plot_the_history_columns_they_name():
    import pandas as pd

    from uda_nb.viz.gsda import DISC_ACCURACIES, SYNC_SIDES, plot_levels, plot_sync_gaps

    frame = pd.DataFrame({"step": [10, 20, 10, 20], "seed": [0, 0, 1, 1], "sync_dom_grp": [0.2, 0.1, 0.4, 0.3],
                          "sync_grp_cls": [0.01, 0.02, 0.03, 0.04], "sync_dom_norm": [1.0, 2.0, 3.0, 4.0],
                          "sync_grp_norm_sum": [1.0, 1.0, 1.0, 1.0], "sync_cls_norm_sum": [0.5, 0.5, 0.5, 0.5],
                          "domain_acc": [0.9, 0.8, 0.7, 0.6], "group_acc": [0.5] * 4, "class_acc": [0.6] * 4})
    fig, axes = plt.subplots(1, 4)
    plot_sync_gaps({"run": frame}, axes=axes[:2])
    # the mean over seeds at each step
    assert np.allclose(axes[0].lines[0].get_ydata(), [0.3, 0.2])
    assert np.allclose(axes[1].lines[0].get_ydata(), [0.02, 0.03])
    plot_levels(frame, SYNC_SIDES, ax=axes[2])
    assert [np.round(l.get_ydata(), 6).tolist() for l in axes[2].lines[:3]] == [[2.0, 3.0], [1.0, 1.0], [0.5, 0.5]]
    plot_levels(frame, DISC_ACCURACIES, ax=axes[3])
    assert np.allclose(axes[3].lines[0].get_ydata(), [0.8, 0.7]) and axes[3].get_ylim()[0] == 0
    plt.close(fig)


def test_gsda_runs_keep_features_only_where_the_notebook_draws_them(monkeypatch):
    seen = {}
    monkeypatch.setattr(G, "run_seeds", lambda spec, seeds: seen.setdefault(len(seen), spec) and [])
    G.ablation_runs([0], "report")
    gsda = [s for s in seen.values() if s.method == "gsda"]
    assert len(gsda) == len(G.PAIRS) * (len(G.ABLATION) + 1)  # Table 1's rows and the balanced source
    assert all(s.adist_samples == 0 for s in gsda)  # the notebook draws no A-distance
    drawn = {(s.source, s.target, s.options.get("levels")) for s in gsda if s.snapshot_samples}
    assert drawn == {("mnist", "mnistm", ()), ("mnist", "mnistm", None)}  # t-SNE: global only and full GSDA
    dann = [s for s in seen.values() if s.method == "dann"]
    assert all(s == T.table_spec("dann", *p, "report") for s, p in zip(dann, G.PAIRS))  # still 04_transpar's


def test_pretrained_rows_share_04_transpars_dann_and_keep_gsdas_narrow_discriminators():
    cpu = torch.device("cpu")
    for pair in G.PRETRAINED_PAIRS:
        assert run_key(G.pretrained_spec("dann", *pair, "report"), 0, cpu) == \
            run_key(T.pretrained_spec("dann", *pair, "report"), 0, cpu)
        full = G.pretrained_spec("gsda", *pair, "report", G.ABLATION[G.FULL])
        assert full.model == {**T.PRETRAINED_MODEL, **G.PRETRAINED_GSDA_MODEL}
        assert full.backbone == T.PRETRAINED_BACKBONE and full.lr == T.PRETRAINED_OPTIMIZER["dann"]["lr"]
        assert full.eval_every == full.steps // 10
    partial = G.pretrained_partial_spec("GSDA", "report")
    assert partial.target_classes == G.PARTIAL_CLASSES and partial.options == G.PARTIAL_OPTIONS
    with pytest.raises(ValueError, match="Unknown pretrained partial-DA row"):
        G.pretrained_partial_spec("GSDA, from the source-only model")
