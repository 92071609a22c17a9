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
