"""Keypoint methods on the heatmap detector: the shared base and the source-only baseline.

A keypoint method has the feature generator ``psi`` as ``features`` (role ``feature``) and the regressor
``f`` as ``classifier`` (role ``task``); ``forward`` gives heatmap logits ``(B, K, h, w)`` and
:meth:`KeypointMethod.predict_keypoints` the argmax positions ``J(f(psi(x)))`` in image pixels ``(B, K, 2)``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..losses.heatmaps import HeatmapKLLoss, HeatmapMSELoss, heatmap_argmax
from .base import Batch, Method

SOURCE_LOSSES = ("kl", "mse")


class KeypointMethod(Method):
    """Base of every heatmap method.

    features: ``psi`` ``(B, C, H, W) -> (B, D, h, w)`` with a ``stride`` attribute (image pixels per cell);
    classifier: ``f`` ``(B, D, h, w) -> (B, K, h, w)``. ``sigma``: Gaussian width in heatmap cells (the
    paper's 2 cells at 64 x 64, scaled: :func:`uda_nb.losses.heatmap_sigma`). ``source_loss``: ``"kl"`` for
    ``L_T`` (eq. 8, RegDA's choice before adaptation) or ``"mse"`` (the Simple Baseline / L2 source-only).
    """

    task_kind = "keypoints"

    def __init__(self, features: nn.Module, classifier: nn.Module, sigma: float, source_loss: str = "kl"):
        super().__init__(features, classifier)
        if source_loss not in SOURCE_LOSSES:
            raise ValueError(f"source_loss must be one of {SOURCE_LOSSES}, got {source_loss!r}.")
        self.stride = float(features.stride)
        self.sigma = float(sigma)
        self.source_loss = source_loss
        self.kl = HeatmapKLLoss(self.stride, self.sigma)
        self.mse = HeatmapMSELoss(self.stride, self.sigma)

    @property
    def num_keypoints(self) -> int:
        return self.classifier.num_keypoints

    def heads(self) -> dict[str, nn.Module]:
        """The regressors by role: ``{"task": f}`` (RegDA adds ``"adversarial": f'``)."""
        return {"task": self.classifier}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``psi``'s feature maps averaged over space ``(B, D)``: the features drawn in t-SNE / A-distance."""
        return self.features(x).mean(dim=(-2, -1))

    def predict_keypoints(self, x: torch.Tensor, head: str = "task") -> torch.Tensor:
        """``J(head(psi(x)))``: ``(B, K, 2)`` pixel positions (no gradient)."""
        return self.predict_keypoints_by_head(x, (head,))[head]

    def predict_keypoints_by_head(self, x: torch.Tensor, heads: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """``{head: J(head(psi(x)))}`` ``(B, K, 2)`` for several regressors from one pass of ``psi`` (the same
        numbers as :meth:`predict_keypoints` per head, at the cost of one feature pass instead of one per head)."""
        table = self.heads()
        missing = [h for h in heads if h not in table]
        if missing:
            raise ValueError(f"{type(self).__name__} has no head {missing[0]!r}; it has {list(table)}.")
        with torch.no_grad():
            z = self.features(x)
            return {h: heatmap_argmax(table[h](z), self.stride) for h in heads}

    def supervised_loss(self, logits: torch.Tensor, keypoints: torch.Tensor, visible: torch.Tensor | None):
        """The source loss chosen by ``source_loss`` (``L_T`` or MSE) over visible keypoints."""
        loss = self.kl if self.source_loss == "kl" else self.mse
        return loss(logits, keypoints, visible)


class HeatmapSourceOnly(KeypointMethod):
    """Source-only keypoint detection: minimises ``L_T`` (``source_loss='kl'``) or the heatmap MSE on labeled
    source batches; the target is never sampled. Trained on :func:`uda_nb.data.oracle_task` it is the oracle."""

    name = "source_only"
    uses_target = False

    def compute_loss(self, batch: Batch, progress: float):
        loss = self.supervised_loss(self(batch.x_s), batch.y_s, batch.visible_s)
        return loss, {"loss": loss.detach()}
