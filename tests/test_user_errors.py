"""A user's own data: every mistake a new user makes gets an error (or, when harmless, a warning) that names the
problem and the fix, raised where the data enters (Domain / KeypointDomain / Task, methods.create, fit,
experiments.run, the config), and valid inputs still work unchanged."""

import dataclasses
import io
import warnings

import numpy as np
import pytest
import torch

from uda_nb import config, experiments, methods
from uda_nb.config import seed_everything
from uda_nb.data import (Domain, KeypointDomain, Task, concat_domains, load_npz, load_task_npz, make_task,
                         oracle_task, save_task_npz)
from uda_nb.experiments import RunSpec, run
from uda_nb.models import DigitsFeatures
from uda_nb.train import fit
from conftest import toy_domain, toy_task

NAMES = tuple(str(c) for c in range(10))


def _images(n=8, size=32, channels=3, seed=0):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def _labels(n=8):
    return torch.arange(n) % 10


def _fit(method, task, steps=2, **kw):
    return fit(method, task, steps, batch_size=kw.pop("batch_size", 8), progress=False, device="cpu", **kw)


# ------------------------------------------------------------------------------------------------ images


def test_numpy_images_and_labels_say_how_to_convert():
    with pytest.raises(TypeError, match=r"images is a numpy array.*torch\.from_numpy"):
        Domain("mine", "train", _images().numpy(), _labels(), NAMES)
    with pytest.raises(TypeError, match=r"labels is a numpy array.*torch\.from_numpy\(labels\)\.long\(\)"):
        Domain("mine", "train", _images(), _labels().numpy(), NAMES)
    with pytest.raises(TypeError, match=r"must be a torch\.Tensor, got list.*torch\.stack"):
        Domain("mine", "train", list(_images()), _labels(), NAMES)


def test_uint8_and_0_255_float_images_are_rejected_with_the_division():
    u8 = (_images() * 255).to(torch.uint8)
    with pytest.raises(TypeError, match=r"float32 in \[0, 1\]; got uint8: divide by 255 \(images\.float\(\) / 255\)"):
        Domain("mine", "train", u8, _labels(), NAMES)
    with pytest.raises(ValueError, match=r"in \[0, 1\]; got values in \[.*\].*0-255 pixel values: divide by 255"):
        Domain("mine", "train", u8.float(), _labels(), NAMES)
    with pytest.raises(TypeError, match=r"got float64: convert with images\.float\(\)"):
        Domain("mine", "train", _images().double(), _labels(), NAMES)


def test_standardised_and_minus_one_to_one_images_name_their_fix():
    x = _images()
    with pytest.raises(ValueError, match=r"standardised.*normalise their inputs themselves"):
        Domain("mine", "train", (x - 0.45) / 0.22, _labels(), NAMES)
    with pytest.raises(ValueError, match=r"\[-1, 1\] images: use \(images \+ 1\) / 2"):
        Domain("mine", "train", x * 2 - 1, _labels(), NAMES)


def test_image_shapes_say_which_axis_is_missing_or_misplaced():
    x = _images()
    with pytest.raises(ValueError, match=r"4-D tensor.*Grey images \(N, H, W\) need a channel axis: images\[:, None\]"):
        Domain("mine", "train", x[:, 0], _labels(), NAMES)
    with pytest.raises(ValueError, match=r"look channels-last.*images\.permute\(0, 3, 1, 2\)"):
        Domain("mine", "train", x.permute(0, 2, 3, 1).contiguous(), _labels(), NAMES)
    with pytest.raises(TypeError, match="split must be a string.*did you leave out the name or the split"):
        Domain("mine", x, _labels(), NAMES)


