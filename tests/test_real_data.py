"""Real-data loaders on tiny fake folders made in a temp dir: image-folder layouts (Office-31, Office-Home,
DomainNet, VisDA), the keypoint-folder format (JSON and CSV), torchvision MNIST / USPS / SVHN from files written
in their real formats, and the error messages for missing or malformed data. Nothing downloads."""

from __future__ import annotations

import bz2
import json
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from uda_nb.data import KeypointDomain, Task, make_task
from uda_nb.data.folders import (CorruptImageError, image_folder_classes, load_image_folder_domain,
                                 load_image_folder_domains, load_keypoint_folder, split_domain)
from uda_nb.data.torchvision_digits import load_torchvision_digits

# Each class gets a distinctive colour, so a loaded image's mean colour tells which folder it came from.
# Created in this (unsorted) order; the loaders must sort them: bike (0, red), cup (1, green), mug (2, blue).
CLASS_COLOURS = {"mug": (20, 30, 230), "bike": (230, 20, 30), "cup": (30, 220, 20), "pen": (128, 128, 128)}


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("UDA_NB_QUIET", "1")


def _image(path, colour, size=(14, 10), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))  # small noise, same on every run
    arr = np.clip(np.array(colour)[None, None] + rng.integers(-10, 10, (size[1], size[0], 3)), 0, 255)
    Image.fromarray(arr.astype(np.uint8)).save(path, format=fmt)


def _make_domain(folder, counts: dict[str, int], ext=".png"):
    """``folder/<class>/<class>_<i><ext>`` with ``counts[class]`` images of the class colour."""
    for cls, n in counts.items():
        for i in range(n):
            _image(folder / cls / f"{cls}_{i:03d}{ext}", CLASS_COLOURS[cls])


def _colour_labels(domain) -> torch.Tensor:
    """The class each image's mean colour says (0 red = bike, 1 green = cup, 2 blue = mug)."""
    return domain.images.mean(dim=(2, 3)).argmax(dim=1)


COUNTS = {"mug": 2, "bike": 3, "cup": 4}


def test_office31_layout_sorted_classes_and_labels_match_folders(tmp_path):
    _make_domain(tmp_path / "amazon" / "images", COUNTS, ext=".jpg")  # as distributed: <domain>/images/<class>
    _make_domain(tmp_path / "webcam", COUNTS)  # also accepted: <domain>/<class>
    amazon = load_image_folder_domain(tmp_path, "amazon", layout="office31", image_size=16)
    webcam = load_image_folder_domain(tmp_path, "webcam", layout="office31", image_size=16)
    for d in (amazon, webcam):
        assert d.class_names == ("bike", "cup", "mug")
        assert d.images.shape == (9, 3, 16, 16) and d.images.dtype == torch.float32
        assert 0.0 <= float(d.images.min()) and float(d.images.max()) <= 1.0
        assert d.labels.tolist() == [0] * 3 + [1] * 4 + [2] * 2  # bike (3 files), cup (4), mug (2)
        assert torch.equal(_colour_labels(d), d.labels)
        assert all(f.split("/")[0] == d.class_names[lab] for f, lab in zip(d.meta["files"], d.labels.tolist()))
    assert amazon.meta["layout"] == "office31" and amazon.name == "amazon" and amazon.split == "all"
    assert image_folder_classes(tmp_path, "amazon") == ["bike", "cup", "mug"]
    # layout='auto' finds the images/ level too, and the same files
    auto = load_image_folder_domain(tmp_path, "amazon", image_size=16)
    assert auto.meta["files"] == amazon.meta["files"] and torch.equal(auto.images, amazon.images)


def test_officehome_layout_accepts_real_world_as_unzipped(tmp_path):
    _make_domain(tmp_path / "Real World", COUNTS)
    d = load_image_folder_domain(tmp_path, "Real_World", layout="officehome", image_size=8, resize="stretch")
    assert len(d) == 9 and d.images.shape[1:] == (3, 8, 8)
    assert torch.equal(_colour_labels(d), d.labels)
    with pytest.raises(ValueError, match="no official train/test split.*split_domain"):
        load_image_folder_domain(tmp_path, "Real_World", split="train", layout="officehome")


