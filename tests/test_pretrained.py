"""ImageNet-pretrained EfficientNet-Lite0, loaded offline from the weights the pip package ships: it must name
real photographs correctly, and wrong or missing weights must fail with a message that says what to do."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

from uda_nb import methods
from uda_nb.models.backbones import InputNorm
from uda_nb.models.pretrained import PretrainedFeatures, efficientnet_lite0, efficientnet_lite0_weights_path

EGYPTIAN_CAT, TABBY, TIGER_CAT, ESPRESSO = 285, 281, 282, 967  # ImageNet class indices


@pytest.fixture(scope="module")
def imagenet_lite0():
    return efficientnet_lite0("imagenet").eval()


def _photo(name: str, size: int = 224) -> torch.Tensor:
    image = torch.from_numpy(np.ascontiguousarray(getattr(skimage.data, name)())).permute(2, 0, 1).float() / 255.0
    return F.interpolate(image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def test_the_shipped_weights_name_a_cat_and_an_espresso(imagenet_lite0):
    with torch.no_grad():
        top5 = {name: imagenet_lite0(InputNorm("imagenet")(_photo(name))).topk(5).indices[0].tolist()
                for name in ("chelsea", "coffee")}
    assert top5["chelsea"][0] == EGYPTIAN_CAT and {TABBY, TIGER_CAT} <= set(top5["chelsea"])
    assert ESPRESSO in top5["coffee"]


def test_random_weights_do_not_and_the_features_are_the_pooled_network(imagenet_lite0):
    torch.manual_seed(0)
    with torch.no_grad():
        random_top5 = efficientnet_lite0(None).eval()(InputNorm("imagenet")(_photo("chelsea"))).topk(5).indices[0]
        feats = PretrainedFeatures("efficientnet_lite0", "imagenet").eval()
        x = _photo("chelsea", 64)
        expected = imagenet_lite0.forward_head(imagenet_lite0.forward_features(InputNorm("imagenet")(x)),
                                               pre_logits=True)
        got = feats(x)
    assert EGYPTIAN_CAT not in random_top5.tolist()
    assert got.shape == (1, feats.out_features) == (1, 1280)
    assert torch.allclose(got, expected, atol=1e-5)


def test_a_method_builds_on_the_pretrained_backbone():
    m = methods.create("dann", 10, (3, 32, 32), backbone="efficientnet_lite0", weights="imagenet", seed=0)
    shipped = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(m.features.backbone.suffix[0].weight, shipped["_conv_stem.weight"])
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="normalises its inputs as its weights were trained"):
        methods.create("dann", 10, (3, 32, 32), backbone="efficientnet_lite0", norm="image")


def test_missing_or_wrong_weights_say_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found: pass the path of a local state-dict file"):
        efficientnet_lite0(tmp_path / "nowhere.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read as a PyTorch state dict"):
        efficientnet_lite0(tmp_path / "junk.pth")
    torch.save(torch.nn.Linear(3, 2).state_dict(), tmp_path / "linear.pth")
    with pytest.raises(ValueError, match="do not fit the network"):
        efficientnet_lite0(tmp_path / "linear.pth")
    with pytest.raises(ValueError, match="Unknown pretrained backbone"):
        PretrainedFeatures("resnet9000")


def test_a_run_that_starts_from_a_weights_file_is_keyed_by_the_file(tmp_path):
    from uda_nb.experiments import RunSpec, run_key, weights_fingerprint

    first, second = tmp_path / "a.pth", tmp_path / "b.pth"
    torch.save({"w": torch.zeros(3)}, first)
    torch.save({"w": torch.ones(3)}, second)
    cpu = torch.device("cpu")
    key = lambda weights: run_key(RunSpec("dann", "mnist", "mnistm", model={"weights": weights}), 0, cpu)  # noqa: E731
    assert key(str(first)) != key(str(second))  # different weights, different runs
    assert key(str(first)) == key(str(first))
    assert weights_fingerprint(tmp_path / "nowhere.pth") == "missing"
    assert weights_fingerprint("imagenet") == weights_fingerprint(efficientnet_lite0_weights_path())