def test_nan_images_warn_at_construction_and_are_refused_in_a_test_split():
    x = _images()
    x[3, 0, 0, 0] = float("nan")
    x[5, 1, 2, 2] = float("inf")
    with pytest.warns(UserWarning, match=r"2 of 8 images contain NaN or inf pixels \(first: image 3\).*drop them"):
        bad = Domain("mine", "test", x, _labels(), NAMES)
    src = toy_domain("src", 16)
    with pytest.raises(ValueError, match=r"Task\.target_test 'mine' has 2 images with NaN or inf.*scored as class 0"):
        Task(src, toy_domain("tgt", 16).unlabeled(), src, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # derived copies are not rescanned, so they do not warn again
        clean = bad.subset(torch.isfinite(bad.images).flatten(1).all(1))
        bad.channels_last()
        bad.unlabeled()
    assert len(clean) == 6
    Task(src, toy_domain("tgt", 16).unlabeled(), src, clean)  # the fix the message names works
    # NaN in a training split: the warning above, then fit's divergence error says where the NaN came from
    with pytest.warns(UserWarning, match="64 of 64 images contain NaN"):
        poisoned = dataclasses.replace(toy_task().source, images=torch.full((64, 3, 32, 32), float("nan")))
    with pytest.raises(FloatingPointError, match=r"task\.source has 64 images with NaN/inf pixels"):
        _fit(methods.create("source_only", 10, (3, 32, 32), seed=0), dataclasses.replace(toy_task(), source=poisoned),
             steps=2, eval_every=1)


# ------------------------------------------------------------------------------------------------ labels


def test_labels_dtype_shape_and_range_errors_name_the_fix():
    x = _images()
    with pytest.raises(TypeError, match=r"int64 class indices \(torch\.long\); got int32: labels\.long\(\)"):
        Domain("mine", "train", x, _labels().int(), NAMES)
    with pytest.raises(TypeError, match=r"got float32: if they are whole numbers, labels\.long\(\)"):
        Domain("mine", "train", x, _labels().float(), NAMES)
    with pytest.raises(ValueError, match=r"look one-hot.*labels\.argmax\(1\)"):
        Domain("mine", "train", x, torch.nn.functional.one_hot(_labels(), 10), NAMES)
    with pytest.raises(ValueError, match=r"labels of shape \(8, 1\); expected \(8,\): use labels\.flatten\(\)"):
        Domain("mine", "train", x, _labels()[:, None], NAMES)
    neg = _labels().clone()
    neg[2] = -1
    with pytest.raises(ValueError, match=r"label -1 \(first negative at image 2\) is not a class index.*labels >= 0"):
        Domain("mine", "train", x, neg, NAMES)
    with pytest.raises(ValueError, match=r"label 7 is out of range for 5 classes.*0\.\.4.*missing class names"):
        Domain("mine", "train", x, _labels(), NAMES[:5])
    with pytest.raises(ValueError, match=r"look 1-based: use labels - 1"):
        Domain("mine", "train", x, torch.tensor([1, 2, 3, 3, 2, 1, 2, 3]), ("a", "b", "c"))


def test_a_domain_without_class_names_is_refused_not_a_zero_way_classifier():
    with pytest.raises(ValueError, match=r"has labels but no class_names.*0 classes.*class_names=tuple"):
        Domain("mine", "train", _images(), _labels())
    Domain("mine", "train", _images(), None)  # an unlabeled view needs no class list
    with pytest.raises(TypeError, match=r"class_names must be a sequence.*tuple\('0123456789'\)"):
        Domain("mine", "train", _images(), _labels(), "0123456789")
    with pytest.raises(ValueError, match=r"class_names has duplicates \['a'\]"):
        Domain("mine", "train", _images(), torch.zeros(8, dtype=torch.long), ("a", "a", "b"))
    with pytest.raises(ValueError, match=r"labels are on meta but images on cpu.*labels\.to\(images\.device\)"):
        Domain("mine", "train", _images(), _labels().to("meta"), NAMES)
    # names are stored as strings, so 0..9 and '0'..'9' are one class list
    assert Domain("mine", "train", _images(), _labels(), list(range(10))).class_names == NAMES


# ------------------------------------------------------------------------------------------------- tasks


def test_task_and_make_task_refuse_raw_tensors_and_unlabeled_test_splits():
    src = toy_domain("src", 16)
    tgt = toy_domain("tgt", 16, seed=1)
    with pytest.raises(TypeError, match=r"Task\.source must be a Domain.*got Tensor: wrap your tensors"):
        Task(src.images, tgt.unlabeled(), src, tgt)
    with pytest.raises(TypeError, match=r"make_task takes domain names or Domain objects as target, got Tensor"):
        make_task(src, tgt.images, source_test=src, target_test=tgt)
    with pytest.raises(TypeError, match=r"target_test must be a Domain.*got Tensor"):
        make_task(src, tgt, source_test=src, target_test=tgt.images)
    with pytest.raises(ValueError, match=r"Task\.target_test 'tgt' has no labels.*not \.unlabeled\(\)"):
        make_task(src, tgt, source_test=src, target_test=tgt.unlabeled())
    other = Domain("tgt", "test", tgt.images, tgt.labels, tuple("abcdefghij"))
    with pytest.raises(ValueError, match="disagree on their classes"):
        make_task(src, tgt, source_test=src, target_test=other)
    kp = KeypointDomain("k", "test", _images(16), torch.full((16, 1, 2), 5.0), torch.ones(16, 1, dtype=torch.bool),
                        ("centre",))
    with pytest.raises(TypeError, match=r"one kind.*target_test=KeypointDomain"):
        Task(src, tgt.unlabeled(), src, kp)
    with pytest.raises(TypeError, match="concat_domains merges classification Domains"):
        concat_domains([src, kp])


def test_oracle_task_refuses_another_domain_of_the_same_length():
    src, tgt = toy_domain("src", 16), toy_domain("tgt", 16, seed=1)
    task = make_task(src, tgt, source_test=src, target_test=toy_domain("tgt", 16, seed=2))
    impostor = toy_domain("tgt", 16, seed=7)
    with pytest.raises(ValueError, match=r"is not the task's target training split.*Pass the labeled Domain you gave "
                                         r"make_task as target"):
        oracle_task(task, labeled_target=impostor)
    with pytest.raises(TypeError, match="labeled_target must be a Domain"):
        oracle_task(task, labeled_target=tgt.labels)
    oracle = oracle_task(task, labeled_target=tgt)
    assert oracle.name == "oracle:tgt" and torch.equal(oracle.source.labels, tgt.labels)


# --------------------------------------------------------------------------------------------- keypoints


def _kp_domain(keypoints, visible=None, names=("a", "b"), n=4):
    vis = torch.ones(n, len(names), dtype=torch.bool) if visible is None else visible
    return KeypointDomain("kp", "train", _images(n, size=64), keypoints, vis, names)


def test_keypoint_errors_and_warnings():
    good = torch.full((4, 2, 2), 10.0)
    _kp_domain(good)
    outside = good.clone()
    outside[1, 0] = torch.tensor([70.0, 10.0])
    with pytest.raises(ValueError, match=r"1 visible keypoints lie outside the 64x64 image \(first: keypoint 'a' of "
                                         r"image 1 at \(x, y\) = \(70\.0, 10\.0\)\).*visible &= inside"):
        _kp_domain(outside)
    hidden = torch.ones(4, 2, dtype=torch.bool)
    hidden[1, 0] = False
    outside[2, 1] = float("nan")
    hidden[2, 1] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _kp_domain(outside, hidden)  # outside or NaN is fine for a keypoint that is not visible
    with pytest.raises(ValueError, match=r"visible keypoints have NaN/inf coordinates.*mark them not visible"):
        _kp_domain(outside)
    tall = KeypointDomain("kp", "train", _images(4, size=64)[..., :16], torch.tensor([[[10.0, 40.0]]] * 4),
                          torch.ones(4, 1, dtype=torch.bool), ("a",))
    with pytest.raises(ValueError, match=r"x and y look swapped.*keypoints\.flip\(-1\)"):
        KeypointDomain("kp", "train", tall.images, tall.keypoints.flip(-1), tall.visible, ("a",))
    with pytest.warns(UserWarning, match=r"look normalised.*multiply by the image size"):
        _kp_domain(torch.rand(4, 2, 2))
    with pytest.raises(ValueError, match=r"\(x, y, visibility\) triples.*visible=keypoints\[\.\.\., 2\] > 0"):
        _kp_domain(torch.cat([good, torch.ones(4, 2, 1)], -1))
    with pytest.raises(ValueError, match=r"keypoints of shape \(4, 3, 2\); expected \(4, 2, 2\)"):
        _kp_domain(torch.full((4, 3, 2), 10.0))
    with pytest.raises(ValueError, match=r"visible has shape \(4, 3\); expected \(4, 2\)"):
        _kp_domain(good, torch.ones(4, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"visible must be a bool tensor; got int64: use visible > 0"):
        _kp_domain(good, torch.ones(4, 2, dtype=torch.long))
    with pytest.raises(TypeError, match=r"keypoints must be float32.*got float64: use keypoints\.float\(\)"):
        _kp_domain(good.double())
    with pytest.raises(TypeError, match=r"keypoints is a numpy array.*torch\.from_numpy\(keypoints\)\.float\(\)"):
        _kp_domain(good.numpy())
    with pytest.raises(ValueError, match=r"keypoints and visible together.*torch\.ones\(N, K"):
        KeypointDomain("kp", "train", _images(4, size=64), good, None, ("a", "b"))


# ------------------------------------------------------------------------------------------ methods.create


def test_create_checks_classes_shape_and_options():
    with pytest.raises(ValueError, match=r"num_classes must be a whole number >= 2, got 0.*class_names"):
        methods.create("dann", 0, (3, 32, 32))
    with pytest.raises(ValueError, match=r"looks like \(H, W, C\).*pass \(3, 32, 32\)"):
        methods.create("dann", 10, (32, 32, 3))
    with pytest.raises(ValueError, match=r"looks like \(N, C, H, W\).*task\.image_shape"):
        methods.create("dann", 10, (8, 3, 32, 32))
    with pytest.raises(ValueError, match=r"unknown options \['lamda'\]: its own options are \['gamma', 'lambda_max'"):
        methods.create("dann", 10, (3, 32, 32), lamda=0.5)
    with pytest.raises(ValueError, match=r"Unknown method 'dan'.*Did you mean 'dann'"):
        methods.create("dan", 10, (3, 32, 32))
    with pytest.raises(ValueError, match=r"at least 16x16 pixels, got 8x8: upsample"):
        methods.create("dann", 10, (3, 8, 8))
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        methods.create("dann", 10, (3, 32, 32), dropout=1.5)


def test_create_seed_is_reproducible_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = methods.create("dann", 10, (3, 32, 32), seed=0)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = methods.create("dann", 10, (3, 32, 32), seed=0)
    seed_everything(0)
    c = methods.create("dann", 10, (3, 32, 32))  # the way experiments.run initialises seed 0
    d = methods.create("dann", 10, (3, 32, 32), seed=1)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]) and torch.equal(v, c.state_dict()[k]), k
    assert any(not torch.equal(v, d.state_dict()[k]) for k, v in a.state_dict().items())
    # the README's snippet therefore reproduces: same seed, same model, same metrics
    r1 = _fit(methods.create("dann", 10, (3, 32, 32), seed=0), toy_task(), steps=3, seed=0)
    r2 = _fit(methods.create("dann", 10, (3, 32, 32), seed=0), toy_task(), steps=3, seed=0)
    assert r1.final == r2.final


