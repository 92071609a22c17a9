"""DRT notebook sizing: ms per ``fit()`` step of the runs 03_drt trains, over network widths and MCD's ``num_k``.

For each width preset, the static and the routing (K = 4) drt-digits network: source-only and MCD (``num_k`` in
``--num-k``) on the leave-one-out task mnistm + uci + syn + street -> mnist, batches of ``--batch`` + ``--batch``,
after a warm-up run; ``FitResult.seconds`` (the loop only). Both memory formats for the routing network, which
is faster contiguous (benchmarks/RESULTS.md, "DRT: MACs and step times"). Figures for sizing, not a timed test.

    .venv/bin/python benchmarks/bench_drt_sizing.py --steps 40 --batch 32
"""

from __future__ import annotations

import argparse

from uda_nb import methods
from uda_nb.data import make_task
from uda_nb.models.flops import count_macs
from uda_nb.train import fit

WIDTHS = {"32-48-64": (32, 48, 64), "16-32-48": (16, 32, 48), "16-24-32": (16, 24, 32)}


def ms_per_step(task, name, steps, batch, channels_last, **kw) -> float:
    m = methods.create(name, 10, task.image_shape, seed=0, backbone="drt-digits", **kw)
    res = fit(m, task, steps, batch, progress=False, eval_every=steps, eval_samples=10, channels_last=channels_last)
    return res.seconds / steps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--num-k", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--widths", nargs="+", default=list(WIDTHS), choices=list(WIDTHS))
    args = ap.parse_args()
    task = make_task(["mnistm", "uci", "syn", "street"], "mnist")
    fit(methods.create("mcd", 10, task.image_shape, seed=0, backbone="drt-digits"), task, 3, args.batch,
        progress=False, eval_samples=10)  # first-call imports and allocations
    cols = ["source-only"] + [f"MCD num_k={k}" for k in args.num_k] + ["MCD one-step"]
    print("| widths | network | memory format | MACs per image | " + " | ".join(cols) + " |")
    print("|---|---|---|---:|" + "---:|" * len(cols))
    for wname in args.widths:
        widths = WIDTHS[wname]
        for dynamic in ("static", "routing"):
            macs = count_macs(methods.create("source_only", 10, task.image_shape, backbone="drt-digits",
                                             dynamic=dynamic, widths=widths), task.image_shape)
            for channels_last in ((True,) if dynamic == "static" else (True, False)):
                kw = {"dynamic": dynamic, "widths": widths}
                cells = [ms_per_step(task, "source_only", args.steps, args.batch, channels_last, **kw)]
                cells += [ms_per_step(task, "mcd", args.steps, args.batch, channels_last, num_k=k, **kw)
                          for k in args.num_k]
                cells.append(ms_per_step(task, "mcd", args.steps, args.batch, channels_last, one_step=True, **kw))
                print(f"| {wname} | {dynamic} | {'channels-last' if channels_last else 'contiguous'} | "
                      f"{macs['static'] + macs['dynamic']:,} | " + " | ".join(f"{c:.1f}" for c in cells) + " |",
                      flush=True)


if __name__ == "__main__":
    main()
