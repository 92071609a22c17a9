"""The DRT digits network: its static twin, methods on it, coefficient recording, merged sources without domain
labels, and clear errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from uda_nb import methods
from uda_nb.data import Task, concat_domains
from uda_nb.experiments import load_modules
from uda_nb.models import DynamicDigitsFeatures, dynamic_layers, recording
from uda_nb.train import fit
from conftest import toy_domain


def test_shapes_and_the_named_low_and_high_layers():
    net = DynamicDigitsFeatures(3, dynamic="routing", num_bases=4)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 64 * 4 * 4) and net.out_features == 1024
    assert list(dynamic_layers(net)) == ["body.conv1", "body.conv2", "body.conv3"]
    assert all(layer.num_bases == 4 for layer in dynamic_layers(net).values())


def test_the_static_twin_is_the_dynamic_network_with_its_residuals_off():
    torch.manual_seed(0)
    static = DynamicDigitsFeatures(3, dynamic="static")
    dynamic = DynamicDigitsFeatures(3, dynamic="routing")
    assert all(layer.branch is None and layer.bases is None for layer in dynamic_layers(static).values())
    n_static = sum(p.numel() for p in static.parameters())
    assert sum(p.numel() for p in dynamic.parameters()) > n_static
    missing = dynamic.load_state_dict(static.state_dict(), strict=False)
    assert not missing.unexpected_keys and all(".bases" in k or ".branch" in k for k in missing.missing_keys)
    x = torch.rand(4, 3, 32, 32)
    assert not torch.allclose(dynamic(x), static(x), atol=1e-4)
    with torch.no_grad():
        for layer in dynamic_layers(dynamic).values():
            layer.bases.zero_()
    assert torch.allclose(dynamic(x), static(x), atol=1e-5)


def test_a_dynamic_network_starts_from_a_trained_static_one_with_fresh_residuals():
    """load_modules (RunSpec.init_from) fills W0, BatchNorm and the classifier from the static run; only the dynamic
    residuals may be missing there, and they keep their own initialisation."""
    static = methods.create("mcd", 10, (3, 32, 32), backbone="drt-digits", dynamic="static", widths=(8, 12, 16), seed=0)
    static.features.body.bn1.running_mean.fill_(0.25)  # a "trained" buffer must travel too
    dynamic = methods.create("mcd", 10, (3, 32, 32), backbone="drt-digits", dynamic="routing", widths=(8, 12, 16),
                             seed=1)
    fresh = {k: v.clone() for k, v in dynamic.features.state_dict().items() if ".bases" in k or ".branch." in k}
    assert fresh and len(fresh) == 3 * 3  # per layer: bases, branch.0.weight, branch.2.weight (bias-free, as DRT's)
    load_modules(dynamic, static, ("features", "classifier"))
    for part in ("features", "classifier"):
        after = getattr(dynamic, part).state_dict()
        for k, v in getattr(static, part).state_dict().items():
            assert torch.equal(after[k], v), (part, k)
    for k, v in fresh.items():
        assert torch.equal(dynamic.features.state_dict()[k], v), k
    with torch.no_grad():  # with its residuals zeroed the loaded dynamic network is the static one
        for layer in dynamic_layers(dynamic.features).values():
            layer.bases.zero_()
    x = torch.rand(4, 3, 32, 32)
    static.eval(), dynamic.eval()
    assert torch.allclose(dynamic.features(x), static.features(x), atol=1e-5)
    # the other way round (a dynamic run into a static network) and other missing weights are refused
    with pytest.raises(ValueError, match="networks differ"):
        load_modules(static, dynamic, ("features",))
    wider = methods.create("mcd", 10, (3, 32, 32), backbone="drt-digits", dynamic="routing", widths=(8, 12, 24), seed=0)
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    with pytest.raises(ValueError, match="networks differ"):
        load_modules(wider, static, ("features",))
    assert all(torch.equal(wider.state_dict()[k], v) for k, v in before.items())  # nothing half-loaded


def _multi_source_task(parts_seed: int | None = None) -> Task:
    sources = [toy_domain("a", 32, 0), toy_domain("b", 32, 1, shift=0.2)]
    merged = concat_domains(sources)
    if parts_seed is not None:  # scramble the per-image domain ids and rename the domains: training must not notice
        perm = torch.randperm(len(merged), generator=torch.Generator().manual_seed(parts_seed))
        merged = dataclasses.replace(merged, meta={**merged.meta, "parts": merged.meta["parts"][perm],
                                                   "part_names": merged.meta["part_names"][::-1]})
    target = toy_domain("t", 32, 2, shift=0.4)
    return Task(source=merged, target=target.unlabeled(), source_test=toy_domain("a", 16, 3),
                target_test=toy_domain("t", 16, 4, shift=0.4))


@pytest.mark.parametrize("name", ["source_only", "dann", "mcd", "adda"])
def test_methods_train_on_the_dynamic_backbone_and_domain_ids_never_reach_training(name):
    states = []
    for parts_seed in (None, 1):
        task = _multi_source_task(parts_seed)
        m = methods.create(name, 10, task.image_shape, backbone="drt-digits", seed=0, **(
            {"num_k": 1} if name == "mcd" else {}))
        torch.manual_seed(0)  # MCD's heads draw dropout from the global generator (experiments.run seeds it)
        res = fit(m, task, 3, 8, lr=0.01, seed=0, progress=False, device="cpu", eval_every=3)
        states.append(res.method.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert any(".bases" in k for k in states[0])  # it really was the dynamic network


def test_recorded_coefficients_differ_between_images():
    m = methods.create("mcd", 10, (3, 32, 32), backbone="drt-digits", dynamic="combined", seed=0)
    with torch.no_grad():  # a trained-like branch: at its N(0, 0.01) initialisation every image gets ~ 1/K each
        for name, p in m.named_parameters():
            if ".branch." in name:
                p.normal_(0.0, 1.0)
    x = torch.rand(6, 3, 32, 32)
    with recording(m) as layers:
        m.eval()(x)
    assert set(layers) == {"features.body.conv1", "features.body.conv2", "features.body.conv3"}
    for layer in layers.values():
        c = layer.coefficients
        assert c["routing"].shape == (6, 4) and c["attention"].shape == (6, layer.out_channels)
        assert not torch.allclose(c["routing"][0], c["routing"][1])


def test_bad_dynamic_options_are_explained():
    with pytest.raises(ValueError, match="backbone='drt-digits'"):
        methods.create("dann", 10, (3, 32, 32), dynamic="routing")
    with pytest.raises(ValueError, match="Unknown DRT variant"):
        methods.create("dann", 10, (3, 32, 32), backbone="drt-digits", dynamic="router")
    with pytest.raises(ValueError, match="multiples of 8"):
        DynamicDigitsFeatures(3, image_size=28)
    with pytest.raises(ValueError, match=r"built for \(N, 3, 32, 32\)"):
        DynamicDigitsFeatures(3)(torch.rand(2, 3, 16, 16))


def test_branch_init_reaches_every_dynamic_layer_and_only_drt_digits_takes_it():
    net = methods.create("mcd", 10, (3, 32, 32), backbone="drt-digits", static_stem=True, branch_init="fan_in", seed=0)
    layers = [m for m in net.modules() if getattr(m, "branch", None) is not None]
    assert len(layers) == 2 and all(m.branch_init == "fan_in" for m in layers)  # conv2 and conv3; conv1 static
    with pytest.raises(ValueError, match="branch_init='fan_in' is an option of the drt-digits network"):
        methods.create("dann", 10, (3, 32, 32), branch_init="fan_in")
