"""Dynamic residual convolutions (DRT: Li et al., "Dynamic Transfer for Multi-Source Domain Adaptation", CVPR 2021).

A :class:`DynamicConv2d` is a drop-in for ``nn.Conv2d`` whose kernel depends on the input image (eq. 2):

    W(x) = W0 + dW(x)

with one of the three residuals of the paper's section 3.3:

* ``"attention"``, channel attention (eq. 3): ``dW(x) = Lambda(x) W0``, ``Lambda`` a diagonal of sigmoid
  coefficients in (0, 1), one per output channel: the output channels of the static convolution are rescaled
  by ``1 + Lambda_c(x)``;
* ``"routing"``, subspace routing (eq. 4): ``dW(x) = sum_i pi_i(x) Phi_i`` over ``K`` residual kernels of
  ``W0``'s shape, softmax coefficients ``pi(x)`` (they sum to 1);
* ``"combined"`` (eq. 5): both;
* ``"static"``: ``dW = 0``, the plain convolution (the baseline network is the same network with every layer
  static).

The coefficients come from an SE-like branch on the layer's *input* (global average pool, FC, ReLU, FC) as in
the authors' dynamic ResNet (``model/resnet_dra.py``): bias-free FC layers drawn from N(0, 0.01), hidden width
``max(min_hidden, in_channels // reduction)`` with their reduction 16 (``min_hidden`` keeps a few hidden units on
a narrow layer), so every image starts from the same uniform routing and the branch learns how to depart from it.
Biases are static (the paper ignores them).

``temperature`` (routing and the combination only) divides the branch's routing logits before the softmax,
``pi(x) = softmax(z(x) / temperature)``. The paper's eq. 4 is ``temperature = 1`` (the default). Below 1 it
sharpens the routing: after our short CPU schedules ``pi(x)`` stays near uniform and moves by about 0.01 from
image to image at 1, so the network computes nearly one kernel for all inputs (benchmarks/results/drt.md, "DRT: how
dynamic are the coefficients"). Dynamic convolution (Chen et al., CVPR 2020, the paper's [4]) goes the other way,
a temperature above 1 early in a long ImageNet schedule, so that every kernel keeps learning.

``residual="1x1"`` is the reference code's simplification: the ``Phi_i`` are 1 x 1 kernels (only ``C_in``
rows of each ``Phi_i`` non-zero, the paper's remark below eq. 4), i.e. ``K`` 1 x 1 convolutions, mixed by
``pi(x)``, added to the static ``k x k`` output (routing only in the reference code; here any variant). It is
computed as a ``k x k`` kernel whose only non-zero tap is the centre, which is the same number.

Two batched implementations, no per-sample Python loop (``impl``):

* ``"mix"``: by linearity, ``conv(x, W0 + sum_i pi_i Phi_i) = conv(x, W0) + sum_i pi_i conv(x, Phi_i)``: one
  convolution with the ``K + 1`` kernels stacked, then a per-sample weighted sum (``K + 1`` times the static
  FLOPs, in the well-optimised dense convolution);
* ``"grouped"`` (default): build each image's kernel ``W(x_b)`` and run one grouped convolution with
  ``groups = B`` (the static FLOPs plus the aggregation, in a grouped convolution). Channel attention alone
  (no bases) always takes the first form, which is then one static convolution with rescaled outputs.

Measured on the 2-core CPU (``benchmarks/bench_dynamic.py``, batch 64, K = 4, forward + backward): ``grouped``
costs 2.1-2.5x the static layer on contiguous inputs (2.3-3.2x channels-last) and ``mix`` 4.4-14x
(benchmarks/results/drt.md, "DRT: dynamic convolution").

Shapes: input ``(B, C_in, H, W)``, output ``(B, C_out, H', W')`` as ``nn.Conv2d``; coefficients ``Lambda``
``(B, C_out)`` and ``pi`` ``(B, K)``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

VARIANTS = ("static", "attention", "routing", "combined")
RESIDUALS = ("full", "1x1")
IMPLS = ("mix", "grouped")
#: the coefficient branch's initialisation: "reference", N(0, 0.01) as the authors' ``resnet_dra.py``;
#: "fan_in", ``nn.Linear``'s own (uniform, std 1 / sqrt(3 fan_in)), which gives a narrow layer's branch the hidden
#: activation scale that N(0, 0.01) gives on the authors' 256-2048-channel blocks (benchmarks/results/drt.md,
#: "DRT: the routing's saddle")
BRANCH_INITS = ("reference", "fan_in")


class DynamicConv2d(nn.Module):
    """``nn.Conv2d`` with a per-image dynamic residual kernel (module docstring; DRT eq. 2-5).

    in_channels, out_channels, kernel_size, stride, padding, bias: as ``nn.Conv2d`` (square kernels, no
    dilation or groups). variant: ``"static" | "attention" | "routing" | "combined"``; num_bases: ``K`` (4 in
    the paper); reduction, min_hidden: the coefficient branch's hidden width ``max(min_hidden, C_in //
    reduction)``; temperature: the routing softmax's (module docstring; 1 in the paper); branch_init:
    :data:`BRANCH_INITS`; residual: ``"full"``
    (``Phi_i`` of ``W0``'s shape) or ``"1x1"`` (the reference code's 1 x 1
    residuals); impl: ``"grouped"`` (faster here) or ``"mix"`` (same numbers up to float rounding).

    ``record = True`` keeps the last forward's coefficients, detached, in :attr:`coefficients`
    (``{"attention": (B, C_out), "routing": (B, K)}``, the variant's entries only); see :func:`recording`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True, variant: str = "routing", num_bases: int = 4, reduction: int = 16,
                 min_hidden: int = 4, residual: str = "full", impl: str = "grouped", temperature: float = 1.0,
                 branch_init: str = "reference"):
        super().__init__()
        if branch_init not in BRANCH_INITS:
            raise ValueError(f"Unknown branch_init {branch_init!r}: choose one of {BRANCH_INITS} ('reference' is "
                             "the authors' N(0, 0.01)).")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0 \
                or not math.isfinite(temperature):
            raise ValueError(f"temperature must be a positive number (1 is the paper's softmax), got {temperature!r}.")
        if variant not in VARIANTS:
            raise ValueError(f"Unknown DRT variant {variant!r}: choose one of {VARIANTS}.")
        if residual not in RESIDUALS:
            raise ValueError(f"Unknown residual {residual!r}: choose one of {RESIDUALS}.")
        if impl not in IMPLS:
            raise ValueError(f"Unknown impl {impl!r}: choose one of {IMPLS}.")
        if variant in ("routing", "combined") and (isinstance(num_bases, bool) or not isinstance(num_bases, int)
                                                   or num_bases < 1):
            raise ValueError(f"num_bases (K) must be a whole number >= 1, got {num_bases!r} (the paper uses 4).")
        if residual == "1x1" and kernel_size % 2 == 0:
            raise ValueError(f"residual='1x1' puts the 1 x 1 kernel at the centre of the {kernel_size} x "
                             f"{kernel_size} kernel, which needs an odd kernel size.")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding = stride, padding
        self.variant, self.residual, self.impl = variant, residual, impl
        self.branch_init = branch_init
        self.temperature = float(temperature)
        self.num_bases = num_bases if variant in ("routing", "combined") else 0
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        side = 1 if residual == "1x1" else kernel_size
        # the K residual kernels stacked along the output channels, (K C_out, C_in, s, s): a 4-d weight like any
        # convolution's, so the module moves to the channels-last format with the rest of a network
        self.bases = (nn.Parameter(torch.empty(self.num_bases * out_channels, in_channels, side, side))
                      if self.num_bases else None)
        self.uses_attention = variant in ("attention", "combined")
        n_coeff = (out_channels if self.uses_attention else 0) + self.num_bases
        if n_coeff:
            hidden = max(int(min_hidden), in_channels // int(reduction))
            self.branch = nn.Sequential(nn.Linear(in_channels, hidden, bias=False), nn.ReLU(inplace=True),
                                        nn.Linear(hidden, n_coeff, bias=False))
        else:
            self.branch = None
        self.record = False
        self.coefficients: dict[str, torch.Tensor] = {}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``W0`` and the bias as ``nn.Conv2d``; each ``Phi_i`` drawn like a convolution of its own shape, so a
        full-size ``Phi_i`` has ``W0``'s scale and a 1 x 1 one ``W0``'s norm, as in the authors' code (their
        ``kaiming_normal`` on each kernel's own fan); with softmax weights the mix starts about ``1/sqrt(K)`` of it.
        The branch's FC layers: N(0, 0.01), as ``resnet_dra.py`` (``branch_init="reference"``), or ``nn.Linear``'s
        own initialisation (``branch_init="fan_in"``)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        fan_in = self.in_channels * self.kernel_size ** 2
        if self.bias is not None:
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)
        if self.bases is not None:
            side = self.bases.shape[-1]  # 1 for residual="1x1": the fan-in of a 1 x 1 kernel is C_in
            bound = 1 / math.sqrt(self.in_channels * side ** 2)  # kaiming_uniform with a = sqrt(5)
            nn.init.uniform_(self.bases, -bound, bound)
        if self.branch is not None:
            for layer in self.branch:
                if isinstance(layer, nn.Linear):
                    if self.branch_init == "reference":
                        nn.init.normal_(layer.weight, 0.0, 0.01)
                    else:
                        layer.reset_parameters()

    def dynamic_coefficients(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"attention": Lambda(x) (B, C_out) in (0, 1), "routing": pi(x) (B, K) summing to 1}`` (the
        variant's entries) from the SE-like branch on ``x`` ``(B, C_in, H, W)``."""
        if self.branch is None:
            return {}
        raw = self.branch(x.mean(dim=(2, 3)))
        out = {}
        if self.uses_attention:
            out["attention"] = torch.sigmoid(raw[:, :self.out_channels])
        if self.num_bases:
            logits = raw[:, raw.shape[1] - self.num_bases:]
            out["routing"] = torch.softmax(logits if self.temperature == 1.0 else logits / self.temperature, dim=1)
        return out

    def basis(self, i: int) -> torch.Tensor:
        """``Phi_i`` ``(C_out, C_in, s, s)`` as stored (``s = 1`` for ``residual="1x1"``)."""
        c = self.out_channels
        return self.bases[i * c:(i + 1) * c]

    def _stacked_bases(self) -> torch.Tensor:
        """``(K C_out, C_in, k, k)``: the residual kernels at the layer's kernel size (1 x 1 ones padded around
        the centre tap)."""
        if self.residual == "full":
            return self.bases
        p = self.kernel_size // 2
        return F.pad(self.bases, (p, p, p, p))

    def _full_bases(self) -> torch.Tensor:
        """``(K, C_out, C_in, k, k)``."""
        return self._stacked_bases().reshape(self.num_bases, self.out_channels, self.in_channels,
                                             self.kernel_size, self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"DynamicConv2d expects (B, {self.in_channels}, H, W) inputs, got {tuple(x.shape)}.")
        coeff = self.dynamic_coefficients(x)
        if self.record:
            self.coefficients = {k: v.detach() for k, v in coeff.items()}
        if not coeff:
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        if self.impl == "grouped" and self.num_bases:
            return self._grouped(x, coeff)
        # channel attention alone is one static convolution with its outputs rescaled: no per-image kernels
        return self._mix(x, coeff)

    def _mix(self, x: torch.Tensor, coeff: dict[str, torch.Tensor]) -> torch.Tensor:
        k = self.num_bases
        kernels = self.weight if not k else torch.cat([self.weight, self._stacked_bases()])
        y = F.conv2d(x, kernels, None, self.stride, self.padding)  # (B, (1 + K) C_out, H', W')
        b, c = x.shape[0], self.out_channels
        out = y[:, :c]
        if "attention" in coeff:
            out = out * (1.0 + coeff["attention"]).view(b, c, 1, 1)
        if k:
            res = y[:, c:].reshape(b, k, c, *y.shape[-2:])
            out = out + (coeff["routing"].view(b, k, 1, 1, 1) * res).sum(1)
        if self.bias is not None:
            out = out + self.bias.view(1, c, 1, 1)
        return out

    def _grouped(self, x: torch.Tensor, coeff: dict[str, torch.Tensor]) -> torch.Tensor:
        b, c = x.shape[0], self.out_channels
        w = self._kernels(b, coeff)
        # the grouped convolution runs on contiguous tensors (images stacked along the channels): with
        # channels-last weights or inputs it is slower here (benchmarks/results/drt.md, "DRT notebook sizing")
        flat = x.contiguous().reshape(1, b * self.in_channels, *x.shape[-2:])
        y = F.conv2d(flat, w.reshape(b * c, self.in_channels, self.kernel_size, self.kernel_size).contiguous(), None,
                     self.stride, self.padding, groups=b)
        y = y.view(b, c, *y.shape[-2:])
        return y + self.bias.view(1, c, 1, 1) if self.bias is not None else y

    def _kernels(self, b: int, coeff: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, C_out, C_in, k, k)``: ``(1 + Lambda) W0 + sum_i pi_i Phi_i`` per image (eq. 5's terms present)."""
        w = self.weight.unsqueeze(0)
        if "attention" in coeff:
            w = w * (1.0 + coeff["attention"]).view(b, self.out_channels, 1, 1, 1)
        else:
            w = w.expand(b, *self.weight.shape)
        if self.num_bases:
            w = w + torch.einsum("bk,kocij->bocij", coeff["routing"], self._full_bases())
        return w

    def kernel_for(self, x: torch.Tensor) -> torch.Tensor:
        """The per-image kernels ``W(x_b)`` ``(B, C_out, C_in, k, k)`` (eq. 2; for plots and tests)."""
        return self._kernels(x.shape[0], self.dynamic_coefficients(x))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, variant={self.variant!r}, K={self.num_bases}, residual={self.residual!r}, "
                f"impl={self.impl!r}" + (f", temperature={self.temperature:g}" if self.temperature != 1.0 else ""))


def dynamic_layers(model: nn.Module) -> dict[str, DynamicConv2d]:
    """The model's dynamic convolutions by module name, in forward order of registration."""
    return {name: m for name, m in model.named_modules() if isinstance(m, DynamicConv2d)}


@contextmanager
def recording(model: nn.Module) -> Iterator[dict[str, DynamicConv2d]]:
    """Within the block every dynamic layer keeps its last coefficients (detached) in ``layer.coefficients``;
    recording is switched off again on exit. Yields :func:`dynamic_layers`."""
    layers = dynamic_layers(model)
    before = {name: layer.record for name, layer in layers.items()}
    for layer in layers.values():
        layer.record = True
    try:
        yield layers
    finally:
        for name, layer in layers.items():
            layer.record = before[name]
