"""Embedded digits: determinism, disjoint splits, label-free target view, clear errors on bad input."""

import hashlib

import numpy as np
import pytest
import torch

from uda_nb.data import Domain, Task, concat_domains, digits, load_domain, make_task
from conftest import toy_domain


def _digest(arrays):
    h = hashlib.sha256()
    for k in sorted(arrays):
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    return h.hexdigest()


def test_mnistm_same_seed_same_bytes_different_seed_different_samples():
    a = digits.build_mnistm("test", seed=0)
    b = digits.build_mnistm("test", seed=0)
    c = digits.build_mnistm("test", seed=1)
    assert _digest(a) == _digest(b)
    assert not np.array_equal(a["images"], c["images"])
    assert np.array_equal(a["labels"], c["labels"])  # same digits, different photo patches


def test_mnist_and_mnistm_shapes_ranges_and_class_balance():
    for build in (digits.build_mnist, digits.build_mnistm):
        arr = build("train", 0)
        assert arr["images"].shape == (4000, 3, 32, 32) and arr["images"].dtype == np.uint8
        assert np.bincount(arr["labels"], minlength=10).tolist() == [400] * 10
    assert digits.build_mnist("test", 0)["images"].shape == (1000, 3, 32, 32)


def test_train_and_test_digits_are_disjoint_and_target_test_unseen_in_source_training():
    split = digits.mnist_split_indices()
    assert len(np.intersect1d(split["train"], split["test"])) == 0
    assert len(split["train"]) + len(split["test"]) == 5000
    src_train = load_domain("mnist", "train")
    tgt_test = load_domain("mnistm", "test")
    assert len(np.intersect1d(src_train.meta["ids"], tgt_test.meta["ids"])) == 0


def test_mnistm_is_the_absolute_difference_blend():
    """out = |patch - digit| (Ganin's recipe): the photo where the digit is 0, the inverted photo where it is 1."""
    from uda_nb.data.photos import random_patches

    digit = digits.build_mnist("test", 0)["images"][:, :1].astype(np.float64) / 255
    out = digits.build_mnistm("test", 0)["images"].astype(np.float64) / 255
    patches = random_patches(len(out), 32, np.random.default_rng([0, 1, 2015]))
    assert np.abs(out - np.abs(patches - digit)).max() <= 1 / 255 + 1e-6
    background, stroke = digit[:, 0] == 0, digit[:, 0] == 1
    assert np.abs(out.transpose(0, 2, 3, 1)[background] - patches.transpose(0, 2, 3, 1)[background]).max() < 0.01
    assert np.abs(out.transpose(0, 2, 3, 1)[stroke] - (1 - patches.transpose(0, 2, 3, 1)[stroke])).max() < 0.01
    assert patches.std() > 0.1  # real photo texture, not a flat colour


def test_loaded_domains_are_float_in_unit_range_and_cached(tmp_path):
    d = load_domain("mnistm", "test")
    assert d.images.dtype == torch.float32 and d.images.shape == (1000, 3, 32, 32)
    assert 0.0 <= float(d.images.min()) and float(d.images.max()) <= 1.0
    again = load_domain("mnistm", "test")
    assert torch.equal(d.images, again.images)


def test_task_target_training_view_has_no_labels():
    task = make_task("mnist", "mnistm")
    assert task.target.labels is None and task.target_test.labels is not None
    assert not hasattr(task, "target_labels")
    with pytest.raises(ValueError, match="unlabeled training view"):
        Task(task.source, load_domain("mnistm", "train"), task.source_test, task.target_test)


def test_unknown_domain_and_split_name_the_choices():
    with pytest.raises(ValueError, match=r"Unknown domain 'mnist-m'.*mnistm"):
        load_domain("mnist-m")
    with pytest.raises(ValueError, match="Unknown split 'val'"):
        load_domain("mnist", "val")


def test_mismatched_shapes_and_channels_are_explained():
    src = toy_domain("a")
    grey = toy_domain("b", channels=1)
    small = toy_domain("c", size=28)
    with pytest.raises(ValueError, match="channel counts differ"):
        Task(src, grey.unlabeled(), src, grey)
    with pytest.raises(ValueError, match="resize both"):
        Task(src, small.unlabeled(), src, small)


def test_classes_that_disagree_are_explained():
    src = toy_domain("a")
    other = Domain("b", "train", src.images, src.labels, tuple("abcdefghij"))
    with pytest.raises(ValueError, match="disagree on their classes"):
        Task(src, other.unlabeled(), src, other)


def test_empty_and_malformed_domains_are_rejected():
    with pytest.raises(ValueError, match="is empty"):
        Domain("void", "train", torch.zeros(0, 3, 32, 32), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="4-D tensor"):
        Domain("flat", "train", torch.zeros(5, 32, 32), None)
    with pytest.raises(ValueError, match="labels of shape"):
        Domain("short", "train", torch.zeros(5, 3, 8, 8), torch.zeros(4, dtype=torch.long))


