"""GSDA: the per-sample gradient norms by hand, the sync loss (zero when synchronised), the gradient each role gets
(signs, reversal, detached weights), the class partition, the batched discriminators, construction and roles, a
short fit, label leak and determinism."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from uda_nb import methods
from uda_nb.methods import GSDA, Batch
from uda_nb.methods.gsda import (StackedDiscriminators, class_groups, class_probabilities, default_num_groups,
                                 feature_grad_norms, hierarchy_weights, sync_loss, weighted_domain_losses)
from uda_nb.train import fit, make_optimizer
from conftest import toy_task, with_permuted_target_labels


def _batch(task, n=8):
    return Batch(task.source.images[:n], task.source.labels[:n], task.target.images[:n])


def _model(**kw):
    return methods.create("gsda", 10, (3, 32, 32), seed=0, **kw)


# --- per-sample gradient norms ---------------------------------------------------------------------------------

def test_feature_grad_norms_match_the_analytic_gradient_of_a_linear_discriminator():
    """For z = w.x + b, d BCE(z, y) / dx = (sigmoid(z) - y) w; with the mean-of-weighted-BCE reduction sample i's
    gradient of L_m is w_im (sigmoid(z_im) - d_i) w_m / N."""
    torch.manual_seed(0)
    n, d, m = 5, 4, 3
    disc = StackedDiscriminators(d, m, hidden=())  # linear: weights[0] is (M, D, 1)
    x = torch.randn(n, d)
    domain = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0])
    weights = torch.rand(n, m)
    weights[1, 2] = 0.0  # a zero weight gives a zero gradient row
    xr = x.unsqueeze(0).expand(m, -1, -1).clone().requires_grad_(True)
    losses = weighted_domain_losses(disc.forward_replicated(xr), domain, weights)
    norms = feature_grad_norms(losses, xr)
    assert norms.shape == (m, n)
    w, b = disc.weights[0].detach().squeeze(-1), disc.biases[0].detach().squeeze(-1)  # (M, D), (M,)
    hand = torch.empty(m, n)
    for j in range(m):
        for i in range(n):
            z = float(x[i] @ w[j] + b[j])
            s = 1.0 / (1.0 + np.exp(-z))
            hand[j, i] = abs(float(weights[i, j]) * (s - float(domain[i]))) * float(w[j].norm()) / n
    assert torch.allclose(norms, hand, rtol=1e-5, atol=1e-8)
    assert norms[2, 1] == 0.0


def test_batched_norms_equal_one_sample_at_a_time_for_an_mlp():
    """One autograd call on the replicated features equals differentiating each sample's own term separately."""
    torch.manual_seed(1)
    n, d, m = 6, 5, 4
    disc = StackedDiscriminators(d, m, hidden=(7,))
    x = torch.randn(n, d)
    domain = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    weights = torch.rand(n, m)
    xr = x.unsqueeze(0).expand(m, -1, -1).clone().requires_grad_(True)
    norms = feature_grad_norms(weighted_domain_losses(disc.forward_replicated(xr), domain, weights), xr)
    for j in range(m):
        net = disc.to_sequential(j)
        for i in range(n):
            xi = x[i:i + 1].clone().requires_grad_(True)
            term = weights[i, j] * F.binary_cross_entropy_with_logits(net(xi).squeeze(1), domain[i:i + 1]) / n
            (g,) = torch.autograd.grad(term, xi)
            assert float(norms[j, i].detach()) == pytest.approx(float(g.norm()), rel=1e-5, abs=1e-9)


# --- the synchronisation loss ----------------------------------------------------------------------------------

