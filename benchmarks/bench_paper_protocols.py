"""Seconds per training step of each paper's real-data network on this CPU, for the GPU-hour plan of
``benchmarks/RESULTS.md`` ("The papers' protocols on GPUs").

Each row builds the paper's network with uda_nb (random weights: the time does not depend on them), feeds random
images of the paper's input size and batch, and times ``--steps`` full iterations of the method's own update
(forward, backward, optimizer; every sub-step of a multi-step method) after one warm-up iteration.

    .venv/bin/python benchmarks/bench_paper_protocols.py --steps 2
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from uda_nb import methods
from uda_nb.methods import Batch
from uda_nb.train import make_optimizer

#: paper -> (method, kind, backbone, options, input px, images per domain per step, classes or keypoints)
PROTOCOLS = {
    "DANN (MNIST -> MNIST-M)": ("dann", "classification", None, {}, 28, 64, 10),
    "RegDA (RHD -> H3D)": ("regda", "keypoints", "resnet101", {}, 256, 32, 21),
    "DRT (DomainNet, ResNet-101)": ("mcd", "classification", "resnet101", {"dynamic": "routing", "one_step": True}, 224, 32, 345),
    "TransPar-MDD (Office-Home, ResNet-50)": ("mdd", "classification", "resnet50", {}, 224, 32, 65),
    "GSDA (Office-Home, ResNet-50)": ("gsda", "classification", "resnet50", {}, 224, 32, 65),
}


def seconds_per_step(name: str, steps: int) -> float:
    method_name, kind, backbone, options, px, batch, k = PROTOCOLS[name]
    shape = (3, px, px)
    net = methods.create(method_name, k, shape, kind=kind, backbone=backbone, seed=0, **options)
    net.train()
    opt = make_optimizer(net, 0.01)
    g = torch.Generator().manual_seed(0)
    x_s, x_t = torch.rand(batch, *shape, generator=g), torch.rand(batch, *shape, generator=g)
    if kind == "keypoints":
        y = torch.rand(batch, k, 2, generator=g) * px
        b = Batch(x_s, y, x_t, torch.ones(batch, k, dtype=torch.bool))
    else:
        b = Batch(x_s, torch.randint(0, k, (batch,), generator=g), x_t)
    net.iteration(b, 0.5, opt)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        net.iteration(b, 0.5, opt)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None, help="names of PROTOCOLS to time")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, {args.steps} timed steps after one warm-up")
    print("| paper | network, input | images per step (source + target) | s per step (CPU) | images / s |")
    print("|---|---|---:|---:|---:|")
    for name, (method, kind, backbone, options, px, batch, k) in PROTOCOLS.items():
        if args.only and name not in args.only:
            continue
        t = seconds_per_step(name, args.steps)
        print(f"| {name} | {backbone or 'digits'} ({method}), {px} px | {2 * batch} | {t:.2f} | {2 * batch / t:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
