"""DD with MDD's warm-started gradient coefficient on top of its margin, screened on label-free signals.

DD is the keypoint form of Zhang et al.'s MDD. Our classification MDD (:mod:`uda_nb.methods.mdd`) follows its
reference code in two ways that DD's first recipe lacked: the margin gamma = 4 on the adversary's source-agreement
term, and a warm-started gradient reversal layer whose coefficient on psi's gradient through f' rises from 0 to 0.1
(``WarmStartGradientReverseLayer(lo=0, hi=0.1, max_iters=1000)``; ``warm_start=True, warm_gamma=20`` in progress
units, as in our MDD). DD took the margin on 2026-12-04 (studies/regda_dd_margin.py); the warm start was screened
alone on 2026-12-02, with margin 1 and an older recipe, and kept out by a criterion (every final generator loss below
10) that its own write-up called a poor choice (results/regda.md, "DD's coefficient on psi's gradient through f'"). This
screen asks the question again for DD as it is now, margin 4 included, so that DD is our MDD on heatmaps.

**Not blind.** That 2026-12-02 screen printed target metrics after its decision, and they showed DD with the warm
start between source-only and RegDA on dSprites. This screen's rule reads source test splits only, as every RegDA
screen's, but a reader should weigh its outcome knowing that the lever was chosen for a second look by someone who
had seen that record. The case for it stands without the record: it is the reference code of the method DD is,
and our own MDD already runs it.

The reference code is the recipe we follow where the paper is silent, so the burden of proof lies on keeping the
coefficient at 1. **The rule, written before any run of DD with margin 4 and the warm start:** DD (dSprites and
hands alike) takes the warm start unless

(a) the worst source test MAE logged during adaptation, averaged over the three dSprites report tasks and the
    seeds, rises by more than 0.01 (the run-away measure of the margin screen), or
(b) hands DD's final source test PCK, seed-mean, drops by more than 1 point.

The time is the same either way (a scalar on one gradient). Only source test splits decide; the target metrics are
printed for the record, after the decision.

    python studies/regda_dd_warm_start.py --seeds 0 1
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("UDA_NB_QUIET", "1")

from regda_dd_coefficient import dd_table, parse_args  # noqa: E402  (studies/ is this script's import path)

# every option explicit, and the augmentation too, so that the command reproduces whatever the recipe becomes
PRESENT = {"margin": 4.0, "target_passes": 2}
VARIANTS = {"margin 4, coefficient 1 (present)": PRESENT,
            "margin 4, MDD's warm start (0 -> 0.1)": {**PRESENT, "warm_start": True, "warm_gamma": 20.0}}
AUGMENT = {"dsprites": None, "hands": "appearance+geometry"}
TOLERANCE = {"a": 0.01, "b": 0.01}  # MAE; PCK as a fraction (1 point)


def main() -> None:
    args = parse_args()
    if set(args.tasks) != {"C→N", "C→S", "N→S", "hands"}:
        raise SystemExit("the rule reads every report task: run without --tasks")
    s0, s1 = dd_table(VARIANTS, args.tasks, args.seeds, augment=AUGMENT).values()
    worst = float(np.mean(s0["worst_mae"])), float(np.mean(s1["worst_mae"]))
    hands = float(np.mean(s0["hands_src"])), float(np.mean(s1["hands_src"]))
    ok_a = worst[1] <= worst[0] + TOLERANCE["a"]
    ok_b = hands[1] >= hands[0] - TOLERANCE["b"]
    verdict = "adopt the warm start" if ok_a and ok_b else "keep coefficient 1"
    print(f"DD: {verdict} ((a) {'yes' if ok_a else 'no'}: {worst[0]:.3f} -> {worst[1]:.3f} MAE, "
          f"(b) {'yes' if ok_b else 'no'}: {100 * hands[0]:.1f} -> {100 * hands[1]:.1f} % source PCK)")


if __name__ == "__main__":
    main()
