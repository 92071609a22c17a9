"""RegDA's recipe on the embedded keypoint tasks, screened on label-free criteria.

Each variant changes the network input or the training batches of every keypoint run (pretraining, DD, RegDA,
oracle alike); every run goes through the run cache, so ``notebooks/02_regda.ipynb`` reuses the runs of the
recipe it ends up with. For each task the script prints, per variant and over the training seeds:

* label-free columns (what the choice is made on): the source test error of the adapted RegDA model; the
  **agreement between the two seeds' RegDA predictions on the target's unlabeled training images**
  (:func:`uda_nb.metrics.prediction_agreement`: two runs that are both right must agree, two that are wrong
  rarely agree, so disagreement tracks the error without reading a label); and the same agreement for the
  source-only models, so a variant that only makes every seed wrong in the same way shows up as agreeing
  before adaptation too;
* the target test metric, for the record only.

    python studies/regda_recipe_search.py --variants previous image image+appearance --seeds 0 1
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("UDA_NB_QUIET", "1")

from uda_nb.data import load_domain  # noqa: E402
from uda_nb.experiments import run  # noqa: E402
from uda_nb.metrics import evaluate, predict_keypoints, prediction_agreement  # noqa: E402
from uda_nb.papers import regda as R  # noqa: E402

SIZES = R.sizes_for("report")

# name -> (network options, augmentation per benchmark[, backbone])
VARIANTS = {
    "previous": ({}, {"dsprites": None, "hands": None}),  # centred input, no augmentation (the first recipe)
    "image": ({"norm": "image"}, {"dsprites": None, "hands": None}),
    "image+appearance": ({"norm": "image"}, {"dsprites": None, "hands": "appearance"}),
    # the same on the leaner network (about 25-30 % less time per step)
    "lean": ({"norm": "image"}, {"dsprites": None, "hands": "appearance"}, "heatmap-lean"),
}
TASKS = {"C→N": ("dsprites-color", "dsprites-noisy"), "C→S": ("dsprites-color", "dsprites-scream"),
         "N→S": ("dsprites-noisy", "dsprites-scream"), "hands": R.HANDS}


def fields(variant: str, family: str) -> dict:
    model, augment, *backbone = VARIANTS[variant]
    return {"model": dict(model), "augment": augment[family], **({"backbone": backbone[0]} if backbone else {})}


def agreement(runs, images, domain, metric):
    a, b = (predict_keypoints(r.method, images) for r in runs[:2])
    return prediction_agreement(a, b, domain)[metric]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=sorted(VARIANTS))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--images", type=int, default=1000, help="unlabeled target training images scored")
    args = parser.parse_args()
    if len(args.seeds) < 2:
        parser.error("the agreement criterion needs at least two seeds")

    print("| task | variant | source metric of RegDA | seed agreement on target, source-only | seed agreement on "
          "target, RegDA | target metric: source-only / RegDA (record) |")
    print("|---|---|---|---|---|---|")
    for task_name in args.tasks:
        source, target = TASKS[task_name]
        family = R.family_of(source)
        metric = "pck" if family == "hands" else "mae"
        scale, digits = (100, 1) if metric == "pck" else (1, 3)
        unlabeled = load_domain(target, "train").unlabeled()
        images = unlabeled.images[:args.images]
        test = load_domain(target, "test")
        for variant in args.variants:
            t = time.perf_counter()
            f = fields(variant, family)
            so = [run(R.pretrain_spec(source, SIZES, **f), s) for s in args.seeds]
            rd = [run(R.adapt_spec("regda", source, target, SIZES, **f), s) for s in args.seeds]
            src = np.array([r.final[f"source_{metric}"] for r in rd]) * scale
            agree_so = agreement(so, images, unlabeled, metric) * scale
            agree_rd = agreement(rd, images, unlabeled, metric) * scale
            tgt_so = np.array([evaluate(r.method, test)[metric] for r in so]) * scale
            tgt_rd = np.array([r.final[f"target_{metric}"] for r in rd]) * scale
            fmt = lambda v: f"{np.mean(v):.{digits}f} ± {np.std(v, ddof=1):.{digits}f}"  # noqa: E731
            print(f"| {task_name} | {variant} | {fmt(src)} | {agree_so:.{digits}f} | {agree_rd:.{digits}f} | "
                  f"{fmt(tgt_so)} / {fmt(tgt_rd)} |  <!-- {time.perf_counter() - t:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
