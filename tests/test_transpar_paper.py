"""TransPar's experiment helpers: specs that share 01_dann's cached runs, the ratio features, the tau grid."""

from __future__ import annotations

import pytest
import torch

from uda_nb.config import resolve_budget
from uda_nb.experiments import RunSpec, run_key
from uda_nb.papers import transpar as T

CPU = torch.device("cpu")


def test_dann_and_source_only_specs_are_01_danns():
    budget = resolve_budget("report")
    # what notebooks/01_dann.ipynb builds with its default parameters
    base = RunSpec.from_budget("dann", budget, batch_size=budget.batch_size, lr=0.01, model={"norm": "center"},
                               options={}, adist_samples=budget.adist_samples, snapshot_samples=budget.tsne_points)
    ours = T.spec("dann", "mnist", "mnistm", "report")
    assert run_key(ours, 0, CPU) == run_key(base, 0, CPU)
    so = base.with_method("source_only", model={"norm": "center"}, options={})
    assert run_key(T.spec("source_only", "mnist", "mnistm", "report"), 0, CPU) == run_key(so, 0, CPU)
    tp = T.spec("dann", "mnist", "mnistm", "report", transpar={"ratio": 0.6})
    assert tp.transpar == {"ratio": 0.6} and run_key(tp, 0, CPU) != run_key(ours, 0, CPU)
    assert T.spec("mdd", "syn", "street").source == "syn"


def test_tau_grid_and_ratio_features():
    assert list(T.tau_grid()) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    xs, xt = T.ratio_features("pixels", "mnist", "mnistm", n=50)
    assert xs.shape == xt.shape == (50, 3 * 32 * 32)
    rs, rt = T.ratio_features("random", "mnist", "mnistm", n=50)
    assert rs.shape[0] == 50 and rs.shape[1] == rt.shape[1] < xs.shape[1]
    again, _ = T.ratio_features("random", "mnist", "mnistm", n=50)
    assert torch.equal(rs, again)  # a fixed, seeded random network
    est = T.estimate_ratio("pixels", "mnist", "mnistm", n=200)
    assert 0.0 <= est["d_A"] <= 1.0 and 0.4655 - 1e-3 <= est["tau"] <= 0.75
    with pytest.raises(ValueError, match="ratio features"):
        T.ratio_features("clip", "mnist", "mnistm")
    # the paper's features: the ImageNet network with its random 256-d bottleneck, before training
    xs, xt = T.ratio_features(T.PRETRAINED_FEATURES, "mnist", "mnistm", n=16)
    assert xs.shape == xt.shape == (16, 256) and not torch.equal(xs, xt)
