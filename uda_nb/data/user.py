"""A user's own classification task in one ``.npz`` file, so a notebook can take it with ``DATA = "my_task.npz"``.

Keys (images ``(N, C, H, W)``, uint8 0-255 or float in [0, 1]; labels ``(N,)`` integers 0..K-1):

==========================  ========  ===============================================================
key                         required  what
==========================  ========  ===============================================================
``source_images``           yes       labeled source training images
``source_labels``           yes       their labels
``target_images``           yes       target training images (adaptation sees them without labels)
``source_test_images``      yes       held-out source images (source validation)
``source_test_labels``      yes       their labels
``target_test_images``      yes       held-out target images (the reported accuracy)
``target_test_labels``      yes       their labels
``class_names``             no        ``(K,)`` strings; default ``'0'..'K-1'``
``target_labels``           no        labels of ``target_images``, used only for the train-on-target oracle
``source_name``             no        a string naming the source domain (default ``'source'``)
``target_name``             no        a string naming the target domain (default ``'target'``)
==========================  ========  ===============================================================

The file is read with ``allow_pickle=False`` (it cannot run code). Write one with :func:`save_task_npz`.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ..cache import save_npz
from .domain import Domain, Task

REQUIRED = ("source_images", "source_labels", "target_images", "source_test_images", "source_test_labels",
            "target_test_images", "target_test_labels")
OPTIONAL = ("class_names", "target_labels", "source_name", "target_name")
_EXPECTED = ("source_images / target_images / *_test_images: (N, C, H, W) uint8 0-255 or float in [0, 1]; "
             "*_labels: (N,) integers 0..K-1; optional class_names (K,) strings, target_labels (oracle only), "
             "source_name, target_name")


def load_npz(path: str | Path, device: torch.device | str | None = None) -> tuple[Task, Domain | None]:
    """Read a task file: ``(task, labeled_target)``.

    ``task`` is a :class:`Task` (its target training view has no labels); ``labeled_target`` is the target's
    training split *with* ``target_labels`` when the file has them (pass it to
    ``oracle_task(task, labeled_target=...)`` for the train-on-target row), else ``None``.
    """
    arrays = _read(Path(path))
    return _build(arrays, str(path), device)


def load_task_npz(path: str | Path, device: torch.device | str | None = None) -> Task:
    """The :class:`Task` in a task file (see :func:`load_npz` for the oracle's labels too)."""
    return load_npz(path, device)[0]


def save_task_npz(path: str | Path, task: Task | None = None, *, labeled_target: Domain | None = None,
                  **arrays) -> Path:
    """Write a task file atomically (a temp file renamed over ``path``: never half-written) and return its path.

    Either from a :class:`Task` (``save_task_npz(path, task, labeled_target=...)``) or from arrays under the
    keys of this module's table (``save_task_npz(path, source_images=..., source_labels=..., ...)``; tensors or
    numpy arrays). The content is checked by building the task first, so a file that would not load is never
    written. Float images that are exact multiples of 1/255 are stored as uint8 (4x smaller, loaded back
    bit-identical); others as float32.
    """
    if task is not None:
        if arrays:
            raise TypeError(f"save_task_npz: pass a Task or arrays, not both (got task and {sorted(arrays)}).")
        if not isinstance(task, Task):
            raise TypeError(f"save_task_npz: task must be a Task, got {type(task).__name__}.")
        arrays = _task_arrays(task, labeled_target)
    elif labeled_target is not None:
        raise TypeError("save_task_npz: labeled_target goes with a Task; with arrays, pass target_labels=.")
    arrays = {k: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v for k, v in arrays.items()}
    _check_keys(arrays, "save_task_npz")
    _build(arrays, "save_task_npz", None)  # raises the same clear errors as loading would
    out = {}
    for key, value in arrays.items():
        if key.endswith("_images"):
            value = _compact_images(np.asarray(value))
        elif key in ("class_names", "source_name", "target_name"):
            value = np.asarray(value, dtype=str)
        out[key] = np.asarray(value)
    return save_npz(path, **out)


# --------------------------------------------------------------------------------------------------- helpers


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        where = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"Task file {path} {where}. Expected an .npz with the keys {list(REQUIRED)} "
                                "(write one with uda_nb.data.save_task_npz; format in data/README.md).")
    if not zipfile.is_zipfile(path):  # np.load would try it as a pickle
        raise ValueError(f"{path} is not a readable .npz file (not a zip archive). Write task files with "
                         "uda_nb.data.save_task_npz or numpy.savez.")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"Task file {path} is damaged: it is not a readable .npz ({type(exc).__name__}: {exc}). "
                         "Write it again with uda_nb.data.save_task_npz or numpy.savez (a copy cut short or "
                         "altered in transfer reads like this).") from exc
    except ValueError as exc:  # object arrays need pickle, which could run code
        raise ValueError(f"{path}: {exc}. Task files may only hold plain numeric and string arrays (no Python "
                         "objects): store class_names as np.array([...], dtype=str).") from exc