def test_domainnet_split_lists_are_honoured(tmp_path):
    _make_domain(tmp_path / "clipart", COUNTS, ext=".jpg")
    # DomainNet's labels are the sorted class index (bike 0, cup 1, mug 2); paths are relative to the root.
    train = ["clipart/bike/bike_000.jpg 0", "clipart/cup/cup_002.jpg 1", "clipart/mug/mug_001.jpg 2",
             "clipart/cup/cup_000.jpg 1"]
    test = ["clipart/mug/mug_000.jpg 2", "clipart/bike/bike_002.jpg 0"]
    (tmp_path / "clipart_train.txt").write_text("\n".join(train) + "\n")
    (tmp_path / "clipart_test.txt").write_text("\n".join(test) + "\n")
    for split, lines in (("train", train), ("test", test)):
        d = load_image_folder_domain(tmp_path, "clipart", split=split, layout="domainnet", image_size=8)
        assert d.split == split and len(d) == len(lines)
        assert list(d.meta["files"]) == [ln.split()[0].split("/", 1)[1] for ln in lines]  # list order kept
        assert d.labels.tolist() == [int(ln.split()[1]) for ln in lines]
        assert torch.equal(_colour_labels(d), d.labels)
    assert load_image_folder_domain(tmp_path, "clipart", split="train", image_size=8).meta["layout"] == "domainnet"
    assert len(load_image_folder_domain(tmp_path, "clipart", layout="domainnet", image_size=8)) == 9  # split=None
    with pytest.raises(FileNotFoundError, match=r"clipart_val\.txt"):
        load_image_folder_domain(tmp_path, "clipart", split="val", layout="domainnet")
    # A label that disagrees with the folder: the folder wins, with a warning.
    (tmp_path / "clipart_test.txt").write_text("clipart/mug/mug_000.jpg 7\n")
    with pytest.warns(UserWarning, match="class folder"):
        d = load_image_folder_domain(tmp_path, "clipart", split="test", image_size=8)
    assert d.labels.tolist() == [2]
    (tmp_path / "clipart_test.txt").write_text("clipart/mug/nope.jpg 2\n")
    with pytest.raises(FileNotFoundError, match=r"nope\.jpg"):
        load_image_folder_domain(tmp_path, "clipart", split="test", image_size=8)


def test_visda_image_list_and_domain_aliases(tmp_path):
    _make_domain(tmp_path / "train", COUNTS)
    _make_domain(tmp_path / "validation", COUNTS, ext=".jpg")
    (tmp_path / "train" / "image_list.txt").write_text("cup/cup_003.png 1\nbike/bike_001.png 0\n")
    syn = load_image_folder_domain(tmp_path, "synthetic", layout="visda", image_size=8)
    assert syn.meta["files"] == ("cup/cup_003.png", "bike/bike_001.png") and syn.labels.tolist() == [1, 0]
    real = load_image_folder_domain(tmp_path, "validation", layout="visda", image_size=8)  # no list: every file
    assert len(real) == 9 and torch.equal(_colour_labels(real), real.labels)
    assert load_image_folder_domain(tmp_path, "train", image_size=8).meta["layout"] == "visda"  # auto


def test_class_folders_that_disagree_between_domains(tmp_path):
    _make_domain(tmp_path / "amazon" / "images", COUNTS)
    _make_domain(tmp_path / "webcam" / "images", {"bike": 1, "cup": 1, "pen": 1})
    with pytest.raises(ValueError, match=r"differ between amazon and webcam: missing in webcam: \['mug'\]; "
                                         r"extra in webcam: \['pen'\]"):
        load_image_folder_domains(tmp_path, ["amazon", "webcam"], image_size=8)
    # A forced common subset works, in the order given.
    both = load_image_folder_domains(tmp_path, ["amazon", "webcam"], image_size=8, class_names=["cup", "bike"])
    assert [d.class_names for d in both.values()] == [("cup", "bike")] * 2
    assert len(both["amazon"]) == 7 and len(both["webcam"]) == 2
    assert both["amazon"].labels.tolist() == [0] * 4 + [1] * 3
    with pytest.raises(ValueError, match=r"Class folders missing in .*webcam.*\['mug'\]"):
        load_image_folder_domains(tmp_path, ["amazon", "webcam"], class_names=["bike", "mug"])