def test_sync_loss_matches_a_hand_computation():
    groups = [[0, 2], [1]]  # b = 2, r = 3; G in the order dom, grp_1, grp_2, cls_0, cls_1, cls_2
    g = torch.tensor([5.0, 1.0, 3.0, 0.5, 2.0, 0.25])
    loss, parts = sync_loss(g, groups)
    grp_cls = (abs(1.0 - (0.5 + 0.25)) + abs(3.0 - 2.0)) / 2
    dom_grp = abs(5.0 - (1.0 + 3.0))
    assert float(parts["grp_cls"]) == pytest.approx(grp_cls)
    assert float(parts["dom_grp"]) == pytest.approx(dom_grp)
    assert float(loss) == pytest.approx(grp_cls + dom_grp)
    assert (float(parts["dom"]), float(parts["grp_sum"]), float(parts["cls_sum"])) == (5.0, 4.0, 2.75)


def _values(model, batch, progress=0.5):
    """model.terms(...) with every tensor detached (values only)."""
    return {k: v.detach() for k, v in model.terms(batch, progress).items()}


def _set_all_like_first(model):
    with torch.no_grad():
        for p in model.discriminators.parameters():
            p.copy_(p[:1].expand_as(p))


def test_sync_loss_is_zero_for_synchronised_discriminators_and_positive_otherwise():
    """Identical discriminators: every sample's gradient is the same vector scaled by its weight, and the weights of
    a group sum those of its classes (and the groups' sum to D^dom's 1), so both sides of eq. (10)-(11) agree."""
    batch = _batch(toy_task())
    model = _model()
    t = _values(model, batch)
    assert float(t["loss_sync"]) > 1e-4 * float(t["norms"].sum())  # random discriminators are not synchronised
    _set_all_like_first(model)
    t = _values(model, batch)
    scale = float(t["norms"].sum())
    assert scale > 0
    assert float(t["loss_sync"]) < 1e-5 * scale
    assert float(t["sync_dom"]) == pytest.approx(float(t["sync_grp_sum"]), rel=1e-5)
    assert float(t["sync_grp_sum"]) == pytest.approx(float(t["sync_cls_sum"]), rel=1e-5)
    # class discriminators that do not react to the features: G^cls = 0, so eq. (10) is the mean of G^grp
    with torch.no_grad():
        for p in model.discriminators.weights:
            p[1 + model.num_groups:] = 0.0
    t = _values(model, batch)
    assert float(t["sync_cls_sum"]) == 0.0
    assert float(t["sync_grp_cls"]) == pytest.approx(float(t["norms"][1:1 + model.num_groups].mean()), rel=1e-6)
    assert float(t["sync_grp_cls"]) > 0 and float(t["sync_dom_grp"]) < 1e-5 * scale


def test_confidence_threshold_drops_unconfident_target_samples_from_the_local_weights():
    model = _model(confidence_threshold=0.5)
    y_s = torch.tensor([3, 7])
    logits_t = torch.tensor([[8.0] + [0.0] * 9, [0.0] * 10])  # confident (~0.997) and uniform (0.1)
    w = model.sample_weights(y_s, logits_t)
    assert torch.equal(w[:, 0], torch.ones(4))          # everyone enters L^g
    assert w[3, 1:].abs().sum() == 0                     # the uniform target sample leaves L^l
    assert torch.allclose(w[2], _model().sample_weights(y_s, logits_t)[2])
    # with identical discriminators the dropped sample now shows up in G^dom only
    batch = _batch(toy_task())
    strict = _model(confidence_threshold=0.999)
    _set_all_like_first(strict)
    t = _values(strict, batch)
    assert float(t["sync_dom_grp"]) > 1e-3 * float(t["sync_dom"])
    with pytest.raises(ValueError, match="confidence_threshold"):
        _model(confidence_threshold=1.5)


# --- the gradient each role receives ---------------------------------------------------------------------------

def _role_grads(model, loss):
    out = {}
    for role, params in model.roles().items():
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        out[role] = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    return out


