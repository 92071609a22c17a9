"""Cached outputs of a pretrained network's frozen layers, so that fine-tuning on a CPU trains only the later ones.

A :class:`~uda_nb.models.pretrained.PretrainedFeatures` with ``frozen=k`` never changes its first ``k`` blocks
(no gradient, BatchNorm in eval mode), so their output for an image is the same at every step of every run. This
module computes that output once per image of a task and stores it under ``data/cache/features/<key>.pt`` (written
atomically), keyed by the network's name, the hash of its weights file, ``frozen``, the input size and the task's
data fingerprint: a changed weights file or a changed data set is computed again. :func:`prefix_task` returns the
task with each split's images replaced by those features ``(N, C_k, H_k, W_k)``; the network's ``forward`` takes
them in place of images. No augmentation is possible on cached features: the regime trains without it.
"""

from __future__ import annotations

import io
import warnings

import torch
from tqdm.auto import tqdm

from .cache import atomic_write, config_key
from .config import cache_dir, quiet
from .data.domain import Task
from .models.pretrained import PretrainedFeatures

FEATURE_CACHE_VERSION = 1
_SPLITS = ("source", "target", "source_test", "target_test")


def frozen_prefix(method: torch.nn.Module) -> PretrainedFeatures | None:
    """The method's pretrained feature extractor when it has frozen layers to cache (``frozen > 0``), else ``None``."""
    for module in method.modules():
        if isinstance(module, PretrainedFeatures) and module.frozen:
            return module
    return None


def feature_key(features: PretrainedFeatures, weights_hash: str, task_fingerprint: str) -> str:
    """The cache file's name: everything the prefix's outputs depend on."""
    return config_key({"arch": features.arch, "weights": weights_hash, "frozen": features.frozen,
                       "input_size": features.input_size, "task": task_fingerprint,
                       "version": FEATURE_CACHE_VERSION})


def compute_prefix(features: PretrainedFeatures, images: torch.Tensor, batch_size: int = 256,
                   bar=None) -> torch.Tensor:
    """The frozen prefix's outputs for ``images`` ``(N, 3, H, W)``, in batches: ``(N, C_k, H_k, W_k)`` float32."""
    out = []
    for i in range(0, len(images), batch_size):
        out.append(features.prefix_features(images[i:i + batch_size]).float().cpu())
        if bar is not None:
            bar.update(min(batch_size, len(images) - i))
    return torch.cat(out)


def prefix_task(task: Task, features: PretrainedFeatures, weights_hash: str, task_fingerprint: str, *,
                cache: bool = True, progress: bool | None = None) -> Task:
    """``task`` with every split's images replaced by ``features``' frozen-prefix outputs (computed once, then read
    from the feature cache). Labels, names and metadata are unchanged; the splits stay on ``task``'s device."""
    if not features.frozen:
        raise ValueError("prefix_task: this network has no frozen layers (frozen=0), so there is nothing to cache: "
                         "build it with frozen=k (k >= 1) or train on the images.")
    if task.image_shape[0] != 3:
        raise ValueError(f"{features.arch} takes RGB images; task {task.name!r} has {task.image_shape[0]} channel(s).")
    path = cache_dir("features") / f"{feature_key(features, weights_hash, task_fingerprint)}.pt"
    feats = None
    if cache and path.is_file():
        try:
            feats = torch.load(path, map_location="cpu", weights_only=True)
            if set(feats) != set(_SPLITS) or any(len(feats[s]) != len(getattr(task, s)) for s in _SPLITS):
                raise ValueError("splits or sizes differ from the task")
        except Exception as err:  # a damaged file is recomputed, never trusted
            warnings.warn(f"The cached prefix features {str(path)!r} could not be used ({err}); computing them "
                          "again.", stacklevel=2)
            feats = None
    if feats is None:
        total = sum(len(getattr(task, s)) for s in _SPLITS)
        show = (not quiet()) if progress is None else bool(progress)
        device = next(features.parameters()).device
        with tqdm(total=total, desc=f"{features.arch}: frozen layers, once per image", disable=not show,
                  leave=False) as bar:
            feats = {s: compute_prefix(features, getattr(task, s).images.to(device), bar=bar) for s in _SPLITS}
        if cache:
            buf = io.BytesIO()
            torch.save(feats, buf)
            atomic_write(path, buf.getvalue())
    splits = {s: getattr(task, s)._derive(same_images=False, images=feats[s].to(task.device).contiguous())
              for s in _SPLITS}
    return Task(**splits, name=task.name)
