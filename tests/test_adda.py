"""ADDA: the frozen source encoder and classifier, which roles each sub-step moves, the losses by hand, the
direction of each sub-step, label leak, determinism and the spec's pretraining requirement."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from uda_nb import methods
from uda_nb.experiments import RunSpec
from uda_nb.methods import Batch
from uda_nb.train import fit, make_optimizer
from conftest import toy_task, with_permuted_target_labels
from test_regda_method import Recorder


def _batch(task, n=16):
    return Batch(task.source.images[:n], task.source.labels[:n], task.target.images[:n])


def _pretrained(task, seed=0, steps=8):
    """A source-only model, then an ADDA model initialised from it (what RunSpec(init_from=...) does)."""
    so = fit(methods.create("source_only", 10, task.image_shape, seed=seed), task, steps, 8, lr=0.05, seed=seed,
             progress=False, device="cpu").method
    adda = methods.create("adda", 10, task.image_shape, seed=seed)
    adda.features.load_state_dict(so.features.state_dict())
    adda.classifier.load_state_dict(so.classifier.state_dict())
    return so, adda


def test_each_substep_updates_only_its_role_and_the_source_model_stays_fixed():
    task = toy_task()
    so, m = _pretrained(task)
    opt = make_optimizer(m, 0.01)
    assert {g["role"] for g in opt.param_groups} == {"feature", "adversarial"}  # C and M_s are not trained
    rec = Recorder(m, opt)
    for _ in range(2):
        m.update(_batch(task), 0.5, opt)
    assert [c["grad"] for c in rec.calls] == [{"adversarial"}, {"feature"}] * 2
    assert [c["moved"] for c in rec.calls] == [{"adversarial"}, {"feature"}] * 2
    assert [c["buffers"] for c in rec.calls] == [{"adversarial"}, {"feature"}] * 2
    # M_s is the pretrained encoder (taken at the first update), C the pretrained classifier: neither moved
    for name, ref in (("source_features", so.features), ("classifier", so.classifier)):
        mine = getattr(m, name).state_dict()
        assert all(torch.equal(mine[k], v) for k, v in ref.state_dict().items()), name
    assert not torch.equal(next(m.features.parameters()), next(so.features.parameters()))  # M_t did move
    assert bool(m.source_frozen)


def test_losses_match_a_hand_computation():
    task = toy_task()
    m = methods.create("adda", 10, task.image_shape, seed=0)
    z_s, z_t = torch.randn(5, 1), torch.randn(7, 1)
    m.discriminator = torch.nn.Identity()  # D(z) = z: the logit is the feature itself
    sig = torch.sigmoid
    want_d = -(torch.log(sig(z_s)).mean() + torch.log(1 - sig(z_t)).mean())
    want_t = -torch.log(sig(z_t)).mean()
    assert float(m.discriminator_loss(z_s.squeeze(1), z_t.squeeze(1))) == pytest.approx(float(want_d), rel=1e-5)
    assert float(m.encoder_loss(z_t.squeeze(1))) == pytest.approx(float(want_t), rel=1e-5)


def test_the_discriminator_step_separates_and_the_encoder_step_confuses():
    """After the discriminator's sub-step D scores target features of M_t as more 'target'; after the encoder's
    sub-step the same target images score as more 'source' (the inverted labels at work)."""
    task = toy_task()
    _, m = _pretrained(task)
    batch = _batch(task, 32)
    opt = make_optimizer(m, 0.05, momentum=0.0)
    m.train()
    seen = []
    orig = opt.step

    def step():
        orig()
        with torch.no_grad():
            m.eval()
            seen.append(float(torch.sigmoid(m.discriminator(m.features(batch.x_t))).mean()))
            m.train()
    with torch.no_grad():
        m.eval()
        before = float(torch.sigmoid(m.discriminator(m.features(batch.x_t))).mean())
        m.train()
    opt.step = step
    m.update(batch, 0.0, opt)
    after_d, after_t = seen
    assert after_d < before  # D learned to call these target
    assert after_t > after_d  # M_t moved them towards what D calls source


def test_source_encoder_keeps_its_batchnorm_statistics_in_training_mode():
    task = toy_task()
    m = methods.create("adda", 10, task.image_shape, backbone="drt-digits", dynamic="static", seed=0)
    m.train()
    assert m.features.training and not m.source_features.training


def test_target_labels_never_reach_training_and_runs_are_deterministic():
    task = toy_task()
    permuted = with_permuted_target_labels(task)
    states = []
    for t in (task, permuted, task):
        _, m = _pretrained(task)
        res = fit(m, t, 6, 8, lr=0.01, seed=0, progress=False, device="cpu", eval_every=3)
        states.append(res.method.state_dict())
    for s in states[1:]:
        assert all(torch.equal(states[0][k], s[k]) for k in states[0])
    assert "loss_disc" in res.history and "target_acc" in res.history


def test_adda_without_a_pretrained_source_model_is_refused():
    with pytest.raises(ValueError, match="init_from"):
        RunSpec("adda", source="mnist", target="mnistm")
    pre = RunSpec("source_only", source="mnist", target="mnistm")
    with pytest.raises(ValueError, match="classifier"):
        RunSpec("adda", source="mnist", target="mnistm", init_from=pre)  # C must come from the pretrained run too
    RunSpec("adda", source="mnist", target="mnistm", init_from=pre, init_modules=("features", "classifier"))
    m = methods.create("adda", 10, toy_task().image_shape, seed=0)
    with pytest.raises(ValueError, match="target images"):
        m.update(Batch(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long)), 0.0, make_optimizer(m, 0.01))


def test_pretrained_run_initialises_adda_through_the_run_cache(tmp_path, monkeypatch):
    """``run()`` loads the source-only run's features and classifier; the frozen copy equals them."""
    from uda_nb import experiments
    task = toy_task()
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path))
    pre = RunSpec("source_only", source="toy", target="toy", steps=4, batch_size=8, eval_every=None)
    spec = RunSpec("adda", source="toy", target="toy", steps=3, batch_size=8, eval_every=None, init_from=pre,
                   init_modules=("features", "classifier"))
    so = experiments.run(pre, 0, task=task, cache=False)
    out = experiments.run(spec, 0, task=task, cache=False)
    for k, v in so.method.classifier.state_dict().items():
        assert torch.equal(out.method.classifier.state_dict()[k], v)
    for k, v in so.method.features.state_dict().items():
        assert torch.equal(out.method.source_features.state_dict()[k], v)
    assert F.softmax(out.method(task.target_test.images[:4]), 1).shape == (4, 10)
