"""BatchNorm statistics re-estimated on another domain's images (AdaBN, Li, Wang, Shi, Liu & Hou, 2017).

A network with BatchNorm normalises each channel at test time with running statistics gathered in training. An
adaptation method that runs unlabeled target batches through the trunk in training mode (RegDA's objective 3, DANN,
MCD ...) moves those statistics towards the target's as a side effect, whatever its loss does. Re-estimating them
on target images alone, with every weight unchanged, measures how much of a method's gain that side effect can
explain: the rest is the method's own.

:func:`with_batchnorm_statistics` returns a copy; the model passed in is never changed. No labels are read.
Only the layers that ``model(images)`` passes through are re-estimated: a layer the forward pass never reaches
(RegDA's adversarial regressor f', which predictions never use) keeps its statistics.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    """Every BatchNorm layer of ``model`` (1-d, 2-d or 3-d) that keeps running statistics."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@torch.no_grad()
def with_batchnorm_statistics(model: nn.Module, images: torch.Tensor, batches: int = 100, batch_size: int = 32,
                              seed: int = 0) -> nn.Module:
    """A copy of ``model`` in eval mode whose BatchNorm running statistics are re-estimated on ``images``.

    ``images``: ``(N, C, H, W)`` (on any device: each batch moves to the model's). ``batches`` batches of
    ``batch_size`` images are drawn with replacement (a ``torch.Generator`` seeded by ``seed``) and passed forward
    with only the BatchNorm layers in training mode (dropout and the rest stay in eval mode). The statistics are
    reset first and averaged over every batch with equal weight (``momentum=None``), so the running mean of a layer
    is the mean of its inputs over the drawn images; the running variance is the mean of the batches' unbiased
    variances. Weights and biases are not touched; the returned copy keeps each layer's original momentum, and a
    BatchNorm layer that the forward pass does not reach keeps its original statistics.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be a batch (N, C, H, W), got shape {tuple(images.shape)}.")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point, as the model sees them in training (got {images.dtype}; "
                         "uint8 images: images.float() / 255).")
    if len(images) < 2 or batch_size < 2:
        raise ValueError("BatchNorm needs at least 2 images per batch to estimate a variance: pass more images "
                         f"or a larger batch_size (got {len(images)} images, batch_size={batch_size}).")
    if batches < 1:
        raise ValueError(f"batches must be at least 1, got {batches}.")
    out = copy.deepcopy(model).eval()
    layers = batchnorm_layers(out)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no BatchNorm layer with running statistics: there is nothing "
                         "to re-estimate (a GroupNorm or LayerNorm network normalises each image on its own).")
    momenta = [m.momentum for m in layers]
    originals = [copy.deepcopy(m.state_dict()) for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches, not an exponential one
        m.train()
    tensors = list(out.parameters()) + list(out.buffers())
    device = tensors[0].device
    generator = torch.Generator().manual_seed(int(seed))
    for _ in range(int(batches)):
        index = torch.randint(len(images), (min(batch_size, len(images)),), generator=generator)
        out(images[index].to(device))
    for m, momentum, original in zip(layers, momenta, originals):
        if int(m.num_batches_tracked) == 0:  # not on the forward path: keep what it had
            m.load_state_dict(original)
        m.momentum = momentum
        m.eval()
    return out
