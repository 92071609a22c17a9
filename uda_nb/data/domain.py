"""`Domain` (images, labels, metadata) and `Task` (sources + target), with the checks that keep them honest.

The one rule this module enforces: a task's *training* view of the target has no labels at all
(``task.target.labels is None``), so no training step can read them by accident. Target labels exist only in
``task.target_test`` (evaluation and logging) and in :func:`uda_nb.data.oracle_task`, the single, named place
where the train-on-target upper bound is allowed to see them.
"""

from __future__ import annotations

import contextvars
import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..config import get_device


# Set while an ImageSet derives a copy of itself (to(), channels_last(), subset(), ...): the values were checked
# when the original was built, so the copy skips the value scans (only the cheap shape checks run). It holds
# the parent's count of images with NaN/inf pixels, or None outside a derivation.
_DERIVED_FROM: contextvars.ContextVar = contextvars.ContextVar("uda_nb_derived_from", default=None)
_RANGE_TOL = 1e-3  # images a hair outside [0, 1] (float rounding of a resize) are fine; 0-255 or mean/std ones are not


class ImageSet:
    """What every in-memory domain shares, whatever its targets: ``images`` ``(N, C, H, W)`` float32 in
    ``[0, 1]``, a per-image ``meta``, and the fields listed in ``_TARGETS`` (``None`` in an unlabeled view),
    which move, index and disappear together with the images.

    Subclasses are frozen dataclasses (:class:`Domain`: class labels; :class:`~uda_nb.data.keypoints.KeypointDomain`:
    keypoints and visibility). Construction checks what the data looks like (types, dtypes, shapes, value
    ranges: one pass over each tensor) and raises errors that say how to fix it; copies derived with
    ``to()``, ``subset()`` etc. are not scanned again.
    """

    _TARGETS: tuple[str, ...] = ()

    @property
    def _where(self) -> str:
        return f"{type(self).__name__} {self.name!r} ({self.split})"

    @property
    def _derived(self) -> bool:
        """True while this object is being built as a copy of an already checked one."""
        return _DERIVED_FROM.get() is not None

    def _check_names(self) -> None:
        kind = type(self).__name__
        for arg in ("name", "split"):
            value = getattr(self, arg)
            if not isinstance(value, str):
                raise TypeError(f"{kind}: {arg} must be a string (e.g. name='my_photos', split='train'), got "
                                f"{type(value).__name__}. The arguments are {kind}(name, split, images, ...): "
                                "did you leave out the name or the split?")
        if not isinstance(self.meta, dict):
            raise TypeError(f"{self._where}: meta must be a dict, got {type(self.meta).__name__}.")

    def _check_images(self) -> None:
        self._check_names()
        where, x = self._where, self.images
        _check_tensor(x, "images", where, "torch.from_numpy(images) (or torch.as_tensor(images)), then "
                      "images.float() / 255 if they are uint8")
        if x.dim() != 4:
            raise ValueError(f"{where}: images must be a 4-D tensor (N, C, H, W), got shape {tuple(x.shape)}. "
                             + _image_shape_hint(x.shape))
        # (not for copies of checked data: a pretrained network's cached feature maps may be 4 x 4 x 192)
        if not self._derived and x.shape[1] not in (1, 3, 4) and x.shape[-1] in (1, 3, 4):
            raise ValueError(f"{where}: images of shape {tuple(x.shape)} look channels-last (N, H, W, C); uda_nb "
                             "wants (N, C, H, W): use images.permute(0, 3, 1, 2).")
        if len(x) == 0:
            raise ValueError(f"{where} is empty: it has no images. Check the data folder or the split sizes you "
                             "asked for.")
        if x.dtype != torch.float32:
            if x.dtype == torch.uint8 or not (x.is_floating_point() or x.is_complex()):
                fix = ("divide by 255 (images.float() / 255)" if x.dtype == torch.uint8 else
                       "if they are 0-255 pixel values, images.float() / 255")
                raise TypeError(f"{where}: images must be float32 in [0, 1]; got {str(x.dtype).replace('torch.', '')}: "
                                f"{fix}.")
            raise TypeError(f"{where}: images must be float32 in [0, 1] (the networks are float32); got "
                            f"{str(x.dtype).replace('torch.', '')}: convert with images.float().")
        parent_nonfinite = _DERIVED_FROM.get()
        if parent_nonfinite == 0:
            object.__setattr__(self, "_nonfinite", (0, -1))  # a copy or a part of clean images is clean
            return
        object.__setattr__(self, "_nonfinite", (0, -1))
        lo, hi = torch.aminmax(x)  # one pass; NaN propagates, so a clean result proves every pixel finite
        lo, hi = torch.stack([lo, hi]).tolist()
        if not (math.isfinite(lo) and math.isfinite(hi)):
            bad = ~torch.isfinite(x).flatten(1).all(1)
            count = int(bad.sum())
            first = int(bad.nonzero()[0]) if count else -1
            object.__setattr__(self, "_nonfinite", (count, first))
            if parent_nonfinite is not None:
                return  # the original already warned
            warnings.warn(f"{where}: {count} of {len(x)} images contain NaN or inf pixels (first: image {first}). "
                          "Training on them makes the loss NaN and a model scores them as class 0: drop them "
                          "(domain.subset(torch.isfinite(domain.images).flatten(1).all(1))) or fix the data.",
                          stacklevel=4)
            finite = x[torch.isfinite(x)]
            if finite.numel() == 0:
                return
            lo, hi = torch.stack(list(torch.aminmax(finite))).tolist()
        if parent_nonfinite is not None:
            return
        if lo < -_RANGE_TOL or hi > 1 + _RANGE_TOL:
            raise ValueError(f"{where}: images must be float in [0, 1]; got values in [{lo:.4g}, {hi:.4g}]: "
                             + _range_hint(lo, hi))

    def _nonfinite_images(self) -> tuple[int, int]:
        """``(count, first index)`` of images with NaN/inf pixels, found when the object was built."""
        return getattr(self, "_nonfinite", (0, -1))

    def _derive(self, same_images: bool = True, **changes):
        """``dataclasses.replace`` for copies of checked data: only shape checks run again. ``same_images``:
        the copy holds the same pixel values (a move or a re-layout), not a subset."""
        count = self._nonfinite_images()[0]
        token = _DERIVED_FROM.set(count)
        try:
            out = replace(self, **changes)
        finally:
            _DERIVED_FROM.reset(token)
        if same_images:
            object.__setattr__(out, "_nonfinite", self._nonfinite_images())
        return out

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
        return self._derive(**dict.fromkeys(self._TARGETS), meta={**self.meta, "unlabeled": True})

    def to(self, device: torch.device | str):
        """A copy on ``device`` (a no-op when already there)."""
        device = get_device(device)  # a clear error for 'gpu' or a CUDA device this machine lacks
        if self.images.device == device:
            return self
        return self._derive(images=self.images.to(device), **self._targets(lambda t: t.to(device)))

    def channels_last(self):
        """The same images stored channels-last (NHWC in memory, NCHW in shape): ~20 % faster convolutions on
        CPU. Values and shapes are unchanged."""
        return self._derive(images=self.images.contiguous(memory_format=torch.channels_last))

    def subset(self, index: torch.Tensor | slice):
        """The images and targets at ``index``; per-image ``meta`` entries (ids, files, factors) follow."""
        return self._derive(False, images=self.images[index], **self._targets(lambda t: t[index]),
                            meta=subset_meta(self.meta, len(self), index))

    def sample(self, n: int, generator: torch.Generator | None = None):
        """At most ``n`` images drawn without replacement (all of them, in order, when ``n >= len``)."""
        if n >= len(self):
            return self
        index = torch.randperm(len(self), generator=generator)[:n].to(self.device)
        return self.subset(index)


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


