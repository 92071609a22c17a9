"""MDD: the disparity by hand, the gradient each network gets (signs, reversal, warm start), the schedule's mapping
to the reference, construction and roles, label leak and determinism, a short fit."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from uda_nb import methods
from uda_nb.methods import MDD, Batch, margin_disparity
from uda_nb.methods.mdd import source_disparity, target_disparity
from uda_nb.train import fit, make_optimizer
from conftest import toy_task, with_permuted_target_labels


def _batch(task, n=8):
    return Batch(task.source.images[:n], task.source.labels[:n], task.target.images[:n])


def _softmax(row):
    e = np.exp(np.asarray(row, dtype=np.float64) - max(row))
    return e / e.sum()


def test_disparity_matches_a_hand_computation():
    y_s = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.5, 3.0]])        # f predicts classes 0 and 2 on the source
    y_s_adv = torch.tensor([[1.0, 0.0, -1.0], [0.3, 2.0, 0.1]])   # f' agrees on the first, not on the second
    y_t = torch.tensor([[0.0, 4.0, 1.0], [1.0, 0.0, -2.0]])       # f predicts 1 and 0 on the target
    y_t_adv = torch.tensor([[0.5, 1.5, 0.0], [-1.0, 0.2, 0.7]])
    h_s, h_t = [0, 2], [1, 0]
    ce = [-math.log(_softmax(r)[h]) for r, h in zip(y_s_adv.tolist(), h_s)]
    tgt = [-math.log(1.0 - _softmax(r)[h] + 1e-6) for r, h in zip(y_t_adv.tolist(), h_t)]
    src_hand, tgt_hand = sum(ce) / 2, sum(tgt) / 2
    assert float(source_disparity(y_s, y_s_adv)) == pytest.approx(src_hand, rel=1e-5)
    assert float(target_disparity(y_t, y_t_adv)) == pytest.approx(tgt_hand, rel=1e-5)
    for gamma in (1.0, 4.0):
        assert float(margin_disparity(y_s, y_s_adv, y_t, y_t_adv, margin=gamma)) == pytest.approx(
            gamma * src_hand + tgt_hand, rel=1e-5)
    # the eps of shift_log sits inside the log of the target term: an f' sure of f's target class costs
    # -log(1e-6) per sample, not inf
    sure = torch.tensor([[0.0, 60.0, 0.0], [60.0, 0.0, 0.0]])
    assert float(target_disparity(y_t, sure)) == pytest.approx(-math.log(1e-6), rel=1e-4)
    # and f' agreeing with f on the target is what costs: moving its mass off h_t lowers the term
    assert float(target_disparity(y_t, -sure)) < 1e-5
    with pytest.raises(ValueError, match="logits"):
        margin_disparity(y_s, y_s_adv[:1], y_t, y_t_adv)


def _reference_grads(model, batch, trade_off):
    """Gradients of CE and of the disparity for every role, computed without any gradient reversal."""
    n = len(batch.x_s)
    z = model.features(torch.cat([batch.x_s, batch.x_t]))
    y, y_adv = model.classifier(z), model.adversary(z)
    ce = F.cross_entropy(y[:n], batch.y_s)
    disp = margin_disparity(y[:n], y_adv[:n], y[n:], y_adv[n:], margin=model.margin)
    out = {}
    for role, params in model.roles().items():
        g_ce = torch.autograd.grad(ce, params, retain_graph=True, allow_unused=True)
        g_d = torch.autograd.grad(disp, params, retain_graph=True, allow_unused=True)
        out[role] = [(torch.zeros_like(p) if a is None else a, torch.zeros_like(p) if b is None else b)
                     for p, a, b in zip(params, g_ce, g_d)]
    return out


def _grads(model, batch, progress):
    model.zero_grad(set_to_none=True)
    loss, logs = model.compute_loss(batch, progress)
    loss.backward()
    return {r: [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in ps]
            for r, ps in model.roles().items()}, logs


def test_adversary_descends_the_disparity_and_features_get_it_reversed():
    task = toy_task()
    batch = _batch(task)
    trade_off, progress = 0.5, 0.05
    model = methods.create("mdd", 10, task.image_shape, seed=0, trade_off=trade_off, head="mlp", bottleneck=0)
    ref = _reference_grads(copy.deepcopy(model), batch, trade_off)
    got, logs = _grads(model, batch, progress)
    lam = model.adaptation_factor(progress)
    assert 0.0 < lam < 0.1 and float(logs["lambda"]) == pytest.approx(lam)
    # f' receives + trade_off x the disparity's gradient (it descends the disparity)
    for g, (_, g_d) in zip(got["adversarial"], ref["adversarial"]):
        assert torch.allclose(g, trade_off * g_d, atol=1e-6, rtol=1e-4)
    # f receives the source cross-entropy only (the argmax carries no gradient)
    for g, (g_ce, g_d) in zip(got["task"], ref["task"]):
        assert torch.allclose(g, g_ce, atol=1e-7) and not g_d.any()
    # psi: its part from the disparity is -lambda x trade_off x what it would get without the reversal
    nonzero = 0
    for g, (g_ce, g_d) in zip(got["feature"], ref["feature"]):
        assert torch.allclose(g - g_ce, -lam * trade_off * g_d, atol=1e-7, rtol=1e-3)
        nonzero += int(g_d.abs().max() > 1e-6)
    assert nonzero > 0  # the check above is not vacuous
    # a small step of f' alone along its gradient lowers the disparity
    before = float(logs["disparity"])
    with torch.no_grad():
        for p in model.adversary.parameters():
            p -= 0.05 * p.grad
    _, after_logs = model.compute_loss(batch, progress)
    assert float(after_logs["disparity"]) < before


def test_warm_start_features_see_only_source_cross_entropy():
    task = toy_task()
    batch = _batch(task)
    model = methods.create("mdd", 10, task.image_shape, seed=0, head="mlp", bottleneck=0)  # no dropout draws
    assert model.adaptation_factor(0.0) == 0.0
    ref = _reference_grads(copy.deepcopy(model), batch, 1.0)
    got, _ = _grads(model, batch, 0.0)
    for g, (g_ce, _) in zip(got["feature"], ref["feature"]):
        assert torch.allclose(g, g_ce, atol=1e-7)
    assert any(g.abs().max() > 0 for g in got["adversarial"])  # f' already learns at p = 0
    # later in training psi's gradient differs from the cross-entropy's
    got_late, _ = _grads(model, batch, 0.5)
    assert any(not torch.allclose(g, g_ce, atol=1e-6) for g, (g_ce, _) in zip(got_late["feature"], ref["feature"]))


def test_schedule_is_the_reference_warm_start_in_terms_of_progress():
    """tllib's WarmStartGradientReverseLayer(alpha=1, lo=0, hi=0.1, max_iters=1000) at iteration i of its
    20 x 1000 iterations equals our coefficient at p = i / 20000."""
    model = methods.create("mdd", 10, (3, 32, 32), seed=0)

    def tllib(i, alpha=1.0, lo=0.0, hi=0.1, max_iters=1000):
        return 2.0 * (hi - lo) / (1.0 + np.exp(-alpha * i / max_iters)) - (hi - lo) + lo

    for i in (0, 1, 250, 1000, 3000, 8000, 20000):
        assert model.adaptation_factor(i / 20000) == pytest.approx(tllib(i), abs=1e-12)
    assert model.adaptation_factor(1.0) == pytest.approx(0.1, rel=1e-6)
    values = [model.adaptation_factor(p / 20) for p in range(21)]
    assert all(a < b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("backbone", [None, "drt-digits"])
def test_create_builds_mdd_with_an_adversary_like_the_classifier_and_roles_cover_every_parameter(backbone):
    m = methods.create("mdd", 10, (3, 32, 32), seed=0, backbone=backbone)
    assert isinstance(m, MDD) and m.name == "mdd"
    assert (m.margin, m.trade_off, m.lambda_max, m.lambda_gamma) == (4.0, 1.0, 0.1, 20.0)
    assert [p.shape for p in m.adversary.parameters()] == [p.shape for p in m.classifier.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(m.adversary.parameters(), m.classifier.parameters()))
    roles = m.roles()
    assert set(roles) == {"feature", "task", "adversarial"}
    listed = [id(p) for ps in roles.values() for p in ps]
    assert len(listed) == len(set(listed)) == len(list(m.parameters()))
    assert [id(p) for p in m.adversary.parameters()] == [id(p) for p in roles["adversarial"]]
    assert {g["role"] for g in m.param_groups(0.01)} == {"feature", "task", "adversarial"}
    m.eval()
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    again = methods.create("mdd", 10, (3, 32, 32), seed=0, backbone=backbone)
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), again.state_dict().values()))


def test_target_labels_never_reach_training_and_runs_are_deterministic():
    task = toy_task()
    permuted = with_permuted_target_labels(task)
    assert task.target.labels is None
    assert not torch.equal(task.target_test.labels, permuted.target_test.labels)
    states = []
    for t in (task, permuted, task):
        m = methods.create("mdd", 10, t.image_shape, seed=0)
        torch.manual_seed(0)  # TLlib's dropout draws from the global generator (experiments.run seeds it)
        res = fit(m, t, 4, 8, lr=0.01, seed=0, progress=False, device="cpu", eval_every=2)
        states.append(res.method.state_dict())
    for s in states[1:]:
        assert all(torch.equal(states[0][k], s[k]) for k in states[0])
    start = methods.create("mdd", 10, task.image_shape, seed=0).state_dict()
    assert any(not torch.equal(start[k], states[0][k]) for k in start if "adversary" in k)  # f' trained


def test_short_fit_runs_with_finite_losses():
    task = toy_task()
    m = methods.create("mdd", 10, task.image_shape, seed=0)
    res = fit(m, task, 6, 8, lr=0.01, seed=0, progress=False, device="cpu", eval_every=3)
    h = res.history
    cols = ["loss", "loss_cls", "disparity", "disparity_source", "disparity_target", "agreement_source", "lambda"]
    assert all(c in h for c in cols) and "target_acc" in h
    assert np.isfinite(h[cols].to_numpy()).all()
    assert (h["disparity"] > 0).all() and (h["lambda"] < 0.1).all()


def test_bad_options_are_explained():
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="margin"):
            methods.create("mdd", 10, (3, 32, 32), margin=bad)
    with pytest.raises(ValueError, match="trade_off"):
        methods.create("mdd", 10, (3, 32, 32), trade_off=-0.1)
    with pytest.raises(ValueError, match="lambda_gamma"):
        methods.create("mdd", 10, (3, 32, 32), lambda_gamma=0)
    with pytest.raises(ValueError, match="unknown options"):
        methods.create("mdd", 10, (3, 32, 32), gamma=4)
    methods.create("mdd", 10, (3, 32, 32), trade_off=0)  # 0 is allowed: source-only with an idle adversary
    m = methods.create("mdd", 10, (3, 32, 32), seed=0)
    task = toy_task()
    with pytest.raises(ValueError, match="target images"):
        m.update(Batch(task.source.images[:4], task.source.labels[:4]), 0.0, make_optimizer(m, 0.01))
