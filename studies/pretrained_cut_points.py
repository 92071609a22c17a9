"""Where to cut EfficientNet-Lite0 for the CPU pretrained regime: for each input size and number of frozen blocks,
the cost of computing the frozen prefix once per image, the cost of one training step of the rest (64 images), and
the source and target test accuracy of a source-only fine-tune (300 steps; target accuracy is read for the record,
the choice was made on cost and source accuracy).

    .venv/bin/python studies/pretrained_cut_points.py [--pairs mnist:mnistm syn:street] [--sizes 32 64] [--frozen 5 6]

Results: benchmarks/results/transpar.md, "The pretrained regime".
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F
from torch import nn

from uda_nb.data import make_task
from uda_nb.models.backbones import InputNorm
from uda_nb.models.pretrained import efficientnet_lite0


def prefix(net, norm, x, size, k):
    with torch.no_grad():
        if size != x.shape[-1]:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        h = net.bn1(net.conv_stem(norm(x)))
        for b in net.blocks[:k]:
            h = b(h)
    return h


def batched(fn, images, n=256):
    return torch.cat([fn(images[i:i + n]) for i in range(0, len(images), n)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", nargs="+", default=["mnist:mnistm", "syn:street"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[32, 64])
    ap.add_argument("--frozen", nargs="+", type=int, default=[5, 6])
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    torch.manual_seed(0)
    net, norm = efficientnet_lite0("imagenet").eval(), InputNorm("imagenet")
    print("| pair | px | frozen | cached shape | prefix s | ms/step | trained params | source % | target % |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for pair in args.pairs:
        task = make_task(*pair.split(":"), device="cpu")
        for size in args.sizes:
            for k in args.frozen:
                t = time.perf_counter()
                xs = batched(lambda x: prefix(net, norm, x, size, k), task.source.images)
                t_pre = time.perf_counter() - t
                xst = batched(lambda x: prefix(net, norm, x, size, k), task.source_test.images)
                xtt = batched(lambda x: prefix(net, norm, x, size, k), task.target_test.images)
                suffix = nn.Sequential(*[copy.deepcopy(b) for b in net.blocks[k:]], copy.deepcopy(net.conv_head),
                                       copy.deepcopy(net.bn2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
                head = nn.Sequential(nn.Linear(1280, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 10))
                opt = torch.optim.SGD([{"params": suffix.parameters(), "lr": 0.001},
                                       {"params": head.parameters(), "lr": 0.01}], momentum=0.9)
                g = torch.Generator().manual_seed(0)
                suffix.train(), head.train()
                t = time.perf_counter()
                for _ in range(args.steps):
                    idx = torch.randint(len(xs), (64,), generator=g)
                    loss = F.cross_entropy(head(suffix(xs[idx])), task.source.labels[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                ms = 1000 * (time.perf_counter() - t) / args.steps
                suffix.eval(), head.eval()
                with torch.no_grad():
                    src = (head(suffix(xst)).argmax(1) == task.source_test.labels).float().mean().item()
                    tgt = (head(suffix(xtt)).argmax(1) == task.target_test.labels).float().mean().item()
                n = sum(p.numel() for p in suffix.parameters())
                print(f"| {pair} | {size} | {k} | {tuple(xs.shape[1:])} | {t_pre:.1f} | {ms:.0f} | {n / 1e6:.2f} M | "
                      f"{100 * src:.1f} | {100 * tgt:.1f} |", flush=True)


if __name__ == "__main__":
    main()
