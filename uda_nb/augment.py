"""Training-time image augmentation on batched tensors, on the training device (no PIL, no per-image loop).

RegDA's reference implementation (the Transfer-Learning-Library's keypoint examples) trains every hand model,
source and target batches alike, with ``ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25)`` and a
random Gaussian blur; :data:`AUGMENTATIONS` names that recipe ``"appearance"``. Each image draws its own
factors from a ``torch.Generator`` (seeded by ``fit()``), so a run stays deterministic. Only pixel values
change: keypoints and labels are untouched, so the same augmentation serves keypoint and classification tasks.

Shapes: images ``(B, C, H, W)`` float in ``[0, 1]``, any memory format (the output keeps it).
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


@dataclass(frozen=True)
class Augmentation:
    """A named recipe: ``jitter`` strength (0: off) for brightness, contrast and saturation, then a blur of
    sigma up to ``blur`` pixels (0: off). Call it on a batch: ``aug(images, generator) -> images``."""

    name: str
    jitter: float = 0.0
    blur: float = 0.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"Augmentation {self.name!r} expects a batch (B, C, H, W), got {tuple(x.shape)}.")
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        out = x.contiguous()  # the per-pixel arithmetic is several times faster on contiguous tensors
        if self.jitter > 0:
            out = color_jitter(out, generator, self.jitter, self.jitter, self.jitter)
        if self.blur > 0:
            out = gaussian_blur(out, generator, self.blur)
        return out.contiguous(memory_format=torch.channels_last) if channels_last else out


#: the recipes a RunSpec / fit() can name
AUGMENTATIONS = {
    "appearance": Augmentation("appearance", jitter=0.25, blur=0.8),
}


def get_augmentation(name: str | Augmentation | None) -> Augmentation | None:
    """An :class:`Augmentation` by name (``None``: no augmentation)."""
    if name is None or isinstance(name, Augmentation):
        return name
    if name not in AUGMENTATIONS:
        raise ValueError(f"Unknown augmentation {name!r}: choose one of {sorted(AUGMENTATIONS)} or None.")
    return AUGMENTATIONS[name]