def test_non_square_images_train_and_a_wrong_size_is_named():
    g = torch.Generator().manual_seed(0)
    dom = lambda name, labeled=True: Domain(name, "train", torch.rand(16, 3, 32, 48, generator=g),  # noqa: E731
                                            torch.arange(16) % 10 if labeled else None, NAMES)
    task = make_task(dom("s"), dom("t"), source_test=dom("s"), target_test=dom("t"))
    _fit(methods.create("dann", task.num_classes, task.image_shape, seed=0), task)
    net = DigitsFeatures(3, image_size=32)
    with pytest.raises(ValueError, match=r"built for 32x32 images but got 64x64.*task\.image_shape"):
        net(torch.rand(2, 3, 64, 64))


# ---------------------------------------------------------------------------------------------------- fit


def test_fit_names_a_model_built_for_another_task():
    task = toy_task(16)
    with pytest.raises(ValueError, match=r"built for images of shape \(3, 64, 64\) but task .* has \(3, 32, 32\)"):
        _fit(methods.create("dann", 10, (3, 64, 64)), task)
    with pytest.raises(ValueError, match=r"outputs 12 classes but task .* has 10.*task\.num_classes"):
        _fit(methods.create("dann", 12, (3, 32, 32)), task)
    with pytest.raises(ValueError, match=r"outputs 5 classes but task .* has 10"):
        _fit(methods.create("source_only", 5, (3, 32, 32)), task)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"steps": 1500.0}, TypeError, r"steps must be a whole number >= 1, got 1500\.0 \(float\): pass int\(1500\.0\)"),
    ({"steps": 0}, ValueError, "steps must be at least 1"),
    ({"batch_size": 0}, ValueError, "batch_size must be at least 1"),
    ({"batch_size": 8.5}, TypeError, "batch_size must be a whole number"),
    ({"lr": 0.0}, ValueError, r"lr must be a finite number in \(0\.0, inf\).*Try 0\.01"),
    ({"lr": -0.01}, ValueError, "lr must be a finite number"),
    ({"lr": float("nan")}, ValueError, "lr must be a finite number"),
    ({"lr": "0.01"}, TypeError, "lr must be a number"),
    ({"momentum": 1.5}, ValueError, r"momentum must be a finite number in \[0\.0, 1\.0\)"),
    ({"weight_decay": -1e-4}, ValueError, "weight_decay must be"),
    ({"eval_every": 0}, ValueError, "eval_every must be at least 1"),
    ({"eval_every": 2.0}, TypeError, r"eval_every must be a whole number >= 1 or None.*int\(2\.0\)"),
    ({"eval_samples": 0}, ValueError, "eval_samples must be at least 1"),
    ({"seed": 0.5}, TypeError, "seed must be a whole number"),
    ({"device": "gpu"}, ValueError, r"Unknown device device='gpu': use 'cpu', 'cuda' or 'cuda:<index>'"),
    ({"callbacks": print}, TypeError, r"callbacks=\(cb,\)"),
    ({"optimizer": 0.1}, TypeError, "optimizer must be a name"),
    ({"optimizer": "adamw"}, ValueError, "Unknown optimizer 'adamw'"),
])
def test_fit_argument_errors(kwargs, error, match):
    model = methods.create("source_only", 10, (3, 32, 32), seed=0)
    args = {"steps": 2, "batch_size": 8, "progress": False, "device": "cpu", **kwargs}
    steps = args.pop("steps")
    with pytest.raises(error, match=match):
        fit(model, toy_task(16), steps, **args)