def test_missing_root_or_domain_says_what_was_expected_and_found(tmp_path):
    missing = tmp_path / "office31"
    with pytest.raises(FileNotFoundError) as err:
        load_image_folder_domain(missing, "amazon", layout="office31")
    assert str(missing) in str(err.value) and "<root>/<domain>/images/<class>/<image>" in str(err.value)
    _make_domain(missing / "dslr" / "images", {"cup": 1})
    (missing / "webcam").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        load_image_folder_domain(missing, "amazon", layout="office31")
    msg = str(err.value)
    assert "'amazon'" in msg and str(missing) in msg and "dslr/, webcam/" in msg and "office31 layout" in msg
    with pytest.raises(FileNotFoundError, match=r"No class folders in .*webcam"):
        load_image_folder_domain(missing, "webcam")


def test_relative_root_is_found_under_uda_nb_data_real(tmp_path, monkeypatch):
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    _make_domain(tmp_path / "data" / "real" / "office31" / "amazon" / "images", {"cup": 2})
    assert len(load_image_folder_domain("office31", "amazon", image_size=8)) == 2
    with pytest.raises(FileNotFoundError, match=r"also looked for .*data/real/officehome"):
        load_image_folder_domain("officehome", "Art")


def test_corrupt_image_is_named_or_skipped_with_a_warning(tmp_path):
    _make_domain(tmp_path / "amazon", COUNTS, ext=".jpg")
    bad = tmp_path / "amazon" / "cup" / "cup_001.jpg"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated JPEG
    (tmp_path / "amazon" / "mug" / "mug_000.jpg").write_bytes(b"not an image at all")
    with pytest.raises(CorruptImageError, match=r"cup_001\.jpg"):
        load_image_folder_domain(tmp_path, "amazon", image_size=8)
    with pytest.warns(UserWarning, match=r"Skipped 2 unreadable.*cup_001\.jpg.*mug_000\.jpg"):
        d = load_image_folder_domain(tmp_path, "amazon", image_size=8, skip_corrupt=True)
    assert len(d) == 7 and len(d.meta["skipped"]) == 2 and len(d.meta["files"]) == 7
    assert torch.equal(_colour_labels(d), d.labels)


def test_max_per_class_is_seeded_and_balanced(tmp_path):
    _make_domain(tmp_path / "amazon", {"bike": 5, "cup": 5, "mug": 1})
    a = load_image_folder_domain(tmp_path, "amazon", image_size=8, max_per_class=2, seed=0)
    assert a.labels.tolist() == [0, 0, 1, 1, 2]
    assert a.meta["files"] == load_image_folder_domain(tmp_path, "amazon", image_size=8, max_per_class=2,
                                                       seed=0).meta["files"]
    other = [load_image_folder_domain(tmp_path, "amazon", image_size=8, max_per_class=2, seed=s).meta["files"]
             for s in (1, 2, 3)]
    assert any(files != a.meta["files"] for files in other)


def test_resize_crop_keeps_the_centre_and_stretch_keeps_everything(tmp_path):
    # 30x10 image: left third red, middle green, right third blue.
    arr = np.zeros((10, 30, 3), dtype=np.uint8)
    arr[:, :10, 0], arr[:, 10:20, 1], arr[:, 20:, 2] = 255, 255, 255
    (tmp_path / "d" / "cup").mkdir(parents=True)
    Image.fromarray(arr).save(tmp_path / "d" / "cup" / "x.png")
    crop = load_image_folder_domain(tmp_path, "d", image_size=10, resize="crop").images[0]
    stretch = load_image_folder_domain(tmp_path, "d", image_size=10, resize="stretch").images[0]
    assert crop.mean(dim=(1, 2)).argmax() == 1 and float(crop[1].min()) > 0.99  # only the green centre
    assert all(float(stretch[c].mean()) > 0.25 for c in range(3))  # all three bands


def test_decoded_images_are_cached_and_invalidated_when_a_file_changes(tmp_path, isolated_data):
    root = tmp_path / "office"
    _make_domain(root / "amazon", COUNTS)
    a = load_image_folder_domain(root, "amazon", image_size=8, cache=True)
    cached = list((isolated_data / "cache" / "real").glob("*.npz"))
    assert len(cached) == 1
    b = load_image_folder_domain(root, "amazon", image_size=8, cache=True)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    _image(root / "amazon" / "cup" / "cup_000.png", (0, 0, 0), size=(15, 10))  # new content, size and mtime
    c = load_image_folder_domain(root, "amazon", image_size=8, cache=True)
    assert len(list((isolated_data / "cache" / "real").glob("*.npz"))) == 2
    assert not torch.equal(a.images, c.images)


