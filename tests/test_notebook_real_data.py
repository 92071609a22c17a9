"""The paper notebooks run on a user's real data set, given as a folder (DATA=...): here a tiny fake Office-31 made
by the test, in the smoke budget, with the shipped EfficientNet-Lite0. What a GPU user runs at the paper budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from uda_nb.papers import real_data as RD

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_on_folder(notebook: str, tmp_path: Path, monkeypatch, parameters: dict) -> str:
    """Execute ``notebooks/<notebook>.ipynb`` at the smoke budget with ``parameters`` (papermill), its data and
    claims under ``tmp_path``; returns the executed notebook as text."""
    papermill = pytest.importorskip("papermill")
    for key, value in {"UDA_NB_BUDGET": "smoke", "UDA_NB_QUIET": "1", "UDA_NB_DATA": str(tmp_path / "data"),
                       "UDA_NB_CLAIMS_DIR": str(tmp_path / "claims"), "MPLBACKEND": "Agg"}.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / f"{notebook}.ipynb"), str(out), parameters=parameters,
                               cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False, log_output=False)
    return json.dumps(json.load(open(out)), ensure_ascii=False)


def fake_office31(root: Path, per_class: int = 6, size: int = 24) -> Path:
    """amazon / dslr / webcam, each with two classes of coloured squares (class = hue; domain = brightness)."""
    rng = np.random.default_rng(0)
    for k, domain in enumerate(RD.OFFICE["office31"]):
        for c, cls in enumerate(("back_pack", "bike")):
            folder = root / domain / "images" / cls
            folder.mkdir(parents=True)
            for i in range(per_class):
                img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
                img[4:20, 4:20, c] = 150 + 30 * k
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


def test_find_dataset_pairs_and_tasks(tmp_path):
    root = fake_office31(tmp_path / "office31")
    name, domains, _ = RD.find_dataset(root)
    assert (name, domains) == ("office31", ("amazon", "dslr", "webcam"))
    assert len(RD.domain_pairs(domains)) == 6
    tasks = RD.folder_tasks(root, pairs=[("amazon", "webcam")], image_size=16)
    task = tasks[("amazon", "webcam")]
    assert not task.target.has_labels and len(task.target) == len(task.target_test) == 12
    assert len(task.source) + len(task.source_test) == 12 and len(task.source_test) == 2  # round(6 / 5) per class
    with pytest.raises(FileNotFoundError, match="neither Office-31"):
        RD.find_dataset(root / "amazon")
    with pytest.raises(ValueError, match="does not hold"):
        RD.folder_tasks(root, pairs=[("amazon", "Art")])


@pytest.mark.parametrize("notebook", ["04_transpar", "05_gsda"])
def test_paper_notebook_runs_on_a_data_folder(notebook, tmp_path, monkeypatch):
    root = fake_office31(tmp_path / "office31")
    text = run_on_folder(notebook, tmp_path, monkeypatch, {"DATA": str(root), "IMAGE_SIZE": 32})
    assert "Your data:** office31" in text and "amazon → dslr" in text
    assert "on your data (not written to the claims files" in text
    assert not list((tmp_path / "claims").glob("*.json"))  # the embedded claims are not overwritten


def fake_digit_folders(root: Path, per_class: int = 8, size: int = 28) -> Path:
    """mnist/ (grey strokes) and mnistm/ (strokes over colour noise), ten classes each, as image folders."""
    rng = np.random.default_rng(1)
    for domain in ("mnist", "mnistm"):
        for c in range(10):
            folder = root / domain / str(c)
            folder.mkdir(parents=True)
            for i in range(per_class):
                img = np.zeros((size, size, 3), np.uint8) if domain == "mnist" else \
                    rng.integers(0, 255, (size, size, 3)).astype(np.uint8)
                img[4:24, 2 + 2 * c:5 + 2 * c] = 255 - img[4:24, 2 + 2 * c:5 + 2 * c]  # the class: a stroke's place
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


def test_dann_notebook_runs_on_mnist_and_mnistm_folders(tmp_path, monkeypatch):
    root = fake_digit_folders(tmp_path / "digits")
    task, labeled = RD.pair_folder_task(root, "mnist", "mnistm")
    assert task.image_shape == (3, 32, 32) and not task.target.has_labels
    assert len(task.target) == len(labeled) and torch_equal(labeled.images, task.target.images)
    assert len(task.source_test) == len(task.target_test) == 20  # round(8 / 5) = 2 per class held out
    with pytest.raises(FileNotFoundError, match="has no sub-folder"):
        RD.pair_folder_task(root, "mnist", "svhn")
    text = run_on_folder("01_dann", tmp_path, monkeypatch, {"DATA": str(root)})
    assert "your folders in" in text and "source=60 labeled, target=60 unlabeled" in text
    assert "3 runs (3 trained" in text
    assert not list((tmp_path / "claims").glob("*.json"))


def torch_equal(a, b) -> bool:
    import torch
    return bool(torch.equal(a, b))


def fake_digit_five(root: Path, per_class: int = 4, size: int = 28) -> Path:
    """The five Digit-five domains as image folders, ten classes each (class = where a stroke is; domain = the
    background's brightness). svhn/ comes split into train/ and test/ as M3SDA ships it; the others are not."""
    rng = np.random.default_rng(2)
    for k, domain in enumerate(RD.DIGIT_FIVE):
        for part in (("train", "test") if domain == "svhn" else ("",)):
            for c in range(10):
                folder = root / domain / part / str(c)
                folder.mkdir(parents=True)
                for i in range(per_class if part != "test" else 2):
                    img = rng.integers(0, 40 + 40 * k, (size, size, 3)).astype(np.uint8)
                    img[4:24, 2 + 2 * c:5 + 2 * c] = 255
                    Image.fromarray(img).save(folder / f"{i}.png")
    return root


def test_digit_five_folder_gives_the_leave_one_out_tasks(tmp_path):
    root = fake_digit_five(tmp_path / "digit5")
    tasks = RD.digit_five_tasks(root, image_size=32)
    assert tuple(tasks) == RD.DIGIT_FIVE
    task = tasks["mnistm"]
    assert task.image_shape == (3, 32, 32) and not task.target.has_labels and task.num_classes == 10
    assert task.source.meta["part_names"] == ["mnist", "usps", "svhn", "syn"]
    # unsplit domains hold one image per class out (round(4 / 5)); svhn keeps its given split (4 train, 2 test)
    assert len(task.target) == 30 and len(task.target_test) == 10
    assert len(task.source) == 3 * 30 + 40 and len(task.source_test) == 3 * 10 + 20
    assert len(tasks["svhn"].target) == 40 and len(tasks["svhn"].target_test) == 20
    import shutil
    shutil.rmtree(root / "usps")
    with pytest.raises(FileNotFoundError, match=r"lacks the Digit-five domain folder\(s\) \['usps'\]"):
        RD.digit_five_tasks(root)


def test_drt_notebook_runs_on_a_digit_five_folder(tmp_path, monkeypatch):
    root = fake_digit_five(tmp_path / "digit5", per_class=3)
    text = run_on_folder("03_drt", tmp_path, monkeypatch, {"DATA": str(root)})
    assert "Your data:** Digit-five" in text and "→ usps" in text and "→ svhn" in text
    assert "on your data (not written to the claims files" in text
    assert "15 runs were trained" in text  # 3 rows x 5 targets x 1 seed, nothing of the embedded page
    assert not list((tmp_path / "claims").glob("*.json"))


def fake_keypoint_pair(root: Path, n: int = 10, size: int = 48, split_target: bool = False) -> Path:
    """rhd/ (bright dots on black) and h3d/ (dots on noise), three keypoints drawn as dots; h3d/ lists its
    keypoints in another order and, with ``split_target``, comes as train/ and test/."""
    rng = np.random.default_rng(3)
    names = ["wrist", "thumb_tip", "index_tip"]
    for domain, order in (("rhd", names), ("h3d", names[::-1])):
        for part, count in ((("train", n), ("test", 4)) if split_target and domain == "h3d" else (("", n),)):
            folder = root / domain / part
            folder.mkdir(parents=True)
            images = []
            for i in range(count):
                img = np.zeros((size, size, 3), np.uint8) if domain == "rhd" else \
                    rng.integers(0, 120, (size, size, 3)).astype(np.uint8)
                pts = {nm: rng.uniform(6, size - 6, 2) for nm in names}
                for nm, (x, y) in pts.items():
                    img[int(y) - 2:int(y) + 2, int(x) - 2:int(x) + 2] = 255
                Image.fromarray(img).save(folder / f"{i}.png")
                images.append({"file": f"{i}.png", "keypoints": [[*map(float, pts[nm]), 1] for nm in order]})
            (folder / "keypoints.json").write_text(json.dumps({"keypoint_names": order, "images": images}))
    return root


def test_keypoint_pair_task_splits_and_aligns_the_keypoints(tmp_path):
    root = fake_keypoint_pair(tmp_path / "hands", split_target=True)
    task, labeled = RD.keypoint_pair_task(root, image_size=32)
    assert task.kind == "keypoints" and task.image_shape == (3, 32, 32) and task.num_classes == 3
    assert task.target.keypoint_names == task.source.keypoint_names == ("wrist", "thumb_tip", "index_tip")
    assert len(task.source) == 8 and len(task.source_test) == 2  # a seeded fifth of rhd's 10 held out
    assert len(task.target) == len(labeled) == 10 and len(task.target_test) == 4  # h3d's train/ and test/
    assert task.target.keypoints is None and labeled.keypoints is not None
    # the coordinates follow the resize (48 -> 32 px) and h3d's reordered columns
    raw = json.loads((root / "h3d" / "train" / "keypoints.json").read_text())["images"][0]["keypoints"]
    assert np.allclose(labeled.keypoints[0, 0].numpy(), np.array(raw[2][:2]) * 32 / 48, atol=1e-4)
    with pytest.raises(FileNotFoundError, match=r"no keypoint folder \['stb'\]"):
        RD.keypoint_pair_task(root, "rhd", "stb")


def test_regda_notebook_runs_on_a_keypoint_folder_pair(tmp_path, monkeypatch):
    root = fake_keypoint_pair(tmp_path / "hands")
    text = run_on_folder("02_regda", tmp_path, monkeypatch, {"DATA": str(root), "IMAGE_SIZE": 32})
    assert "Your data:** rhd → h3d" in text and "Table 2 on rhd → h3d" in text
    assert "on your data (not written to the claims files" in text
    assert "4 runs were trained" in text  # source-only, DD, RegDA and the oracle, one seed
    assert not list((tmp_path / "claims").glob("*.json"))


def test_keypoint_resnet_trunks_match_the_paper(tmp_path):
    import torch
    import torchvision
    from uda_nb import methods
    net = methods.create("regda", 3, (3, 64, 64), kind="keypoints", backbone="resnet50", seed=0)
    assert net.features.out_channels == 256 and net.features.stride == 4
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 3, 16, 16)
    assert {g["lr_mult"] for g in net.param_groups(0.1) if g["role"] == "feature"} == {1.0}  # random weights
    # from ImageNet weights the ResNet trains at 0.1x the deconvolutions' rate (TLlib's PoseResNet)
    resnet = torchvision.models.resnet18(weights=None)
    torch.save(resnet.state_dict(), tmp_path / "resnet18.pth")
    net = methods.create("regda", 3, (3, 64, 64), kind="keypoints", backbone="resnet18", seed=0,
                         weights=str(tmp_path / "resnet18.pth"))
    feature = {g["lr_mult"]: sum(p.numel() for p in g["params"]) for g in net.param_groups(0.1) if g["role"] == "feature"}
    pretrained = sum(p.numel() for n, p in resnet.named_parameters() if not n.startswith("fc."))
    assert feature[0.1] == pretrained and feature[1.0] == sum(p.numel() for p in net.features.parameters()) - pretrained
    with pytest.raises(ValueError, match="is not a resnet50 state dict"):
        methods.create("regda", 3, (3, 64, 64), kind="keypoints", backbone="resnet50",
                       weights=str(tmp_path / "resnet18.pth"))
    with pytest.raises(ValueError, match="needs a BACKBONE"):
        from uda_nb.papers import regda as R
        R.folder_network(None, "resnet101.pth")


