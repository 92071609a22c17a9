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

import warnings
from dataclasses import dataclass, field

import torch

from .domain import ImageSet, _check_tensor


def inside_image(keypoints: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(..., K)`` bool: which keypoints ``(..., K, 2)`` (pixels ``(x, y)``, corner-based) are finite and lie in the
    ``width x height`` image, ``0 <= x <= width`` and ``0 <= y <= height``."""
    x, y = keypoints[..., 0], keypoints[..., 1]
    return torch.isfinite(keypoints).all(-1) & (x >= 0) & (x <= width) & (y >= 0) & (y <= height)


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
        where = self._where
        names = self.keypoint_names
        if isinstance(names, str) or not isinstance(names, (tuple, list)):
            raise TypeError(f"{where}: keypoint_names must be a tuple of names such as ('wrist', 'thumb_tip'), got "
                            f"{type(names).__name__}.")
        object.__setattr__(self, "keypoint_names", tuple(str(n) for n in names))
        n, k = len(self.images), len(self.keypoint_names)
        if k == 0:
            raise ValueError(f"{where}: keypoint_names is empty; give one name per keypoint.")
        if (self.keypoints is None) != (self.visible is None):
            raise ValueError(f"KeypointDomain {self.name!r}: give keypoints and visible together (both or neither); "
                             "for all-visible keypoints pass visible=torch.ones(N, K, dtype=torch.bool).")
        if self.keypoints is not None:
            self._check_keypoints(n, k)
        for a, b in self.skeleton:
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"KeypointDomain {self.name!r}: skeleton edge ({a}, {b}) names a keypoint outside "
                                 f"0..{k - 1}.")
        for group, idx in self.groups.items():
            if any(not 0 <= i < k for i in idx):
                raise ValueError(f"KeypointDomain {self.name!r}: group {group!r} names a keypoint outside 0..{k - 1}.")

    def _check_keypoints(self, n: int, k: int) -> None:
        where, kp, vis = self._where, self.keypoints, self.visible
        _check_tensor(kp, "keypoints", where, "torch.from_numpy(keypoints).float()")
        _check_tensor(vis, "visible", where, "torch.from_numpy(visible).bool()")
        if kp.dim() == 3 and kp.shape[:2] == (n, k) and kp.shape[2] == 3:
            raise ValueError(f"{where}: keypoints of shape {tuple(kp.shape)} look like (x, y, visibility) triples: "
                             "split them, keypoints[..., :2] and visible=keypoints[..., 2] > 0.")
        if kp.shape != (n, k, 2):
            raise ValueError(f"KeypointDomain {self.name!r} ({self.split}): {n} images and {k} keypoint names "
                             f"but keypoints of shape {tuple(kp.shape)}; expected ({n}, {k}, 2) pixel coordinates "
                             "(x, y), one name per keypoint.")
        if vis.shape != (n, k):
            raise ValueError(f"KeypointDomain {self.name!r} ({self.split}): visible has shape {tuple(vis.shape)}; "
                             f"expected ({n}, {k}), one flag per keypoint.")
        if kp.device != self.images.device or vis.device != self.images.device:
            raise ValueError(f"{where}: keypoints ({kp.device}) and visible ({vis.device}) must be on the images' "
                             f"device ({self.images.device}): .to(images.device); KeypointDomain.to(device) moves all.")
        if not kp.is_floating_point() or kp.dtype != torch.float32:
            raise TypeError(f"{where}: keypoints must be float32 pixel coordinates; got {str(kp.dtype)[6:]}: "
                            "use keypoints.float().")
        if vis.dtype != torch.bool:
            raise TypeError(f"{where}: visible must be a bool tensor; got {str(vis.dtype)[6:]}: use visible > 0 "
                            "(COCO's 1 and 2 both mean annotated).")
        if self._derived:
            return
        h, w = self.images.shape[-2:]
        finite = torch.isfinite(kp).all(-1)
        inside = inside_image(kp, h, w)
        n_vis, n_nan, n_out = torch.stack([vis.sum(), (vis & ~finite).sum(), (vis & ~inside).sum()]).tolist()
        if n_nan:
            i, j = (int(v) for v in (vis & ~finite).nonzero()[0])
            raise ValueError(f"{where}: {n_nan} visible keypoints have NaN/inf coordinates (first: keypoint "
                             f"{self.keypoint_names[j]!r} of image {i}): give their (x, y) or mark them not visible "
                             "(visible[i, k] = False).")
        if n_out:
            # An error, not a warning: a visible keypoint outside the image has no heatmap cell to be trained towards
            # (L_T's target piles onto the border, or is empty and adds nothing) and no pixel to be scored at.
            # uda_nb's own generators and augmentations mark such keypoints not visible.
            i, j = (int(v) for v in (vis & ~inside).nonzero()[0])
            xy = tuple(round(float(v), 2) for v in kp[i, j])
            sx, sy = kp[..., 1][vis], kp[..., 0][vis]
            swapped = bool(((sx >= 0) & (sx <= w) & (sy >= 0) & (sy <= h)).all())
            hint = ("x and y look swapped (x is the column, y the row): use keypoints.flip(-1)" if swapped else
                    "mark them not visible (visible &= inside; load_keypoint_folder(..., outside='hide') does this) "
                    "or fix the coordinates (scaled with a resize?)")
            raise ValueError(f"{where}: {n_out} visible keypoints lie outside the {w}x{h} image (first: keypoint "
                             f"{self.keypoint_names[j]!r} of image {i} at (x, y) = {xy}); coordinates are pixels, x "
                             f"in [0, {w}] and y in [0, {h}]: {hint}.")
        if n_vis >= 2 and max(h, w) > 8 and bool((kp[vis] <= 1).all()):
            warnings.warn(f"{where}: every visible keypoint lies within [0, 1]: the coordinates look normalised, "
                          f"but uda_nb uses pixels: multiply by the image size (keypoints * torch.tensor([{w}., "
                          f"{h}.])).", stacklevel=4)

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def num_classes(self) -> int:
        """``K``, the number of keypoints: what a model's output count is checked against (``Task.num_classes``)."""
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