def test_task_from_two_folder_domains(tmp_path):
    _make_domain(tmp_path / "amazon" / "images", {"bike": 5, "cup": 5, "mug": 5})
    _make_domain(tmp_path / "webcam" / "images", {"bike": 4, "cup": 4, "mug": 4}, ext=".jpg")
    doms = load_image_folder_domains(tmp_path, ["amazon", "webcam"], image_size=16)
    src_train, src_test = split_domain(doms["amazon"], test_fraction=0.4, seed=0)
    tgt_train, tgt_test = split_domain(doms["webcam"], test_fraction=0.25, seed=0)
    assert (len(src_train), len(src_test), len(tgt_train), len(tgt_test)) == (9, 6, 9, 3)
    assert set(src_train.meta["files"]).isdisjoint(src_test.meta["files"])
    assert torch.bincount(src_test.labels).tolist() == [2, 2, 2]  # stratified
    assert torch.equal(_colour_labels(src_test), src_test.labels)
    task = make_task(src_train, tgt_train, source_test=src_test, target_test=tgt_test)
    assert task.target.labels is None and task.num_classes == 3 and task.image_shape == (3, 16, 16)
    assert task.name == "amazon->webcam"


# ------------------------------------------------------------------------------------------------ keypoints

NAMES = ["wrist", "thumb_tip", "index_tip"]
# (x, y, v) per keypoint for three 20x10 images (x = column, y = row, pixels from the top-left corner)
KPS = {"a.png": [[2.5, 3.5, 1], [10.0, 1.0, 1], [0, 0, 0]],
       "b.png": [[19.0, 9.0, 1], [4.25, 6.75, 0], [7.5, 2.5, 1]],
       "sub/c.png": [[1.0, 2.0, 1], [3.0, 4.0, 1], [5.0, 6.0, 1]]}


def _keypoint_folder(root, size=(20, 10)):
    for i, f in enumerate(KPS):
        _image(root / f, (40 * i, 100, 200), size=size)
    doc = {"keypoint_names": NAMES, "skeleton": [[0, 1], ["wrist", "index_tip"]], "groups": {"tips": [1, 2]},
           "images": [{"file": f, "keypoints": kp} for f, kp in KPS.items()]}
    (root / "keypoints.json").write_text(json.dumps(doc))
    header = "file," + ",".join(f"{n}_x,{n}_y,{n}_v" for n in NAMES)
    rows = [f + "," + ",".join(",".join(str(v) for v in kp) for kp in kps) for f, kps in KPS.items()]
    (root / "keypoints.csv").write_text("\n".join([header, *rows]) + "\n")
    return root


def test_keypoint_json_and_csv_give_the_same_domain(tmp_path):
    root = _keypoint_folder(tmp_path / "hands")
    js = load_keypoint_folder(root)
    cs = load_keypoint_folder(root, annotations="keypoints.csv", skeleton=[[0, 1], [0, 2]], groups={"tips": [1, 2]})
    assert isinstance(js, KeypointDomain) and js.name == "hands" and len(js) == 3
    assert js.images.shape == (3, 3, 10, 20) and js.keypoints.shape == (3, 3, 2) and js.visible.dtype == torch.bool
    for field in ("images", "keypoints", "visible"):
        assert torch.equal(getattr(js, field), getattr(cs, field))
    assert js.keypoint_names == cs.keypoint_names == tuple(NAMES)
    assert js.skeleton == cs.skeleton == ((0, 1), (0, 2)) and js.groups == cs.groups == {"tips": (1, 2)}
    assert js.keypoints[1, 1].tolist() == [4.25, 6.75] and js.visible[0].tolist() == [True, True, False]
    # the pixels are the file's, unchanged at image_size=None
    raw = np.array(Image.open(root / "b.png").convert("RGB"))
    assert torch.equal(js.images[1], torch.from_numpy(raw).permute(2, 0, 1).float() / 255)
    # a Task takes keypoint domains as they are (the target's training view without keypoints)
    task = Task(source=js, target=cs.unlabeled(), source_test=js, target_test=cs)
    assert task.target.keypoints is None


