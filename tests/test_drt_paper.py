"""DRT's experiment helpers: leave-one-out specs, per-source-domain scores from the merged test set, coefficient
extraction and the domain probe; the ADDA spec and the widths option of the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from uda_nb import methods
from uda_nb.data import Task, concat_domains
from uda_nb.experiments import RunResult, run_key
from uda_nb.papers import drt as D
from conftest import toy_domain

SIZES = D.SIZES["report"]


def test_leave_one_out_sources_and_the_paper_order():
    assert D.sources_of("mnistm") == ("mnist", "uci", "street", "syn")
    assert all(t not in D.sources_of(t) and len(D.sources_of(t)) == 4 for t in D.DOMAINS)
    assert list(D.PAPER_TABLE3["DRT"])[:5] == list(D.DOMAINS)  # Table 3's corrected column order
    with pytest.raises(ValueError, match="Digit-five target"):
        D.sources_of("svhn")


def test_static_and_dynamic_specs_differ_only_by_the_residuals_and_train_from_scratch_with_the_authors_mcd():
    static, dynamic = D.spec("mcd", "uci", SIZES, dynamic="static"), D.spec("mcd", "uci", SIZES, dynamic="routing")
    assert static.model["dynamic"] == "static" and dynamic.model == {
        "dynamic": "routing", "num_bases": 4, "widths": tuple(SIZES.widths), "static_stem": True, "head": "mcd"}
    assert {k: v for k, v in static.model.items() if k != "dynamic"} == {
        k: v for k, v in dynamic.model.items() if k not in ("dynamic", "num_bases")}
    assert (static.method, static.source, static.steps, static.options) == (dynamic.method, dynamic.source,
                                                                             dynamic.steps, dynamic.options)
    # every run starts from random weights, its loss from the first step, as the authors' drt.py
    assert static.init_from is None and static.steps == SIZES.steps
    assert static.options == D.DRT_MCD and static.options["one_step"] and static.options["reverse"] == 4.0
    assert static.options["lam"] == pytest.approx(50 * 10 / 345, abs=1e-3)  # eta = 50 over 345 classes, on 10
    assert static.weight_decay == 5e-4 and static.schedule == "thirds"
    so = D.spec("source_only", "uci", SIZES)
    assert (so.steps, so.lr, so.weight_decay, so.model) == (static.steps, static.lr, static.weight_decay, static.model)
    cpu = torch.device("cpu")
    assert run_key(static, 0, cpu) != run_key(dynamic, 0, cpu)
    adda = D.adda_spec("uci", SIZES, dynamic="routing")
    assert adda.init_from == D.spec("source_only", "uci", SIZES, dynamic="routing")
    single = D.single_domain_spec("syn", SIZES)
    assert single.source == single.target == "syn" and single.steps == SIZES.single_steps


def test_the_static_stem_leaves_conv1_without_a_branch_and_coefficients_skip_it():
    net = methods.create("mcd", 10, (3, 32, 32), backbone="drt-digits", static_stem=True, widths=(8, 12, 16), seed=0)
    body = net.features.body
    assert body.conv1.branch is None and body.conv2.branch is not None and body.conv3.branch is not None
    coeffs = D.coefficients(net, torch.rand(6, 3, 32, 32))
    assert set(coeffs) == {"conv2", "conv3"} and coeffs["conv2"].shape == (6, 4)
    with pytest.raises(ValueError, match="static_stem"):
        methods.create("mcd", 10, (3, 32, 32), static_stem=True)


def test_widths_reach_the_network_and_belong_to_the_drt_backbone_only():
    net = methods.create("source_only", 10, (3, 32, 32), backbone="drt-digits", widths=(8, 12, 16), seed=0)
    convs = [m for m in net.features.modules() if hasattr(m, "out_channels") and hasattr(m, "variant")]
    assert [c.out_channels for c in convs] == [8, 12, 16] and net.features.out_features == 16 * 16
    with pytest.raises(ValueError, match="DRT backbone"):
        methods.create("source_only", 10, (3, 32, 32), backbone="digits", widths=(8, 12, 16))


class _RightOnDomainZero(nn.Module):
    """Predicts the true class for images whose first pixel is 0 (domain 0 below) and class 0 otherwise."""

    task_kind = "classification"

    def __init__(self, labels_by_key):
        super().__init__()
        self.labels_by_key = labels_by_key

    def forward(self, x):
        out = torch.zeros(len(x), 10)
        for i, img in enumerate(x):
            key = round(float(img[1, 0, 0]), 5)
            out[i, self.labels_by_key[key] if float(img[0, 0, 0]) == 0.0 else 0] = 1.0
        return out


def test_per_domain_accuracy_splits_the_merged_test_set_by_domain_id():
    a, b = toy_domain("a", 20, 0), toy_domain("b", 20, 1)
    a = type(a)(a.name, a.split, a.images.clone(), a.labels, a.class_names)
    b = type(b)(b.name, b.split, b.images.clone(), b.labels, b.class_names)
    a.images[:, 0, 0, 0], b.images[:, 0, 0, 0] = 0.0, 1.0
    for d in (a, b):  # a unique key per image to look its label up
        d.images[:, 1, 0, 0] = torch.arange(len(d)) / 100.0 + (0.5 if d is b else 0.0)
    merged = concat_domains([a, b])
    keys = {round(float(img[1, 0, 0]), 5): int(y) for img, y in zip(merged.images, merged.labels)}
    task = Task(source=merged, target=b.unlabeled(), source_test=merged, target_test=b)
    result = RunResult(None, 0, {}, None, 0.0, _RightOnDomainZero(keys), {})
    acc = D.per_domain_accuracy(result, task)
    assert acc["a"] == 100.0
    assert acc["b"] == pytest.approx(100.0 * float((b.labels == 0).float().mean()))


def test_coefficients_have_one_row_per_image_and_the_variant_s_width():
    images = torch.rand(7, 3, 32, 32)
    routing = methods.create("mcd", 10, (3, 32, 32), backbone="drt-digits", dynamic="routing", num_bases=3, seed=0)
    c = D.coefficients(routing, images, batch_size=3)
    assert list(c) == ["conv1", "conv2", "conv3"] and all(v.shape == (7, 3) for v in c.values())
    assert np.allclose(c["conv2"].sum(1), 1.0, atol=1e-5)  # softmax routing weights
    combined = methods.create("mcd", 10, (3, 32, 32), backbone="drt-digits", dynamic="combined", num_bases=2,
                              widths=(8, 12, 16), seed=0)
    c = D.coefficients(combined, images)
    assert c["conv1"].shape == (7, 8 + 2) and c["conv3"].shape == (7, 16 + 2)
    # the coefficients are those of each image alone: batching does not change them
    one = D.coefficients(routing, images[2:3])
    assert np.allclose(one["conv3"], D.coefficients(routing, images, batch_size=7)["conv3"][2:3], atol=1e-6)


def test_domain_probe_reads_only_the_layers_it_is_given():
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(5), 60)
    informative = np.eye(5)[ids] * 3 + rng.normal(size=(300, 5)) * 0.3
    coeffs = {"conv1": informative, "conv3": rng.normal(size=(300, 4))}
    assert D.domain_probe(coeffs, ids, ("conv1",)) > 95.0
    assert D.domain_probe(coeffs, ids, ("conv3",)) < 35.0
    assert D.domain_probe(coeffs, ids, ("conv1", "conv3")) > 90.0


def test_temperature_reaches_every_routing_layer_and_keeps_the_paper_s_cache_keys():
    import dataclasses
    sharp = dataclasses.replace(SIZES, temperature=0.3)
    assert D.spec("source_only", "uci", SIZES, dynamic="routing").model.get("temperature") is None
    assert D.spec("source_only", "uci", sharp, dynamic="routing").model["temperature"] == 0.3
    assert "temperature" not in D.spec("source_only", "uci", sharp, dynamic="static").model  # no routing to sharpen
    cpu = torch.device("cpu")
    assert run_key(D.spec("mcd", "uci", sharp, dynamic="routing"), 0, cpu) != run_key(
        D.spec("mcd", "uci", SIZES, dynamic="routing"), 0, cpu)
    net = methods.create("source_only", 10, (3, 32, 32), backbone="drt-digits", dynamic="routing", temperature=0.3,
                         widths=(8, 12, 16), seed=0)
    from uda_nb.models import dynamic_layers
    assert [layer.temperature for layer in dynamic_layers(net).values()] == [0.3, 0.3, 0.3]
    with pytest.raises(ValueError, match="temperature=0.3 is an option of the DRT backbones"):
        methods.create("source_only", 10, (3, 32, 32), backbone="digits", temperature=0.3)


def test_residual_1x1_reaches_every_routing_layer_and_keeps_the_paper_s_cache_keys():
    import dataclasses
    ref = dataclasses.replace(SIZES, residual="1x1")
    assert "residual" not in D.spec("source_only", "uci", SIZES, dynamic="routing").model
    assert D.spec("source_only", "uci", ref, dynamic="routing").model["residual"] == "1x1"
    assert "residual" not in D.spec("source_only", "uci", ref, dynamic="static").model  # no kernels to shape
    cpu = torch.device("cpu")
    assert run_key(D.spec("mcd", "uci", ref, dynamic="routing"), 0, cpu) != run_key(
        D.spec("mcd", "uci", SIZES, dynamic="routing"), 0, cpu)
    net = methods.create("source_only", 10, (3, 32, 32), backbone="drt-digits", dynamic="routing", residual="1x1",
                         widths=(8, 12, 16), num_bases=3, seed=0)
    from uda_nb.models import dynamic_layers
    layers = dynamic_layers(net)
    assert [layer.residual for layer in layers.values()] == ["1x1"] * 3
    # K = 3 one-by-one kernels per layer, (K C_out, C_in, 1, 1), against W0's (C_out, C_in, k, k)
    assert [tuple(layer.bases.shape) for layer in layers.values()] == [(24, 3, 1, 1), (36, 8, 1, 1), (48, 12, 1, 1)]
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="residual='1x1' is an option of the DRT backbones"):
        methods.create("source_only", 10, (3, 32, 32), backbone="digits", residual="1x1")
    with pytest.raises(ValueError, match="dynamic='attention' does not have"):  # attention has no kernels to shape
        methods.create("source_only", 10, (3, 32, 32), backbone="drt-digits", dynamic="attention", residual="1x1")
    with pytest.raises(ValueError, match="dynamic='static' does not have"):  # a ResNet is static unless asked
        methods.create("source_only", 10, (3, 64, 64), backbone="resnet18", residual="1x1")
    with pytest.raises(ValueError, match="Unknown residual '3x3'"):
        methods.create("source_only", 10, (3, 32, 32), backbone="drt-digits", residual="3x3")
    resnet = methods.create("source_only", 10, (3, 64, 64), backbone="resnet18", dynamic="combined", residual="1x1",
                            num_bases=2, seed=0)
    assert {tuple(layer.bases.shape[1:]) for layer in dynamic_layers(resnet).values()} == {
        (64, 1, 1), (128, 1, 1), (256, 1, 1), (512, 1, 1)}  # every block's 3 x 3 conv routes over 1 x 1 kernels


def test_routing_dynamics_is_one_and_zero_for_uniform_and_one_hot_coefficients():
    uniform = np.full((6, 4), 0.25)
    one_hot = np.eye(4)[[0, 1, 2, 3, 0, 1]]
    table = D.routing_dynamics({"conv1": uniform, "conv3": one_hot})
    assert table.loc["conv1", "entropy"] == pytest.approx(1.0) and table.loc["conv1", "spread"] == 0.0
    assert table.loc["conv3", "entropy"] == pytest.approx(0.0, abs=1e-9)
    # by hand: column 0 of one_hot is (1, 0, 0, 0, 1, 0): mean 1/3, population std sqrt(2)/3, the same for
    # column 1; columns 2 and 3 are (0, 0, 1, 0, 0, 0): std sqrt(5)/6
    expect = (2 * np.sqrt(2) / 3 + 2 * np.sqrt(5) / 6) / 4
    assert table.loc["conv3", "spread"] == pytest.approx(expect)
    half = np.tile([0.5, 0.5, 0.0, 0.0], (3, 1))
    assert D.routing_dynamics({"c": half}).loc["c", "entropy"] == pytest.approx(np.log(2) / np.log(4))
    with pytest.raises(ValueError, match="rows sum to 1"):
        D.routing_dynamics({"conv1": np.full((3, 6), 0.5)})  # attention coefficients, not routing


def test_resnet_bottlenecks_get_the_dynamic_residual_on_their_3x3_conv_only():
    from uda_nb.models import DynamicConv2d, dynamic_layers, make_dynamic
    import torchvision.models as tvm
    torch.manual_seed(0)
    static = tvm.resnet50(weights=None).eval()
    torch.manual_seed(0)
    dynamic = make_dynamic(tvm.resnet50(weights=None), "routing", num_bases=4).eval()
    layers = dynamic_layers(dynamic)
    assert len(layers) == 16 and all(name.endswith(".conv2") for name in layers)  # 3 + 4 + 6 + 3 bottlenecks
    assert all(layer.kernel_size == 3 for layer in layers.values())
    assert all(isinstance(b.conv1, torch.nn.Conv2d) and not isinstance(b.conv1, DynamicConv2d)
               for b in dynamic.modules() if hasattr(b, "conv3"))  # the 1 x 1 convolutions stay static
    # W0 is the original kernel: with the residuals zeroed the dynamic network computes the static one
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for layer in layers.values():
            layer.bases.zero_()
        assert torch.allclose(dynamic(x), static(x), atol=1e-4)
    net = methods.create("mcd", 31, (3, 64, 64), backbone="resnet18", dynamic="routing", seed=0)
    assert net.features.out_features == 512 and len(dynamic_layers(net)) == 8  # 8 BasicBlocks' second 3 x 3
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 31)
    assert not dynamic_layers(methods.create("source_only", 31, (3, 64, 64), backbone="resnet18", seed=0))
    with pytest.raises(FileNotFoundError, match="weights=None"):
        methods.create("source_only", 31, (3, 64, 64), backbone="resnet50", weights="/nonexistent/r50.pth")


def test_drt_mcd_never_sees_target_labels_and_is_deterministic():
    """Permuting the target test labels (the only target labels a task holds) leaves DRT-MCD's trained weights
    identical, the same seed gives the same weights, and another seed gives other weights (so the equalities are
    not those of a network that does not train)."""
    from uda_nb.train import fit
    from conftest import toy_task, with_permuted_target_labels
    task = toy_task()
    permuted = with_permuted_target_labels(task)
    states = []
    for t, seed in ((task, 0), (permuted, 0), (task, 0), (task, 1)):
        m = methods.create("mcd", 10, t.image_shape, backbone="drt-digits", dynamic="routing", widths=(8, 12, 16),
                           static_stem=True, head="mcd", **D.DRT_MCD, seed=seed)
        torch.manual_seed(seed)  # the heads' dropout draws from the global generator
        states.append(fit(m, t, 5, 8, lr=0.01, seed=seed, progress=False, device="cpu",
                          eval_every=5).method.state_dict())
    assert all(torch.equal(states[0][k], s[k]) for s in states[1:3] for k in states[0])
    assert any(not torch.equal(states[0][k], states[3][k]) for k in states[0] if ".bases" in k)
    assert any(".bases" in k for k in states[0])  # the dynamic residuals were trained too
