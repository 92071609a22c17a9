"""Report sizing for the references' recipes (issue 40): ms per training step of the runs 03_drt, 03a, 04_transpar,
04a and 05_gsda train, each spec exactly as its notebook builds it, shortened to ``--steps`` (after one warm-up
run of 10 steps per spec, so imports and allocations are not timed). ``experiments.run(..., cache=False)``; the
time is ``RunResult.seconds`` (the training loop, evaluation rows included). Figures for sizing the notebooks,
not a timed test.

    .venv/bin/python benchmarks/bench_report_sizing.py --steps 60
"""

from __future__ import annotations

import argparse
import dataclasses

from uda_nb.experiments import RunSpec, run
from uda_nb.papers import drt as D
from uda_nb.papers import gsda as G
from uda_nb.papers import transpar as T


def specs(budget: str) -> dict[str, RunSpec]:
    sizes = D.sizes_for(budget)
    out = {
        "03_drt source-only (static)": D.spec("source_only", "mnistm", sizes),
        "03_drt MCD (static)": D.spec("mcd", "mnistm", sizes),
        "03_drt DRT-MCD (routing)": D.spec("mcd", "mnistm", sizes, dynamic="routing"),
        "03a MCD (attention)": D.spec("mcd", "mnistm", sizes, dynamic="attention"),
        "03a MCD (combined)": D.spec("mcd", "mnistm", sizes, dynamic="combined"),
        "03a ADDA (static)": D.adda_spec("mnistm", sizes),
        "03_drt single domain (static)": D.single_domain_spec("mnist", sizes),
    }
    for pair in T.PAIRS:
        name = T.pair_name(pair)
        out[f"04 source-only {name}"] = T.table_spec("source_only", *pair, budget)
        out[f"04 DANN {name}"] = T.table_spec("dann", *pair, budget)
        out[f"04 MDD {name}"] = T.table_spec("mdd", *pair, budget)
        out[f"04 TransPar-DANN {name}"] = T.table_spec("dann", *pair, budget, transpar={"ratio": 0.5})
        out[f"04 TransPar-MDD {name}"] = T.table_spec("mdd", *pair, budget, transpar={"ratio": 0.5})
        out[f"05 GSDA {name}"] = G.spec("gsda", *pair, budget)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--budget", default="report")
    ap.add_argument("--only", nargs="*", default=None, help="substrings of the row names to keep")
    args = ap.parse_args()
    print(f"ms per step, {args.steps} steps after a 10-step warm-up, budget {args.budget} specs\n")
    print("| run | ms per step |\n|---|---:|")
    for label, spec in specs(args.budget).items():
        if args.only and not any(o in label for o in args.only):
            continue
        # a pretraining run (ADDA's) is shortened too: only this run's own steps are timed
        init = None if spec.init_from is None else dataclasses.replace(spec.init_from, steps=10, eval_every=10)
        short = dataclasses.replace(spec, steps=args.steps, eval_every=args.steps, eval_samples=100,
                                    adist_samples=0, snapshot_samples=0, init_from=init)
        run(dataclasses.replace(short, steps=10, eval_every=10), 0, cache=False, progress=False)  # warm-up
        res = run(short, 0, cache=False, progress=False)
        print(f"| {label} | {1000 * res.seconds / args.steps:.1f} |", flush=True)


if __name__ == "__main__":
    main()
