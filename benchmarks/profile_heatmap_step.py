"""Where the time of a hands heatmap step goes on this CPU: torch.profiler over the report recipe's runs.

Runs a short copy of a report-budget spec of 02_regda (the hands source-only run, or the RegDA adaptation from
a short source-only model) under ``torch.profiler`` and prints the operators by self CPU time, then times the
same spec with 1 and 2 intra-op threads and with the augmentation switched off, to separate framework, thread
and augmentation costs. Nothing is cached; no target label is read (the target's test PCK is only evaluated at
the end as fit() always does).

    .venv/bin/python benchmarks/profile_heatmap_step.py --steps 150
    .venv/bin/python benchmarks/profile_heatmap_step.py --stage regda --steps 100
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from torch.profiler import ProfilerActivity, profile

from uda_nb.experiments import run
from uda_nb.papers import regda


def spec_for(stage: str, steps: int, augment: bool = True):
    sizes = dataclasses.replace(regda.SIZES["report"], hands_pretrain=steps, hands_adapt=steps, evals=1,
                                eval_samples=100)
    if stage == "source_only":
        spec = regda.pretrain_spec(regda.HANDS[0], sizes)
    else:
        spec = regda.adapt_spec(stage, *regda.HANDS, sizes)
    if not augment:
        spec = dataclasses.replace(spec, augment=None)
        if spec.init_from is not None:
            spec = dataclasses.replace(spec, init_from=dataclasses.replace(spec.init_from, augment=None))
    return spec


def seconds(spec, threads: int) -> tuple[float, float]:
    """(fit()'s own seconds, run()'s total seconds) of one uncached run of ``spec`` with ``threads`` threads."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    res = run(spec, 0, cache=False, progress=False)
    total = time.perf_counter() - start
    return res.seconds, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", default="source_only", choices=("source_only", "regda", "dd"))
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rows", type=int, default=30)
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()
    spec = spec_for(args.stage, args.steps)
    print(f"torch {torch.__version__}, stage {args.stage}, {args.steps} steps, batch {spec.batch_size}")
    if not args.no_profile:
        torch.set_num_threads(2)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run(spec, 0, cache=False, progress=False)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=40))
    for label, s, threads in (("recipe, 2 threads", spec, 2), ("recipe, 1 thread", spec, 1),
                              ("no augmentation, 2 threads", spec_for(args.stage, args.steps, augment=False), 2)):
        fit_s, total = seconds(s, threads)
        print(f"{label}: fit {fit_s:.1f} s ({args.steps / fit_s:.2f} it/s), run() total {total:.1f} s")


if __name__ == "__main__":
    main()