def test_keypoint_coordinates_scale_with_resizing_and_names_select(tmp_path):
    root = _keypoint_folder(tmp_path / "hands")
    full = load_keypoint_folder(root)
    small = load_keypoint_folder(root, image_size=8)
    assert small.images.shape == (3, 3, 8, 8)
    expected = full.keypoints * torch.tensor([8 / 20, 8 / 10])
    assert torch.allclose(small.keypoints, expected) and torch.equal(small.visible, full.visible)
    rect = load_keypoint_folder(root, image_size=(5, 40))  # (H, W)
    assert rect.images.shape[2:] == (5, 40)
    assert torch.allclose(rect.keypoints, full.keypoints * torch.tensor([2.0, 0.5]))
    picked = load_keypoint_folder(root, keypoint_names=["index_tip", "wrist"])
    assert picked.keypoint_names == ("index_tip", "wrist")
    assert torch.equal(picked.keypoints, full.keypoints[:, [2, 0]])
    assert picked.skeleton == ((1, 0),) and picked.groups == {"tips": (0,)}


def test_keypoint_file_naming_a_missing_image(tmp_path):
    root = _keypoint_folder(tmp_path / "hands")
    (root / "sub" / "c.png").unlink()
    for ann in ("keypoints.json", "keypoints.csv"):
        with pytest.raises(FileNotFoundError, match=r"names image 'sub/c\.png', which is not in .*hands"):
            load_keypoint_folder(root, annotations=ann)


