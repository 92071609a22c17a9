"""The pretrained fine-tuning regime: a frozen prefix whose outputs are cached once per image, TLlib's heads, and
the backbone at 0.1x the heads' learning rate (its own optimizer group, which TransPar ranks on its own)."""

from __future__ import annotations

import warnings

import pytest
import torch

from conftest import toy_task
from uda_nb import methods
from uda_nb.experiments import RunSpec, cached_prefix_task, run
from uda_nb.feature_cache import prefix_task
from uda_nb.methods.transpar import apply_transpar
from uda_nb.models.heads import Bottleneck, DomainDiscriminator
from uda_nb.models.pretrained import PretrainedFeatures
from uda_nb.train import make_optimizer

MODEL = {"weights": "imagenet", "frozen": 6, "input_size": 64}


@pytest.fixture(scope="module")
def frozen6():
    return PretrainedFeatures(weights="imagenet", frozen=6, input_size=64)


def test_the_prefix_is_frozen_in_eval_mode_and_takes_images_or_its_own_outputs(frozen6):
    frozen6.train()
    assert not frozen6.prefix.training and frozen6.suffix.training
    assert all(not p.requires_grad for p in frozen6.prefix.parameters())
    assert all(p.requires_grad for p in frozen6.suffix.parameters())
    x = torch.rand(3, 3, 32, 32)
    cached = frozen6.prefix_features(x)
    assert cached.shape == (3, frozen6.prefix_channels, 2, 2) == (3, 192, 2, 2)  # 64 px / 32
    frozen6.eval()
    assert torch.allclose(frozen6(x), frozen6(cached), atol=1e-6)
    with pytest.raises(ValueError, match="or cached prefix features"):
        frozen6(torch.rand(2, 5, 2, 2))
    # frozen=0 and frozen=7 compute the same network, split differently
    torch.manual_seed(0)
    all_trained = PretrainedFeatures(weights="imagenet", frozen=0).eval()
    all_frozen = PretrainedFeatures(weights="imagenet", frozen=7).eval()
    assert torch.allclose(all_trained(x), all_frozen(x), atol=1e-5)
    with pytest.raises(ValueError, match="frozen must be a whole number from 0"):
        PretrainedFeatures(weights=None, frozen=8)


def test_the_backbone_gets_a_tenth_of_the_heads_rate_in_its_own_group():
    m = methods.create("dann", 10, (3, 32, 32), backbone="efficientnet_lite0", seed=0, **MODEL)
    groups = make_optimizer(m, 0.01).param_groups
    by = {(g["role"], round(g["lr"], 6)): sum(p.numel() for p in g["params"]) for g in groups}
    backbone = sum(p.numel() for p in m.features.backbone.suffix.parameters())
    bottleneck = sum(p.numel() for p in m.features.bottleneck.parameters())
    assert by == {("feature", 0.001): backbone, ("feature", 0.01): bottleneck,
                  ("task", 0.01): 256 * 10 + 10, ("adversarial", 0.01): by[("adversarial", 0.01)]}
    # TLlib's heads: a 256-d Linear-BatchNorm-ReLU bottleneck, one Linear classifier, 1024-1024 BN discriminator
    assert [type(x).__name__ for x in m.features.bottleneck] == ["Linear", "BatchNorm1d", "ReLU"]
    assert [type(x).__name__ for x in m.classifier.net] == ["Linear"]
    assert [type(x).__name__ for x in m.discriminator.net][:3] == ["Linear", "BatchNorm1d", "ReLU"]
    # random weights: every layer at the heads' rate, one feature group
    scratch = methods.create("dann", 10, (3, 32, 32), backbone="efficientnet_lite0", weights=None, seed=0)
    assert [g["role"] for g in make_optimizer(scratch, 0.01).param_groups] == ["feature", "task", "adversarial"]
    same = methods.create("dann", 10, (3, 32, 32), backbone="efficientnet_lite0", seed=0, backbone_lr=1.0, **MODEL)
    assert len(make_optimizer(same, 0.01).param_groups) == 3


def test_transpar_ranks_backbone_and_bottleneck_separately():
    m = methods.create("source_only", 10, (3, 32, 32), backbone="efficientnet_lite0", seed=0, **MODEL)
    opt = apply_transpar(m, make_optimizer(m, 0.01), {"ratio": 0.3})
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    torch.nn.functional.cross_entropy(m(x), y).backward()
    opt.step()
    backbone = [p for p in m.features.backbone.suffix.parameters() if p in opt.masks]
    bottleneck = [p for p in m.features.bottleneck.parameters() if p in opt.masks]
    for part in (backbone, bottleneck):
        kept = sum(int(opt.masks[p].sum()) for p in part)
        total = sum(p.numel() for p in part)
        assert kept == round(0.3 * total)  # each group keeps exactly its own 30 %


def test_tllib_bottleneck_and_discriminator_layers():
    feats = torch.nn.Linear(4, 6)
    feats.out_features = 6
    b = Bottleneck(feats, 5, style="dann")
    assert [type(x).__name__ for x in b.bottleneck] == ["Linear", "BatchNorm1d", "ReLU"]
    with pytest.raises(ValueError, match="bottleneck style"):
        Bottleneck(feats, 5, style="wide")
    d = DomainDiscriminator(6, (8, 8), batch_norm=True)
    assert [type(x).__name__ for x in d.net] == ["Linear", "BatchNorm1d", "ReLU"] * 2 + ["Linear"]
    assert d(torch.rand(3, 6)).shape == (3,)


