"""Data-parallel overhead on this machine: seconds per step of ``fit()`` for DANN on mnist -> mnistm (its report
recipe's network), one process against two gloo processes on the CPU.

Three settings, alternated ``--repeats`` times (median reported):

* 1 process, batch ``2B`` per domain, ``2`` threads (all cores);
* 2 processes, batch ``B`` each (the same global batch), 1 thread each (all cores);
* 2 processes, batch ``2B`` each (twice the global batch), 1 thread each.

On a 2-core CPU two processes cannot be faster than one process using both cores: the number is the price of the
gradient all-reduce and of two smaller convolutions instead of one, for the record (issue 43). On GPUs each
process has its own device and the overhead is the all-reduce alone.

    .venv/bin/python benchmarks/bench_ddp.py --steps 200 --batch-size 32 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch


def worker(steps: int, batch_size: int) -> None:
    """One timed fit() (after a 20-step warm-up); rank 0 prints seconds per step as JSON."""
    from uda_nb import distributed, methods
    from uda_nb.data import make_task
    from uda_nb.train import fit

    distributed.init_from_env()
    task = make_task("mnist", "mnistm")
    for n, timed in ((20, False), (steps, True)):
        m = methods.create("dann", task.num_classes, task.image_shape, seed=0)
        start = time.perf_counter()
        fit(m, task, n, batch_size, eval_every=n, eval_samples=100, seed=0, device="cpu", progress=False)
        seconds = time.perf_counter() - start
    if distributed.is_main():
        print(json.dumps({"per_step": seconds / steps}), flush=True)


def timed(nproc: int, steps: int, batch_size: int) -> float:
    here = os.path.abspath(__file__)
    args = ["--worker", "--steps", str(steps), "--batch-size", str(batch_size)]
    if nproc == 1:
        cmd = [sys.executable, here, *args]
        env = {**os.environ, "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", here, *args]
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // nproc))}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=True).stdout
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])["per_step"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32, help="B: the per-process batch of the 2-process run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.batch_size)
        return
    b = args.batch_size
    settings = {f"1 process, batch {2 * b}": (1, 2 * b), f"2 processes, batch {b} each": (2, b),
                f"2 processes, batch {2 * b} each": (2, 2 * b)}
    times = {k: [] for k in settings}
    for _ in range(args.repeats):
        for label, (nproc, batch) in settings.items():
            times[label].append(timed(nproc, args.steps, batch))
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.steps} steps, median of {args.repeats}")
    base = statistics.median(times[f"1 process, batch {2 * b}"])
    print("| setting | ms per step | images per second (both domains) | against 1 process |")
    print("|---|---:|---:|---:|")
    for label, (nproc, batch) in settings.items():
        t = statistics.median(times[label])
        print(f"| {label} | {1000 * t:.1f} | {2 * nproc * batch / t:,.0f} | {t / base:.2f}x |")


if __name__ == "__main__":
    main()
