"""Trains every case of :data:`CASES` for a few steps under torchrun and saves each rank's weights (and TransPar's
masks): ``torchrun --standalone --nproc_per_node=2 tests/ddp_worker.py <out folder> <batch per rank> <steps>``.
``tests/test_distributed.py`` runs it with the gloo backend on the CPU and compares the ranks with one process.

Every case is deterministic given its seed and has no dropout (ranks draw dropout on their own). The ``union``
cases have per-sample-mean losses and no BatchNorm, so 2 ranks of batch b train the same model as 1 process of
batch 2b; the ``per_rank`` cases (GSDA's synchronisation term sums gradient norms over the batch; DRT's
BatchNorm and class-balance term) depend on the batch as a whole, so their reference is one process that computes
each rank's gradient on its own slice and averages them (:func:`per_rank_update`)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from uda_nb import distributed, methods
from uda_nb.methods import Batch
from uda_nb.methods.transpar import apply_transpar
from uda_nb.train import fit, make_optimizer

sys.path.insert(0, str(Path(__file__).parent))
from conftest import toy_keypoint_task, toy_task  # noqa: E402


def _dann(task):
    return methods.create("dann", 10, task.image_shape, seed=0), None


def _transpar_dann(task):
    m = methods.create("dann", 10, task.image_shape, seed=0)
    return m, apply_transpar(m, make_optimizer(m, 0.02), {"ratio": 0.5})


def _mcd(task):  # the three-step form: three sub-steps, each with its own roles
    return methods.create("mcd", 10, task.image_shape, seed=0, head="mlp", num_k=2), None


def _regda(task):  # GroupNorm trunk: per-image normalisation, so the union is exact
    return methods.for_task("regda", task, seed=0, norm_layer="group"), None


def _gsda(task):
    return methods.create("gsda", 10, task.image_shape, seed=0, beta=1.0), None


def _drt(task):  # DRT's digits network (BatchNorm, dynamic residuals) under MCD's one-step form with the
    # class-balance term; DANN's heads, without the reference heads' dropout (ranks draw dropout on their own)
    return methods.create("mcd", 10, task.image_shape, seed=0, backbone="drt-digits", head="mlp", one_step=True,
                          class_balance=0.1), None


#: name -> (builder, task, reference kind)
CASES = {
    "dann": (_dann, toy_task, "union"),
    "transpar_dann": (_transpar_dann, toy_task, "union"),
    "mcd": (_mcd, toy_task, "union"),
    "regda": (_regda, toy_keypoint_task, "union"),
    "gsda": (_gsda, toy_task, "per_rank"),
    "drt": (_drt, toy_task, "per_rank"),
}
LR = 0.02


def train(name: str, batch_size: int, steps: int, ranks_in_one_process: int = 0):
    """Train case ``name``; ``ranks_in_one_process > 0``: the per-rank reference in this one process (batch
    ``ranks * batch_size``, each rank's slice's gradient computed on its own and averaged)."""
    build, make_task, _ = CASES[name]
    task = make_task()
    method, optimizer = build(task)
    if ranks_in_one_process:
        per_rank_update(method, ranks_in_one_process, batch_size // ranks_in_one_process)
    res = fit(method, task, steps, batch_size, lr=None if optimizer is not None else LR, optimizer=optimizer,
              eval_every=steps, seed=0, device="cpu", progress=False)
    masks = {n: optimizer.masks[p].clone() for n, p in method.named_parameters() if optimizer is not None
             and p in optimizer.masks}
    return {"params": {n: p.detach().clone() for n, p in res.method.named_parameters()}, "masks": masks,
            "final": res.final, "history": res.history}


def per_rank_update(method, ranks: int, per_rank: int) -> None:
    """Make ``method``'s one-step update compute the gradient of each rank's slice of the batch on its own (its
    BatchNorm statistics, its batch-level terms) and step once on their mean, as ``ranks`` processes do: the
    method's own update runs once per slice against a stand-in optimizer that keeps the gradients instead of
    stepping. BatchNorm running statistics are rank 0's, as the processes'."""
    original = method.update

    class Keep:  # what the method's update calls: zero_grad and step
        def __init__(self, real):
            self.real, self.param_groups, self.grads, self.steps = real, real.param_groups, None, 0

        def zero_grad(self, set_to_none: bool = True):
            self.real.zero_grad(set_to_none=set_to_none)

        def step(self):
            self.steps += 1
            self.grads = [None if p.grad is None else p.grad.clone() for p in method.parameters()]

    def update(batch: Batch, progress: float, optimizer):
        total, buffers, logged = None, None, []
        for r in range(ranks):
            part = slice(r * per_rank, (r + 1) * per_rank)
            sub = Batch(batch.x_s[part], batch.y_s[part], None if batch.x_t is None else batch.x_t[part],
                        None if batch.visible_s is None else batch.visible_s[part])
            keep = Keep(optimizer)
            logged.append(original(sub, progress, keep))
            if keep.steps != 1:
                raise ValueError("per_rank_update reproduces one-step updates only")
            total = keep.grads if total is None else [a if b is None else a + b for a, b in zip(total, keep.grads)]
            if r == 0:
                buffers = {n: b.clone() for n, b in method.named_buffers()}
        for p, g in zip(method.parameters(), total):
            p.grad = None if g is None else g / ranks
        with torch.no_grad():
            for n, b in method.named_buffers():
                b.copy_(buffers[n])
        optimizer.step()
        return {k: sum(d[k] for d in logged) / ranks for k in logged[0]}  # what the ranks log: their mean

    method.update = update


def train_with_checkpoint(batch_size: int, steps: int, checkpoint: str) -> dict:
    """DANN with dropout and augmentation (per-rank random streams), a checkpoint every 3 steps."""
    task = toy_task()
    method = methods.create("dann", 10, task.image_shape, seed=0, dropout=0.5)
    res = fit(method, task, steps, batch_size, lr=LR, eval_every=2, seed=0, device="cpu", progress=False,
              augment="appearance", checkpoint=checkpoint, checkpoint_every=3, checkpoint_seconds=None)
    return {"params": {n: p.detach().clone() for n, p in res.method.named_parameters()}, "history": res.history,
            "resumed_from": res.extras["resumed_from"]}


def main(out: str, batch_size: int, steps: int, checkpoint: str | None = None) -> None:
    distributed.init_from_env()
    torch.manual_seed(0)
    if checkpoint is not None:  # one case, with checkpoints: the test runs it twice (the second resumes)
        result = train_with_checkpoint(batch_size, steps, checkpoint)
        torch.save(result, Path(out) / f"checkpointed-rank{distributed.rank()}.pt")
    else:
        for name in CASES:
            result = train(name, batch_size, steps)
            torch.save(result, Path(out) / f"{name}-rank{distributed.rank()}.pt")
    distributed.barrier()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *(sys.argv[4:5]))
