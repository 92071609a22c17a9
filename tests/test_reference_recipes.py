"""The references' recipes adopted in issue 40 (docs/references/): MDD on TLlib's network and optimiser, the MCD /
DRT heads, DRT's step schedule, the TransPar entropy weight per method, DANN's entropy control for GSDA's partial
DA, and run keys that retrain a changed recipe while every other run keeps its key."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from uda_nb import methods
from uda_nb.experiments import RunSpec, recipe_version, run_key
from uda_nb.methods import Batch
from uda_nb.models.heads import Bottleneck
from uda_nb.papers import gsda as G
from uda_nb.papers import transpar as T
from uda_nb.schedules import lr_schedule


def test_mdd_is_built_on_tllibs_bottleneck_and_heads():
    m = methods.create("mdd", 10, (3, 32, 32), seed=0)
    assert isinstance(m.features, Bottleneck) and m.features.out_features == 1024
    linear, bn = m.features.bottleneck[0], m.features.bottleneck[1]
    assert isinstance(bn, nn.BatchNorm1d) and isinstance(m.features.bottleneck[3], nn.Dropout)
    assert torch.all(linear.bias == 0.1) and abs(float(linear.weight.detach().std()) - 0.005) < 0.001
    for head in (m.classifier, m.adversary):
        layers = [l for l in head.net if isinstance(l, nn.Linear)]
        assert [(l.in_features, l.out_features) for l in layers] == [(1024, 1024), (1024, 10)]
        assert all(torch.all(l.bias == 0) and abs(float(l.weight.detach().std()) - 0.01) < 0.002 for l in layers)
        assert any(isinstance(l, nn.Dropout) and l.p == 0.5 for l in head.net)
    # the bottleneck belongs to the feature role: TransPar's FE, the A-distance's features
    assert set(map(id, m.features.bottleneck.parameters())) <= set(map(id, m.roles()["feature"]))
    plain = methods.create("mdd", 10, (3, 32, 32), seed=0, head="mlp", bottleneck=0)
    assert not isinstance(plain.features, Bottleneck)
    with pytest.raises(ValueError, match="bottleneck"):
        methods.create("mdd", 10, (3, 32, 32), bottleneck=-1)


def test_mcd_heads_have_batchnorm_and_dropout_and_dann_keeps_its_own():
    m = methods.create("mcd", 10, (3, 32, 32), seed=0)
    kinds = [type(l).__name__ for l in m.classifier.net]
    assert kinds == ["Dropout", "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert [type(l).__name__ for l in methods.create("dann", 10, (3, 32, 32), seed=0).classifier.net] == [
        "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    with pytest.raises(ValueError, match="head"):
        methods.create("dann", 10, (3, 32, 32), head="wide")


def test_mdd_specs_use_tllibs_optimiser_and_a_matched_source_only_baseline():
    mdd = T.table_spec("mdd", "mnist", "mnistm", "report")
    assert (mdd.optimizer, mdd.weight_decay) == ("nesterov", 5e-4)
    base = T.table_spec("source_only", "mnist", "mnistm", "report", mdd_network=True)
    assert (base.optimizer, base.weight_decay, base.steps) == ("nesterov", 5e-4, mdd.steps)
    assert base.model["head"] == "tllib" and base.model["bottleneck"] == 1024
    net = methods.create("source_only", 10, (3, 32, 32), seed=0, **base.model)
    assert isinstance(net.features, Bottleneck)
    # TransPar-MDD: the authors' entropy weight for MDD, and TransPar's own decay instead of the optimiser's
    tp = T.table_spec("mdd", "mnist", "mnistm", "report", transpar={"ratio": 0.5})
    assert tp.transpar["entropy"] == 0.01 and tp.weight_decay == 0.0 and tp.optimizer == "nesterov"
    assert "entropy" not in T.table_spec("dann", "mnist", "mnistm", "report", transpar={"ratio": 0.5}).transpar
    assert T.table_spec("mdd", "mnist", "mnistm", "report", transpar={"ratio": 0.5, "entropy": 0.1}).transpar[
        "entropy"] == 0.1


def test_thirds_schedule_divides_the_rate_by_ten_at_each_third():
    f = lr_schedule("thirds")
    assert [f(p) for p in (0.0, 0.33, 1 / 3, 0.66, 2 / 3, 1.0)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_dann_entropy_term_is_alpha_times_the_target_entropy():
    from conftest import toy_task
    task = toy_task()
    batch = Batch(task.source.images[:8], task.source.labels[:8], task.target.images[:8])
    plain = methods.create("dann", 10, task.image_shape, seed=0).eval()
    ent = methods.create("dann", 10, task.image_shape, seed=0, entropy=0.2).eval()
    loss_plain, _ = plain.compute_loss(batch, 0.5)
    loss_ent, logs = ent.compute_loss(batch, 0.5)
    with torch.no_grad():
        p = F.softmax(plain.classifier(plain.features(batch.x_t)), 1)
        h = float(-(p * p.log()).sum(1).mean())
    assert float(logs["entropy"]) == pytest.approx(h, rel=1e-5)
    assert float((loss_ent - loss_plain).detach()) == pytest.approx(0.2 * h, rel=1e-4)
    with pytest.raises(ValueError, match="entropy"):
        methods.create("dann", 10, task.image_shape, entropy=-1)


def test_partial_da_gives_dann_the_same_entropy_term_as_gsda():
    dann, gsda = G.partial_spec("DANN", "report"), G.partial_spec("GSDA", "report")
    assert dann.options["entropy"] == gsda.options["alpha"] == 0.2
    pre = G.partial_spec("DANN, from the source-only model", "report")
    assert pre.options["entropy"] == 0.2 and pre.init_from is not None


def test_recipe_versions_retrain_changed_methods_only():
    cpu = torch.device("cpu")
    dann = RunSpec("dann", steps=10)
    assert recipe_version(dann) == 0 and recipe_version(RunSpec("mdd", steps=10)) == 2
    assert recipe_version(RunSpec("source_only", steps=10, backbone="drt-digits")) == 2
    # TransPar 3: ties at the ranking threshold broken by position (methods.transpar.top_mask)
    assert recipe_version(RunSpec("dann", steps=10, transpar={"ratio": 0.5})) == 5
    # a DANN run's key is what it was before the recipe table existed: 01_dann's cached runs stay valid
    from uda_nb.cache import config_key
    from uda_nb.experiments import RUNS_VERSION, _spec_key, data_versions
    old = config_key({"spec": _spec_key(dann), "seed": 0, "device": "cpu", "version": RUNS_VERSION,
                      "data": data_versions(dann)})
    assert run_key(dann, 0, cpu) == old
    mdd = RunSpec("mdd", steps=10)
    assert run_key(mdd, 0, cpu) != config_key({"spec": _spec_key(mdd), "seed": 0, "device": "cpu",
                                               "version": RUNS_VERSION, "data": data_versions(mdd)})
