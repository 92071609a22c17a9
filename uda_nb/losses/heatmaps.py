"""Heatmap targets and losses for keypoint detection (RegDA, Jiang et al., CVPR 2021, sections 4.1-4.3, 5.1).

Conventions (shared by the model, the losses and the metrics):

* keypoints are float pixel coordinates ``(x, y)`` of the *image*, ``x`` the column, measured from the top-left
  corner of the top-left pixel (:mod:`uda_nb.data.keypoints`);
* a heatmap has ``h x w`` cells for an ``H x W`` image; the stride is ``s = W / w`` (= ``H / h``) and cell
  ``(i, j)`` (row, column) is centred on the image point ``((j + 0.5) s, (i + 0.5) s)``;
* ``sigma`` is in heatmap cells. The paper uses sigma 2 on 64 x 64 heatmaps; :func:`heatmap_sigma` scales that
  to other heatmap sizes (sigma 1 on 32 x 32, 0.5 on 16 x 16).

Shapes: ``B`` images, ``K`` keypoints, heatmaps ``(B, K, h, w)``, keypoints ``(B, K, 2)``, visibility ``(B, K)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PAPER_SIGMA = 2.0  # RegDA / Simple Baseline: sigma 2 on a 64 x 64 heatmap


def heatmap_sigma(heatmap_size: int, paper_sigma: float = PAPER_SIGMA, paper_size: int = 64) -> float:
    """The paper's sigma (2 cells on a 64-cell heatmap) for a heatmap of ``heatmap_size`` cells."""
    return paper_sigma * heatmap_size / paper_size


def to_heatmap_coords(keypoints: torch.Tensor, stride: float) -> torch.Tensor:
    """Image pixels ``(x, y)`` -> heatmap cell-index space (cell ``j`` has its centre at ``j``)."""
    return keypoints / stride - 0.5


def to_image_coords(cells: torch.Tensor, stride: float) -> torch.Tensor:
    """Heatmap cell-index space -> image pixels ``(x, y)`` (inverse of :func:`to_heatmap_coords`)."""
    return (cells + 0.5) * stride


def gaussian_heatmaps(keypoints: torch.Tensor, size: tuple[int, int], stride: float, sigma: float) -> torch.Tensor:
    """``H(y_k)``: an unnormalised Gaussian blob (peak 1 at the float position) per keypoint.

    keypoints ``(..., 2)`` image pixels -> ``(..., h, w)``; ``size = (h, w)``, ``sigma`` in cells. A float
    position between cells gives a blob centred between them (no rounding), so the argmax and the soft
    centre of the map move continuously with the keypoint.
    """
    h, w = size
    c = to_heatmap_coords(keypoints, stride)
    xs = torch.arange(w, device=keypoints.device, dtype=keypoints.dtype)
    ys = torch.arange(h, device=keypoints.device, dtype=keypoints.dtype)
    gx = torch.exp(-(xs - c[..., 0:1]) ** 2 / (2 * sigma ** 2))  # (..., w)
    gy = torch.exp(-(ys - c[..., 1:2]) ** 2 / (2 * sigma ** 2))  # (..., h)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)  # separable: (..., h, w)


