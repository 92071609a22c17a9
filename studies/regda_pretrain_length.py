"""How long the hands source-only model needs, read from the source test split only (no target label).

The report recipe pretrained the hands model at a constant Adam rate when this screen ran (2026-12-02; it now
takes the paper's step schedule, ``regda_pretrain_schedule.py``). This script trains that spec for ``--steps`` steps, logging the source test PCK every ``--every`` steps, for each
seed, and prints the curve and the rule's pick: the first checkpoint (a multiple of 1,000 steps) after which the
seed-mean source PCK rises by less than ``--min-gain`` points over the next 1,000 steps.

    python studies/regda_pretrain_length.py --steps 4000 --every 500 --seeds 0 1
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

os.environ.setdefault("UDA_NB_QUIET", "1")

from regda_pins import appearance_only  # noqa: E402  (studies/ is this script's import path)

from uda_nb.experiments import run  # noqa: E402
from uda_nb.papers import regda as R  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--min-gain", type=float, default=1.0, help="PCK points per further 1,000 steps")
    args = parser.parse_args()

    base = R.pretrain_spec(R.HANDS[0], R.sizes_for("report"), **appearance_only(R.HANDS[0]))
    # the constant rate this screen was run with (the recipe has taken the paper's step schedule since 2026-12-04)
    spec = dataclasses.replace(base, steps=args.steps, eval_every=args.every, schedule="constant")
    curves = []
    for seed in args.seeds:
        t = time.perf_counter()
        hist = run(spec, seed, progress=False).history
        curves.append(hist.set_index("step")["source_pck"] * 100)
        print(f"seed {seed}: {time.perf_counter() - t:.0f} s")
    steps = curves[0].index.to_numpy()
    mean = np.mean([c.to_numpy() for c in curves], axis=0)
    print("| step | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean |")
    print("|---:|" + "---:|" * (len(args.seeds) + 1))
    for i, st in enumerate(steps):
        print(f"| {st:,} | " + " | ".join(f"{c.iloc[i]:.1f}" for c in curves) + f" | {mean[i]:.1f} |")
    by_step = dict(zip(steps, mean))
    pick = None
    for st in range(1000, args.steps, 1000):
        if st in by_step and st + 1000 in by_step and by_step[st + 1000] - by_step[st] < args.min_gain:
            pick = st
            break
    print(f"rule's pick: {pick if pick is not None else f'none below {args.steps:,} (still rising)'}")


if __name__ == "__main__":
    main()
