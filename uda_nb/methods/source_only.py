"""Baselines from the same code path as every method.

``SourceOnly``: cross-entropy on labeled source batches; the target is never sampled. The train-on-target
oracle is the same learner trained on :func:`uda_nb.data.oracle_task` (the target's *labeled* training split
in the source slot): that function, not this class, is where target labels enter, and only for that row.
"""

from __future__ import annotations

import torch.nn.functional as F

from .base import Batch, Method


class SourceOnly(Method):
    """Minimises ``L_y = CE(G_y(G_f(x_s)), y_s)`` (DANN eq. 1 without the domain term)."""

    name = "source_only"
    uses_target = False

    def compute_loss(self, batch: Batch, progress: float):
        logits = self(batch.x_s)
        loss = F.cross_entropy(logits, batch.y_s)
        return loss, {"loss": loss.detach(), "loss_cls": loss.detach()}
