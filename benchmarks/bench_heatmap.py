"""Sizing RegDA's heatmap network for this CPU, and fit()'s overhead over a bare RegDA loop.

Part 1 (sizing): for each trunk preset (``heatmap-tiny``, ``-small``, ``-medium``) and normalisation layer
(BatchNorm, GroupNorm), iterations per second of the source-only step (psi + f on B source images) and of the
full RegDA iteration (its three sub-steps on B source + B target images), on 64 x 64 hands with 21 keypoints,
measured through ``fit()`` with one evaluation at the end (as the notebooks log).

Part 2 (overhead): the same RegDA iterations written as a bare loop (index sampling, ``method.update`` (the
three sub-steps), the same final evaluations) against ``fit()``; runs alternate and the median of ``--repeats``
is reported. Both include one evaluation at the end, so short runs understate it/s (the notebooks log 5 rows
over 250-1,000 steps).

    .venv/bin/python benchmarks/bench_heatmap.py --steps 100 --repeats 2
    .venv/bin/python benchmarks/bench_heatmap.py --overhead-only --steps 300 --repeats 3
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from uda_nb import methods
from uda_nb.config import seed_everything
from uda_nb.data import make_task
from uda_nb.metrics import evaluate
from uda_nb.methods import Batch
from uda_nb.train import fit, make_optimizer


def fit_seconds(task, name: str, backbone: str, norm_layer: str, steps: int, batch_size: int, seed: int = 0) -> float:
    seed_everything(seed)
    method = methods.for_task(name, task, backbone=backbone, norm_layer=norm_layer)
    start = time.perf_counter()
    fit(method, task, steps, batch_size, lr=1e-3, optimizer="adam" if name == "source_only" else "nesterov",
        eval_every=steps, eval_samples=500, seed=seed, progress=False, device="cpu")
    return time.perf_counter() - start


def bare_regda_seconds(task, backbone: str, norm_layer: str, steps: int, batch_size: int, seed: int = 0) -> float:
    """RegDA's three sub-steps by hand on the same model: what fit() is compared against."""
    seed_everything(seed)
    method = methods.for_task("regda", task, backbone=backbone, norm_layer=norm_layer)
    task = task.channels_last()
    method = method.to(memory_format=torch.channels_last).train()
    opt = make_optimizer(method, 1e-3, kind="nesterov")
    src, tgt = task.source, task.target
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for step in range(steps):
        i_s = torch.randint(len(src), (batch_size,), generator=g)
        i_t = torch.randint(len(tgt), (batch_size,), generator=g)
        method.update(Batch(src.images[i_s], src.keypoints[i_s], tgt.images[i_t], src.visible[i_s]), step / steps, opt)
    # the evaluations fit() makes at its one history row: source and target with f, target with f'
    target_sample = task.target_test.sample(500, torch.Generator().manual_seed(1))
    evaluate(method, task.source_test.sample(500, torch.Generator().manual_seed(1)))
    evaluate(method, target_sample)
    evaluate(method, target_sample, head="adversarial")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="tiny,small,medium")
    ap.add_argument("--overhead-only", action="store_true", help="skip part 1 (sizing)")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    task = make_task("hands-render", "hands-photo")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    if args.overhead_only:
        args.sizes = ""
    print("\n| trunk | norm layer | parameters | source-only it/s | RegDA it/s |\n|---|---|---:|---:|---:|")
    for size in filter(None, args.sizes.split(",")):
        backbone = f"heatmap-{size}"
        for norm_layer in ("batch", "group"):
            params = sum(p.numel() for p in methods.for_task("regda", task, backbone=backbone,
                                                             norm_layer=norm_layer).parameters())
            so = statistics.median(fit_seconds(task, "source_only", backbone, norm_layer, args.steps, args.batch_size)
                                   for _ in range(args.repeats))
            rd = statistics.median(fit_seconds(task, "regda", backbone, norm_layer, args.steps, args.batch_size)
                                   for _ in range(args.repeats))
            print(f"| {backbone} | {norm_layer} | {params:,} | {args.steps / so:.1f} | {args.steps / rd:.1f} |",
                  flush=True)
    bare, fitted = [], []
    for _ in range(args.repeats):
        bare.append(bare_regda_seconds(task, "heatmap-tiny", "batch", args.steps, args.batch_size))
        fitted.append(fit_seconds(task, "regda", "heatmap-tiny", "batch", args.steps, args.batch_size))
    b, f = statistics.median(bare), statistics.median(fitted)
    print(f"\nRegDA, heatmap-tiny, {args.steps} steps of {args.batch_size} + {args.batch_size}: bare loop {b:.2f} s, "
          f"fit() {f:.2f} s, overhead {100 * (f / b - 1):+.1f} %")


if __name__ == "__main__":
    main()