def test_fit_type_errors_and_tiny_domains():
    model = methods.create("dann", 10, (3, 32, 32), seed=0)
    with pytest.raises(TypeError, match=r"fit needs a Task, got Domain: build one with make_task"):
        fit(model, toy_domain("d", 8), 2)
    with pytest.raises(TypeError, match="fit trains a uda_nb Method"):
        fit(torch.nn.Linear(2, 2), toy_task(16), 2)
    one = toy_domain("one", 1)
    task = make_task(one, toy_domain("tgt", 16, seed=1), source_test=toy_domain("src", 8), target_test=toy_domain("tgt", 8))
    with pytest.warns(UserWarning, match=r"task\.source 'one' has only 1 image\(s\), fewer than batch_size=8"):
        _fit(model, task)


# ------------------------------------------------------------------------------------------------ experiments


def test_oracle_spec_needs_an_oracle_task(isolated_data):
    src, tgt = toy_domain("toy_src", 32), toy_domain("toy_tgt", 32, seed=1, shift=0.4)
    task = make_task(src, tgt, source_test=toy_domain("toy_src", 16, seed=2),
                     target_test=toy_domain("toy_tgt", 16, seed=3, shift=0.4))
    spec = RunSpec("oracle", source="toy_src", target="toy_tgt", steps=2, batch_size=8, eval_samples=None)
    with pytest.raises(ValueError, match=r"plain UDA task.*source-only and call it the oracle.*"
                                         r"task=oracle_task\(task, labeled_target="):
        run(spec, 0, device="cpu", task=task, progress=False)
    oracle = oracle_task(task, labeled_target=tgt)
    res = run(spec, 0, device="cpu", task=oracle, progress=False)
    assert not res.cached and res.final["target_acc"] >= 0
    with pytest.raises(ValueError, match=r"is an oracle task.*spec's method is 'dann'"):
        run(spec.with_method("dann"), 0, device="cpu", task=oracle, progress=False)
    assert not any(isolated_data.rglob("result.json")) or len(list(isolated_data.rglob("result.json"))) == 1