def test_sync_gradient_reaches_features_and_discriminators_not_the_classifier():
    model = _model()
    t = model.terms(_batch(toy_task()), 0.5)
    g = _role_grads(model, t["loss_sync"])
    assert any(x.abs().max() > 0 for x in g["feature"])
    assert any(x.abs().max() > 0 for x in g["adversarial"])
    assert all(not x.any() for x in g["task"])
    # the classifier's whole gradient is that of L^c (source CE + alpha * target entropy)
    total = t["loss_cls"] + t["loss_global"] + t["loss_local"] + model.beta * t["loss_sync"]
    g_total, g_cls = _role_grads(model, total)["task"], _role_grads(model, t["loss_cls"])["task"]
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(g_total, g_cls))
    assert any(x.abs().max() > 0 for x in g_cls)
    # and L^c's entropy term does reach the classifier (alpha > 0)
    g_ent = _role_grads(model, t["entropy"])["task"]
    assert any(x.abs().max() > 0 for x in g_ent)


def test_one_update_equals_the_hand_computed_step_of_eq_14_to_17():
    """SGD on theta_D with d(L^g + L^l + beta L^syn), on theta_E with d(L^c + beta L^syn - lambda (L^g + L^l)), on
    theta_C with dL^c, all computed here without any gradient reversal layer."""
    task = toy_task()
    batch = _batch(task)
    beta, progress, lr = 0.5, 0.3, 0.05
    model = _model(beta=beta)
    ref = copy.deepcopy(model)
    lam = model.adaptation_factor(progress)
    assert 0 < lam < 1
    opt = torch.optim.SGD(model.param_groups(lr), lr=lr)
    logs = model.update(batch, progress, opt)

    n_s = len(batch.x_s)
    f = ref.features(torch.cat([batch.x_s, batch.x_t]))
    logits = ref.classifier(f)
    log_p = F.log_softmax(logits[n_s:], 1)
    l_c = F.cross_entropy(logits[:n_s], batch.y_s) - ref.alpha * (log_p.exp() * log_p).sum(1).mean()
    domain = torch.cat([torch.ones(n_s), torch.zeros(len(f) - n_s)])
    w = hierarchy_weights(class_probabilities(batch.y_s, logits[n_s:], 10), ref.groups)
    adv = weighted_domain_losses(ref.discriminators(f), domain, w).sum()  # L^g + L^l, not reversed
    xr = f.unsqueeze(0).expand(len(w[0]), -1, -1)
    norms = feature_grad_norms(weighted_domain_losses(ref.discriminators.forward_replicated(xr), domain, w), xr)
    l_syn, _ = sync_loss(norms.sum(1), ref.groups)
    assert float(logs["loss_sync"]) == pytest.approx(float(l_syn.detach()), rel=1e-5)
    assert float(logs["loss_global"]) + float(logs["loss_local"]) == pytest.approx(float(adv.detach()), rel=1e-5)
    g_c, g_adv, g_syn = (_role_grads(ref, x) for x in (l_c, adv, l_syn))
    expected = {"feature": [p - lr * (a + beta * s - lam * d) for p, a, s, d in
                            zip(ref.roles()["feature"], g_c["feature"], g_syn["feature"], g_adv["feature"])],
                "task": [p - lr * a for p, a in zip(ref.roles()["task"], g_c["task"])],
                "adversarial": [p - lr * (d + beta * s) for p, d, s in
                                zip(ref.roles()["adversarial"], g_adv["adversarial"], g_syn["adversarial"])]}
    for role, params in model.roles().items():
        for got, want in zip(params, expected[role]):
            assert torch.allclose(got, want, atol=1e-6, rtol=1e-4), role
    # the sync term really pulls on the features (the check above is not vacuous for its sign)
    assert any(s.abs().max() > 1e-6 for s in g_syn["feature"])