def _check_keys(arrays: dict, where: str) -> None:
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"{where}: missing {missing}. A task file needs {list(REQUIRED)} (optional: "
                         f"{list(OPTIONAL)}); it has {sorted(arrays)}. Expected {_EXPECTED}.")
    unknown = sorted(set(arrays) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} (a typo?). Allowed keys: {list(REQUIRED + OPTIONAL)}.")


def _images(value: np.ndarray, key: str, where: str) -> torch.Tensor:
    value = np.asarray(value)
    if value.ndim == 4 and value.shape[1] not in (1, 3, 4) and value.shape[-1] in (1, 3, 4):
        raise ValueError(f"{where}: {key} has shape {value.shape}, which looks channels-last (N, H, W, C); task "
                         f"files hold (N, C, H, W): use {key}.transpose(0, 3, 1, 2).")
    if value.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(value)).float().div_(255.0)
    if value.dtype.kind == "f":
        return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    raise TypeError(f"{where}: {key} has dtype {value.dtype}; images must be uint8 (0-255) or float in [0, 1]: "
                    f"convert with images.astype(np.uint8) or images.astype(np.float32) / 255.")


def _labels(value: np.ndarray, key: str, where: str) -> torch.Tensor:
    value = np.asarray(value)
    if value.dtype.kind not in "iu":
        raise TypeError(f"{where}: {key} has dtype {value.dtype}; labels must be integers 0..K-1 (one per image): "
                        f"convert with {key}.astype(np.int64)" + (" or argmax(1) if they are one-hot."
                                                                    if value.ndim == 2 else "."))
    return torch.from_numpy(value.astype(np.int64))


def _string(arrays: dict, key: str, default: str, where: str) -> str:
    if key not in arrays:
        return default
    value = np.asarray(arrays[key])
    if value.ndim != 0 or value.dtype.kind != "U":
        raise ValueError(f"{where}: {key} must be a single string (np.array('my_domain')), got an array of shape "
                         f"{value.shape} and dtype {value.dtype}.")
    return str(value)


def _build(arrays: dict, where: str, device) -> tuple[Task, Domain | None]:
    _check_keys(arrays, where)
    labels = {k: _labels(arrays[k], k, where) for k in ("source_labels", "source_test_labels", "target_test_labels",
                                                        "target_labels") if k in arrays}
    if "class_names" in arrays:
        names = np.asarray(arrays["class_names"])
        if names.ndim != 1:
            raise ValueError(f"{where}: class_names must be a 1-D array of strings, got shape {names.shape}.")
        class_names = tuple(str(n) for n in names.tolist())
    else:
        top = max((int(y.max()) for y in labels.values() if len(y)), default=0)
        class_names = tuple(str(c) for c in range(top + 1))
    src_name = _string(arrays, "source_name", "source", where)
    tgt_name = _string(arrays, "target_name", "target", where)

    def domain(prefix: str, name: str, split: str, label_key: str | None) -> Domain:
        key = f"{prefix}_images"
        try:
            return Domain(name, split, _images(arrays[key], key, where),
                          labels.get(label_key) if label_key else None, class_names,
                          meta={"source": "npz", "file": where, "key": key})
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: {key}" + (f" / {label_key}" if label_key else "") + f": {exc}") from None

    target = domain("target", tgt_name, "train", "target_labels" if "target_labels" in labels else None)
    task = Task(source=domain("source", src_name, "train", "source_labels"), target=target.unlabeled(),
                source_test=domain("source_test", src_name, "test", "source_test_labels"),
                target_test=domain("target_test", tgt_name, "test", "target_test_labels"))
    labeled = target if target.has_labels else None
    if device is not None:
        task = task.to(device)
        labeled = labeled.to(device) if labeled is not None else None
    return task, labeled


def _task_arrays(task: Task, labeled_target: Domain | None) -> dict:
    if not all(isinstance(d, Domain) for d in (task.source, task.target, task.source_test, task.target_test)):
        raise TypeError("save_task_npz stores classification tasks (Domain splits); keypoint tasks are not supported.")
    out = {"source_images": task.source.images, "source_labels": task.source.labels,
           "target_images": task.target.images, "source_test_images": task.source_test.images,
           "source_test_labels": task.source_test.labels, "target_test_images": task.target_test.images,
           "target_test_labels": task.target_test.labels, "class_names": np.asarray(task.source.class_names, str),
           "source_name": np.asarray(task.source.name), "target_name": np.asarray(task.target.name)}
    if labeled_target is not None:
        from .tasks import oracle_task

        oracle_task(task, labeled_target=labeled_target)  # the same images, with labels, or a clear error
        out["target_labels"] = labeled_target.labels
    return out


def _compact_images(x: np.ndarray) -> np.ndarray:
    """uint8 when that round-trips exactly through ``uint8 / 255`` (the loader's conversion), else float32."""
    if x.dtype == np.uint8 or x.dtype.kind != "f":
        return x
    x = x.astype(np.float32)
    if np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1:
        q = np.rint(x * 255.0).astype(np.uint8)
        if np.array_equal(torch.from_numpy(q).float().div_(255.0).numpy(), x):
            return q
    return x


__all__ = ["REQUIRED", "OPTIONAL", "load_npz", "load_task_npz", "save_task_npz"]
