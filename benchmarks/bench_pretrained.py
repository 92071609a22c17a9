"""What fine-tuning ImageNet-pretrained EfficientNet-Lite0 costs on this machine, to size a CPU regime (issue 42).

For each input size and each split point ``k``: the stem and ``blocks[:k]`` are frozen (eval mode, no gradient),
so their output can be computed once per image and cached; ``blocks[k:]``, ``conv_head`` and a linear 10-class
head train with SGD. Reported per batch of ``--batch`` images: the frozen part's forward (a one-off cost per
image once cached), and one training step of the rest (forward, backward, SGD step) on the cached features.
``k = 0`` freezes only the stem (the papers' protocol fine-tunes it too: add its cost, small at these sizes). Median of ``--repeats`` timings after one warm-up.

    .venv/bin/python benchmarks/bench_pretrained.py --sizes 32 64 --splits 0 3 4 5 --batch 64
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from uda_nb.models.backbones import InputNorm
from uda_nb.models.pretrained import efficientnet_lite0


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(size: int, split: int, batch: int, repeats: int) -> dict:
    net = efficientnet_lite0("imagenet", num_classes=0)
    norm = InputNorm("imagenet")
    frozen = nn.Sequential(net.conv_stem, net.bn1, *net.blocks[:split]).eval().requires_grad_(False)
    rest = nn.Sequential(*net.blocks[split:], net.conv_head, net.bn2, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(net.num_features, 10)).train()
    opt = torch.optim.SGD(rest.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(batch, 3, size, size)
    y = torch.randint(0, 10, (batch,))
    with torch.no_grad():
        cached = frozen(norm(x))

    def frozen_forward():
        with torch.no_grad():
            frozen(norm(x))

    def train_step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(rest(cached), y).backward()
        opt.step()

    return {"size": size, "split": split, "cached features": "x".join(map(str, cached.shape[1:])),
            "trainable params (M)": sum(p.numel() for p in rest.parameters()) / 1e6,
            "frozen forward ms": 1000 * _median_seconds(frozen_forward, repeats),
            "train step ms": 1000 * _median_seconds(train_step, repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--splits", type=int, nargs="+", default=[0, 3, 4, 5])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"batch {args.batch}")
    print("| input px | frozen: stem + blocks[:k] | cached features | trainable params (M) | frozen forward ms | "
          "train step ms |")
    print("|---:|---:|---|---:|---:|---:|")
    for size in args.sizes:
        for split in args.splits:
            r = measure(size, split, args.batch, args.repeats)
            print(f"| {size} | {split} | {r['cached features']} | {r['trainable params (M)']:.2f} | "
                  f"{r['frozen forward ms']:.0f} | {r['train step ms']:.0f} |")


if __name__ == "__main__":
    main()