@pytest.mark.filterwarnings("ignore:task.*fewer than batch_size")  # tiny fake domains, on purpose
def test_the_resnet_paths_of_the_real_data_pages_train(tmp_path, monkeypatch):
    """03_drt's and 02_regda's BACKBONE="resnet18" with local weights: DRT's dynamic ResNet (W0 the pretrained
    kernel, ImageNet normalisation, the backbone at 0.1x) and RegDA's Simple Baseline train a few steps."""
    import torch
    import torchvision
    from uda_nb.experiments import run
    from uda_nb.papers import drt as D
    from uda_nb.papers import regda as R
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("UDA_NB_QUIET", "1")
    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    tasks = RD.digit_five_tasks(fake_digit_five(tmp_path / "digit5", per_class=2), image_size=32)
    sizes = D.sizes_for("smoke")
    spec = D.real_table_specs(sizes, "resnet18", str(weights), RD.DIGIT_FIVE)["DRT-MCD"]("syn")
    assert spec.model["norm"] == "imagenet" and spec.model["dynamic"] == "routing"
    result = run(spec.with_method(spec.method, steps=2, eval_every=2), 0, task=tasks["syn"])
    assert 0.0 <= result.final["target_acc"] <= 1.0
    # the pretrained ResNet, W0 included, at 0.1x the heads; its fresh residuals at the heads' rate (drt.py)
    by_param = {id(p): g["lr_mult"] for g in result.method.param_groups(0.01) if g["role"] == "feature"
                for p in g["params"]}
    named = dict(result.method.features.named_parameters())
    assert by_param[id(named["body.conv1.weight"])] == by_param[id(named["body.layer1.0.conv2.weight"])] == 0.1
    fresh = [n for n in named if n.endswith(".bases") or ".branch." in n]
    assert fresh and all(by_param[id(named[n])] == 1.0 for n in fresh)
    assert sum(v == 1.0 for v in by_param.values()) == len(fresh)
    task, labeled = RD.keypoint_pair_task(fake_keypoint_pair(tmp_path / "hands"), image_size=32)
    net = R.folder_network("resnet18", str(weights))
    spec = R.adapt_spec("regda", "rhd", "h3d", R.sizes_for("smoke"), family="hands", **net)
    spec = spec.with_method("regda", steps=2, eval_every=2,
                            init_from=spec.init_from.with_method("source_only", steps=2, eval_every=2))
    result = run(spec, 0, task=task)
    assert 0.0 <= result.final["target_pck"] <= 1.0
    assert {g["lr_mult"] for g in result.method.param_groups(0.01) if g["role"] == "feature"} == {0.1, 1.0}