def _check_tensor(x, what: str, where: str, convert: str) -> None:
    """A clear TypeError when ``x`` is a numpy array, a list or anything else than a tensor."""
    if isinstance(x, torch.Tensor):
        return
    if isinstance(x, np.ndarray):
        raise TypeError(f"{where}: {what} is a numpy array; uda_nb domains hold torch tensors. Convert it with "
                        f"{convert}.")
    raise TypeError(f"{where}: {what} must be a torch.Tensor, got {type(x).__name__}. Convert it with "
                    f"torch.as_tensor({what}) (torch.stack for a list of tensors).")


def _image_shape_hint(shape) -> str:
    if len(shape) == 3:
        return ("Grey images (N, H, W) need a channel axis: images[:, None]; a single image (C, H, W) needs a "
                "batch axis: images[None].")
    if len(shape) == 2:
        return "Flattened images (N, H*W) must be reshaped: images.view(N, C, H, W)."
    return "Add a channel axis for grey images (x[:, None])."


def _range_hint(lo: float, hi: float) -> str:
    if lo >= -_RANGE_TOL and hi <= 255 + _RANGE_TOL:
        return "they look like 0-255 pixel values: divide by 255 (images / 255)."
    if lo >= -1 - _RANGE_TOL and hi <= 1 + _RANGE_TOL:
        return "they look like [-1, 1] images: use (images + 1) / 2."
    if lo < 0:
        return ("they look standardised (mean/std normalised): pass the images before normalisation, in [0, 1]; "
                "uda_nb's networks normalise their inputs themselves (methods.create(..., norm='center' or "
                "'image')).")
    return "rescale them to [0, 1], e.g. (images - images.min()) / (images.max() - images.min())."


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
        object.__setattr__(self, "class_names", _check_class_names(self.class_names, self._where))
        if self.labels is not None:
            self._check_labels()

    def _check_labels(self) -> None:
        where, y, n = self._where, self.labels, len(self.images)
        _check_tensor(y, "labels", where, "torch.from_numpy(labels).long()")
        if y.dim() == 2 and y.shape[0] == n and y.shape[1] > 1:
            raise ValueError(f"{where}: labels of shape {tuple(y.shape)} look one-hot (or class probabilities); "
                             "uda_nb wants class indices of shape (N,): use labels.argmax(1).")
        if y.dim() == 2 and y.shape == (n, 1):
            raise ValueError(f"{where}: labels of shape {tuple(y.shape)}; expected ({n},): use labels.flatten().")
        if y.shape != (n,):
            raise ValueError(f"Domain {self.name!r} ({self.split}): {n} images but labels of shape "
                             f"{tuple(y.shape)}; expected ({n},): one class index per image.")
        if y.device != self.images.device:
            raise ValueError(f"{where}: labels are on {y.device} but images on {self.images.device}: keep them "
                             "together (labels.to(images.device)); Domain.to(device) moves both.")
        if y.dtype != torch.int64:
            fix = ("if they are whole numbers, labels.long()" if y.is_floating_point() else "labels.long()")
            raise TypeError(f"{where}: labels must be int64 class indices (torch.long); got {_dtype(y)}: {fix}.")
        if not self.class_names:
            raise ValueError(f"{where} has labels but no class_names, so a model built for it would have 0 "
                             "classes: pass class_names=(...), one name per class in label order, e.g. "
                             "class_names=tuple(str(c) for c in range(int(labels.max()) + 1)).")
        if self._derived:
            return
        k = len(self.class_names)
        lo, hi = torch.stack(list(torch.aminmax(y))).tolist()
        if lo < 0:
            first = int((y < 0).nonzero()[0])
            raise ValueError(f"{where}: label {lo} (first negative at image {first}) is not a class index: labels "
                             f"must be 0..{k - 1}. Drop unlabeled images (e.g. labels == -1) before building the "
                             "Domain (keep = labels >= 0; images, labels = images[keep], labels[keep]) or give "
                             "them a class.")
        if hi >= k:
            hint = (" The labels look 1-based: use labels - 1." if lo >= 1 and hi == k else
                    " Add the missing class names or remap the labels to 0..K-1.")
            raise ValueError(f"Domain {self.name!r} ({self.split}): label {hi} is out of range for {k} classes "
                             f"{self.class_names[:10]}{'...' if k > 10 else ''}: labels must be 0..{k - 1}.{hint}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        lab = "labeled" if self.has_labels else "UNLABELED"
        return f"Domain({self.name!r}, {self.split}, n={len(self)}, shape={self.image_shape}, {lab})"


def _check_class_names(names, where: str) -> tuple[str, ...]:
    """``class_names`` as a tuple of unique strings, or a clear error."""
    if isinstance(names, str):
        raise TypeError(f"{where}: class_names must be a sequence of names such as ('cat', 'dog'), got the string "
                        f"{names!r}: use tuple({names!r}) if each character is a class name.")
    if isinstance(names, (torch.Tensor, np.ndarray)):
        names = [str(n) for n in names.tolist()]
    try:
        names = tuple(str(n) for n in names)  # '0'..'9', never 0..9: names compare equal across domains
    except TypeError:
        raise TypeError(f"{where}: class_names must be a sequence of names such as ('cat', 'dog'), got "
                        f"{type(names).__name__}.") from None
    if len(set(names)) != len(names):
        dup = sorted({str(n) for n in names if names.count(n) > 1})
        raise ValueError(f"{where}: class_names has duplicates {dup[:5]}: give each class one distinct name.")
    return names


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
    for d in domains:
        if not isinstance(d, Domain):
            raise TypeError(f"concat_domains merges classification Domains; got {type(d).__name__}"
                            f"{'' if not isinstance(d, str) else f' {d!r} (load it first with load_domain)'}.")
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

    _ROLES = ("source", "target", "source_test", "target_test")

    def __post_init__(self):
        for role in self._ROLES:
            d = getattr(self, role)
            if not isinstance(d, ImageSet):
                raise TypeError(f"Task.{role} must be a Domain (or KeypointDomain), got {type(d).__name__}: wrap "
                                "your tensors as Domain(name, split, images, labels, class_names) (see 'Your own "
                                "data' in the README).")
        kinds = {role: type(getattr(self, role)) for role in self._ROLES}
        if len(set(kinds.values())) > 1:
            raise TypeError("A Task's four splits must be of one kind (all Domain or all KeypointDomain), got "
                            + ", ".join(f"{r}={k.__name__}" for r, k in kinds.items()) + ".")
        if self.target.has_labels:
            raise ValueError("Task.target must be the unlabeled training view of the target domain: pass "
                             "domain.unlabeled(). Target labels may only be used for evaluation (target_test).")
        if not self.source.has_labels:
            raise ValueError(f"Task.source {self.source.name!r} has no labels; the source domain must be labeled "
                             "(build it with labels=..., not .unlabeled()).")
        for role in ("source_test", "target_test"):
            d = getattr(self, role)
            if not d.has_labels:
                raise ValueError(f"Task.{role} {d.name!r} has no labels, but test splits exist to be scored: pass "
                                 "the labeled held-out Domain (not .unlabeled()); its labels are only used to "
                                 "report accuracy.")
            count, first = d._nonfinite_images()
            if count:
                raise ValueError(f"Task.{role} {d.name!r} has {count} images with NaN or inf pixels (first: image "
                                 f"{first}); they would be scored as class 0 without a word. Drop them "
                                 f"({role}.subset(torch.isfinite({role}.images).flatten(1).all(1))) or fix the data.")
        for other in (self.target, self.source_test, self.target_test):
            check_compatible(self.source, other)
        if not isinstance(self.name, str):
            raise TypeError(f"Task.name must be a string, got {type(self.name).__name__}.")
        if not self.name:
            object.__setattr__(self, "name", f"{self.source.name}->{self.target.name}")

    @property
    def num_classes(self) -> int:
        """Classes of a classification task; keypoints ``K`` of a keypoint task."""
        return self.source.num_classes

    @property
    def kind(self) -> str:
        """``"classification"`` (class labels) or ``"keypoints"`` (keypoints + visibility): what a method must
        predict for this task (``Method.task_kind``)."""
        return "keypoints" if "keypoints" in type(self.source)._TARGETS else "classification"

    @property
    def metrics(self) -> tuple[str, ...]:
        """The task's metrics, headline first: ``("acc",)`` for classification; for keypoints what the target
        domain declares in ``meta['metrics']`` (``("pck",)`` by default, ``("mae",)`` for dSprites). History
        columns and ``final`` keys are these names prefixed by ``source_`` / ``target_``."""
        if self.kind == "classification":
            return ("acc",)
        return tuple(self.target_test.meta.get("metrics", ("pck",)))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.source.image_shape

    @property
    def device(self) -> torch.device:
        return self.source.device

    def to(self, device: torch.device | str) -> "Task":
        """Every split on ``device`` (no copy for a split already there)."""
        return replace(self, source=self.source.to(device), target=self.target.to(device),
                       source_test=self.source_test.to(device), target_test=self.target_test.to(device))

    def channels_last(self) -> "Task":
        """Every split stored channels-last (see :meth:`Domain.channels_last`)."""
        return replace(self, source=self.source.channels_last(), target=self.target.channels_last(),
                       source_test=self.source_test.channels_last(), target_test=self.target_test.channels_last())

    def __repr__(self) -> str:
        return (f"Task({self.name}: source={len(self.source)} labeled, target={len(self.target)} unlabeled, "
                f"source_test={len(self.source_test)}, target_test={len(self.target_test)})")
