"""Counting multiply-accumulates (MACs) per image, to put DRT's "negligible extra FLOPs" (section 3.3) to a number.

:func:`count_macs` runs one forward pass with hooks and counts, per image:

* ``static``: every ``nn.Conv2d`` / ``nn.Linear`` outside the dynamic layers, plus each :class:`DynamicConv2d`'s
  static convolution ``C_out C_in k^2 H' W'``;
* ``dynamic``: what the dynamic residuals add: the coefficient branch (average pool ``C_in H W``, two FC
  layers) and the aggregation of each image's kernel (``K`` multiply-adds per kernel entry for routing, one
  multiply for attention), i.e. the ``grouped`` implementation's cost. (The ``mix`` implementation instead
  runs ``K`` extra convolutions: ``K`` times the static convolution, which is why it is slower.)

BatchNorm, activations and pooling are not counted (as usual for FLOP tables).
"""

from __future__ import annotations

import torch
from torch import nn

from .dynamic import DynamicConv2d


def _dynamic_extra(layer: DynamicConv2d, x: torch.Tensor) -> int:
    if layer.branch is None:
        return 0
    _, cin, h, w = x.shape
    fc1, fc2 = layer.branch[0], layer.branch[2]
    branch = cin * h * w + fc1.in_features * fc1.out_features + fc2.in_features * fc2.out_features
    entries = layer.out_channels * layer.in_channels * layer.kernel_size ** 2
    aggregation = entries * (layer.num_bases + (1 if layer.uses_attention else 0))
    return branch + aggregation


def count_macs(model: nn.Module, image_shape: tuple[int, int, int]) -> dict[str, int]:
    """``{"static": ..., "dynamic": ..., "total": ...}`` MACs per image of ``model`` on ``(C, H, W)`` inputs."""
    counts = {"static": 0, "dynamic": 0}
    inside = {id(m) for layer in model.modules() if isinstance(layer, DynamicConv2d) for m in layer.modules()
              if m is not layer}
    hooks = []

    def conv_hook(module, inputs, output):
        k = module.kernel_size
        kh, kw = (k, k) if isinstance(k, int) else k
        cin = module.in_channels // getattr(module, "groups", 1)
        counts["static"] += output.shape[1] * cin * kh * kw * output.shape[2] * output.shape[3]
        if isinstance(module, DynamicConv2d):
            counts["dynamic"] += _dynamic_extra(module, inputs[0])

    def linear_hook(module, inputs, output):
        counts["static"] += module.in_features * module.out_features

    for m in model.modules():
        if id(m) in inside:
            continue
        if isinstance(m, (nn.Conv2d, DynamicConv2d)):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *image_shape))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    counts["total"] = counts["static"] + counts["dynamic"]
    return counts
