"""`KeypointDomain`: images with 2-D keypoints (hands, dSprites positions), the regression counterpart of
:class:`~uda_nb.data.domain.Domain` used by RegDA.

It has the same interface as ``Domain`` where a :class:`~uda_nb.data.domain.Task` looks (``name``, ``split``,
``images``, ``has_labels``, ``image_shape``, ``class_names``, ``unlabeled()``, ``to()``, ``channels_last()``,
``subset()``, ``sample()``), so a keypoint task is an ordinary ``Task`` whose target training view has no
keypoints at all.

Coordinates are pixels of the stored image, ``(x, y)`` with ``x`` the column and ``y`` the row, measured
from the top-left corner of the top-left pixel (a pixel's centre is at ``i + 0.5``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from .domain import subset_meta


@dataclass(frozen=True)
class KeypointDomain:
    """One split of one keypoint domain held in memory.

    images: ``(N, C, H, W)`` float32 in ``[0, 1]``;
    keypoints: ``(N, K, 2)`` float32 pixel coordinates ``(x, y)``, or ``None`` for an unlabeled view;
    visible: ``(N, K)`` bool, ``True`` where the keypoint can be seen (``None`` together with keypoints);
    keypoint_names: ``K`` names; skeleton: ``(a, b)`` index pairs to draw as bones;
    groups: group name -> keypoint indices (e.g. RegDA's MCP / PIP / DIP / fingertip for per-group PCK).
    """

    name: str
    split: str
    images: torch.Tensor
    keypoints: torch.Tensor | None
    visible: torch.Tensor | None
    keypoint_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...] = ()
    groups: dict[str, tuple[int, ...]] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.images, torch.Tensor) or self.images.dim() != 4:
            shape = tuple(getattr(self.images, "shape", ()))
            raise ValueError(f"KeypointDomain {self.name!r} ({self.split}): images must be a 4-D tensor "
                             f"(N, C, H, W), got shape {shape}.")
        n, k = len(self.images), len(self.keypoint_names)
        if n == 0:
            raise ValueError(f"KeypointDomain {self.name!r} ({self.split}) has no images.")
        if (self.keypoints is None) != (self.visible is None):
            raise ValueError(f"KeypointDomain {self.name!r}: give keypoints and visible together (both or neither).")
        if self.keypoints is not None:
            if self.keypoints.shape != (n, k, 2):
                raise ValueError(f"KeypointDomain {self.name!r} ({self.split}): {n} images and {k} keypoint names "
                                 f"but keypoints of shape {tuple(self.keypoints.shape)}; expected ({n}, {k}, 2) "
                                 "pixel coordinates (x, y).")
            if self.visible.shape != (n, k):
                raise ValueError(f"KeypointDomain {self.name!r} ({self.split}): visible has shape "
                                 f"{tuple(self.visible.shape)}; expected ({n}, {k}).")
        for a, b in self.skeleton:
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"KeypointDomain {self.name!r}: skeleton edge ({a}, {b}) names a keypoint outside "
                                 f"0..{k - 1}.")
        for group, idx in self.groups.items():
            if any(not 0 <= i < k for i in idx):
                raise ValueError(f"KeypointDomain {self.name!r}: group {group!r} names a keypoint outside 0..{k - 1}.")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The keypoint names: what two domains must agree on to form a task (see ``check_compatible``)."""
        return self.keypoint_names

    @property
    def labels(self) -> torch.Tensor | None:
        """The keypoints (the regression labels), so code that asks ``domain.labels is None`` stays honest."""
        return self.keypoints

    @property
    def has_labels(self) -> bool:
        return self.keypoints is not None

    @property
    def device(self) -> torch.device:
        return self.images.device

    def unlabeled(self) -> "KeypointDomain":
        """The same images with keypoints and visibility removed: the target's training view."""
        return replace(self, keypoints=None, visible=None, meta={**self.meta, "unlabeled": True})

    def to(self, device: torch.device | str) -> "KeypointDomain":
        device = torch.device(device)
        if self.images.device == device:
            return self
        move = (lambda t: None if t is None else t.to(device))
        return replace(self, images=self.images.to(device), keypoints=move(self.keypoints),
                       visible=move(self.visible))

    def channels_last(self) -> "KeypointDomain":
        return replace(self, images=self.images.contiguous(memory_format=torch.channels_last))

    def subset(self, index: torch.Tensor | slice) -> "KeypointDomain":
        pick = (lambda t: None if t is None else t[index])
        return replace(self, images=self.images[index], keypoints=pick(self.keypoints), visible=pick(self.visible),
                       meta=subset_meta(self.meta, len(self), index))

    def sample(self, n: int, generator: torch.Generator | None = None) -> "KeypointDomain":
        if n >= len(self):
            return self
        return self.subset(torch.randperm(len(self), generator=generator)[:n].to(self.device))

    def __repr__(self) -> str:
        lab = "labeled" if self.has_labels else "UNLABELED"
        return (f"KeypointDomain({self.name!r}, {self.split}, n={len(self)}, shape={self.image_shape}, "
                f"K={self.num_keypoints}, {lab})")
