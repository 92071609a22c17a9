"""`KeypointDomain`: images with 2-D keypoints (hands, dSprites positions), the regression counterpart of
:class:`~uda_nb.data.domain.Domain` used by RegDA.

It shares ``Domain``'s behaviour through :class:`~uda_nb.data.domain.ImageSet` (``len``, ``image_shape``,
``has_labels``, ``unlabeled()``, ``to()``, ``channels_last()``, ``subset()``, ``sample()``, with keypoints and
visibility as its targets) and exposes ``class_names`` / ``labels``, so a keypoint task is an ordinary
``Task`` whose target training view has no keypoints at all.

Coordinates are pixels of the stored image, ``(x, y)`` with ``x`` the column and ``y`` the row, measured
from the top-left corner of the top-left pixel (a pixel's centre is at ``i + 0.5``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .domain import ImageSet


@dataclass(frozen=True)
class KeypointDomain(ImageSet):
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

    _TARGETS = ("keypoints", "visible")

    def __post_init__(self):
        self._check_images()
        n, k = len(self.images), len(self.keypoint_names)
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

    def __repr__(self) -> str:
        lab = "labeled" if self.has_labels else "UNLABELED"
        return (f"KeypointDomain({self.name!r}, {self.split}, n={len(self)}, shape={self.image_shape}, "
                f"K={self.num_keypoints}, {lab})")
