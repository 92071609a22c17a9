"""DynamicConv2d (DRT eq. 2-5): the static special case, one-hot routing, batched = per-sample, coefficient
ranges, gradients, recording and bad arguments."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from uda_nb.models.dynamic import IMPLS, VARIANTS, DynamicConv2d, dynamic_layers, recording


def _layer(variant="routing", impl="mix", residual="full", k=3, padding=1, stride=1, seed=0, **kw):
    torch.manual_seed(seed)
    return DynamicConv2d(5, 6, k, stride=stride, padding=padding, variant=variant, impl=impl, residual=residual,
                         **kw)


def _x(b=4, c=5, side=9, seed=1):
    return torch.randn(b, c, side, side, generator=torch.Generator().manual_seed(seed))


def _force_branch(layer, bias):
    """Make the branch's output the constant ``bias``: its last layer (bias-free, as the authors') swapped for a
    Linear with zero weights and that bias."""
    last = layer.branch[2]
    const = torch.nn.Linear(last.in_features, last.out_features)
    with torch.no_grad():
        const.weight.zero_()
        const.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    layer.branch[2] = const


@pytest.mark.parametrize("impl", IMPLS)
def test_zero_residuals_give_exactly_the_static_convolution(impl):
    x = _x()
    routing = _layer("routing", impl)
    with torch.no_grad():
        routing.bases.zero_()
    static = F.conv2d(x, routing.weight, routing.bias, 1, 1)
    # the same numbers up to float rounding (the batched forms run other convolution kernels)
    assert torch.allclose(routing(x), static, atol=1e-6)
    attention = _layer("attention", impl)
    _force_branch(attention, [-1e4] * 6)  # sigmoid(-1e4) == 0 in float32: Lambda = 0
    assert torch.allclose(attention(x), F.conv2d(x, attention.weight, attention.bias, 1, 1), atol=1e-6)
    plain = _layer("static", impl)
    assert plain.branch is None and plain.bases is None
    assert torch.equal(plain(x), F.conv2d(x, plain.weight, plain.bias, 1, 1))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("i", [0, 3])
def test_one_hot_routing_gives_w0_plus_phi_i(impl, i):
    layer = _layer("routing", impl)
    hot = [0.0] * 4
    hot[i] = 1e4
    _force_branch(layer, hot)
    x = _x()
    expected = F.conv2d(x, layer.weight + layer.basis(i), layer.bias, 1, 1)
    assert torch.allclose(layer(x), expected, atol=1e-5)


@pytest.mark.parametrize("impl", IMPLS)
def test_combined_is_one_plus_lambda_times_w0_plus_the_routed_residual(impl):
    layer = _layer("combined", impl)
    lam = torch.linspace(-2, 2, 6)
    _force_branch(layer, torch.cat([lam, torch.tensor([1e4, 0, 0, 0])]))
    x = _x()
    w = (1 + torch.sigmoid(lam)).view(6, 1, 1, 1) * layer.weight + layer.basis(0)
    assert torch.allclose(layer(x), F.conv2d(x, w, layer.bias, 1, 1), atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("residual,k,padding,stride", [("full", 3, 1, 1), ("full", 5, 0, 2), ("1x1", 3, 1, 1)])
def test_batched_equals_a_per_sample_loop(variant, impl, channels_last, residual, k, padding, stride):
    layer = _layer(variant, impl, residual, k=k, padding=padding, stride=stride)
    if layer.branch is not None:  # a trained-like branch: N(0, 0.01) at initialisation gives near-equal coefficients
        with torch.no_grad():
            for m in layer.branch:
                if isinstance(m, torch.nn.Linear):
                    m.weight.normal_(0.0, 1.0)
    x = _x(b=5, side=11)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        layer = layer.to(memory_format=torch.channels_last)
    out = layer(x)
    kernels = layer.kernel_for(x)
    loop = torch.cat([F.conv2d(x[b:b + 1], kernels[b], layer.bias, stride, padding) for b in range(len(x))])
    assert out.shape == loop.shape
    assert torch.allclose(out, loop, atol=1e-5, rtol=1e-4)
    # and different images really get different kernels
    if variant != "static":
        assert not torch.allclose(kernels[0], kernels[1])


def test_both_implementations_agree():
    x = _x()
    for variant in VARIANTS:
        a, b = _layer(variant, "mix"), _layer(variant, "grouped")
        assert torch.allclose(a(x), b(x), atol=1e-5)


def test_1x1_residual_is_the_reference_codes_k_1x1_convolutions_added_to_the_static_output():
    layer = _layer("routing", residual="1x1")
    x = _x()
    assert layer.basis(0).shape == (6, 5, 1, 1) and layer.bases.shape == (24, 5, 1, 1)
    pi = layer.dynamic_coefficients(x)["routing"]
    ref = F.conv2d(x, layer.weight, layer.bias, 1, 1) + sum(
        pi[:, i].view(-1, 1, 1, 1) * F.conv2d(x, layer.basis(i)) for i in range(4))
    assert torch.allclose(layer(x), ref, atol=1e-5)


def test_routing_sums_to_one_and_attention_lies_in_0_1():
    layer = _layer("combined")
    c = layer.dynamic_coefficients(_x(b=16) * 5)
    assert c["routing"].shape == (16, 4) and c["attention"].shape == (16, 6)
    assert torch.allclose(c["routing"].sum(1), torch.ones(16))
    assert bool((c["routing"] > 0).all()) and bool(((c["attention"] > 0) & (c["attention"] < 1)).all())
    assert "routing" not in _layer("attention").dynamic_coefficients(_x())
    assert "attention" not in _layer("routing").dynamic_coefficients(_x())


def test_temperature_divides_the_routing_logits_and_leaves_attention_alone():
    logits = torch.tensor([0.2, -0.1, 0.0, 0.4])
    layer = _layer("combined", temperature=0.25)
    _force_branch(layer, torch.cat([torch.zeros(6), logits]))
    c = layer.dynamic_coefficients(_x(b=2))
    # by hand: softmax(z / T) with T = 1/4 is softmax(4 z)
    e = torch.exp(4 * logits)
    assert torch.allclose(c["routing"], (e / e.sum()).expand(2, 4), atol=1e-6)
    assert torch.allclose(c["attention"], torch.full((2, 6), 0.5))  # sigmoid(0): no temperature there
    plain = _layer("combined")
    _force_branch(plain, torch.cat([torch.zeros(6), logits]))
    assert torch.allclose(plain.dynamic_coefficients(_x(b=2))["routing"], torch.softmax(logits, 0).expand(2, 4))
    # a lower temperature sharpens: the largest coefficient grows
    assert float(c["routing"].detach().max()) > float(plain.dynamic_coefficients(_x(b=2))["routing"].detach().max())
    for bad in (0, -1.0, float("nan"), True, "1"):
        with pytest.raises(ValueError, match="temperature must be a positive number"):
            DynamicConv2d(3, 4, 3, temperature=bad)


def test_a_three_channel_first_layer_still_has_a_hidden_unit_floor():
    layer = DynamicConv2d(3, 8, 5, reduction=16, min_hidden=4)
    assert layer.branch[0].out_features == 4
    assert DynamicConv2d(64, 8, 3, reduction=4).branch[0].out_features == 16


@pytest.mark.parametrize("impl", IMPLS)
def test_gradients_reach_w0_every_phi_and_the_branch(impl):
    layer = _layer("combined", impl)
    layer(_x()).square().mean().backward()
    assert layer.weight.grad.abs().sum() > 0 and layer.bias.grad.abs().sum() > 0
    for i in range(layer.num_bases):
        assert layer.bases.grad[i * 6:(i + 1) * 6].abs().sum() > 0, f"Phi_{i} got no gradient"
    for p in layer.branch.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_recording_keeps_detached_coefficients_only_inside_the_block():
    net = torch.nn.Sequential(_layer("routing"), torch.nn.ReLU(), DynamicConv2d(6, 6, 3, padding=1,
                                                                                 variant="attention"))
    x = _x()
    net(x)
    assert all(not layer.coefficients for layer in dynamic_layers(net).values())
    with recording(net) as layers:
        net(x)
        assert list(layers) == ["0", "2"]
        assert layers["0"].coefficients["routing"].shape == (4, 4)
        assert layers["2"].coefficients["attention"].shape == (4, 6)
        assert not layers["0"].coefficients["routing"].requires_grad
    assert not any(layer.record for layer in dynamic_layers(net).values())


def test_bad_arguments_and_inputs_are_explained():
    with pytest.raises(ValueError, match="Unknown DRT variant 'route'"):
        DynamicConv2d(3, 4, 3, variant="route")
    with pytest.raises(ValueError, match="num_bases"):
        DynamicConv2d(3, 4, 3, num_bases=0)
    with pytest.raises(ValueError, match="odd kernel"):
        DynamicConv2d(3, 4, 4, residual="1x1")
    with pytest.raises(ValueError, match="Unknown impl"):
        DynamicConv2d(3, 4, 3, impl="loop")
    with pytest.raises(ValueError, match=r"expects \(B, 5, H, W\)"):
        _layer()(torch.randn(2, 3, 8, 8))


def test_mac_count_by_hand():
    from uda_nb.models.flops import count_macs

    net = torch.nn.Sequential(DynamicConv2d(3, 4, 3, padding=1, variant="combined", num_bases=2, min_hidden=4),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 10))
    counts = count_macs(net, (3, 8, 8))
    static = 4 * 3 * 9 * 8 * 8 + 4 * 64 * 10  # the 3x3 convolution over 8 x 8 outputs, then the linear layer
    # branch: pool 3 * 64 adds, FC 3 -> 4, FC 4 -> (4 attention + 2 routing); aggregation: 108 kernel entries x (2 + 1)
    dynamic = 3 * 64 + 3 * 4 + 4 * 6 + 108 * 3
    assert counts == {"static": static, "dynamic": dynamic, "total": static + dynamic}
    plain = torch.nn.Sequential(DynamicConv2d(3, 4, 3, padding=1, variant="static"), torch.nn.Flatten(),
                                torch.nn.Linear(256, 10))
    assert count_macs(plain, (3, 8, 8)) == {"static": static, "dynamic": 0, "total": static}


def _two_domain_batch(kernels, gen, b=64, side=8):
    """Images whose channel 0 is noise and channel 1 a constant +1 or -1 flag (the 'domain'); the target is channel
    0 convolved with that domain's own 3 x 3 kernel. No single static kernel maps both domains (the flag enters the
    target multiplicatively), a per-image kernel chosen from the flag does."""
    noise = torch.randn(b, 1, side, side, generator=gen)
    domain = torch.randint(0, 2, (b,), generator=gen)
    flag = (2.0 * domain - 1.0).view(b, 1, 1, 1).expand(b, 1, side, side)
    target = torch.cat([F.conv2d(noise[i:i + 1], kernels[domain[i]], padding=1) for i in range(b)])
    return torch.cat([noise, flag], dim=1), target


@pytest.mark.parametrize("variant", ["routing", "combined"])
def test_routing_learns_a_kernel_per_domain_that_no_static_kernel_can_fit(variant):
    # DRT's premise in miniature (section 3.1): when two sub-domains need different kernels, the dynamic residual
    # must be able to learn them from the images alone. Guards against a branch that cannot move off uniform.
    kernels = torch.randn(2, 1, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    losses = {}
    for name in ("static", variant):
        torch.manual_seed(0)
        layer = DynamicConv2d(2, 1, 3, padding=1, variant=name, num_bases=2)
        opt = torch.optim.Adam(layer.parameters(), lr=0.02)
        gen = torch.Generator().manual_seed(1)
        for _ in range(400):
            x, y = _two_domain_batch(kernels, gen)
            loss = F.mse_loss(layer(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            x, y = _two_domain_batch(kernels, torch.Generator().manual_seed(2), b=256)
            losses[name] = F.mse_loss(layer(x), y).item()
            # the best a static kernel can do: the two domains' mean kernel leaves half their difference unexplained
            floor = F.mse_loss(F.conv2d(x[:, :1], kernels.mean(0), padding=1), y).item()
    assert losses["static"] > 0.8 * floor > 0.1
    assert losses[variant] < 0.05 * losses["static"]


def test_branch_and_bases_start_as_the_authors_dynamic_resnet():
    layer = DynamicConv2d(64, 32, 3, padding=1, variant="routing", num_bases=4)
    first, last = layer.branch[0], layer.branch[2]
    assert first.bias is None and last.bias is None and first.out_features == 64 // 16  # reduction 16, no bias
    w = torch.cat([first.weight.flatten(), last.weight.flatten()]).detach()
    assert abs(float(w.std()) - 0.01) < 0.003  # N(0, 0.01)
    pi = layer.dynamic_coefficients(torch.randn(8, 64, 6, 6))["routing"]
    assert torch.allclose(pi, torch.full_like(pi, 0.25), atol=0.01)  # every image starts near the uniform mix
    # a 1 x 1 basis is drawn on its own fan-in, so its norm matches W0's (not 1/k of it)
    one = DynamicConv2d(64, 32, 5, padding=2, variant="routing", residual="1x1", num_bases=4)
    ratio = float(one.basis(0).detach().norm() / one.weight.detach().norm())
    assert 0.8 < ratio < 1.25


def test_fan_in_branch_init_is_nn_linears_and_starts_its_hidden_units_at_the_authors_scale():
    torch.manual_seed(0)
    ref = DynamicConv2d(16, 32, 5, padding=2, variant="routing", num_bases=4)
    fan = DynamicConv2d(16, 32, 5, padding=2, variant="routing", num_bases=4, branch_init="fan_in")
    first = fan.branch[0].weight.detach()
    assert abs(float(first.std()) - 1 / math.sqrt(3 * 16)) < 0.03  # nn.Linear's uniform(-1/sqrt(16), 1/sqrt(16))
    assert float(first.abs().max()) <= 1 / math.sqrt(16)
    x = torch.rand(64, 16, 8, 8)  # a ReLU layer's output, pooled by the branch
    hidden = lambda layer: layer.branch[1](layer.branch[0](x.mean((2, 3)))).abs().mean()
    # on 16 pooled channels the authors' N(0, 0.01) starts the hidden units far below what it gives a
    # 1024-channel ResNet block; the fan-in init starts them at least that high
    wide = DynamicConv2d(1024, 64, 3, padding=1, variant="routing", num_bases=4)
    h_wide = wide.branch[1](wide.branch[0](torch.rand(64, 1024))).abs().mean()
    assert hidden(ref) < h_wide / 4 < hidden(fan)
    with pytest.raises(ValueError, match="branch_init"):
        DynamicConv2d(16, 32, 3, variant="routing", branch_init="xavier")
