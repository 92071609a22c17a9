"""The pieces 04_transpar and 04a_transpar_scope build on: the update-rule picture computes what the optimizer
does, the sizes and specs share runs where the experiment is the same, and the figures draw from cached-run data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from uda_nb.methods import Method
from uda_nb.methods.transpar import TransPar
from uda_nb.papers import transpar as T
from uda_nb.train import make_optimizer
from uda_nb.viz.transpar import (plot_distance_bars, plot_mask_dynamics, plot_ratio_sweep, plot_update_rule,
                                 rule_on_layer)


class OneLayer(Method):
    """A feature role with one 8x10 weight (no bias), a task role with a 3x8 weight."""

    def __init__(self):
        super().__init__(nn.Linear(10, 8, bias=False), nn.Linear(8, 3, bias=False))


def test_the_pictured_rule_is_the_optimizers_step():
    torch.manual_seed(0)
    model = OneLayer()
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    w0 = model.features.weight.detach().clone()
    g0 = model.features.weight.grad.clone()
    score, mask, step = rule_on_layer(w0, g0, ratio=0.3, lr=0.1, decay=0.01)
    assert int(mask.sum()) == round(0.3 * 80)
    assert torch.equal(score, (w0 * g0).abs())
    assert score[mask].min() >= score[~mask].max()  # the top of the scores, nothing else
    opt = TransPar(make_optimizer(model, 0.1, momentum=0.0), {"ratio": 0.3, "decay": 0.01, "entropy": 0.0})
    for group in opt.param_groups:
        group["lr"] = 0.1
    opt.step()
    assert torch.allclose(model.features.weight.detach() - w0, step, atol=1e-7)
    assert torch.equal(opt.masks[model.features.weight], mask)


def test_sizes_share_runs_where_the_experiment_is_the_same():
    for name in ("smoke", "lecture", "report", "paper"):
        assert T.sizes_for(name).seeds >= (2 if name in ("report", "paper") else 1)
    # the lecture budget is sized for a live class: shorter runs than the report's
    assert T.table_spec("dann", "mnist", "mnistm", "lecture").steps < T.table_spec("dann", "mnist", "mnistm", "report").steps
    # a table run with TransPar differs from the plain one only in its transpar field
    plain = T.table_spec("dann", "mnist", "mnistm", "report")
    wrapped = T.table_spec("dann", "mnist", "mnistm", "report", transpar={"ratio": 0.5})
    assert {k for k in plain.__dict__ if plain.__dict__[k] != wrapped.__dict__[k]} == {"transpar"}
    # smoke and paper keep the budget's steps (None), so on mnist -> mnistm they are 01_dann's runs
    assert T.table_spec("dann", "mnist", "mnistm", "smoke").steps == 40
    short = T.short_spec("dann", "syn", "street", "report", 500)
    assert (short.steps, short.adist_samples, short.snapshot_samples, short.model) == (500, 0, 0, {"batch_norm": True})


def test_the_ratio_is_rounded_to_the_sweeps_grid():
    grid = [float(t) for t in T.tau_grid()]
    assert grid == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert T.rounded_ratio(0.489) == 0.5 and T.rounded_ratio(0.466) == 0.5 and T.rounded_ratio(0.75) in (0.7, 0.8)
    assert all(T.rounded_ratio(t) in grid for t in np.linspace(0.466, 0.75, 30))


def test_the_sweep_runs_the_budgets_grid_with_the_estimated_ratio_added():
    assert T.sweep_taus("paper", 0.5) == [float(t) for t in T.tau_grid()]  # Figure 6's whole grid
    assert T.sweep_taus("report", 0.5) == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert T.sweep_taus("report", 0.6) == [0.1, 0.3, 0.5, 0.6, 0.7, 0.9]  # the estimate is always run
    assert T.sweep_taus("report", 0.64) == [0.1, 0.3, 0.5, 0.6, 0.7, 0.9]  # rounded to the grid's digits


def test_figures_draw_from_plain_frames():
    w = torch.randn(48, 32, 5, 5)
    fig = plot_update_rule(w, torch.randn_like(w), ratio=0.5)
    assert len(fig.axes) == 5
    sweep = pd.DataFrame({"ratio": [0.1, 0.1, 0.5, 0.5], "seed": [0, 1, 0, 1], "accuracy": [60, 61, 70, 72]})
    ax = plot_ratio_sweep(sweep, estimated=0.5, baseline=[74, 75])
    # the mean line goes through the per-ratio means
    line = [l for l in ax.get_lines() if l.get_label() == "mean over seeds"][0]
    assert list(line.get_ydata()) == [60.5, 71.0]
    bars = pd.DataFrame({"model": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "A-distance": [1.0, 1.2, 0.5, 0.7]})
    ax = plot_distance_bars(bars)
    assert [round(p.get_height(), 6) for p in ax.patches[:2]] == [1.1, 0.6]
    rows = pd.DataFrame([{"step": s, "role": "feature", "name": n, "fraction": f}
                         for s in (10, 20) for n, f in (("a", 0.4), ("b", 0.6), ("*", 0.9))])
    axes = plot_mask_dynamics(rows)
    assert len(axes) == 2


def test_unknown_features_for_the_ratio_are_refused():
    with pytest.raises(ValueError, match="choose one of"):
        T.ratio_features("clip", "mnist", "mnistm")


def test_transpar_regda_adapts_regdas_own_source_only_model():
    from uda_nb.papers import regda as R

    sizes = R.sizes_for("report")
    plain = R.adapt_spec("regda", *R.HANDS, sizes)
    wrapped = R.adapt_spec("regda", *R.HANDS, sizes, transpar={"ratio": 0.6})
    assert wrapped.transpar == {"ratio": 0.6} and plain.transpar is None
    assert wrapped.init_from == plain.init_from and wrapped.init_from.transpar is None


def test_the_lecture_budget_leaves_table_vii_out_and_the_others_run_it():
    assert not T.sizes_for("lecture").regda_table
    assert all(T.sizes_for(name).regda_table for name in ("smoke", "report", "paper"))


def test_the_pretrained_regime_runs_the_authors_optimisers_and_leaves_the_lecture():
    for method, opt in T.PRETRAINED_OPTIMIZER.items():
        spec = T.pretrained_spec(method, "syn", "street", "report")
        assert spec.backbone == T.PRETRAINED_BACKBONE and spec.model == T.PRETRAINED_MODEL
        assert (spec.lr, spec.weight_decay, spec.optimizer) == (opt["lr"], opt["weight_decay"],
                                                                opt.get("optimizer", "sgd"))
        assert spec.steps == T.sizes_for("report").pretrained_steps
    wrapped = T.pretrained_spec("mdd", "syn", "street", "report", {"ratio": 0.5})
    assert wrapped.weight_decay == 0.0 and wrapped.transpar == {"ratio": 0.5, "entropy": 0.01}  # TransPar's decay
    real = T.pretrained_spec("dann", "amazon", "webcam", "paper", backbone="resnet50", model={"weights": "w.pth"})
    assert real.backbone == "resnet50" and real.model == {"weights": "w.pth"} and real.steps == 20000
    assert not T.sizes_for("lecture").pretrained
    assert all(T.sizes_for(name).pretrained for name in ("smoke", "report", "paper"))
