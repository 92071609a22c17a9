"""Data-parallel training over several processes (``torchrun``): what ``fit()`` and ``experiments.run`` do when
``torch.distributed`` is initialised with more than one rank.

**Why not ``DistributedDataParallel`` itself.** DDP averages the gradients of the parameters in hooks that fire
when ``.backward()`` accumulates into ``.grad``, and its documentation says it "does not work with
``torch.autograd.grad()``". Our multi-step methods take each sub-step's gradients with ``torch.autograd.grad`` for
the roles that sub-step updates (MCD, ADDA, RegDA: :meth:`uda_nb.methods.Method.substep`), GSDA differentiates
through gradient norms (``create_graph``), and methods call their submodules directly, not through one wrapped
``forward``. What DDP computes is simple: before the optimizer steps, every parameter's gradient becomes its mean
over the ranks. :class:`AveragedGradients` does exactly that at every optimizer step, so at every sub-step, for
exactly the parameters that have a gradient in that step (a parameter a sub-step does not update has
``grad is None`` on every rank and is left alone, so nothing waits for it), in one flat all-reduce per step
(DDP's gradient bucket). Every rank then applies the same update to the same parameters and the replicas stay
identical without broadcasting weights; TransPar, wrapped inside it, ranks the averaged gradients, so every rank
freezes the same weights.

**Batches.** Each rank trains on its own slice of one global batch: the samplers draw ``world_size *
batch_size`` indices from the same seeded permutation on every rank and rank ``r`` keeps slice ``r``
(:func:`rank_slice`). A run on ``W`` ranks with ``batch_size`` ``b`` therefore sees, step by step, the union of
batches that one process with batch ``W * b`` sees: with per-sample-mean losses and no BatchNorm the two give the
same model up to float rounding (``tests/test_distributed.py``). Augmentation and dropout draw per rank.

**BatchNorm** normalises each rank's own batch (DDP's default); ``sync_batchnorm=True`` converts it to
``torch.nn.SyncBatchNorm`` (CUDA only: PyTorch's SyncBatchNorm has no CPU kernel). Running statistics are rank 0's,
the model rank 0 evaluates and saves.

**Writes.** Evaluation, the run cache, claims and figures happen on rank 0 only (:func:`is_main`); the others wait
at a barrier (:func:`barrier`, :func:`main_first`).
"""

from __future__ import annotations

import contextlib
import datetime
import os

import torch
import torch.distributed as dist

from .optim_wrapper import OptimizerWrapper

#: how long a rank waits for the others at a collective before failing (rather than hanging for the default
#: 30 minutes); ``$UDA_NB_DIST_TIMEOUT`` in seconds
DEFAULT_TIMEOUT_S = 600


def is_distributed() -> bool:
    """Whether this process is one of several ranks of an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0)) if is_distributed() else 0


def is_main() -> bool:
    """Rank 0, or the only process: the one that evaluates and writes."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the block first (building a data set, a feature cache), the others after it, once its files
    are written: ``with main_first(): task = build_task(...)``."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


