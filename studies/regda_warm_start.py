"""The reference code's warm-start gradient layer on hands RegDA, chosen without target labels.

The Transfer-Learning-Library trains its hand models with three things our paper-protocol RegDA first left
out: the appearance augmentation (adopted on the recipe screen), the pretrained f (adopted by
``studies/regda_keep_f.py``) and a warm-start gradient layer between psi and f' (``RegDA(warm_start=True)``):
every gradient psi receives through f' is scaled by a coefficient that rises from 0 to 0.1
(``WarmStartGradientLayer(alpha=1, lo=0, hi=0.1, max_iters=1000)`` over 30 epochs of 500 iterations, i.e.
``warm_gamma = 15`` in progress units). This script screens the third on hands, with the kept f, against the
present recipe. dSprites is not screened: its reference recipe keeps neither the augmentation nor the
pretrained f in ours, and DD's own coefficient was screened separately ("DD's coefficient" in results/regda.md).

**The rule, written before any warm-start RegDA run on hands:** adopt ``warm_start`` for hands RegDA only if

(a) RegDA's final source test PCK with the warm start is at most 1 point lower than without it, on every seed
    (the layer must not cost the source fit), and
(b) the two seeds' RegDA predictions on 1,000 unlabeled target training images agree at least 1 PCK point
    more with the warm start (:func:`uda_nb.metrics.prediction_agreement`; the positive evidence: seeds that
    converge to the same target predictions);

otherwise keep the present recipe (coefficient 1). The target PCK is printed for the record only, after the
decision.

    python studies/regda_warm_start.py --seeds 0 1
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("UDA_NB_QUIET", "1")

from regda_keep_f import agreement  # noqa: E402  (studies/ is this script's import path)
from regda_pins import appearance_only, default_heads  # noqa: E402

from uda_nb.data import load_domain  # noqa: E402
from uda_nb.experiments import run  # noqa: E402
from uda_nb.papers import regda as R  # noqa: E402

SIZES = R.sizes_for("report")
VARIANTS = {"coefficient 1 (present recipe)": {"target_passes": 1},
            "warm start 0 -> 0.1": {"warm_start": True, "warm_gamma": 15.0, "target_passes": 1}}
SOURCE_TOLERANCE = 1.0  # (a), PCK points
AGREEMENT_GAIN = 1.0  # (b), PCK points


def screen(variants: dict[str, dict], adopt_name: str, seeds, images: int = 1000) -> bool:
    """Run hands RegDA with the present recipe (``variants``' first entry) and one candidate (the second), print
    the table, and decide by rules (a) and (b) above. Every run comes from or goes into the run cache."""
    source, target = R.HANDS
    unlabeled = load_domain(target, "train").unlabeled()
    scored = unlabeled.images[:images]
    per = {}
    print("| RegDA on hands | source PCK, per seed | seed agreement on target | target PCK, per seed (record) | "
          "seconds |")
    print("|---|---|---|---|---:|")
    for label, options in variants.items():
        t = time.perf_counter()
        runs = [run(R.adapt_spec("regda", source, target, SIZES, options=default_heads(source, options),
                                 **appearance_only(source)), s,
                    progress=False)
                for s in seeds]
        src = np.array([r.final["source_pck"] for r in runs]) * 100
        agree = agreement(runs, scored, unlabeled, "pck") * 100
        tgt = np.array([r.final["target_pck"] for r in runs]) * 100
        per[label] = (src, agree, tgt)
        print(f"| {label} | {' / '.join(f'{v:.1f}' for v in src)} | {agree:.1f} | "
              f"{' / '.join(f'{v:.1f}' for v in tgt)} | {time.perf_counter() - t:.0f} |", flush=True)
    (src0, ag0, _), (src1, ag1, _) = per.values()
    keeps_source = bool(np.all(src1 >= src0 - SOURCE_TOLERANCE))
    agrees_more = bool(ag1 >= ag0 + AGREEMENT_GAIN)
    adopt = keeps_source and agrees_more
    print(f"hands: {'adopt ' + adopt_name if adopt else 'keep the present recipe'} "
          f"((a) {'yes' if keeps_source else 'no'}, (b) {'yes' if agrees_more else 'no'}: "
          f"agreement {ag0:.1f} -> {ag1:.1f})")
    return adopt


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--images", type=int, default=1000, help="unlabeled target training images scored")
    args = parser.parse_args()
    if len(args.seeds) < 2:
        parser.error("the agreement criterion needs at least two seeds")
    return args


def main() -> None:
    args = parse_args()
    screen(VARIANTS, "warm_start", args.seeds, args.images)


if __name__ == "__main__":
    main()
