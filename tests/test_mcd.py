"""MCD: the discrepancy by hand, which roles each sub-step moves, lambda's place, label leak and determinism."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from uda_nb import methods
from uda_nb.methods import Batch, classifier_discrepancy
from uda_nb.train import fit, make_optimizer
from conftest import toy_task, with_permuted_target_labels
from test_regda_method import Recorder


def _batch(task, n=16):
    return Batch(task.source.images[:n], task.source.labels[:n], task.target.images[:n])


def test_discrepancy_is_the_mean_absolute_difference_of_the_softmax_outputs():
    l1 = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]]))
    l2 = torch.log(torch.tensor([[0.1, 0.2, 0.7], [0.25, 0.25, 0.5]]))
    # image 0: |0.6| + 0 + |0.6| = 1.2; image 1: 0; mean over 2 x 3 entries: 1.2 / 6
    assert float(classifier_discrepancy(l1, l2)) == pytest.approx(0.2)
    assert float(classifier_discrepancy(l1, l1)) == 0.0
    with pytest.raises(ValueError, match="one shape"):
        classifier_discrepancy(l1, l2[:1])


@pytest.mark.parametrize("num_k", [1, 3])
def test_each_substep_updates_only_its_roles(num_k):
    task = toy_task()
    m = methods.create("mcd", 10, task.image_shape, seed=0, num_k=num_k)
    opt = make_optimizer(m, 0.01)
    rec = Recorder(m, opt)
    for _ in range(2):  # the second iteration has momentum buffers everywhere: they must stay put too
        m.update(_batch(task), 0.5, opt)
    expected = ([{"feature", "task"}, {"task"}] + [{"feature"}] * num_k) * 2
    assert [c["grad"] for c in rec.calls] == expected  # the other role's gradients are None, not zero
    assert [c["moved"] for c in rec.calls] == expected
    assert [c["buffers"] for c in rec.calls] == expected
    one = methods.create("mcd", 10, task.image_shape, seed=0, one_step=True)
    opt = make_optimizer(one, 0.01)
    rec = Recorder(one, opt)
    one.update(_batch(task), 0.5, opt)
    assert [c["grad"] for c in rec.calls] == [{"feature", "task"}]


def test_step_b_raises_the_target_discrepancy_and_step_c_lowers_it():
    task = toy_task()
    # DANN's heads (no dropout): the discrepancy read between sub-steps is then a function of the weights alone
    m = methods.create("mcd", 10, task.image_shape, seed=0, lam=1.0, num_k=1, head="mlp")
    batch = _batch(task, 32)
    opt = make_optimizer(m, 0.05, momentum=0.0)
    seen = []
    orig = opt.step

    def step():
        orig()
        with torch.no_grad():
            z = m.features(batch.x_t)
            seen.append(float(classifier_discrepancy(m.classifier(z), m.classifier2(z))))
    opt.step = step
    m.update(batch, 0.0, opt)
    after_a, after_b, after_c = seen
    assert after_b > after_a  # the classifiers pulled apart on the target
    assert after_c < after_b  # the generator pulled their target predictions together


def test_lambda_weighs_the_discrepancy_in_steps_b_and_c():
    """Step B's classifier gradient is that of CE_s - lam * d and step C's generator gradient is lam times that of
    d: computed by hand from the same starting weights."""
    task = toy_task()
    batch = _batch(task)
    grads = {}
    for lam in (1.0, 50.0):
        m = methods.create("mcd", 10, task.image_shape, seed=0, lam=lam, num_k=1, head="mlp")  # no dropout draws
        opt = make_optimizer(m, 0.0 + 1e-12, momentum=0.0)  # a negligible step: the weights stay put
        captured = []
        orig = opt.step
        opt.step = lambda: (captured.append({r: [p.grad.clone() if p.grad is not None else None for p in ps]
                                             for r, ps in m.roles().items()}), orig())
        m.update(batch, 0.0, opt)
        grads[lam] = captured
    ref = methods.create("mcd", 10, task.image_shape, seed=0, head="mlp")
    z_s, z_t = ref.features(batch.x_s).detach(), ref.features(batch.x_t).detach()
    ce = F.cross_entropy(ref.classifier(z_s), batch.y_s) + F.cross_entropy(ref.classifier2(z_s), batch.y_s)
    d = classifier_discrepancy(ref.classifier(z_t), ref.classifier2(z_t))
    task_params = ref.role_params("task")
    g_ce = torch.autograd.grad(ce, task_params, retain_graph=True)
    g_d = torch.autograd.grad(d, task_params)
    for lam in (1.0, 50.0):
        for got, a, b in zip(grads[lam][1]["task"], g_ce, g_d):
            assert torch.allclose(got, a - lam * b, atol=1e-5, rtol=1e-4)
    # step C: the generator's gradient scales with lam
    for g1, g50 in zip(grads[1.0][2]["feature"], grads[50.0][2]["feature"]):
        assert torch.allclose(g50, 50.0 * g1, atol=1e-6, rtol=1e-4)


def test_target_labels_never_reach_training_and_runs_are_deterministic():
    task = toy_task()
    permuted = with_permuted_target_labels(task)
    assert task.target.labels is None
    states = []
    for t in (task, permuted, task):
        m = methods.create("mcd", 10, t.image_shape, seed=0, num_k=2)
        torch.manual_seed(0)  # the heads' dropout draws from the global generator (experiments.run seeds it)
        res = fit(m, t, 6, 8, lr=0.01, seed=0, progress=False, device="cpu", eval_every=3)
        states.append(res.method.state_dict())
    for s in states[1:]:
        assert all(torch.equal(states[0][k], s[k]) for k in states[0])
    assert "discrepancy" in res.history and "target_acc" in res.history


def test_bad_options_are_explained():
    task = toy_task()
    with pytest.raises(ValueError, match="lam"):
        methods.create("mcd", 10, task.image_shape, lam=0)
    with pytest.raises(ValueError, match="num_k"):
        methods.create("mcd", 10, task.image_shape, num_k=0)
    m = methods.create("mcd", 10, task.image_shape, seed=0)
    with pytest.raises(ValueError, match="target images"):
        m.update(Batch(task.source.images[:4], task.source.labels[:4]), 0.0, make_optimizer(m, 0.01))


def test_drt_label_smoothing_and_class_balance_against_hand_computations():
    from uda_nb.methods.mcd import class_balance, smoothed_cross_entropy
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]))
    target = torch.tensor([0, 2])
    eps = 0.1  # true class 0.9, others 0.05 each (eps / (K - 1))
    hand = -(0.9 * torch.log(torch.tensor(0.7)) + 0.05 * torch.log(torch.tensor(0.2)) + 0.05 * torch.log(torch.tensor(0.1))
             + 0.9 * torch.log(torch.tensor(0.6)) + 0.05 * torch.log(torch.tensor(0.1)) + 0.05 * torch.log(torch.tensor(0.3))) / 2
    assert float(smoothed_cross_entropy(logits, target, eps)) == pytest.approx(float(hand), rel=1e-5)
    assert float(smoothed_cross_entropy(logits, target, 0.0)) == pytest.approx(float(F.cross_entropy(logits, target)))
    # mean prediction (0.4, 0.25, 0.35): -mean log(p_k + 1e-6); a uniform batch gives log 3, the minimum
    mean_p = torch.tensor([0.4, 0.25, 0.35])
    assert float(class_balance(logits)) == pytest.approx(float(-torch.log(mean_p + 1e-6).mean()), rel=1e-5)
    assert float(class_balance(torch.zeros(4, 3))) == pytest.approx(float(torch.log(torch.tensor(3.0))), rel=1e-5)


def test_the_more_confident_head_predicts_per_image():
    task = toy_task()
    m = methods.create("mcd", 10, task.image_shape, seed=0).eval()
    x = task.target.images[:12]
    with torch.no_grad():
        z = m.features(x)
        l1, l2 = m.classifier(z), m.classifier2(z)
        out = m(x)
    pick2 = l2.max(1).values > l1.max(1).values
    assert torch.equal(out[pick2], l2[pick2]) and torch.equal(out[~pick2], l1[~pick2])
    m.predict = "f1"
    with torch.no_grad():
        assert torch.equal(m(x), l1)
    with pytest.raises(ValueError, match="predict"):
        methods.create("mcd", 10, task.image_shape, predict="average")


def test_one_step_gradients_match_a_hand_computation_with_the_reversal():
    """DRT's one step: the classifiers get the gradient of CE + gamma B - lam d (they ascend d), the generator that of
    CE + gamma B + reverse * lam * d (it descends d through the reversal layer). Eval mode: no dropout draws."""
    from uda_nb.methods.mcd import class_balance, smoothed_cross_entropy
    task = toy_task()
    m = methods.create("mcd", 10, task.image_shape, seed=0, one_step=True, lam=1.5, reverse=4.0, class_balance=0.01,
                       label_smoothing=0.01).eval()
    batch = _batch(task, 8)
    opt = make_optimizer(m, 0.0, momentum=0.0)  # lr 0: the step leaves the gradients in .grad
    m.update(batch, 0.5, opt)
    got = {n: p.grad.clone() for n, p in m.named_parameters()}

    def parts():
        z = m.features(torch.cat([batch.x_s, batch.x_t]))
        o1, o2 = m.classifier(z), m.classifier2(z)
        base = (smoothed_cross_entropy(o1[:8], batch.y_s, 0.01) + smoothed_cross_entropy(o2[:8], batch.y_s, 0.01)
                + 0.01 * (class_balance(o1[8:]) + class_balance(o2[8:])))
        return base, classifier_discrepancy(m.classifier(z[8:]), m.classifier2(z[8:]))

    names = [n for n, _ in m.named_parameters()]
    params = list(m.parameters())
    base, d = parts()
    g_base = torch.autograd.grad(base, params, allow_unused=True)
    base, d = parts()
    g_d = torch.autograd.grad(d, params, allow_unused=True)
    for n, gb, gd in zip(names, g_base, g_d):
        gb = torch.zeros_like(got[n]) if gb is None else gb
        gd = torch.zeros_like(got[n]) if gd is None else gd
        want = gb + (4.0 * 1.5 * gd if n.startswith("features") else -1.5 * gd)
        assert torch.allclose(got[n], want, atol=1e-6), n
    with pytest.raises(ValueError, match="one-step"):
        methods.create("mcd", 10, task.image_shape, class_balance=0.01)