def test_runspec_checks_method_and_sizes():
    with pytest.raises(ValueError, match=r"unknown method 'DANN'.*Did you mean 'dann'"):
        RunSpec("DANN")
    with pytest.raises(ValueError, match=r"steps must be a whole number >= 1, got 1500\.0: pass int\(1500\.0\)"):
        RunSpec("dann", steps=1500.0)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1, got 0"):
        RunSpec("dann", batch_size=0)
    with pytest.raises(ValueError, match="seed must be a whole number"):
        run(RunSpec("dann"), -1)
    with pytest.raises(ValueError, match="seed must be a whole number"):
        experiments.run_seeds(RunSpec("dann"), [0.5])
    with pytest.raises(TypeError, match=r"seeds must be a list of seeds, got the number 3: pass range\(3\)"):
        experiments.run_seeds(RunSpec("dann"), 3)
    with pytest.raises(TypeError, match=r"run_grid takes a dict \{label: RunSpec\}"):
        experiments.run_grid([RunSpec("dann")], [0])


def test_run_cache_keys_are_unchanged():
    """The checks added no field to RunSpec: cached runs keep their keys (values computed before the change)."""
    spec = RunSpec("dann", steps=1500, batch_size=32, eval_every=300, eval_samples=1000, adist_samples=400,
                   snapshot_samples=400, model={"norm": "center", "batch_norm": True})
    assert experiments.run_key(spec, 0, torch.device("cpu")) == "3f78b0d83971b75a"
    assert experiments.run_key(spec.with_method("oracle"), 2, torch.device("cpu")) == "441604223081aa42"


