"""Gradient reversal, DANN's schedules and its domain loss, checked against hand computations."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from uda_nb.methods import DomainAdversarialLoss, GradientReversal, grad_reverse
from uda_nb.schedules import dann_lr_factor, grl_lambda, lr_schedule


@pytest.mark.parametrize("coeff", [0.0, 0.3, 1.0, 2.5])
def test_grl_forward_is_identity_backward_is_minus_lambda_grad(coeff):
    x = torch.randn(5, 7, requires_grad=True)
    y = grad_reverse(x, coeff)
    assert torch.equal(y, x)
    upstream = torch.randn(5, 7)
    y.backward(upstream)
    assert torch.equal(x.grad, -coeff * upstream)


def test_grl_module_uses_its_coefficient():
    layer = GradientReversal(0.5)
    x = torch.ones(3, requires_grad=True)
    (layer(x) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-0.5, -1.0, -1.5]))


def test_lambda_schedule_endpoints_and_shape():
    assert grl_lambda(0.0) == 0.0
    assert grl_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert grl_lambda(1.0) == pytest.approx(math.tanh(5.0))
    assert grl_lambda(0.5, gamma=10) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    values = [grl_lambda(p / 10) for p in range(11)]
    assert all(a < b for a, b in zip(values, values[1:]))  # strictly increasing


def test_lr_schedule_endpoints():
    assert dann_lr_factor(0.0) == 1.0
    assert dann_lr_factor(1.0) == pytest.approx(11 ** -0.75)
    assert dann_lr_factor(0.3) == pytest.approx(1 / (1 + 3.0) ** 0.75)
    assert lr_schedule("constant")(0.7) == 1.0
    with pytest.raises(ValueError, match="Unknown learning-rate schedule"):
        lr_schedule("cosine-ish")


def test_regda_step_schedule_drops_at_epochs_45_and_60_of_70():
    step = lr_schedule("regda-step")
    # epoch e of 70 starts at progress e / 70: the rate is 1e-3, 1e-4, 1e-5 for a base of 1e-3 (section 5.2.2)
    assert [step(e / 70) for e in (0, 44, 44.99)] == [1.0, 1.0, 1.0]
    assert [step(e / 70) for e in (45, 59.99)] == [0.1, 0.1]
    assert [step(e / 70) for e in (60, 70)] == [0.01, 0.01]


def test_regda_sgd_schedule_is_the_papers_per_step_decay_over_its_whole_run():
    # section 5.1: eta_i = eta_0 (1 + 1e-4 i)^-0.75, i the step; at progress p a run stands at step p * paper_steps
    for name, paper_steps in (("regda-sgd-20k", 20_000), ("regda-sgd-15k", 15_000)):
        fn = lr_schedule(name)
        assert fn(0.0) == 1.0
        for i in (1, 500, 7_500, paper_steps):
            assert fn(i / paper_steps) == pytest.approx((1 + 1e-4 * i) ** -0.75)
    assert lr_schedule("regda-sgd-20k")(1.0) == pytest.approx(3 ** -0.75)  # about 0.44, DANN's ends at 0.166
    assert lr_schedule("regda-sgd-15k")(1.0) == pytest.approx(2.5 ** -0.75)


def test_domain_loss_matches_hand_computation_and_reverses_feature_gradient():
    torch.manual_seed(0)
    disc = nn.Linear(4, 1)
    loss_fn = DomainAdversarialLoss(nn.Sequential(disc, nn.Flatten(0)))
    f_s = torch.randn(3, 4, requires_grad=True)
    f_t = torch.randn(2, 4, requires_grad=True)
    loss, acc = loss_fn(f_s, f_t, coeff=0.7)

    # hand computation: mean of -log sigmoid(z) over source and -log(1 - sigmoid(z)) over target
    z_s, z_t = disc(f_s).squeeze(1), disc(f_t).squeeze(1)
    hand = (-F.logsigmoid(z_s).sum() - F.logsigmoid(-z_t).sum()) / 5
    assert loss.item() == pytest.approx(hand.item(), rel=1e-6)
    hand_acc = ((z_s > 0).float().sum() + (z_t <= 0).float().sum()) / 5
    assert acc.item() == pytest.approx(hand_acc.item())

    # features receive -0.7 x the gradient the plain loss would give them; the discriminator the plain one
    loss.backward()
    g_s, g_t = torch.autograd.grad(hand, (f_s, f_t))
    assert torch.allclose(f_s.grad, -0.7 * g_s, atol=1e-6)
    assert torch.allclose(f_t.grad, -0.7 * g_t, atol=1e-6)
    (gw,) = torch.autograd.grad((-F.logsigmoid(disc(f_s)).sum() - F.logsigmoid(-disc(f_t)).sum()) / 5, disc.weight)
    assert torch.allclose(disc.weight.grad, gw, atol=1e-6)


def test_one_dann_update_equals_the_hand_computed_saddle_point_step():
    """One DANN.update == SGD on theta_f with dL_y/dtheta_f - lambda dL_d/dtheta_f, on theta_y with dL_y/dtheta_y
    and on theta_d with dL_d/dtheta_d (DANN eq. 4-6), computed here without any gradient reversal layer."""
    import copy

    from uda_nb import methods
    from uda_nb.methods import Batch

    torch.manual_seed(0)
    model = methods.create("dann", 10, (3, 32, 32))
    reference = copy.deepcopy(model)
    x_s, x_t = torch.rand(8, 3, 32, 32), torch.rand(8, 3, 32, 32)
    y_s = torch.randint(0, 10, (8,))
    progress, lr = 0.3, 0.05
    lam = grl_lambda(progress)

    opt = torch.optim.SGD(model.param_groups(lr), lr=lr)
    model.update(Batch(x_s, y_s, x_t), progress, opt)

    f = reference.features(torch.cat([x_s, x_t]))
    loss_y = F.cross_entropy(reference.classifier(f[:8]), y_s)
    loss_d = F.binary_cross_entropy_with_logits(reference.discriminator(f), torch.cat([torch.ones(8), torch.zeros(8)]))
    theta_f, theta_y, theta_d = (list(m.parameters()) for m in
                                 (reference.features, reference.classifier, reference.discriminator))
    g_fy = torch.autograd.grad(loss_y, theta_f, retain_graph=True)
    g_fd = torch.autograd.grad(loss_d, theta_f, retain_graph=True)
    g_y = torch.autograd.grad(loss_y, theta_y, retain_graph=True)
    g_d = torch.autograd.grad(loss_d, theta_d)
    expected = [p - lr * (gy - lam * gd) for p, gy, gd in zip(theta_f, g_fy, g_fd)]
    expected += [p - lr * g for p, g in zip(theta_y, g_y)] + [p - lr * g for p, g in zip(theta_d, g_d)]
    updated = list(model.features.parameters()) + list(model.classifier.parameters()) + \
        list(model.discriminator.parameters())
    for got, want in zip(updated, expected):
        assert torch.allclose(got, want, atol=1e-6)
    # and the step really moved the features against the domain classifier
    assert any(not torch.allclose(a, b) for a, b in zip(model.features.parameters(), theta_f))
