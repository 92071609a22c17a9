"""DynamicConv2d's two batched implementations against the static convolution, forward + backward, on this CPU.

Layers of digits-network size (DANN's two 5 x 5 convolutions on 32 x 32 inputs, and a 3 x 3 one), a batch of
``--batch`` images, contiguous and channels-last. ``mix`` runs one convolution with the ``K + 1`` kernels
stacked and mixes the outputs per image; ``grouped`` builds each image's kernel and runs one grouped
convolution (``groups = B``). Runs alternate and the median of ``--repeats`` is reported, in ms per step.

    .venv/bin/python benchmarks/bench_dynamic.py --batch 64 --steps 30 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from uda_nb.models.dynamic import DynamicConv2d

LAYERS = {  # name: (C_in, C_out, kernel, padding, input side)
    "conv1 3->32 5x5 @32": (3, 32, 5, 0, 32),
    "conv2 32->48 5x5 @14": (32, 48, 5, 0, 14),
    "conv 48->48 3x3 @10": (48, 48, 3, 1, 10),
}


def step_ms(layer: torch.nn.Module, x: torch.Tensor, steps: int) -> float:
    for _ in range(3):  # warm-up
        layer(x).sum().backward()
    start = time.perf_counter()
    for _ in range(steps):
        layer.zero_grad(set_to_none=True)
        layer(x).sum().backward()
    return (time.perf_counter() - start) / steps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variant", default="routing")
    ap.add_argument("--bases", type=int, default=4)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, variant "
          f"{args.variant}, K={args.bases}; ms per forward + backward (median of {args.repeats})")
    print("| layer | memory format | static | mix | grouped |")
    print("|---|---|---:|---:|---:|")
    for name, (cin, cout, k, pad, side) in LAYERS.items():
        for channels_last in (False, True):
            torch.manual_seed(0)
            x = torch.randn(args.batch, cin, side, side)
            layers = {"static": DynamicConv2d(cin, cout, k, padding=pad, variant="static"),
                      "mix": DynamicConv2d(cin, cout, k, padding=pad, variant=args.variant, num_bases=args.bases,
                                           impl="mix"),
                      "grouped": DynamicConv2d(cin, cout, k, padding=pad, variant=args.variant,
                                               num_bases=args.bases, impl="grouped")}
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
                layers = {n: m.to(memory_format=torch.channels_last) for n, m in layers.items()}
            times = {n: [] for n in layers}
            for _ in range(args.repeats):
                for n, m in layers.items():
                    times[n].append(step_ms(m, x, args.steps))
            med = {n: statistics.median(v) for n, v in times.items()}
            print(f"| {name} | {'channels-last' if channels_last else 'contiguous'} | {med['static']:.2f} | "
                  f"{med['mix']:.2f} | {med['grouped']:.2f} |")


if __name__ == "__main__":
    main()