def normalise_spatial(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``P_T`` of eq. 6: a non-negative map divided by its sum over the spatial axes. ``(..., h, w)``."""
    return maps / maps.sum(dim=(-2, -1), keepdim=True).clamp_min(eps)


def spatial_log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``log sigma(z)`` of eq. 7: log-softmax over the ``h x w`` cells of each map. ``(..., h, w)``."""
    shape = logits.shape
    return F.log_softmax(logits.flatten(-2), dim=-1).view(shape)


def heatmap_argmax(heatmaps: torch.Tensor, stride: float, refine: bool = True) -> torch.Tensor:
    """``J(h_k)``: the position of each map's maximum, in image pixels ``(B, K, 2)``; no gradient.

    ``refine``: the usual quarter-cell shift towards the larger neighbour (Simple Baseline's post-processing),
    so the error of a clean blob is well under one cell; ``False`` gives the cell centre.
    """
    heatmaps = heatmaps.detach()
    h, w = heatmaps.shape[-2:]
    flat = heatmaps.flatten(-2)
    idx = flat.argmax(-1)
    row = torch.div(idx, w, rounding_mode="floor")
    col = idx - row * w
    cells = torch.stack([col, row], dim=-1).to(heatmaps.dtype)
    if refine:
        def at(r, c):
            return flat.gather(-1, (r.clamp(0, h - 1) * w + c.clamp(0, w - 1)).unsqueeze(-1)).squeeze(-1)
        dx = at(row, col + 1) - at(row, col - 1)
        dy = at(row + 1, col) - at(row - 1, col)
        inner_x = (col > 0) & (col < w - 1)
        inner_y = (row > 0) & (row < h - 1)
        cells[..., 0] += 0.25 * torch.sign(dx) * inner_x
        cells[..., 1] += 0.25 * torch.sign(dy) * inner_y
    return to_image_coords(cells, stride)


def _visible_mean(per_keypoint: torch.Tensor, visible: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``(B, K)`` values over visible keypoints (all when ``visible`` is None); 0 when none is visible."""
    if visible is None:
        return per_keypoint.mean()
    weight = visible.to(per_keypoint.dtype)
    return (per_keypoint * weight).sum() / weight.sum().clamp_min(1.0)


def kl_to_prediction(target_dist: torch.Tensor, logits: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
    """``(1/K) sum_k KL(P_k || sigma(z_k))`` averaged over the visible keypoints of the batch.

    target_dist ``(B, K, h, w)``, each map summing to 1 (no gradient is taken through it);
    logits ``(B, K, h, w)``; visible ``(B, K)`` bool or None. Returns a scalar >= 0, zero iff the
    softmax of ``logits`` equals ``target_dist`` on every visible keypoint.
    """
    target_dist = target_dist.detach()
    log_p = spatial_log_softmax(logits)
    log_t = torch.log(target_dist.clamp_min(1e-30))
    kl = (target_dist * (log_t - log_p)).where(target_dist > 0, torch.zeros((), dtype=logits.dtype,
                                                                              device=logits.device))
    return _visible_mean(kl.sum(dim=(-2, -1)), visible)


class HeatmapMSELoss(nn.Module):
    """The Simple Baseline / source-only loss: mean squared error between predicted heatmaps and Gaussian
    target heatmaps ``H(y_k)`` (section 4.1), over the visible keypoints.

    forward(heatmaps ``(B, K, h, w)``, keypoints ``(B, K, 2)`` pixels, visible ``(B, K)``) -> scalar; the
    per-keypoint error is the mean over the ``h w`` cells (Transfer-Learning-Library's JointsMSELoss up
    to its factor 1/2).
    """

    def __init__(self, stride: float, sigma: float):
        super().__init__()
        self.stride, self.sigma = float(stride), float(sigma)

    def forward(self, heatmaps: torch.Tensor, keypoints: torch.Tensor, visible: torch.Tensor | None = None):
        target = gaussian_heatmaps(keypoints, heatmaps.shape[-2:], self.stride, self.sigma)
        per_kp = ((heatmaps - target) ** 2).mean(dim=(-2, -1))
        return _visible_mean(per_kp, visible)


class HeatmapKLLoss(nn.Module):
    """``L_T`` (eq. 6-8): ``(1/K) sum_k KL(P_T(y_k) || sigma(f(x))_k)``, averaged over visible keypoints.

    ``P_T(y_k)`` is the Gaussian heatmap of the (true or pseudo) keypoint normalised over space (eq. 6),
    ``sigma`` the spatial softmax (eq. 7). forward(logits ``(B, K, h, w)``, keypoints ``(B, K, 2)``
    pixels, visible ``(B, K)`` or None) -> scalar. Zero when the softmax equals ``P_T``; positive otherwise.
    """

    def __init__(self, stride: float, sigma: float):
        super().__init__()
        self.stride, self.sigma = float(stride), float(sigma)

    def target(self, keypoints: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``P_T(y)`` ``(B, K, h, w)`` for keypoints ``(B, K, 2)``."""
        return normalise_spatial(gaussian_heatmaps(keypoints, size, self.stride, self.sigma))

    def forward(self, logits: torch.Tensor, keypoints: torch.Tensor, visible: torch.Tensor | None = None):
        return kl_to_prediction(self.target(keypoints.detach(), logits.shape[-2:]), logits, visible)


def ground_false_distribution(predicted: torch.Tensor, size: tuple[int, int], stride: float,
                              sigma: float) -> torch.Tensor:
    """``P_F(y_hat_k)`` (eq. 9-10): for each keypoint k, the normalised sum of the Gaussians of the *other*
    keypoints' predictions, ``H_F(y_hat_k) = sum_{k' != k} H(y_hat_k')``.

    predicted ``(B, K, 2)`` pixel positions (``J(f(x))``, no gradient) -> ``(B, K, h, w)``, each map summing
    to 1. Batched: all K Gaussians once, their sum once, each keypoint's own Gaussian subtracted. Needs
    ``K >= 2`` (one keypoint has no "other" keypoints: use :func:`area_ground_false_distribution`).
    """
    if predicted.shape[-2] < 2:
        raise ValueError(f"ground_false_distribution needs at least 2 keypoints (eq. 9 sums over the other "
                         f"keypoints), got K={predicted.shape[-2]}: for one keypoint use the middle-area variant "
                         "(eq. 15, area_ground_false_distribution / RegDA(ground_false='area')).")
    g = gaussian_heatmaps(predicted.detach(), size, stride, sigma)  # (B, K, h, w)
    others = (g.sum(dim=1, keepdim=True) - g).clamp_min(0)  # clamp: float rounding of a - a
    return normalise_spatial(others)


def area_mask(size: tuple[int, int], stride: float, area: tuple[float, float, float, float],
              device=None) -> torch.Tensor:
    """``(h, w)`` bool: the cells whose centres lie in the pixel box ``area = (x0, x1, y0, y1)``, half-open."""
    h, w = size
    centres_x = (torch.arange(w, device=device) + 0.5) * stride
    centres_y = (torch.arange(h, device=device) + 0.5) * stride
    x0, x1, y0, y1 = area
    inside_x = (centres_x >= x0) & (centres_x < x1)
    inside_y = (centres_y >= y0) & (centres_y < y1)
    return inside_y.unsqueeze(-1) & inside_x.unsqueeze(-2)


def area_ground_false_distribution(predicted: torch.Tensor, size: tuple[int, int], stride: float, sigma: float,
                                   area: tuple[float, float, float, float]) -> torch.Tensor:
    """``P_F`` for one keypoint per image (eq. 15, dSprites): the normalised sum of the Gaussians at every
    cell ``a`` of the middle area ``A`` except the predicted cell, with zero probability outside ``A``
    (the paper: "we only assign positions inside A with positive probability").

    predicted ``(B, K, 2)`` pixels -> ``(B, K, h, w)``; ``area = (x0, x1, y0, y1)`` pixels, half-open (RegDA's
    ``16 <= h, w <= 47`` is ``(16, 48, 16, 48)``). The sum over A is one fixed map; the prediction's own cell
    Gaussian is subtracted when that cell lies in A.
    """
    h, w = size
    device, dtype = predicted.device, predicted.dtype
    mask = area_mask(size, stride, area, device)
    rows, cols = mask.nonzero(as_tuple=True)
    if len(rows) == 0:
        raise ValueError(f"The area {area} contains no heatmap cell of a {h}x{w} heatmap with stride {stride}.")
    cells = torch.stack([cols, rows], -1).to(dtype)  # (A, 2) cell indices
    all_a = gaussian_heatmaps(to_image_coords(cells, stride), size, stride, sigma).sum(0)  # (h, w)
    pred_cells = to_heatmap_coords(predicted.detach(), stride).round().long()
    px, py = pred_cells[..., 0], pred_cells[..., 1]
    inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    inside &= mask[py.clamp(0, h - 1), px.clamp(0, w - 1)]
    own = gaussian_heatmaps(to_image_coords(pred_cells.to(dtype), stride), size, stride, sigma)
    maps = (all_a - own * inside[..., None, None].to(dtype)).clamp_min(0) * mask.to(dtype)
    return normalise_spatial(maps)


class GroundFalseLoss(nn.Module):
    """``L_F`` (eq. 11): ``(1/K) sum_k KL(P_F(J(p))_k || p'_k)``: the adversarial regressor's predictions
    ``p' = sigma(f'(psi(x)))`` pulled towards the *ground-false* distribution built from ``f``'s predictions.

    ``area``: ``None`` for eq. 9-10 (the other keypoints; needs K >= 2), or a pixel box ``(x0, x1, y0, y1)`` for
    eq. 15's middle-area variant (dSprites). forward(adv_logits ``(B, K, h, w)``, predicted ``(B, K, 2)``
    pixels from ``J(f)``) -> scalar. No gradient reaches ``f`` (``predicted`` is detached).
    """

    def __init__(self, stride: float, sigma: float, area: tuple[float, float, float, float] | None = None):
        super().__init__()
        self.stride, self.sigma = float(stride), float(sigma)
        self.area = tuple(float(a) for a in area) if area is not None else None

    def distribution(self, predicted: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if self.area is not None:
            return area_ground_false_distribution(predicted, size, self.stride, self.sigma, self.area)
        return ground_false_distribution(predicted, size, self.stride, self.sigma)

    def forward(self, adv_logits: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
        return kl_to_prediction(self.distribution(predicted.detach(), adv_logits.shape[-2:]), adv_logits)