def test_keypoint_malformed_files_raise_clear_errors(tmp_path):
    root = _keypoint_folder(tmp_path / "hands")
    with pytest.raises(FileNotFoundError, match=r"labels\.json not found.*keypoints\.csv"):
        load_keypoint_folder(root, annotations="labels.json")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_keypoint_folder(tmp_path / "nowhere")
    doc = json.loads((root / "keypoints.json").read_text())
    doc["images"][1]["keypoints"] = doc["images"][1]["keypoints"][:2]
    (root / "short.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"images\[1\] \(b\.png\): 2 keypoints, expected 3"):
        load_keypoint_folder(root, annotations="short.json")
    lines = (root / "keypoints.csv").read_text().splitlines()
    (root / "short.csv").write_text("\n".join([lines[0], lines[1], lines[2].rsplit(",", 3)[0]]) + "\n")
    with pytest.raises(ValueError, match=r"short\.csv, line 3: 7 values, expected 10"):
        load_keypoint_folder(root, annotations="short.csv")
    doc = json.loads((root / "keypoints.json").read_text())
    doc["images"][0]["keypoints"][1][2] = 2
    (root / "vis.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"a\.png.*'thumb_tip'.*bad visibility value 2"):
        load_keypoint_folder(root, annotations="vis.json")
    doc["images"][0]["keypoints"][1] = [None, None, 1]
    (root / "null.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="visible keypoint needs finite x and y"):
        load_keypoint_folder(root, annotations="null.json")
    _image(root / "b.png", (0, 0, 0), size=(12, 10))
    with pytest.raises(ValueError, match=r"differ in size: .*a\.png is 20x10 but .*b\.png is 12x10.*image_size="):
        load_keypoint_folder(root)
    # b.png is now 12 pixels wide, so its wrist at x = 19 lies outside it: an error unless hidden
    with pytest.raises(ValueError, match=r"keypoint 'wrist' of image 1 .* outside='hide'"):
        load_keypoint_folder(root, image_size=6)
    assert load_keypoint_folder(root, image_size=6, outside="hide").images.shape == (3, 3, 6, 6)


def test_keypoint_outside_its_image_is_an_error_or_hidden_on_request(tmp_path):
    root = _keypoint_folder(tmp_path / "hands")
    doc = json.loads((root / "keypoints.json").read_text())
    doc["images"][2]["keypoints"][1] = [25.0, 4.0, 1]  # x beyond the 20-pixel width, flagged visible
    doc["images"][0]["keypoints"][2] = [-3.0, 1.0, 0]  # outside but not visible: fine either way
    (root / "out.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"1 visible keypoints lie outside the 20x10 image \(first: keypoint "
                                         r"'thumb_tip' of image 2 .*outside='hide'"):
        load_keypoint_folder(root, annotations="out.json")
    hidden = load_keypoint_folder(root, annotations="out.json", outside="hide")
    full = load_keypoint_folder(root)
    assert hidden.meta["hidden_outside"] == 1 and full.meta["hidden_outside"] == 0
    expected = full.visible.clone()
    expected[2, 1] = False
    assert torch.equal(hidden.visible, expected)
    # judged after resizing: the same keypoint is still outside an 8x8 version of the image
    assert load_keypoint_folder(root, annotations="out.json", image_size=8, outside="hide").visible[2, 1].item() is False
    with pytest.raises(ValueError, match="outside must be 'error' or 'hide'"):
        load_keypoint_folder(root, outside="drop")


# ---------------------------------------------------------------------------------------------- torchvision

def _idx(path, arr: np.ndarray):
    """The IDX (ubyte) format of the MNIST files: magic 0x0000 08 <ndim>, big-endian sizes, raw bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 | arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def _fake_mnist(root, n=20):
    labels = np.arange(n) % 10
    images = np.repeat((labels * 25)[:, None, None], 28, axis=1).repeat(28, axis=2)  # brightness = 25 * label
    raw = root / "MNIST" / "raw"
    for prefix, k in (("train", n), ("t10k", n // 2)):
        _idx(raw / f"{prefix}-images-idx3-ubyte", images[:k])
        _idx(raw / f"{prefix}-labels-idx1-ubyte", labels[:k])


def test_torchvision_mnist_from_idx_files(tmp_path):
    _fake_mnist(tmp_path)
    d = load_torchvision_digits("mnist", tmp_path, "train")
    assert d.name == "tv-mnist" and d.images.shape == (20, 3, 32, 32) and d.class_names == tuple("0123456789")
    assert d.labels.tolist() == [i % 10 for i in range(20)]
    assert torch.allclose(d.images.mean(dim=(1, 2, 3)), d.labels.float() * 25 / 255, atol=1e-5)
    assert len(load_torchvision_digits("mnist", tmp_path, "test", image_size=16)) == 10
    few = load_torchvision_digits("mnist", tmp_path, "train", max_per_class=1)
    assert sorted(few.labels.tolist()) == list(range(10))


def test_torchvision_svhn_from_mat_file_maps_label_10_to_0(tmp_path):
    sio = pytest.importorskip("scipy.io")
    n = 12
    y = np.array([10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3]).reshape(n, 1).astype(np.uint8)
    x = np.zeros((32, 32, 3, n), dtype=np.uint8)
    x[0, :, 0, :] = 255  # top row red: checks the orientation torchvision gives
    sio.savemat(tmp_path / "test_32x32.mat", {"X": x, "y": y})
    d = load_torchvision_digits("svhn", tmp_path, "test")
    assert d.images.shape == (n, 3, 32, 32) and d.name == "tv-svhn"
    assert d.labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 3]
    assert float(d.images[:, 0, 0].min()) == 1.0 and float(d.images[:, 0, 1:].max()) == 0.0
    assert load_torchvision_digits("svhn", tmp_path, "test", image_size=28).images.shape == (n, 3, 28, 28)


def test_torchvision_usps_from_bz2_libsvm_lines(tmp_path):
    labels = [1, 2, 10, 5]  # libsvm USPS labels are 1..10 for digits 0..9
    lines = []
    for lab in labels:
        value = -1 + 2 * (lab - 1) / 9  # brightness encodes the digit
        lines.append(f"{lab} " + " ".join(f"{i + 1}:{value:.6f}" for i in range(256)))
    with bz2.open(tmp_path / "usps.t.bz2", "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    d = load_torchvision_digits("usps", tmp_path, "test")
    assert d.images.shape == (4, 3, 32, 32) and d.labels.tolist() == [0, 1, 9, 4]
    brightness = d.images.mean(dim=(1, 2, 3))
    assert torch.allclose(brightness, d.labels.float() / 9, atol=0.01)


def test_torchvision_missing_files_say_what_and_where(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_torchvision_digits("mnist", tmp_path, "train")
    msg = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "train-images-idx3-ubyte" in msg and "download=True" in msg
    with pytest.raises(FileNotFoundError, match=r"usps\.bz2.*libsvmtools"):
        load_torchvision_digits("usps", tmp_path, "train")
    with pytest.raises(FileNotFoundError, match=r"extra_32x32\.mat.*ufldl"):
        load_torchvision_digits("svhn", tmp_path, "extra")
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
              "t10k-labels-idx1-ubyte"):
        (tmp_path / "MNIST" / "raw" / f"{f}.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="gunzip"):
        load_torchvision_digits("mnist", tmp_path)
    (tmp_path / "usps.bz2").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"could not read usps.*corrupt"):
        load_torchvision_digits("usps", tmp_path)
    with pytest.raises(ValueError, match="Unknown split 'extra' for mnist"):
        load_torchvision_digits("mnist", tmp_path, "extra")
