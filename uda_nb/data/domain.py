"""`Domain` (images, labels, metadata) and `Task` (sources + target), with the checks that keep them honest.

The one rule this module enforces: a task's *training* view of the target has no labels at all
(``task.target.labels is None``), so no training step can read them by accident. Target labels exist only in
``task.target_test`` (evaluation and logging) and in :func:`uda_nb.data.oracle_task`, the single, named place
where the train-on-target upper bound is allowed to see them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch


class ImageSet:
    """What every in-memory domain shares, whatever its targets: ``images`` ``(N, C, H, W)`` float32 in
    ``[0, 1]``, a per-image ``meta``, and the fields listed in ``_TARGETS`` (``None`` in an unlabeled view),
    which move, index and disappear together with the images.

    Subclasses are frozen dataclasses (:class:`Domain`: class labels; :class:`~uda_nb.data.keypoints.KeypointDomain`:
    keypoints and visibility).
    """

    _TARGETS: tuple[str, ...] = ()

    def _check_images(self) -> None:
        kind = type(self).__name__
        if not isinstance(self.images, torch.Tensor) or self.images.dim() != 4:
            shape = tuple(getattr(self.images, "shape", ()))
            raise ValueError(f"{kind} {self.name!r} ({self.split}): images must be a 4-D tensor (N, C, H, W), "
                             f"got shape {shape}. Add a channel axis for grey images (x[:, None]).")
        if len(self.images) == 0:
            raise ValueError(f"{kind} {self.name!r} ({self.split}) is empty: it has no images. Check the data "
                             "folder or the split sizes you asked for.")

    def _targets(self, fn) -> dict:
        """``{field: fn(value)}`` for every target field (``None`` stays ``None``)."""
        return {f: None if getattr(self, f) is None else fn(getattr(self, f)) for f in self._TARGETS}

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def device(self) -> torch.device:
        return self.images.device

    def unlabeled(self):
        """The same images with every target removed: the only view of a target domain that training may see."""
        return replace(self, **dict.fromkeys(self._TARGETS), meta={**self.meta, "unlabeled": True})

    def to(self, device: torch.device | str):
        """A copy on ``device`` (a no-op when already there)."""
        device = torch.device(device)
        if self.images.device == device:
            return self
        return replace(self, images=self.images.to(device), **self._targets(lambda t: t.to(device)))

    def channels_last(self):
        """The same images stored channels-last (NHWC in memory, NCHW in shape): ~20 % faster convolutions on
        CPU. Values and shapes are unchanged."""
        return replace(self, images=self.images.contiguous(memory_format=torch.channels_last))

    def subset(self, index: torch.Tensor | slice):
        """The images and targets at ``index``; per-image ``meta`` entries (ids, files, factors) follow."""
        return replace(self, images=self.images[index], **self._targets(lambda t: t[index]),
                       meta=subset_meta(self.meta, len(self), index))

    def sample(self, n: int, generator: torch.Generator | None = None):
        """At most ``n`` images drawn without replacement (all of them, in order, when ``n >= len``)."""
        if n >= len(self):
            return self
        index = torch.randperm(len(self), generator=generator)[:n].to(self.device)
        return self.subset(index)


@dataclass(frozen=True)
class Domain(ImageSet):
    """One split of one domain held in memory.

    images: ``(N, C, H, W)`` float32 in ``[0, 1]``; labels: ``(N,)`` int64 class indices, or ``None`` for an
    unlabeled view. ``class_names`` has one entry per class; ``meta`` carries anything else (keypoint
    names, skeleton, groups, how it was generated).
    """

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor | None
    class_names: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    _TARGETS = ("labels",)

    def __post_init__(self):
        self._check_images()
        if self.labels is not None:
            if self.labels.shape != (len(self.images),):
                raise ValueError(f"Domain {self.name!r} ({self.split}): {len(self.images)} images but labels of "
                                 f"shape {tuple(self.labels.shape)}; expected ({len(self.images)},).")
            if self.class_names and int(self.labels.max()) >= len(self.class_names):
                raise ValueError(f"Domain {self.name!r} ({self.split}): label {int(self.labels.max())} is out of "
                                 f"range for {len(self.class_names)} classes {self.class_names}.")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        lab = "labeled" if self.has_labels else "UNLABELED"
        return f"Domain({self.name!r}, {self.split}, n={len(self)}, shape={self.image_shape}, {lab})"


def subset_meta(meta: dict, n: int, index) -> dict:
    """``meta`` with every per-image entry indexed by ``index``: arrays and tensors of length ``n`` (ids,
    generation factors, ``parts``) and the ``files`` list, so they stay aligned with the images. Other lists
    (``part_names``, ``skeleton_colors``) are per-domain and left alone."""
    if isinstance(index, torch.Tensor):
        index = index.detach().cpu()
        if index.dtype == torch.bool:
            index = index.nonzero().flatten()
        index = index.numpy()
    out = {}
    for key, value in meta.items():
        if isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim >= 1 and len(value) == n:
            value = value[torch.as_tensor(index).to(value.device) if isinstance(value, torch.Tensor) else index]
        elif key == "files" and isinstance(value, (list, tuple)) and len(value) == n:
            value = value[index] if isinstance(index, slice) else type(value)(value[int(i)] for i in np.atleast_1d(index))
        out[key] = value
    return out


def concat_domains(domains: list[Domain], name: str | None = None) -> Domain:
    """Merge several domains into one (DRT's multi-source setting treats the sources as one set).

    Shapes and class names must agree. The merged domain's ``meta['parts']`` keeps a domain index per image
    (``(N,)`` int64) for plots; methods that promise "no domain labels" must not read it.
    """
    if not domains:
        raise ValueError("concat_domains needs at least one domain.")
    first = domains[0]
    for d in domains[1:]:
        check_compatible(first, d)
    labeled = all(d.has_labels for d in domains)
    parts = torch.cat([torch.full((len(d),), i, dtype=torch.long) for i, d in enumerate(domains)])
    return Domain(
        name=name or "+".join(d.name for d in domains),
        split=first.split,
        images=torch.cat([d.images.to(first.device) for d in domains]),
        labels=torch.cat([d.labels.to(first.device) for d in domains]) if labeled else None,
        class_names=first.class_names,
        meta={"parts": parts, "part_names": [d.name for d in domains]},
    )


def check_compatible(a: Domain, b: Domain) -> None:
    """Raise a clear error when two domains cannot be used together (image shape, channels, classes)."""
    if a.image_shape != b.image_shape:
        ca, cb = a.image_shape[0], b.image_shape[0]
        hint = (f"channel counts differ ({ca} vs {cb}): convert grey images to 3 channels "
                "(x.expand(-1, 3, -1, -1)) or drop colour" if ca != cb else
                "resize both to one size (torch.nn.functional.interpolate)")
        raise ValueError(f"Domains {a.name!r} and {b.name!r} have different image shapes {a.image_shape} vs "
                         f"{b.image_shape}: {hint}.")
    if a.class_names and b.class_names and tuple(a.class_names) != tuple(b.class_names):
        raise ValueError(f"Domains {a.name!r} and {b.name!r} disagree on their classes "
                         f"({len(a.class_names)} vs {len(b.class_names)}: {a.class_names[:5]}... vs "
                         f"{b.class_names[:5]}...). Use the same class list (and order) in both.")


@dataclass(frozen=True)
class Task:
    """A UDA task: labeled source(s) and an unlabeled target for training; test splits for evaluation.

    ``source``: labeled training images (several sources arrive merged, see :func:`concat_domains`);
    ``target``: the target's training images, *without labels*; ``source_test``: held-out source images,
    the source-validation set usable for model selection; ``target_test``: held-out target images used only
    to report (and log) accuracy, never to choose anything.
    """

    source: Domain
    target: Domain
    source_test: Domain
    target_test: Domain
    name: str = ""

    def __post_init__(self):
        if self.target.has_labels:
            raise ValueError("Task.target must be the unlabeled training view of the target domain: pass "
                             "domain.unlabeled(). Target labels may only be used for evaluation (target_test).")
        if not self.source.has_labels:
            raise ValueError(f"Task.source {self.source.name!r} has no labels; the source domain must be labeled.")
        for other in (self.target, self.source_test, self.target_test):
            check_compatible(self.source, other)
        if not self.name:
            object.__setattr__(self, "name", f"{self.source.name}->{self.target.name}")

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.source.image_shape

    @property
    def device(self) -> torch.device:
        return self.source.device

    def to(self, device: torch.device | str) -> "Task":
        return replace(self, source=self.source.to(device), target=self.target.to(device),
                       source_test=self.source_test.to(device), target_test=self.target_test.to(device))

    def channels_last(self) -> "Task":
        """Every split stored channels-last (see :meth:`Domain.channels_last`)."""
        return replace(self, source=self.source.channels_last(), target=self.target.channels_last(),
                       source_test=self.source_test.channels_last(), target_test=self.target_test.channels_last())

    def __repr__(self) -> str:
        return (f"Task({self.name}: source={len(self.source)} labeled, target={len(self.target)} unlabeled, "
                f"source_test={len(self.source_test)}, target_test={len(self.target_test)})")
