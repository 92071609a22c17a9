"""DRT notebook sizing: ms per ``fit()`` step of the runs 03_drt trains, over network widths and MCD's ``num_k``.

For each width preset, the static and the routing (K = 4) drt-digits network: source-only and MCD (``num_k`` in
``--num-k``) on the leave-one-out task mnistm + uci + syn + street -> mnist, batches of ``--batch`` + ``--batch``,
after a warm-up run; ``FitResult.seconds`` (the loop only). Both memory formats for the routing network, which
is faster contiguous (benchmarks/results/drt.md, "DRT: MACs and step times"). Figures for sizing, not a timed test.

    .venv/bin/python benchmarks/bench_drt_sizing.py --steps 40 --batch 32

``--overhead``: instead, ``fit()``'s loop against a bare loop of the same DRT-MCD iterations (index sampling,
``method.update``, one evaluation of 10 images per split at the end, as ``fit()``'s one history row), on the
notebook's network (16-32-48, routing, K = 4, ``num_k = 1``), median of ``--repeats`` alternating runs:

    .venv/bin/python benchmarks/bench_drt_sizing.py --overhead --steps 200 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from uda_nb import methods
from uda_nb.data import make_task
from uda_nb.models.flops import count_macs
from uda_nb.methods import Batch
from uda_nb.metrics import accuracy
from uda_nb.config import seed_everything
from uda_nb.train import fit, make_optimizer

WIDTHS = {"32-48-64": (32, 48, 64), "16-32-48": (16, 32, 48), "16-24-32": (16, 24, 32)}


def ms_per_step(task, name, steps, batch, channels_last, **kw) -> float:
    m = methods.create(name, 10, task.image_shape, seed=0, backbone="drt-digits", **kw)
    res = fit(m, task, steps, batch, progress=False, eval_every=steps, eval_samples=10, channels_last=channels_last)
    return res.seconds / steps * 1000


NOTEBOOK_NET = {"dynamic": "routing", "widths": (16, 32, 48), "num_k": 1, "lam": 1.0}


def bare_mcd_seconds(task, steps: int, batch: int, seed: int = 0) -> float:
    """DRT-MCD's iterations by hand on the same model and data layout as ``fit()`` (channels-last)."""
    seed_everything(seed)
    m = methods.create("mcd", 10, task.image_shape, seed=seed, backbone="drt-digits", **NOTEBOOK_NET)
    task = task.channels_last()
    m = m.to(memory_format=torch.channels_last).train()
    opt = make_optimizer(m, 0.01)
    src, tgt = task.source, task.target
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for step in range(steps):
        i_s = torch.randint(len(src), (batch,), generator=g)
        i_t = torch.randint(len(tgt), (batch,), generator=g)
        m.update(Batch(src.images[i_s], src.labels[i_s], tgt.images[i_t]), step / steps, opt)
    accuracy(m, task.source_test.sample(10, torch.Generator().manual_seed(1)))
    accuracy(m, task.target_test.sample(10, torch.Generator().manual_seed(1)))
    return time.perf_counter() - start


def fit_mcd_seconds(task, steps: int, batch: int, seed: int = 0) -> float:
    m = methods.create("mcd", 10, task.image_shape, seed=seed, backbone="drt-digits", **NOTEBOOK_NET)
    return fit(m, task, steps, batch, lr=0.01, seed=seed, progress=False, eval_every=steps, eval_samples=10).seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--num-k", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--widths", nargs="+", default=list(WIDTHS), choices=list(WIDTHS))
    ap.add_argument("--overhead", action="store_true", help="fit() against a bare DRT-MCD loop instead")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    task = make_task(["mnistm", "uci", "syn", "street"], "mnist")
    if args.overhead:
        fit_mcd_seconds(task, 3, args.batch)  # warm-up
        bare, fitted = [], []
        for _ in range(args.repeats):
            bare.append(bare_mcd_seconds(task, args.steps, args.batch))
            fitted.append(fit_mcd_seconds(task, args.steps, args.batch))
        b, f = statistics.median(bare), statistics.median(fitted)
        print(f"DRT-MCD (16-32-48, routing K=4, num_k=1), {args.steps} steps of {args.batch} + {args.batch}: bare loop "
              f"{b:.2f} s, fit() {f:.2f} s, overhead {100 * (f / b - 1):+.1f} % (runs: bare "
              f"{', '.join(f'{x:.2f}' for x in bare)}; fit {', '.join(f'{x:.2f}' for x in fitted)})")
        return
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
