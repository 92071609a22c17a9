"""Trains TransPar-DANN (dropout, augmentation, a mask tracker and feature snapshots: every kind of state a
checkpoint must carry) on a toy task and saves the result: ``python tests/checkpoint_worker.py <out.pt>
[<checkpoint path>] [--slow]``. ``--slow`` sleeps 0.1 s per step so that a test can interrupt it after a
checkpoint. ``tests/test_checkpoint.py`` runs it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from uda_nb import methods
from uda_nb.methods.transpar import MaskTracker, apply_transpar
from uda_nb.train import FeatureSnapshots, fit, make_optimizer

sys.path.insert(0, str(Path(__file__).parent))
from conftest import toy_task  # noqa: E402

STEPS, EVERY, EVAL = 30, 4, 10  # checkpoints fall between history rows: the partial logged sums are saved too


def train(checkpoint=None, slow: bool = False, steps: int = STEPS):
    torch.manual_seed(0)
    task = toy_task()
    method = methods.create("dann", 10, task.image_shape, seed=0, dropout=0.5)
    optimizer = apply_transpar(method, make_optimizer(method, 0.02), {"ratio": 0.5})
    tracker, snaps = MaskTracker(optimizer, method), FeatureSnapshots(16, seed=0)
    if slow:
        step = method.iteration
        method.iteration = lambda *a: (time.sleep(0.1), step(*a))[1]
    res = fit(method, task, steps, 8, optimizer=optimizer, eval_every=EVAL, seed=0, device="cpu", progress=False,
              augment="appearance", callbacks=(tracker, snaps), checkpoint=checkpoint, checkpoint_every=EVERY,
              checkpoint_seconds=None)
    return {"params": {n: p.detach().clone() for n, p in res.method.named_parameters()},
            "history": res.history.drop(columns="seconds"), "final": res.final,
            "masks": {n: optimizer.masks[p].clone() for n, p in method.named_parameters() if p in optimizer.masks},
            "tracker": tracker.rows, "snapshots": snaps.snapshots, "resumed_from": res.extras["resumed_from"]}


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    result = train(args[1] if len(args) > 1 else None, slow="--slow" in sys.argv)
    torch.save(result, args[0])
