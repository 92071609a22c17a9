"""How long DRT's leave-one-out source-only models need, read from the merged sources' test split only.

Every adaptation in 03_drt / 03a starts from a source-only model of its own network (static or routing). This
script trains those models for each length in ``--steps`` (separate runs: the learning rate decays over a run's
own length), on every leave-one-out target and seed, and prints the source test accuracy (all source test images,
no target label). The rule, fixed before the runs: the shortest length whose next length gains less than
``--min-gain`` points of source test accuracy, averaged over targets and seeds, on both networks; if every step
up still gains, the longest length screened.

    python studies/drt_pretrain_length.py --steps 600 1200 --seeds 0 1
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np

os.environ.setdefault("UDA_NB_QUIET", "1")

from uda_nb.experiments import run  # noqa: E402
from uda_nb.papers import drt as D  # noqa: E402

NETWORKS = ("static", "routing")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", nargs="+", type=int, default=[600, 1200])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--min-gain", type=float, default=1.0)
    args = parser.parse_args()
    base = D.sizes_for("report")
    mean: dict[tuple[str, int], float] = {}
    print("| network | steps | " + " | ".join(f"→ {t}" for t in D.DOMAINS) + " | mean | seconds per run |")
    print("|---|---:|" + "---:|" * (len(D.DOMAINS) + 2))
    for net in NETWORKS:
        for steps in args.steps:
            sizes = dataclasses.replace(base, steps=steps)
            per_target, secs = [], []
            for t in D.DOMAINS:
                accs = []
                for seed in args.seeds:
                    r = run(D.spec("source_only", t, sizes, dynamic=net), seed, progress=False)
                    secs.append(r.seconds)  # the training time, also for a cached run
                    accs.append(100 * r.final["source_acc"])
                per_target.append(accs)
            mean[net, steps] = float(np.mean(per_target))
            cells = " | ".join(" / ".join(f"{a:.1f}" for a in accs) for accs in per_target)
            print(f"| {net} | {steps:,} | {cells} | {mean[net, steps]:.1f} | {np.mean(secs):.0f} |")
    pick = args.steps[-1]
    for a, b in zip(args.steps, args.steps[1:]):
        if all(mean[n, b] - mean[n, a] < args.min_gain for n in NETWORKS):
            pick = a
            break
    print(f"rule's pick: {pick:,} steps")


if __name__ == "__main__":
    main()