class _Payload:
    """Any pickled class instance: loading it with weights_only=False would run its module's code."""


def test_cached_extras_with_pickled_objects_are_refused_and_recomputed(isolated_data):
    spec = RunSpec("dann", source="toy_src", target="toy_tgt", steps=2, batch_size=8, eval_samples=None,
                   snapshot_samples=8)
    first = run(spec, 0, device="cpu", task=toy_task(), progress=False)
    assert run(spec, 0, device="cpu", task=toy_task(), progress=False).cached  # plain extras load (weights_only)
    entry = next((isolated_data / "cache" / "runs").iterdir())
    buf = io.BytesIO()
    torch.save({"snapshots": _Payload()}, buf)
    (entry / "extras.pt").write_bytes(buf.getvalue())
    with pytest.warns(UserWarning, match=r"objects other than tensors.*refused"):
        again = run(spec, 0, device="cpu", task=toy_task(), progress=False)
    assert not again.cached and again.final == first.final
    assert isinstance(again.extras["snapshots"], dict)


# ------------------------------------------------------------------------------------------------- config


def test_device_strings_are_checked(monkeypatch):
    monkeypatch.setenv("UDA_NB_DEVICE", "gpu")
    with pytest.raises(ValueError, match=r"Unknown device UDA_NB_DEVICE='gpu'.*unset UDA_NB_DEVICE"):
        config.get_device()
    monkeypatch.setenv("UDA_NB_DEVICE", " cpu ")
    assert config.get_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="Unsupported device device='meta'"):
        config.get_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            config.get_device("cuda:3")


def test_data_folder_that_is_a_file_or_not_writable(tmp_path, monkeypatch):
    afile = tmp_path / "data.txt"
    afile.write_text("not a folder")
    monkeypatch.setenv("UDA_NB_DATA", str(afile))
    with pytest.raises(NotADirectoryError, match=r"UDA_NB_DATA=.*data\.txt is a file, not a folder.*Point it at a folder"):
        config.cache_dir("runs")
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path / "ro"))
    monkeypatch.setattr(config.os, "access", lambda *a, **k: False)
    with pytest.raises(PermissionError, match=r"UDA_NB_DATA=.*ro.* is not writable.*folder you can write to"):
        config.cache_dir("runs")
    monkeypatch.undo()

    def refuse(self, *a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path / "nope"))
    monkeypatch.setattr(config.Path, "mkdir", refuse)
    with pytest.raises(PermissionError, match=r"cannot create .*nope.*Permission denied.*folder you can write to"):
        config.cache_dir("datasets")


# ------------------------------------------------------------------------------------------- task files (.npz)


def _arrays(n=16, seed=0):
    rng = np.random.default_rng(seed)
    img = lambda: rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)  # noqa: E731
    lab = lambda: rng.integers(0, 3, n)  # noqa: E731
    return {"source_images": img(), "source_labels": lab(), "target_images": img(), "source_test_images": img(),
            "source_test_labels": lab(), "target_test_images": img(), "target_test_labels": lab(),
            "class_names": np.array(["cat", "dog", "emu"]), "target_labels": lab()}


