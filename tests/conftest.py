"""Shared fixtures. Unit tests use small synthetic domains (fast); data and claims tests use the embedded
digits (built once into data/cache/ and reused)."""

from __future__ import annotations

import pytest
import torch

from uda_nb.data import Domain, KeypointDomain, Task


def toy_domain(name: str, n: int = 64, seed: int = 0, shift: float = 0.0, labeled: bool = True,
               channels: int = 3, size: int = 32) -> Domain:
    """Random images whose class sets the brightness of a square (learnable), plus a domain ``shift``."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.rand(n, channels, size, size, generator=g) * 0.3 + shift
    images[:, :, 8:24, 8:24] += labels.view(-1, 1, 1, 1).float() / 15.0
    return Domain(name, "train", images.clamp(0, 1), labels if labeled else None, tuple(map(str, range(10))))


def toy_task(n: int = 64, seed: int = 0) -> Task:
    src = toy_domain("toy_src", n, seed)
    tgt = toy_domain("toy_tgt", n, seed + 1, shift=0.4)
    return Task(source=src, target=tgt.unlabeled(), source_test=toy_domain("toy_src", n, seed + 2),
                target_test=toy_domain("toy_tgt", n, seed + 3, shift=0.4))


def with_permuted_target_labels(task: Task, seed: int = 1) -> Task:
    """``task`` with its target test labels (the only target labels a task holds) shuffled: a label-leak test
    trains on both and expects identical weights."""
    import dataclasses
    tt = task.target_test
    perm = torch.randperm(len(tt), generator=torch.Generator().manual_seed(seed))
    return dataclasses.replace(task, target_test=dataclasses.replace(tt, labels=tt.labels[perm]))


KEYPOINT_NAMES = ("a", "b", "c")


def toy_keypoints(name: str, n: int = 48, seed: int = 0, shift: float = 0.0, labeled: bool = True,
                  k: int = 3, size: int = 32) -> KeypointDomain:
    """Dark images with a bright 3x3 dot at each keypoint (learnable), plus a brightness ``shift``."""
    g = torch.Generator().manual_seed(seed)
    kp = torch.randint(4, size - 4, (n, k, 2), generator=g).float() + 0.5
    images = torch.rand(n, 3, size, size, generator=g) * 0.2 + shift
    for i in range(n):
        for j in range(k):
            x, y = int(kp[i, j, 0]), int(kp[i, j, 1])
            images[i, j % 3, y - 1:y + 2, x - 1:x + 2] = 1.0
    vis = torch.ones(n, k, dtype=torch.bool)
    d = KeypointDomain(name, "train", images.clamp(0, 1), kp, vis, KEYPOINT_NAMES[:k])
    return d if labeled else d.unlabeled()


def toy_keypoint_task(k: int = 3, seed: int = 0) -> Task:
    return Task(source=toy_keypoints("src", k=k, seed=seed), target=toy_keypoints("tgt", k=k, seed=seed + 1,
                                                                                   shift=0.3).unlabeled(),
                source_test=toy_keypoints("src", 32, seed + 2, k=k),
                target_test=toy_keypoints("tgt", 32, seed + 3, shift=0.3, k=k))


@pytest.fixture
def task() -> Task:
    return toy_task()


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """Point UDA_NB_DATA at a temporary folder (run caches land there)."""
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path))
    return tmp_path


@pytest.fixture
def one_thread():
    """One torch thread inside a test, as in the subprocesses it compares with (the same floats); the caller's
    count is restored after, since other tests' tolerances were measured with the default."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