def test_source_weights_are_one_hot_and_target_weights_the_detached_softmax():
    y_s = torch.tensor([2, 0, 2])
    logits_t = torch.randn(4, 5, requires_grad=True)
    p = class_probabilities(y_s, logits_t, 5)
    assert p.shape == (7, 5) and not p.requires_grad
    assert torch.equal(p[:3], F.one_hot(y_s, 5).float())
    assert torch.allclose(p[3:], F.softmax(logits_t, 1).detach())
    groups = [[0, 3], [1, 2, 4]]
    w = hierarchy_weights(p, groups)
    assert w.shape == (7, 1 + 2 + 5)
    assert torch.equal(w[:, 0], torch.ones(7))
    assert torch.allclose(w[:, 1], p[:, 0] + p[:, 3]) and torch.allclose(w[:, 2], p[:, [1, 2, 4]].sum(1))
    assert torch.allclose(w[:, 1:3].sum(1), torch.ones(7)) and torch.equal(w[:, 3:], p)
    assert torch.equal(w[:3, 1:3], torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))
    # inside the method: the classifier gets nothing through the weights of the adversarial or sync terms
    model = _model()
    t = model.terms(_batch(toy_task()), 0.5)
    g = _role_grads(model, t["loss_global"] + t["loss_local"] + t["loss_sync"])["task"]
    assert all(not x.any() for x in g)


# --- groups, discriminators, construction ----------------------------------------------------------------------

def test_class_groups_are_a_seeded_partition():
    a = class_groups(10, 3, seed=0)
    assert a == class_groups(10, 3, seed=0)
    assert len(a) == 3 and sorted(k for g in a for k in g) == list(range(10))
    assert sorted(len(g) for g in a) == [3, 3, 4]
    assert any(class_groups(10, 3, seed=s) != a for s in (1, 2, 3))
    for r, b in ((31, 6), (65, 13), (12, 4), (5, 5), (7, 1)):
        gs = class_groups(r, b, seed=4)
        assert len(gs) == b and sorted(k for g in gs for k in g) == list(range(r))
        assert max(map(len, gs)) - min(map(len, gs)) <= 1
    with pytest.raises(ValueError, match="number of groups"):
        class_groups(10, 11)
    with pytest.raises(ValueError, match="number of groups"):
        class_groups(10, 0)
    assert [default_num_groups(r) for r in (10, 31, 65, 12, 2)] == [3, 6, 13, 4, 1]


def test_stacked_discriminators_equal_separate_ones():
    torch.manual_seed(2)
    disc = StackedDiscriminators(6, 5, hidden=(7, 3))
    x = torch.randn(9, 6)
    logits = disc(x)
    assert logits.shape == (9, 5)
    seq = [disc.to_sequential(m) for m in range(5)]
    assert all(not any(isinstance(l, torch.nn.BatchNorm1d) for l in s) for s in seq)
    separate = torch.cat([s(x) for s in seq], dim=1)
    assert torch.allclose(logits, separate, atol=1e-6)
    assert torch.allclose(disc.forward_replicated(x.expand(5, -1, -1)), separate, atol=1e-6)
    xs = torch.randn(5, 9, 6)  # each discriminator reads its own input
    assert torch.allclose(disc.forward_replicated(xs), torch.cat([s(xs[m]) for m, s in enumerate(seq)], 1), atol=1e-6)
    assert not torch.allclose(separate[:, 0], separate[:, 1])  # independently initialised


def test_create_builds_gsda_and_roles_cover_every_parameter():
    m = _model()
    assert isinstance(m, GSDA) and m.name == "gsda"
    assert (m.alpha, m.beta, m.gamma, m.lambda_max, m.confidence_threshold) == (0.02, 1.0, 10.0, 1.0, None)
    assert m.num_groups == 3 and m.groups == class_groups(10, 3, 0)
    assert m.discriminators.num_discriminators == 1 + 3 + 10 and m.discriminators.hidden == (100,)
    roles = m.roles()
    assert set(roles) == {"feature", "task", "adversarial"}
    listed = [id(p) for ps in roles.values() for p in ps]
    assert len(listed) == len(set(listed)) == len(list(m.parameters()))
    assert {g["role"] for g in m.param_groups(0.01)} == {"feature", "task", "adversarial"}
    m.eval()
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), _model().state_dict().values()))
    other = methods.create("gsda", 10, (3, 32, 32), seed=0, num_groups=5, group_seed=1, disc_hidden=(16,))
    assert other.num_groups == 5 and other.discriminators.hidden == (16,)
    assert other.discriminators.num_discriminators == 16
    with pytest.raises(ValueError, match="beta"):
        _model(beta=-1)
    with pytest.raises(ValueError, match="number of groups"):
        _model(num_groups=11)
    with pytest.raises(ValueError, match="unknown options"):
        _model(margin=4)
    with pytest.raises(ValueError, match="target images"):
        task = toy_task()
        m.update(Batch(task.source.images[:4], task.source.labels[:4]), 0.0, make_optimizer(m, 0.01))


