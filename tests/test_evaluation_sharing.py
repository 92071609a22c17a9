"""Work saved without changing a number: one feature pass for several heads, one evaluation for a test set
named twice, and stored splits decoded once per process."""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest
import torch

from uda_nb import methods, train
from uda_nb.data import Task, load_domain
from uda_nb.data import registry
from uda_nb.metrics import evaluate, evaluate_heads, predict_keypoints, predict_keypoints_by_head
from conftest import toy_keypoint_task, toy_keypoints, toy_task


def _trained_regda(steps: int = 3):
    task = toy_keypoint_task()
    method = methods.for_task("regda", task, seed=0)
    train.fit(method, task, steps, 8, lr=1e-2, progress=False, device="cpu", eval_every=steps, eval_samples=None)
    return method, task


class CountingFeatures(torch.nn.Module):
    """Wraps psi and counts the images it sees."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.stride, self.images = inner, inner.stride, 0

    def forward(self, x):
        self.images += len(x)
        return self.inner(x)


def test_heads_share_one_feature_pass_and_give_each_heads_own_predictions():
    method, task = _trained_regda()
    images = task.target_test.images
    alone = {h: predict_keypoints(method, images, batch_size=10, head=h) for h in ("task", "adversarial")}
    counter = CountingFeatures(method.features)
    method.features = counter
    both = predict_keypoints_by_head(method, images, ("task", "adversarial"), batch_size=10)
    assert counter.images == len(images)  # one pass of psi for the two heads
    for h in ("task", "adversarial"):
        assert torch.equal(both[h], alone[h])
    assert not torch.equal(both["task"], both["adversarial"])  # two different regressors, not one copied
    scores = evaluate_heads(method, task.target_test, ("task", "adversarial"))
    assert scores["task"] == evaluate(method, task.target_test)
    assert scores["adversarial"] == evaluate(method, task.target_test, head="adversarial")
    with pytest.raises(ValueError, match="no head 'f2'"):
        evaluate_heads(method, task.target_test, ("task", "f2"))


def test_a_classifier_has_the_one_head_task():
    t = toy_task()
    net = methods.create("source_only", 10, t.image_shape, seed=0)
    assert evaluate_heads(net, t.target_test) == {"task": evaluate(net, t.target_test)}
    with pytest.raises(ValueError, match="one head 'task'"):
        evaluate_heads(net, t.target_test, ("task", "adversarial"))


def test_a_test_set_named_as_source_and_target_is_evaluated_once(monkeypatch):
    t = toy_keypoint_task()
    own = Task(source=t.source, target=t.source.unlabeled(), source_test=t.source_test,
               target_test=dataclasses.replace(t.source_test))  # an equal copy, as make_task(d, d) loads it twice
    method = methods.for_task("source_only", own, seed=0)
    seen = []
    real = train.evaluate_heads

    def counting(m, domain, heads=("task",), batch_size=500):
        seen.append(domain.name)
        return real(m, domain, heads, batch_size)

    monkeypatch.setattr(train, "evaluate_heads", counting)
    monkeypatch.setattr(train, "evaluate", lambda m, d, *a, **k: pytest.fail("the source was evaluated again"))
    scores = train._scores(method, own, own.source_test, own.target_test)
    assert seen == ["src"] and scores["source_pck"] == scores["target_pck"]


def test_different_test_sets_are_each_evaluated():
    t = toy_keypoint_task()
    method = methods.for_task("regda", t, seed=0)
    scores = train._scores(method, t, t.source_test, t.target_test)
    assert scores["source_pck"] == evaluate(method, t.source_test)["pck"]
    assert scores["target_pck"] == evaluate(method, t.target_test)["pck"]
    assert scores["target_pck_adversary"] == evaluate(method, t.target_test, head="adversarial")["pck"]
    # same name and size but other images: not the same split
    a = toy_keypoints("d", 16, seed=1)
    b = dataclasses.replace(a, images=a.images.flip(-1))
    assert train._same_split(a, dataclasses.replace(a)) and not train._same_split(a, b)
    moved = dataclasses.replace(a, keypoints=a.keypoints + 1.0)
    assert not train._same_split(a, moved)


DSPRITES = ("dsprites-color", "dsprites-noisy", "dsprites-scream")


@pytest.fixture
def stored_splits(tmp_path, monkeypatch):
    """The dSprites test splits (built in the shared cache if missing), copied into a private data folder."""
    folder = tmp_path / "cache" / "datasets"
    folder.mkdir(parents=True)
    for name in DSPRITES:
        load_domain(name, "test")
        src = registry.domain_cache_path(name, "test", 0)
        shutil.copy2(src, folder / src.name)
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path))
    registry._DECODED.clear()
    yield folder
    registry._DECODED.clear()


def test_stored_splits_are_decoded_once_and_every_caller_gets_its_own_tensors(stored_splits, monkeypatch):
    decodes = []
    real = registry.cached_npz

    def counting(path, build):
        decodes.append(str(path))
        return real(path, build)

    monkeypatch.setattr(registry, "cached_npz", counting)
    first = load_domain("dsprites-color", "test")
    second = load_domain("dsprites-color", "test")
    assert len(decodes) == 1
    assert torch.equal(first.images, second.images) and torch.equal(first.keypoints, second.keypoints)
    first.images[0] = 0.5
    first.keypoints[0] = -1.0
    first.visible[0] = False
    third = load_domain("dsprites-color", "test")
    assert torch.equal(third.images[1:], first.images[1:]) and not torch.equal(third.images[0], first.images[0])
    assert bool(third.visible[0].all()) and float(third.keypoints[0].min()) > 0
    stored = next(iter(registry._DECODED.values()))
    assert all(not a.flags.writeable for a in stored.values())
    # a file rebuilt on disk (new modification time) is read again
    path = registry.domain_cache_path("dsprites-color", "test", 0)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    load_domain("dsprites-color", "test")
    assert len(decodes) == 2


def test_the_decoded_splits_are_bounded(stored_splits, monkeypatch):
    monkeypatch.setattr(registry, "DECODED_SPLITS", 2)
    for name in DSPRITES:
        load_domain(name, "test")
    assert len(registry._DECODED) == 2
    names = [os.path.basename(k[0]) for k in registry._DECODED]
    assert not any(n.startswith("dsprites-color") for n in names)  # the least recently used went first
    assert all(str(stored_splits) in k[0] for k in registry._DECODED)  # keyed by the file actually read
