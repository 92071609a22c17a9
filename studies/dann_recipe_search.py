"""DANN on MNIST -> MNIST-M over data seeds x training seeds: how robust is the gain, and which recipe holds?

Each variant changes the report recipe of ``notebooks/01_dann.ipynb``; every run goes through the run cache
(``uda_nb.experiments.run``), so the notebook reuses the runs of the recipe it ends up with. For every variant
and data seed the script prints the label-free criteria first (source validation accuracy, the domain
classifier's accuracy on its training batches at the end, the proxy A-distance of the features), then the
target numbers, which are listed for the record only: the choice between variants is made on the label-free
columns (DANN paper, section 4: low source error, high domain-classifier error).

    python studies/dann_recipe_search.py --variants paper --data-seeds 0 1 2 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("UDA_NB_QUIET", "1")

from uda_nb.config import resolve_budget  # noqa: E402
from uda_nb.experiments import RunSpec, run  # noqa: E402
from uda_nb.metrics import domain_classifier_accuracy, gap_covered, knn_domain_mixing  # noqa: E402

BUDGET = resolve_budget("report")
BASE = dict(lr=0.01, model={"norm": "center"}, adist_samples=BUDGET.adist_samples,
            snapshot_samples=BUDGET.tsne_points)

# name -> overrides of the DANN spec (the baselines never change)
VARIANTS: dict[str, dict] = {
    "paper": {},
    "lambda0.5": {"options": {"lambda_max": 0.5}},
    "gamma5": {"options": {"gamma": 5.0}},
    "disc1024": {"model": {"norm": "center", "disc_hidden": (1024, 1024)}},
    "disc100x2": {"model": {"norm": "center", "disc_hidden": (100, 100)}},
    "image_norm": {"model": {"norm": "image"}},
    "steps3000": {"steps": 3000},
    "lr0.02": {"lr": 0.02},
    "bn": {"model": {"norm": "center", "batch_norm": True}},
    "lambda1.5": {"options": {"lambda_max": 1.5}},
    "wd5e-4": {"weight_decay": 5e-4},
    "dropout0.5": {"model": {"norm": "center", "dropout": 0.5}},
}


def spec_for(method: str, data_seed: int, **overrides) -> RunSpec:
    base = {**BASE, **overrides}
    if method == "oracle":
        base.update(adist_samples=0, snapshot_samples=0)
    return RunSpec.from_budget(method, BUDGET, data_seed=data_seed, **base)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", nargs="+", default=["paper"], choices=sorted(VARIANTS))
    parser.add_argument("--data-seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--baselines", action="store_true", help="also train source-only and the oracle")
    args = parser.parse_args()

    base_acc: dict[tuple[str, int, int], float] = {}
    if args.baselines:
        for ds in args.data_seeds:
            for s in args.seeds:
                for m in ("source_only", "oracle"):
                    t = time.perf_counter()
                    r = run(spec_for(m, ds), s)
                    base_acc[(m, ds, s)] = r.final["target_acc"]
                    print(f"{m:12s} data {ds} seed {s}: target {100 * r.final['target_acc']:.1f} "
                          f"src {100 * r.final['source_acc']:.1f} ({time.perf_counter() - t:.0f} s"
                          f"{', cached' if r.cached else ''})", flush=True)

    for name in args.variants:
        print(f"\n== {name}: {VARIANTS[name]}", flush=True)
        gaps_all = []
        for ds in args.data_seeds:
            rows = []
            for s in args.seeds:
                t = time.perf_counter()
                r = run(spec_for("dann", ds, **VARIANTS[name]), s)
                h = r.history.iloc[-1]
                feats = r.extras["snapshots"][max(r.extras["snapshots"])]  # held-out test features, final model
                row = dict(src=100 * r.final["source_acc"], dom=100 * h["domain_acc"], adist=h.get("a_distance", np.nan),
                           held=100 * domain_classifier_accuracy(r.method.discriminator, *feats),
                           mix=knn_domain_mixing(*feats, k=10),
                           tgt=100 * r.final["target_acc"], sec=time.perf_counter() - t, cached=r.cached)
                if ("source_only", ds, s) in base_acc:
                    row["gap"] = 100 * gap_covered(r.final["target_acc"], base_acc[("source_only", ds, s)],
                                                   base_acc[("oracle", ds, s)])
                    gaps_all.append(row["gap"])
                rows.append(row)
                print(f"  data {ds} seed {s}: src {row['src']:.1f} dom_acc {row['dom']:.1f} held-out {row['held']:.1f} "
                      f"mix {row['mix']:.2f} A-dist {row['adist']:.2f} | "
                      f"target {row['tgt']:.1f} gap {row.get('gap', np.nan):.1f} ({row['sec']:.0f} s)", flush=True)
            g = [r_.get("gap", np.nan) for r_ in rows]
            print(f"  data {ds}: src {np.mean([r_['src'] for r_ in rows]):.1f} dom {np.mean([r_['dom'] for r_ in rows]):.1f} "
                  f"held-out {np.mean([r_['held'] for r_ in rows]):.1f} mix {np.mean([r_['mix'] for r_ in rows]):.2f} "
                  f"| gap {np.nanmean(g) if gaps_all else float('nan'):.1f}", flush=True)
        if gaps_all:
            print(f"  {name}: gap over all {np.mean(gaps_all):.1f} +- {np.std(gaps_all, ddof=1):.1f}", flush=True)


if __name__ == "__main__":
    main()
