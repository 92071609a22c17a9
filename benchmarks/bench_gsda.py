"""GSDA's cost: ms per ``fit()`` step of GSDA against DANN on the digits network (32 + 32 images of mnist ->
mnistm), and the 1 + b + r discriminators with their synchronisation gradients run as one stacked module against
M separate ``nn.Sequential`` discriminators (forward, per-sample feature gradients, backward).

    .venv/bin/python benchmarks/bench_gsda.py --steps 150 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from uda_nb import methods
from uda_nb.data import make_task
from uda_nb.methods.gsda import StackedDiscriminators, class_groups, hierarchy_weights, sync_loss
from uda_nb.train import fit


def ms_per_step(task, name: str, steps: int, batch: int, seed: int, **options) -> float:
    m = methods.create(name, task.num_classes, task.image_shape, seed=seed, norm="center", **options)
    res = fit(m, task, steps, batch, lr=0.01, progress=False, eval_every=steps, eval_samples=100, seed=seed)
    return res.seconds / steps * 1000


def stacked_vs_separate(n: int, d: int, m: int, repeats: int) -> tuple[float, float]:
    """ms for one forward + per-sample gradient norms + backward of the sync loss, stacked and separate."""
    torch.manual_seed(0)
    stacked = StackedDiscriminators(d, m, (100,))
    separate = [stacked.to_sequential(i) for i in range(m)]
    groups = class_groups(m - 4, 3) if m > 4 else [[0]]
    f = torch.randn(n, d, requires_grad=True)
    domain = torch.cat([torch.ones(n // 2), torch.zeros(n - n // 2)])
    p = F.softmax(torch.randn(n, m - 4), 1)
    w = hierarchy_weights(p, groups)

    def run_stacked():
        x = f.unsqueeze(0).expand(m, -1, -1)
        logits = stacked.forward_replicated(x)
        losses = (w * F.binary_cross_entropy_with_logits(logits, domain.unsqueeze(1).expand_as(logits),
                                                          reduction="none")).sum(0) / n
        (g,) = torch.autograd.grad(losses.sum(), x, create_graph=True)
        sync_loss(torch.linalg.vector_norm(g, dim=2).sum(1), groups)[0].backward()

    def run_separate():
        norms = []
        for i, disc in enumerate(separate):
            logit = disc(f).squeeze(1)
            loss = (w[:, i] * F.binary_cross_entropy_with_logits(logit, domain, reduction="none")).sum() / n
            (g,) = torch.autograd.grad(loss, f, create_graph=True)
            norms.append(torch.linalg.vector_norm(g, dim=1).sum())
        sync_loss(torch.stack(norms), groups)[0].backward()

    out = []
    for fn in (run_stacked, run_separate):
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(20):
                fn()
            times.append((time.perf_counter() - t) / 20 * 1000)
        out.append(statistics.median(times))
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    task = make_task("mnist", "mnistm")
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} steps={args.steps} batch={args.batch}+"
          f"{args.batch} repeats={args.repeats}")
    ms_per_step(task, "gsda", 20, args.batch, 0)  # warm-up
    variants = {"dann": ("dann", {}), "gsda (b = 3, 14 discriminators)": ("gsda", {}),
                "gsda, beta = 0 (gaps logged, no second-order graph)": ("gsda", {"beta": 0.0}),
                "gsda, global only (levels = (), beta = 0)": ("gsda", {"beta": 0.0, "levels": ()})}
    rows = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (method, options) in variants.items():
            rows[name].append(ms_per_step(task, method, args.steps, args.batch, 0, **options))
    base = statistics.median(rows["dann"])
    print("| method | ms/step | against DANN |")
    print("|---|---:|---:|")
    for name, v in rows.items():
        print(f"| {name} | {statistics.median(v):.1f} | {statistics.median(v) / base:.2f} |")
    n, d = 2 * args.batch, 1200
    s, p = stacked_vs_separate(n, d, 14, args.repeats)
    print(f"\n14 discriminators on ({n}, {d}) features, forward + sync gradients + backward: stacked {s:.1f} ms, "
          f"separate {p:.1f} ms ({p / s:.2f}x)")


if __name__ == "__main__":
    main()