def init_from_env(backend: str | None = None) -> bool:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE``, ``RANK``,
    ``MASTER_ADDR``, ...). Returns whether this process is one of several ranks. ``backend``: ``None`` for NCCL
    when CUDA is available and ``$UDA_NB_DEVICE`` is not ``cpu``, else gloo. On CUDA each rank uses the GPU of
    its ``LOCAL_RANK``. A world of one (plain ``python``) initialises nothing."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return False
    if dist.is_initialized():
        return is_distributed()
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={world} is set but {missing} are not: start the ranks with torchrun "
                           "(torchrun --nproc_per_node=N -m uda_nb.launch --spec spec.json), which sets them.")
    use_cuda = torch.cuda.is_available() and os.environ.get("UDA_NB_DEVICE", "").strip() not in ("cpu",)
    backend = backend or ("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    timeout = datetime.timedelta(seconds=float(os.environ.get("UDA_NB_DIST_TIMEOUT", DEFAULT_TIMEOUT_S)))
    dist.init_process_group(backend, timeout=timeout)
    return True


def rank_device(device: torch.device) -> torch.device:
    """The device of this rank: ``cuda:<LOCAL_RANK>`` for a CUDA device under several ranks, else ``device``."""
    if device.type == "cuda" and is_distributed():
        return torch.device("cuda", local_rank())
    return device


def rank_slice(indices: torch.Tensor, per_rank: int) -> torch.Tensor:
    """Rank ``r``'s part of a global batch of indices: ``indices[r * per_rank:(r + 1) * per_rank]``."""
    r = rank()
    return indices[r * per_rank:(r + 1) * per_rank]


def check_world_size(expected: int, what: str = "This run") -> None:
    """A clear error when a run meant for ``expected`` ranks is started on another number of them."""
    have = world_size()
    if have != expected:
        how = (f"launch it with uda_nb.launch.launch(spec, seeds, nproc={expected}) or torchrun "
               f"--nproc_per_node={expected} -m uda_nb.launch --spec <spec.json>") if expected > 1 else \
              "run it in a single process (plain python, a notebook), or set its world_size to the number of ranks"
        raise RuntimeError(f"{what} trains on {expected} process{'es' if expected > 1 else ''} (RunSpec.world_size) "
                           f"but {have} {'are' if have > 1 else 'is'} running: {how}.")


class AveragedGradients(OptimizerWrapper):
    """Wraps the optimizer ``fit()`` steps (TransPar included): every :meth:`step` first replaces each parameter's
    gradient by its mean over the ranks (one flat all-reduce of the gradients that exist in this step), then steps
    the wrapped optimizer. Shares the wrapped optimizer's ``param_groups`` and ``state`` (so ``fit()``'s
    learning-rate schedule reaches it) and passes every other attribute through (``end_of_training``, TransPar's
    ``masks``)."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        if isinstance(optimizer, AveragedGradients):
            raise TypeError("This optimizer already averages its gradients over the ranks.")
        super().__init__(optimizer)

    def __getattr__(self, name):  # only for attributes this wrapper does not have
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("AveragedGradients.step takes no closure: compute the loss and call backward first.")
        average_gradients([p for g in self.param_groups for p in g["params"] if p.grad is not None])
        return self.inner.step()


def average_gradients(params: list[torch.Tensor]) -> None:
    """Replace each ``p.grad`` by its mean over the ranks, in one all-reduce of their concatenation. Every rank must
    pass the same parameters in the same order (the roles a sub-step updates are the same on every rank)."""
    if not params or not is_distributed():
        return
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    start = 0
    for g in grads:
        g.copy_(flat[start:start + g.numel()].view_as(g))
        start += g.numel()


def average_logs(sums: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The logged sums (one scalar tensor each, the same keys on every rank) averaged over the ranks."""
    if not sums or not is_distributed():
        return sums
    keys = sorted(sums)
    flat = torch.stack([sums[k].detach().float().reshape(()) for k in keys])
    dist.all_reduce(flat)
    flat /= world_size()
    return {k: flat[i] for i, k in enumerate(keys)}


def broadcast_from_main(obj):
    """``obj`` as rank 0 has it, on every rank (a picklable object: the history rows, the final metrics)."""
    if not is_distributed():
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sync_batchnorm(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` with its BatchNorm layers computing statistics over every rank's batch
    (``torch.nn.SyncBatchNorm``). CUDA only: PyTorch's SyncBatchNorm has no CPU implementation."""
    if device.type != "cuda":
        raise ValueError("sync_batchnorm=True needs CUDA (PyTorch's SyncBatchNorm has no CPU kernel): train on GPUs, "
                         "or leave sync_batchnorm=False so that each rank normalises its own batch.")
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)


def any_rank(flags: list[bool]) -> list[bool]:
    """Each flag true if it is true on any rank (one small all-reduce): decisions that every rank must take at the
    same step (stop on SIGTERM, write a checkpoint) even when only one rank's signal or clock says so."""
    if not is_distributed():
        return [bool(f) for f in flags]
    t = torch.tensor([float(bool(f)) for f in flags], device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def gather_to_main(obj) -> list | None:
    """Every rank's ``obj`` in rank order, on rank 0 (``None`` on the others); ``[obj]`` in one process."""
    if not is_distributed():
        return [obj]
    box = [None] * world_size() if is_main() else None
    dist.gather_object(obj, box, dst=0)
    return box


def _collective_device() -> torch.device:
    """Where a small tensor for a collective lives: the rank's GPU under NCCL, else the CPU."""
    return torch.device("cuda", local_rank()) if dist.get_backend() == "nccl" else torch.device("cpu")