def test_task_file_round_trip_and_oracle(tmp_path):
    arrays = _arrays()
    path = save_task_npz(tmp_path / "mine.npz", **arrays, source_name=np.array("photos"))
    task, labeled = load_npz(path)
    assert task.name == "photos->target" and task.num_classes == 3
    assert task.source.class_names == ("cat", "dog", "emu") and task.target.labels is None
    assert torch.equal(task.source.images, torch.from_numpy(arrays["source_images"]).float() / 255)
    assert torch.equal(labeled.labels, torch.from_numpy(arrays["target_labels"]))
    assert oracle_task(task, labeled_target=labeled).name == "oracle:target"
    assert load_task_npz(path).name == task.name
    # saving a Task stores images that are multiples of 1/255 as uint8 and loads them back bit-identical
    again = save_task_npz(tmp_path / "again.npz", task, labeled_target=labeled)
    with np.load(again) as f:
        assert f["source_images"].dtype == np.uint8
    task2, labeled2 = load_npz(again)
    for role in Task._ROLES:
        assert torch.equal(getattr(task2, role).images, getattr(task, role).images)
    assert torch.equal(labeled2.labels, labeled.labels) and task2.name == task.name
    # without class_names and target_labels: '0'..'K-1' and no oracle labels
    del arrays["class_names"], arrays["target_labels"]
    task3, labeled3 = load_npz(save_task_npz(tmp_path / "plain.npz", **arrays))
    assert task3.source.class_names == ("0", "1", "2") and labeled3 is None


def test_task_file_errors_name_the_key_and_the_fix(tmp_path):
    arrays = _arrays()
    missing = {k: v for k, v in arrays.items() if k != "target_test_labels"}
    np.savez(tmp_path / "missing.npz", **missing)
    with pytest.raises(ValueError, match=r"missing \['target_test_labels'\]\. A task file needs .*source_images"):
        load_npz(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match=r"unknown keys \['source_label'\] \(a typo\?\)"):
        save_task_npz(tmp_path / "typo.npz", **arrays, source_label=arrays["source_labels"])
    assert not (tmp_path / "typo.npz").exists()  # nothing is written when the content is wrong
    with pytest.raises(ValueError, match=r"source_images / source_labels: .*0-255 pixel values: divide by 255"):
        save_task_npz(tmp_path / "f.npz", **{**arrays, "source_images": arrays["source_images"].astype(np.float32)})
    with pytest.raises(TypeError, match=r"source_labels has dtype float64; labels must be integers.*astype\(np\.int64\)"):
        save_task_npz(tmp_path / "f.npz", **{**arrays, "source_labels": arrays["source_labels"].astype(float)})
    with pytest.raises(TypeError, match=r"target_images has dtype int64; images must be uint8"):
        save_task_npz(tmp_path / "f.npz", **{**arrays, "target_images": arrays["target_images"].astype(np.int64)})
    with pytest.raises(ValueError, match=r"looks channels-last.*source_images\.transpose\(0, 3, 1, 2\)"):
        save_task_npz(tmp_path / "f.npz", **{**arrays, "source_images": arrays["source_images"].transpose(0, 2, 3, 1)})
    np.savez(tmp_path / "obj.npz", **{**arrays, "class_names": np.array(["cat", 1, None], dtype=object)})
    with pytest.raises(ValueError, match=r"plain numeric and string arrays \(no Python objects\)"):
        load_npz(tmp_path / "obj.npz")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.npz does not exist.*save_task_npz"):
        load_npz(tmp_path / "nowhere.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not a readable .npz file"):
        load_npz(tmp_path / "junk.npz")
    bad_oracle = {**arrays, "target_labels": arrays["target_labels"][:5]}
    with pytest.raises(ValueError, match=r"target_images / target_labels: .*labels of shape \(5,\); expected \(16,\)"):
        save_task_npz(tmp_path / "f.npz", **bad_oracle)


# ----------------------------------------------------------------------------------------------- the READMEs


def _snippet(path, heading: str) -> str:
    text = (config.REPO_ROOT / path).read_text()
    section = text[text.index(heading):]
    return section[section.index("```python") + len("```python"):].split("```", 1)[0]


@pytest.mark.parametrize("path", ["README.md", "data/README.md"])
def test_the_your_own_data_snippets_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "real").mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    env = {f"x_{k}": torch.rand(12, 3, 32, 32, generator=g) for k in ("src", "tgt", "src_test", "tgt_test")}
    env.update({f"y_{k}": torch.randint(0, 3, (12,), generator=g) for k in ("src", "tgt", "src_test", "tgt_test")})
    code = _snippet(path, "## Your own data").replace("steps=1500", "steps=2").replace("batch_size=32", "batch_size=4")
    exec(compile(code, path, "exec"), env)  # noqa: S102 - the documented code, run as a user would
    assert env["task"].target.labels is None and env["oracle"].name == "oracle:sketches"
    assert env["result"].final["target_acc"] >= 0
    if path == "data/README.md":
        task, labeled = load_npz(tmp_path / "data" / "real" / "my_task.npz")
        assert torch.equal(task.source.images, env["task"].source.images) and labeled is not None


