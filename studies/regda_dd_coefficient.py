"""DD's gradient coefficient on psi through f', screened on label-free signals.

DD (the minimax on ``L_T``) maximises an unbounded loss with f'. With the full gradient reaching psi
(coefficient 1, the paper's text) the game can run away: the generator's loss grows without bound and the
source fit breaks down during adaptation. The reference code of DD (Zhang et al. 2019, whose MDD this package
implements in :mod:`uda_nb.methods.mdd`) puts a warm-started gradient reversal layer between psi and f' whose
coefficient rises from 0 to 0.1 (``WarmStartGradientReverseLayer(alpha=1, lo=0, hi=0.1, max_iters=1000)`` over
20,000 iterations, i.e. ``warm_gamma = 20`` in progress units, as in our MDD). This script trains DD both ways
on every report task and prints, per task, variant and seed:

* label-free columns (what the choice is made on): the worst source test error logged during adaptation
  (dSprites MAE; hands: the lowest source PCK), the source error at the end, and the generator's loss at the end;
* the target test metric, for the record only.

The rule, fixed before the runs: DD takes the reference coefficient if the mean over dSprites tasks and seeds of
the worst logged source MAE is lower with it, every run's final generator loss stays below 10, and the hands DD
runs' final source PCK (mean over seeds) is not lower by more than 1 point.

    python studies/regda_dd_coefficient.py --seeds 0 1
"""

from __future__ import annotations

import argparse
import os

import numpy as np

os.environ.setdefault("UDA_NB_QUIET", "1")

from regda_pins import default_heads  # noqa: E402  (studies/ is this script's import path)

from uda_nb.experiments import run  # noqa: E402
from uda_nb.papers import regda as R  # noqa: E402

# margin 1 pinned: this screen ran before DD took MDD's margin 4 (papers.regda.DD_OPTIONS)
VARIANTS = {"coefficient 1": {"margin": 1.0, "target_passes": 1},
            "reference warm start (0 -> 0.1)": {"warm_start": True, "warm_gamma": 20.0, "margin": 1.0,
                                                "target_passes": 1}}
#: the hands augmentation when this screen ran (colour jitter and blur; the rotation and zoom came on 2026-12-06)
APPEARANCE_ONLY = {"dsprites": None, "hands": "appearance"}
TASKS = {"C→N": ("dsprites-color", "dsprites-noisy"), "C→S": ("dsprites-color", "dsprites-scream"),
         "N→S": ("dsprites-noisy", "dsprites-scream"), "hands": R.HANDS}


def dd_table(variants: dict[str, dict], tasks, seeds, augment: dict[str, str | None] | None = None
             ) -> dict[str, dict[str, list]]:
    """Train (or load) DD under each variant on ``tasks`` and ``seeds``, print one row per run, and return per
    variant the worst logged dSprites source MAEs, the hands final source PCKs and the final generator losses.
    ``augment``: the training augmentation per family (``None``: the recipe's, papers.regda.AUGMENT)."""
    sizes = R.sizes_for("report")
    print("| task | DD variant | seed | worst source metric during adaptation | source metric at the end | "
          "generator loss at the end | target metric (record) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    summary: dict[str, dict[str, list]] = {v: {"worst_mae": [], "hands_src": [], "loss": []} for v in variants}
    for name in tasks:
        source, target = TASKS[name]
        hands = R.family_of(source) == "hands"
        metric = "pck" if hands else "mae"
        for variant, options in variants.items():
            for seed in seeds:
                fields = {} if augment is None else {"augment": augment[R.family_of(source)]}
                spec = R.adapt_spec("dd", source, target, sizes, options=default_heads(source, options), **fields)
                r = run(spec, seed, progress=False)
                src = r.history[f"source_{metric}"].to_numpy()
                worst = src.min() if hands else src.max()
                end_src, end_tgt = r.final[f"source_{metric}"], r.final[f"target_{metric}"]
                loss = float(r.history["loss_generator"].iloc[-1])
                summary[variant]["loss"].append(loss)
                if hands:
                    summary[variant]["hands_src"].append(end_src)
                    cells = (f"{100 * worst:.1f} %", f"{100 * end_src:.1f} %", f"{loss:.2f}", f"{100 * end_tgt:.1f} %")
                else:
                    summary[variant]["worst_mae"].append(worst)
                    cells = (f"{worst:.3f}", f"{end_src:.3f}", f"{loss:.2f}", f"{end_tgt:.3f}")
                print(f"| {name} | {variant} | {seed} | " + " | ".join(cells) + " |", flush=True)
    print()
    for variant, s in summary.items():
        print(f"{variant}: mean worst dSprites source MAE {np.mean(s['worst_mae']) if s['worst_mae'] else float('nan'):.3f}, "
              f"hands final source PCK {100 * np.mean(s['hands_src']) if s['hands_src'] else float('nan'):.1f} %, "
              f"largest final generator loss {max(s['loss']):.2f}")
    return summary


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    dd_table(VARIANTS, args.tasks, args.seeds, augment=APPEARANCE_ONLY)


if __name__ == "__main__":
    main()
