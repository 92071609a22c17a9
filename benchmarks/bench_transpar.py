"""TransPar's cost: ms per ``fit()`` step of each method with and without the TransPar wrapper, on 04_transpar's
network and batch (the DANN digits network, ``center`` norm, 32 + 32 images of mnist -> mnistm).

The wrapper adds, per optimizer step, the score ``|g w|`` and a top-k over each role's ranked weights, the restore
of the untransferable entries, and (through ``Method.loss_terms``) one extra forward and backward pass of the
target batch for the entropy term. Runs alternate (plain, TransPar, plain, ...) after a warm-up; the median of
``--repeats`` is reported with the ratio. ``FitResult.seconds`` (the loop, with one history row at the end).

    .venv/bin/python benchmarks/bench_transpar.py --steps 200 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics

import torch

from uda_nb import methods
from uda_nb.data import make_task
from uda_nb.methods.transpar import apply_transpar
from uda_nb.train import fit, make_optimizer


def ms_per_step(task, name: str, steps: int, batch: int, transpar: dict | None, seed: int) -> float:
    m = methods.create(name, task.num_classes, task.image_shape, seed=seed, norm="center")
    opt = None
    if transpar is not None:
        opt = apply_transpar(m, make_optimizer(m, 0.01), transpar)
    res = fit(m, task, steps, batch, lr=0.01, optimizer=opt, progress=False, eval_every=steps, eval_samples=100,
              seed=seed)
    return res.seconds / steps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=["source_only", "dann", "mdd", "mcd"])
    args = ap.parse_args()
    task = make_task("mnist", "mnistm")
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} steps={args.steps} batch={args.batch}+"
          f"{args.batch} repeats={args.repeats}")
    print("| method | plain ms/step | TransPar ms/step | ratio |")
    print("|---|---:|---:|---:|")
    for name in args.methods:
        ms_per_step(task, name, 20, args.batch, {"ratio": 0.6}, 0)  # warm-up
        plain, wrapped = [], []
        for r in range(args.repeats):
            plain.append(ms_per_step(task, name, args.steps, args.batch, None, r))
            wrapped.append(ms_per_step(task, name, args.steps, args.batch, {"ratio": 0.6}, r))
        p, w = statistics.median(plain), statistics.median(wrapped)
        print(f"| {name} | {p:.1f} | {w:.1f} | {w / p:.2f} |", flush=True)


if __name__ == "__main__":
    main()