# --- training ---------------------------------------------------------------------------------------------------

def test_short_fit_is_finite_moves_every_role_is_deterministic_and_never_reads_target_labels():
    task = toy_task()
    permuted = with_permuted_target_labels(task)
    assert task.target.labels is None
    assert not torch.equal(task.target_test.labels, permuted.target_test.labels)
    start = _model().state_dict()
    states = []
    for i, t in enumerate((task, permuted, task)):
        res = fit(_model(), t, 3, 8, lr=0.01, seed=0, progress=False, device="cpu", eval_every=3)
        states.append(res.method.state_dict())
        if i == 0:
            h = res.history
            cols = ["loss", "loss_cls", "loss_global", "loss_local", "loss_sync", "sync_dom_norm",
                    "sync_grp_norm_sum", "sync_cls_norm_sum", "domain_acc", "group_acc", "class_acc", "lambda"]
            assert all(c in h for c in cols)
            assert np.isfinite(h[cols].to_numpy()).all() and (h["loss_sync"] >= 0).all()
    for s in states[1:]:
        assert all(torch.equal(states[0][k], s[k]) for k in states[0])
    for prefix in ("features.", "classifier.", "discriminators."):
        assert any(not torch.equal(start[k], states[0][k]) for k in start if k.startswith(prefix)), prefix


def test_levels_switch_the_local_losses_for_table_1s_ablation():
    from uda_nb.methods.gsda import GSDA

    torch.manual_seed(0)
    full = _model()
    batch = _batch(toy_task())
    t_full = full.terms(batch, 0.5)
    b = full.num_groups
    for levels, expected in (((), 0.0), (("class",), "class"), (("group",), "group")):
        m = GSDA(full.features, full.classifier, disc_hidden=full.discriminators.hidden, beta=0.0, levels=levels)
        m.discriminators.load_state_dict(full.discriminators.state_dict())
        t = m.terms(batch, 0.5)
        assert torch.allclose(t["loss_global"], t_full["loss_global"])  # same discriminators and batch
        if expected == 0.0:
            assert float(t["loss_local"].detach()) == 0.0
        else:
            assert float(t["loss_local"].detach()) > 0.0 and float(t["loss_local"].detach()) < float(t_full["loss_local"].detach())
        assert torch.isfinite(t["loss_sync"])  # the gaps are still measured for the curves
    with pytest.raises(ValueError, match="needs levels"):
        GSDA(full.features, full.classifier, beta=1.0, levels=("class",))
    with pytest.raises(ValueError, match="levels must be a tuple"):
        GSDA(full.features, full.classifier, beta=0.0, levels="class")
    assert b == 3


def test_discriminator_accuracies_are_weighted_and_chance_without_weight():
    from uda_nb.methods.gsda import discriminator_accuracies

    domain = torch.tensor([1.0, 1.0, 0.0, 0.0])
    # discriminator 0: right on samples 0, 2, 3, wrong on 1; discriminator 1: right only on sample 1
    logits = torch.tensor([[2.0, -1.0], [-1.0, 3.0], [-2.0, 1.0], [-0.5, 1.0]])
    weights = torch.tensor([[1.0, 0.0], [1.0, 0.5], [1.0, 0.25], [1.0, 0.25]])
    acc = discriminator_accuracies(logits, domain, weights)
    assert acc[0].item() == pytest.approx(0.75)
    assert acc[1].item() == pytest.approx(0.5 / 1.0)  # right on weight 0.5 out of 0.5 + 0.25 + 0.25
    none = discriminator_accuracies(logits, domain, torch.zeros_like(weights))
    assert torch.equal(none, torch.full((2,), 0.5))
