"""DRT sizing: MACs per image and time per training step of the digits networks, static and dynamic.

For each backbone / variant: multiply-accumulates per 32 x 32 image (``uda_nb.models.flops.count_macs``; the
dynamic layers' extra MACs counted separately), then ``fit()`` steps per second of source-only, DANN and MCD on
a leave-one-out Digit-five task (four sources merged, one target; batches of ``--batch`` + ``--batch``), after a
warm-up run (``FitResult.seconds``: the loop only), contiguous and channels-last. Figures for sizing the
notebooks, not for a timed test.

    .venv/bin/python benchmarks/bench_drt.py --steps 60 --batch 32
"""

from __future__ import annotations

import argparse
import torch

from uda_nb import methods
from uda_nb.data import make_task
from uda_nb.models.flops import count_macs
from uda_nb.train import fit

NETWORKS = {  # label: create() keyword arguments
    "digits (DANN's LeNet)": {"backbone": "digits"},
    "drt-digits static": {"backbone": "drt-digits", "dynamic": "static"},
    "drt-digits routing K=4": {"backbone": "drt-digits", "dynamic": "routing"},
    "drt-digits attention": {"backbone": "drt-digits", "dynamic": "attention"},
    "drt-digits combined K=4": {"backbone": "drt-digits", "dynamic": "combined"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--methods", default="source_only,dann,mcd")
    args = ap.parse_args()
    task = make_task(["mnistm", "uci", "syn", "street"], "mnist")
    print(f"task {task.name}: {len(task.source)} source images (4 domains merged), torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print("\n| network | MACs per image (static) | extra MACs of the dynamic layers | extra % |")
    print("|---|---:|---:|---:|")
    for label, kw in NETWORKS.items():
        net = methods.create("source_only", 10, task.image_shape, seed=0, **kw)
        c = count_macs(net, task.image_shape)
        print(f"| {label} | {c['static']:,} | {c['dynamic']:,} | {100 * c['dynamic'] / c['static']:.2f} |")
    names = args.methods.split(",")
    warm = methods.create("mcd", 10, task.image_shape, seed=0, backbone="drt-digits")
    fit(warm, task, 3, args.batch, progress=False, eval_samples=10)  # first-call imports and allocations
    print(f"\nms per fit() step ({args.steps} steps after a warm-up run; MCD with num_k = 4)\n")
    print("| network | memory format | " + " | ".join(names) + " |")
    print("|---|---|" + "---:|" * len(names))
    for label, kw in NETWORKS.items():
        for channels_last in (True, False):
            cells = []
            for name in names:
                m = methods.create(name, 10, task.image_shape, seed=0, **kw)
                # FitResult.seconds: the training loop only (its one history row scores 10 images per split),
                # not the set-up or the final full-test evaluation
                res = fit(m, task, args.steps, args.batch, progress=False, eval_every=args.steps, eval_samples=10,
                          channels_last=channels_last)
                cells.append(f"{res.seconds / args.steps * 1000:.1f}")
            print(f"| {label} | {'channels-last' if channels_last else 'contiguous'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
