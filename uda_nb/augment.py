"""Training-time image augmentation on batched tensors, on the training device (no PIL, no per-image loop).

RegDA's reference implementation (the Transfer-Learning-Library's keypoint examples) trains every hand model,
source and target batches alike, with ``RandomRotation(180)``, ``RandomResizedCrop(scale=(0.6, 1.3))``,
``ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25)`` and a random Gaussian blur. :data:`AUGMENTATIONS`
names the colour jitter and blur ``"appearance"`` and the whole recipe, with a rotation and a zoom that move the
keypoints along (:func:`random_affine`), ``"appearance+geometry"``. Each image draws its own factors from a
``torch.Generator`` (seeded by ``fit()``), so a run stays deterministic. Photometric changes leave keypoints and
labels untouched; geometric ones transform source keypoints with the image and mark those that leave it invisible.

Shapes: images ``(B, C, H, W)`` float in ``[0, 1]``, any memory format (the output keeps it); keypoints
``(B, K, 2)`` float pixels ``(x, y)`` from the top-left corner of the top-left pixel; visibility ``(B, K)`` bool.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601 grey, as torchvision's rgb_to_grayscale


def _factors(n: int, strength: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """``(n, 1, 1, 1)`` factors uniform in ``[1 - strength, 1 + strength]`` (drawn on the generator's device)."""
    u = torch.rand(n, generator=generator, device=generator.device) * 2.0 - 1.0
    return (1.0 + strength * u).to(device=like.device, dtype=like.dtype).view(n, 1, 1, 1)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` luma of RGB images (the image itself when it has one channel)."""
    if x.shape[1] != 3:
        return x.mean(1, keepdim=True)
    w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def color_jitter(x: torch.Tensor, generator: torch.Generator, brightness: float = 0.25, contrast: float = 0.25,
                 saturation: float = 0.25) -> torch.Tensor:
    """torchvision's ``ColorJitter`` with one draw per image, in a fixed order: brightness (``x * b``), contrast
    (blend with the image's mean grey: ``m + c (x - m)``), saturation (blend with the grey image:
    ``g + s (x - g)``), each factor uniform in ``[1 - strength, 1 + strength]``; clipped to ``[0, 1]``."""
    n = x.shape[0]
    x = x * _factors(n, brightness, generator, x)
    mean = _grey(x).mean(dim=(2, 3), keepdim=True)
    x = mean + _factors(n, contrast, generator, x) * (x - mean)
    grey = _grey(x)
    x = grey + _factors(n, saturation, generator, x) * (x - grey)
    return x.clamp(0.0, 1.0)


def gaussian_blur(x: torch.Tensor, generator: torch.Generator, max_sigma: float = 0.8, radius: int = 2) -> torch.Tensor:
    """A Gaussian blur whose sigma (pixels) is uniform in ``[0, max_sigma]`` per image (the reference code's
    ``GaussianBlur(high=0.8)``); a separable ``(2 radius + 1)``-tap kernel with reflected borders. A sigma near
    0 leaves the image unchanged."""
    n, c, h, w = x.shape
    sigma = (torch.rand(n, generator=generator, device=generator.device) * max_sigma).clamp_min(1e-3)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32, device=sigma.device)
    kernel = torch.exp(-taps[None] ** 2 / (2.0 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).to(device=x.device, dtype=x.dtype)  # (n, taps)
    kernel = kernel.repeat_interleave(c, 0)  # one kernel per (image, channel): a grouped convolution
    flat = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(n * c, 1, 1, -1), groups=n * c)  # along rows
    flat = F.conv2d(flat, kernel.view(n * c, 1, -1, 1), groups=n * c)  # along columns
    return flat.view(n, c, h, w)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """``(n,)`` float32 draws uniform in ``[low, high]`` on the generator's device."""
    return low + (high - low) * torch.rand(n, generator=generator, device=generator.device)


def random_affine(x: torch.Tensor, generator: torch.Generator, rotation: float, scale: tuple[float, float],
                  keypoints: torch.Tensor | None = None, visible: torch.Tensor | None = None):
    """A random rotation and zoom per image, the batched form of the reference code's ``RandomRotation`` then
    ``RandomResizedCrop`` (square crops: no change of aspect ratio).

    Each image draws an angle ``a`` uniform in ``[-rotation, rotation]`` degrees, a crop area ``A`` uniform in
    ``scale`` (a fraction of the image; above 1 the crop is larger than the image and the hand shrinks) and a crop
    centre offset ``t`` uniform in ``[-|1 - c| / 2, |1 - c| / 2]`` times the image size per axis, where ``c =
    sqrt(A)`` is the crop's side as a fraction of the image's (a crop smaller than the image stays inside it; a
    larger one contains it). An output pixel ``p`` shows the input at ``c R(-a) (p - centre) + centre + t``
    (bilinear, zeros outside the image, as PIL's rotate and crop pad), so a keypoint ``k`` moves to
    ``R(a) (k - centre - t) / c + centre``. Keypoints that leave the image become invisible and are clamped into
    it (a heatmap needs a position; the loss ignores it).

    Returns the images, or ``(images, keypoints, visible)`` when ``keypoints`` are given (``visible``: ``None``
    means every keypoint was visible).
    """
    n, _, h, w = x.shape
    angle = torch.deg2rad(_uniform(n, -rotation, rotation, generator))
    side = _uniform(n, scale[0], scale[1], generator).sqrt()
    reach = (1.0 - side).abs() / 2.0
    shift = torch.stack([_uniform(n, -1.0, 1.0, generator) * reach * w,
                         _uniform(n, -1.0, 1.0, generator) * reach * h], 1)  # (n, 2) pixels
    cos, sin = angle.cos(), angle.sin()
    # R(a) in image axes (x right, y down): [[cos, -sin], [sin, cos]]; R(-a) is its transpose
    rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (n, 2, 2)
    rot, side, shift = (v.to(device=x.device, dtype=x.dtype) for v in (rot, side, shift))
    centre = torch.tensor([w / 2.0, h / 2.0], device=x.device, dtype=x.dtype)
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device, dtype=x.dtype) + 0.5,
                            torch.arange(w, device=x.device, dtype=x.dtype) + 0.5, indexing="ij")
    out_pix = torch.stack([xs, ys], -1).reshape(1, h * w, 2) - centre  # (1, HW, 2) pixel centres, from the centre
    src_pix = side.view(n, 1, 1) * out_pix @ rot + centre + shift[:, None]  # row vectors: v @ R = R(-a) v
    grid = src_pix / torch.tensor([w, h], device=x.device, dtype=x.dtype) * 2.0 - 1.0  # align_corners=False
    out = F.grid_sample(x, grid.view(n, h, w, 2), mode="bilinear", padding_mode="zeros", align_corners=False)
    if keypoints is None:
        return out
    moved = (keypoints - centre - shift[:, None]) @ rot.transpose(1, 2) / side.view(n, 1, 1) + centre
    inside = (moved[..., 0] >= 0) & (moved[..., 0] < w) & (moved[..., 1] >= 0) & (moved[..., 1] < h)
    vis = inside if visible is None else visible & inside
    limit = torch.tensor([w, h], device=x.device, dtype=x.dtype) - 1e-3
    moved = torch.minimum(moved.clamp_min(0.0), limit)
    return out, moved, vis


@dataclass(frozen=True)
class Augmentation:
    """A named recipe: first, where ``rotation`` (degrees) or ``scale`` (crop-area range) is set, a rotation and
    zoom (:func:`random_affine`); then ``jitter`` strength (0: off) for brightness, contrast and saturation; then a
    blur of sigma up to ``blur`` pixels (0: off). Call it on a batch: ``aug(images, generator) -> images``, or
    ``aug.with_keypoints(images, keypoints, visible, generator)`` for a source keypoint batch."""

    name: str
    jitter: float = 0.0
    blur: float = 0.0
    rotation: float = 0.0
    scale: tuple[float, float] | None = None

    @property
    def geometric(self) -> bool:
        """Whether the recipe moves pixels (and so keypoints)."""
        return self.rotation > 0 or self.scale is not None

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self._apply(x, generator, None, None)

    def with_keypoints(self, x: torch.Tensor, keypoints: torch.Tensor, visible: torch.Tensor | None,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(images, keypoints, visible)`` augmented together: keypoints follow a geometric change and those
        that leave the image become invisible; a photometric-only recipe returns them unchanged."""
        if keypoints.dim() != 3 or keypoints.shape[0] != x.shape[0] or keypoints.shape[-1] != 2:
            raise ValueError(f"Augmentation {self.name!r} expects keypoints (B, K, 2) for {x.shape[0]} images, "
                             f"got {tuple(keypoints.shape)}.")
        return self._apply(x, generator, keypoints, visible)

    def _apply(self, x, generator, keypoints, visible):
        if x.dim() != 4:
            raise ValueError(f"Augmentation {self.name!r} expects a batch (B, C, H, W), got {tuple(x.shape)}.")
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        out = x.contiguous()  # the per-pixel arithmetic is several times faster on contiguous tensors
        if self.geometric:
            scale = self.scale if self.scale is not None else (1.0, 1.0)
            if keypoints is None:
                out = random_affine(out, generator, self.rotation, scale)
            else:
                out, keypoints, visible = random_affine(out, generator, self.rotation, scale, keypoints, visible)
        if self.jitter > 0:
            out = color_jitter(out, generator, self.jitter, self.jitter, self.jitter)
        if self.blur > 0:
            out = gaussian_blur(out, generator, self.blur)
        out = out.contiguous(memory_format=torch.channels_last) if channels_last else out
        return out if keypoints is None else (out, keypoints, visible)


#: the recipes a RunSpec / fit() can name. The geometric one is meant for keypoints, whose targets move with the
#: image; a class label does not (rotating a digit by 180 degrees turns a 6 into a 9)
AUGMENTATIONS = {
    "appearance": Augmentation("appearance", jitter=0.25, blur=0.8),
    "appearance+geometry": Augmentation("appearance+geometry", jitter=0.25, blur=0.8, rotation=180.0,
                                        scale=(0.6, 1.3)),
}


def get_augmentation(name: str | Augmentation | None) -> Augmentation | None:
    """An :class:`Augmentation` by name (``None``: no augmentation)."""
    if name is None or isinstance(name, Augmentation):
        return name
    if name not in AUGMENTATIONS:
        raise ValueError(f"Unknown augmentation {name!r}: choose one of {sorted(AUGMENTATIONS)} or None.")
    return AUGMENTATIONS[name]