def test_bad_regime_options_say_what_to_pass():
    with pytest.raises(ValueError, match="frozen / input_size are options of the pretrained backbones"):
        methods.create("dann", 10, (3, 32, 32), frozen=3)
    with pytest.raises(ValueError, match="backbone_lr must be a positive number"):
        methods.create("dann", 10, (3, 32, 32), backbone="efficientnet_lite0", weights=None, backbone_lr=-1)


def test_prefix_features_are_cached_once_and_a_damaged_file_is_recomputed(tmp_path, monkeypatch, frozen6):
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path))
    task = toy_task(24)
    first = prefix_task(task, frozen6, "w1", "t1", progress=False)
    files = list((tmp_path / "cache" / "features").glob("*.pt"))
    assert len(files) == 1
    assert first.image_shape == (192, 2, 2) and len(first.source) == 24
    assert torch.equal(first.source.labels, task.source.labels) and not first.target.has_labels
    frozen6.eval()
    assert torch.allclose(first.target_test.images, frozen6.prefix_features(task.target_test.images), atol=1e-6)
    import uda_nb.feature_cache as fc
    monkeypatch.setattr(fc, "compute_prefix", lambda *a, **k: pytest.fail("recomputed a cached prefix"))
    again = prefix_task(task, frozen6, "w1", "t1", progress=False)
    assert torch.equal(again.source.images, first.source.images)
    monkeypatch.undo()
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path))
    files[0].write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="could not be used"):
        fixed = prefix_task(task, frozen6, "w1", "t1", progress=False)
    assert torch.allclose(fixed.source.images, first.source.images)
    prefix_task(task, frozen6, "w2", "t1", progress=False)  # other weights: another file
    assert len(list((tmp_path / "cache" / "features").glob("*.pt"))) == 2


def test_a_run_trains_on_cached_features_and_the_model_still_takes_images(tmp_path, monkeypatch):
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path))
    task = toy_task(32)
    spec = RunSpec("dann", steps=3, batch_size=8, eval_samples=None, backbone="efficientnet_lite0", model=MODEL)
    res = run(spec, 0, task=task, progress=False)
    before = {k: v.clone() for k, v in res.method.state_dict().items()}
    fresh = methods.create("dann", 10, (3, 32, 32), backbone="efficientnet_lite0", seed=0, **MODEL)
    prefix_before = fresh.features.backbone.prefix.state_dict()
    for k, v in prefix_before.items():  # the frozen layers did not move
        assert torch.equal(before[f"features.backbone.prefix.{k}"], v)
    res.method.eval()
    with torch.no_grad():
        logits = res.method(task.target_test.images)
    acc = float((logits.argmax(1) == task.target_test.labels).float().mean())
    assert abs(acc - res.final["target_acc"]) < 1e-6  # scored on cached features = scored on images
    assert len(list((tmp_path / "cache" / "features").glob("*.pt"))) == 1
    m = methods.create("dann", 10, (3, 32, 32), backbone="efficientnet_lite0", seed=0, **MODEL)
    out = cached_prefix_task(m, task, spec)
    assert m.image_shape == out.image_shape == (192, 2, 2)


def test_any_timm_architecture_builds_from_a_local_checkpoint(tmp_path):
    import timm

    source = timm.create_model("resnet18", pretrained=False, num_classes=0)
    torch.nn.init.constant_(source.conv1.weight, 0.5)
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    m = methods.create("dann", 10, (3, 32, 32), backbone="timm:resnet18", weights=str(tmp_path / "r18.pth"), seed=0)
    assert torch.equal(m.features.backbone.suffix.conv1.weight, source.conv1.weight)
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert [g["lr_mult"] for g in make_optimizer(m, 0.01).param_groups][:2] == [0.1, 1.0]
    assert RunSpec("dann", backbone="timm:resnet18").backbone == "timm:resnet18"
    with_classifier = timm.create_model("resnet18", pretrained=False, num_classes=1000)  # an ImageNet checkpoint
    torch.save(with_classifier.state_dict(), tmp_path / "r18_1000.pth")
    m2 = methods.create("source_only", 10, (3, 32, 32), backbone="timm:resnet18",
                        weights=str(tmp_path / "r18_1000.pth"), seed=0)
    assert torch.equal(m2.features.backbone.suffix.conv1.weight, with_classifier.conv1.weight)
    with pytest.raises(ValueError, match="pass frozen=0"):
        methods.create("dann", 10, (3, 32, 32), backbone="timm:resnet18", weights=None, frozen=2)
    with pytest.raises(ValueError, match="No ImageNet weights ship"):
        methods.create("dann", 10, (3, 32, 32), backbone="timm:resnet18", weights="imagenet")
    with pytest.raises(ValueError, match="Unknown timm model"):
        methods.create("dann", 10, (3, 32, 32), backbone="timm:resnet9000", weights=None)
    with pytest.raises(ValueError, match="'timm:<name>' for any timm architecture"):
        RunSpec("dann", backbone="resnet9000")