def test_fit_refuses_a_learning_rate_that_a_ready_optimizer_would_ignore():
    from uda_nb.train import make_optimizer
    task = toy_task()
    method = methods.create("source_only", task.num_classes, task.image_shape, seed=0)
    ready = make_optimizer(method, 0.03, 0.9, 0.0)
    with pytest.raises(ValueError, match=r"lr=0.1 conflicts with the ready optimizer.*lr=0.03"):
        fit(method, task, steps=2, batch_size=8, lr=0.1, optimizer=ready, progress=False)
    with pytest.raises(ValueError, match=r"momentum=0.5 conflicts"):
        fit(method, task, steps=2, batch_size=8, momentum=0.5, optimizer=ready, progress=False)
    fit(method, task, steps=2, batch_size=8, lr=0.03, optimizer=ready, progress=False)  # the same value is fine
    fit(method, task, steps=2, batch_size=8, optimizer=ready, progress=False)
    assert ready.param_groups[0]["base_lr"] == pytest.approx(0.03)


@pytest.mark.parametrize("field, value, message", [
    ("method", ["dann"], r"method must be a method's name such as 'dann', got \['dann'\] \(list\)"),
    ("lr", "5e1", r"lr must be a number, got '5e1' \(str\): pass float\('5e1'\)"),
    ("momentum", "0.9", r"momentum must be a number"),
    ("lr", 0.0, r"lr=0.0 is out of range"),
    ("source", ["mnist"], r"source must be a domain's name or a tuple of names.*pass a tuple, source=\('mnist',\)"),
    ("target", ("mnistm",), r"target must be a domain's name"),
    ("eval_every", "5", r"eval_every must be a whole number >= 1, got '5' \(str\): pass int\('5'\)"),
    ("schedule", 3, r"schedule must be a schedule's name"),
    ("schedule", "cosine", r"Unknown learning-rate schedule 'cosine'"),
    ("options", {"lambda_max": "0.1"}, r"option 'lambda_max' of 'dann' must be a number like its default 1.0, got "
                                        r"'0.1' \(str\): pass 0.1"),
])
def test_runspec_refuses_wrong_types_where_it_is_built_and_names_the_field(field, value, message):
    with pytest.raises((TypeError, ValueError), match=message):
        RunSpec(**{"method": "dann", field: value})


def test_runspec_and_run_take_numpy_numbers_like_python_ones():
    spec = RunSpec("dann", steps=np.int64(20), batch_size=np.int32(8), lr=np.float32(0.01), eval_every=np.int64(5))
    assert spec.steps == 20 and spec.batch_size == 8


def test_a_damaged_task_file_names_the_file_and_what_to_do(tmp_path):
    path = tmp_path / "task.npz"
    np.savez_compressed(path, source_images=np.random.default_rng(0).random((20, 3, 32, 32)).astype(np.float32),
                        source_labels=np.arange(20) % 10)
    data = bytearray(path.read_bytes())
    for i in range(200, 2000):  # damage the compressed member, keep the zip directory
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"Task file .*task\.npz is damaged.*save_task_npz"):
        load_npz(path)


def test_transpar_refuses_what_is_not_a_method_or_an_optimizer():
    from uda_nb.methods.transpar import TransPar, apply_transpar
    from uda_nb.train import make_optimizer
    method = methods.create("dann", 10, (3, 32, 32), seed=0)
    opt = make_optimizer(method, 0.01, 0.9, 0.0)
    with pytest.raises(TypeError, match="apply_transpar wraps the optimizer of a uda_nb Method"):
        apply_transpar(torch.nn.Linear(2, 2), opt, {"ratio": 0.5})
    with pytest.raises(TypeError, match="apply_transpar needs a torch.optim.Optimizer"):
        apply_transpar(method, "sgd", {"ratio": 0.5})
    with pytest.raises(TypeError, match="TransPar wraps a torch.optim.Optimizer"):
        TransPar([p for p in method.parameters()], {"ratio": 0.5})


def test_a_keypoint_task_given_to_a_classification_method_says_so():
    from conftest import toy_keypoint_task
    task = toy_keypoint_task()
    method = methods.create("dann", 10, task.image_shape, seed=0)
    with pytest.raises(ValueError, match=r"is a classification method but task .* is a keypoints task"):
        fit(method, task, steps=1, batch_size=4, progress=False)
