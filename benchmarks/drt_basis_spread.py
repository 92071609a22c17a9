"""DRT's residual bases drawn further apart, screened on the merged sources only (no target image is read).

``drt_basis_gradients.py`` found the K residuals' gradients almost parallel while ``pi(x)`` is near uniform, and
named two levers that could break the symmetry: a faster routing branch (``drt_branch_lr.py``: the kernel varied 4-5
times as much per image, the sources were fitted no better, dropped) and initial bases further apart, screened
here. Each ``Phi_i`` is drawn like the static kernel ``W0`` (``DynamicConv2d.reset_parameters``); this screen
multiplies every dynamic layer's bases by ``--scale`` right after initialisation, so their pairwise distances (and
the routing branch's gradient, which scales with how far the bases differ) grow by that factor, then trains 03_drt's
routing source-only model (report budget, 1,200 steps) exactly as ``run()`` does otherwise.

**The rule, written before any run with a scale other than 1** (the branch screen's rule): the lever is worth
building into the package (a ``DynamicConv2d`` option, then 03_drt and 03a re-run) only if, at scale 3, (a) the
merged sources' test accuracy, averaged over the five leave-one-out targets, is at least 0.5 points higher on every
seed, and (b) the per-image kernel varies more (mean over layers and targets, every seed). Otherwise it is dropped.
The training path is the branch screen's, which reproduces 03_drt's cached run exactly at multiplier 1 (checked
again here at scale 1).

    python benchmarks/drt_basis_spread.py --scale 3 --seeds 0 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

os.environ.setdefault("UDA_NB_QUIET", "1")
sys.path.insert(0, os.path.dirname(__file__))

from drt_branch_lr import mean_variation, train_with_branch_mult  # noqa: E402
from drt_kernel_variation import source_images  # noqa: E402

from uda_nb.experiments import build_task, run  # noqa: E402
from uda_nb.models.dynamic import dynamic_layers  # noqa: E402
from uda_nb.papers import drt as D  # noqa: E402


def spread_bases(scale: float):
    """A ``prepare`` callback: every dynamic layer's residual bases times ``scale`` (``W0`` and branch untouched)."""
    def prepare(method) -> None:
        with torch.no_grad():
            for layer in dynamic_layers(method.features).values():
                if layer.bases is not None:
                    layer.bases.mul_(scale)
    return prepare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--targets", nargs="+", default=list(D.DOMAINS), choices=list(D.DOMAINS))
    args = parser.parse_args()
    sizes = D.sizes_for("report")

    spec = D.spec("source_only", args.targets[0], sizes, dynamic="routing")
    task = build_task(spec, device="cpu")
    ref = run(spec, args.seeds[0], progress=False)
    same = train_with_branch_mult(spec, task, args.seeds[0], 1.0, prepare=spread_bases(1.0))
    if same.final["source_acc"] != ref.final["source_acc"]:
        raise SystemExit(f"path check failed: {same.final['source_acc']} != {ref.final['source_acc']}")
    print(f"path check: scale 1 reproduces the cached run ({100 * ref.final['source_acc']:.2f} %)")

    rows = {1.0: {}, args.scale: {}}
    for target in args.targets:
        spec = D.spec("source_only", target, sizes, dynamic="routing")
        task = build_task(spec, device="cpu")
        images = source_images(target, 250)
        for seed in args.seeds:
            t = time.perf_counter()
            base = run(spec, seed, progress=False)
            spread = train_with_branch_mult(spec, task, seed, 1.0, prepare=spread_bases(args.scale))
            for s, res in ((1.0, base), (args.scale, spread)):
                rows[s][target, seed] = (100 * res.final["source_acc"], 100 * mean_variation(res.method, images))
            print(f"{target} seed {seed}: x1 {rows[1.0][target, seed][0]:.1f} % ({rows[1.0][target, seed][1]:.2f} %"
                  f" variation), x{args.scale:g} {rows[args.scale][target, seed][0]:.1f} % "
                  f"({rows[args.scale][target, seed][1]:.2f} %), {time.perf_counter() - t:.0f} s", flush=True)

    print("\n| bases | " + " | ".join(f"→ {t}" for t in args.targets)
          + " | mean per seed | kernel variation per seed (%) |")
    print("|---|" + "---:|" * len(args.targets) + "---:|---:|")
    for s in rows:
        acc = {sd: np.mean([rows[s][t, sd][0] for t in args.targets]) for sd in args.seeds}
        var = {sd: np.mean([rows[s][t, sd][1] for t in args.targets]) for sd in args.seeds}
        cells = [" / ".join(f"{rows[s][t, sd][0]:.1f}" for sd in args.seeds) for t in args.targets]
        print(f"| x{s:g} | " + " | ".join(cells) + " | " + " / ".join(f"{acc[sd]:.2f}" for sd in args.seeds)
              + " | " + " / ".join(f"{var[sd]:.2f}" for sd in args.seeds) + " |")
        rows[s]["acc"], rows[s]["var"] = acc, var
    a = all(rows[args.scale]["acc"][sd] >= rows[1.0]["acc"][sd] + 0.5 for sd in args.seeds)
    b = all(rows[args.scale]["var"][sd] > rows[1.0]["var"][sd] for sd in args.seeds)
    print(f"(a) {'holds' if a else 'fails'}, (b) {'holds' if b else 'fails'}: "
          + ("build the lever" if a and b else "drop the lever"))


if __name__ == "__main__":
    main()