def test_concat_domains_keeps_parts_and_checks_shapes():
    a, b = toy_domain("a", 10), toy_domain("b", 6, seed=1)
    merged = concat_domains([a, b])
    assert len(merged) == 16 and merged.meta["parts"].tolist() == [0] * 10 + [1] * 6
    with pytest.raises(ValueError, match="channel counts differ"):
        concat_domains([a, toy_domain("g", channels=1)])


def test_oracle_task_is_the_only_route_to_target_training_labels():
    from uda_nb.data import oracle_task

    task = make_task("mnist", "mnistm")
    oracle = oracle_task(task)
    labeled_target = load_domain("mnistm", "train")
    assert oracle.source.name == "mnistm" and torch.equal(oracle.source.labels, labeled_target.labels)
    assert torch.equal(oracle.source.images, task.target.images)  # same images, now with their labels
    assert oracle.target.labels is None and oracle.name == "oracle:mnistm"


def test_uci_digits_split_disjoint_balanced_and_labels_match_pictures():
    from sklearn.linear_model import LogisticRegression

    split = digits.uci_split_indices()
    assert len(np.intersect1d(split["train"], split["test"])) == 0
    assert len(split["train"]) + len(split["test"]) == 1797 and len(split["test"]) == 360
    train, test = load_domain("uci", "train"), load_domain("uci", "test")
    assert train.images.shape == (1437, 3, 32, 32) and test.image_shape == (3, 32, 32)
    assert np.bincount(test.labels.numpy(), minlength=10).min() >= 35  # stratified: every class in test
    assert _digest(digits.build_uci("test", 0)) == _digest(digits.build_uci("test", 5))  # real, fixed digits
    # label sanity: a linear classifier on the train split reads the test split's digits correctly
    clf = LogisticRegression(max_iter=2000).fit(train.images[:, 0].flatten(1).numpy(), train.labels.numpy())
    assert clf.score(test.images[:, 0].flatten(1).numpy(), test.labels.numpy()) > 0.9
    # and the upsampled 32x32 image still averages back to the original 8x8 digit
    raw, _ = digits._uci_raw()
    small = torch.nn.functional.avg_pool2d(test.images[:, :1], 4)[:, 0].numpy()
    assert np.abs(small - raw[split["test"]]).mean() < 0.08


def test_make_task_with_ready_non_embedded_domains_needs_their_test_splits():
    from conftest import toy_domain

    src, tgt = toy_domain("my_src", 32), toy_domain("my_tgt", 32, seed=1, shift=0.3)
    with pytest.raises(ValueError, match="source_test="):
        make_task(src, tgt)
    task = make_task(src, tgt, source_test=toy_domain("my_src", 16, seed=2), target_test=toy_domain("my_tgt", 16, 3))
    assert task.target.labels is None and len(task.source_test) == 16
    # a ready embedded domain still finds its own test split by name
    emb = make_task(load_domain("uci", "train"), "mnist")
    assert emb.source_test.name == "uci" and len(emb.source_test) == 360


def test_oracle_task_on_a_custom_target_uses_the_given_labels_only():
    from conftest import toy_domain
    from uda_nb.data import oracle_task

    src, tgt = toy_domain("my_src", 32), toy_domain("my_tgt", 32, seed=1, shift=0.3)
    task = make_task(src, tgt, source_test=src, target_test=tgt)
    with pytest.raises(ValueError, match="labeled_target="):
        oracle_task(task)
    oracle = oracle_task(task, labeled_target=tgt)
    assert torch.equal(oracle.source.labels, tgt.labels) and torch.equal(oracle.source.images, tgt.images)
    with pytest.raises(ValueError, match="labeled version"):
        oracle_task(task, labeled_target=toy_domain("my_tgt", 8))


def test_subset_keeps_per_image_meta_aligned():
    d = load_domain("uci", "test")
    idx = torch.tensor([5, 0, 7])
    sub = d.subset(idx)
    assert np.array_equal(sub.meta["ids"], d.meta["ids"][[5, 0, 7]])
    assert sub.meta["description"] == d.meta["description"]
    files = Domain("f", "train", d.images[:4], d.labels[:4], d.class_names, meta={"files": ("a", "b", "c", "d")})
    assert files.subset(torch.tensor([3, 1])).meta["files"] == ("d", "b")
    assert files.subset(slice(1, 3)).meta["files"] == ("b", "c")
    merged = concat_domains([d, d])
    assert merged.subset(torch.tensor([0, 400])).meta["parts"].tolist() == [0, 1]
    assert merged.subset(torch.tensor([0, 400])).meta["part_names"] == ["uci", "uci"]
