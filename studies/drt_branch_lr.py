"""A faster-learning routing branch for DRT, screened on the merged sources only (no target image is read).

``drt_basis_gradients.py`` found the K residuals' gradients almost parallel (cosine 0.97-0.999): while ``pi(x)``
stays near uniform, every basis gets the same update, and only the routing branch could break that symmetry. This
screen trains 03_drt's routing source-only model (report budget, 1,200 steps) with the coefficient branches of
every dynamic layer at ``--mult`` times the learning rate (the bases and the static kernels unchanged), and
compares it with the present recipe (multiplier 1, 03_drt's cached run).

**The rule, written before any run with a multiplier other than 1**: the lever is worth building into the
package (a spec field, then 03_drt re-run) only if, at multiplier 10, (a) the merged sources' test accuracy,
averaged over the five leave-one-out targets, is at least 0.5 points higher on every seed, and (b) the per-image
kernel varies more (``drt_kernel_variation.kernel_variation``, mean over layers and targets, every seed).
Otherwise the lever is dropped. Before the screen, the script checks that its own training path with multiplier
1 reproduces 03_drt's cached run exactly (same final accuracy).

    python studies/drt_branch_lr.py --mult 10 --seeds 0 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

os.environ.setdefault("UDA_NB_QUIET", "1")
sys.path.insert(0, os.path.dirname(__file__))

from drt_kernel_variation import kernel_variation, source_images  # noqa: E402

from uda_nb.config import seed_everything  # noqa: E402
from uda_nb.experiments import build_method, build_task, run  # noqa: E402
from uda_nb.models.dynamic import dynamic_layers  # noqa: E402
from uda_nb.papers import drt as D  # noqa: E402
from uda_nb.train import fit  # noqa: E402


def train_with_branch_mult(spec, task, seed: int, mult: float, prepare=None):
    """``run(spec, seed)``'s training (not cached), with the dynamic layers' coefficient branches at ``mult`` x
    the learning rate: their parameters move to a group of their own with the same role. ``prepare(method)``, if
    given, changes the freshly built method before training (another screen's lever)."""
    seed_everything(seed)
    method = build_method(spec, task)
    if prepare is not None:
        prepare(method)
    branch = {id(p) for layer in dynamic_layers(method.features).values() if layer.branch is not None
              for p in layer.branch.parameters()}
    groups = []
    for g in method.param_groups(spec.lr, spec.weight_decay):
        rest = [p for p in g["params"] if id(p) not in branch]
        fast = [p for p in g["params"] if id(p) in branch]
        if rest:
            groups.append({**g, "params": rest})
        if fast:
            m = g["lr_mult"] * mult
            groups.append({**g, "params": fast, "lr_mult": m, "base_lr": spec.lr * m, "lr": spec.lr * m})
    if spec.optimizer not in (None, "sgd"):
        raise ValueError(f"this screen builds SGD only, the spec asks for {spec.optimizer!r}")
    optimizer = torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum)
    return fit(method, task, spec.steps, spec.batch_size, lr=spec.lr, momentum=spec.momentum,
               weight_decay=spec.weight_decay, schedule=spec.schedule, optimizer=optimizer,
               eval_every=spec.eval_every, eval_samples=spec.eval_samples, seed=seed, device="cpu",
               progress=False, augment=spec.augment, balance_source=spec.balance_source)


def mean_variation(model, images) -> float:
    return float(np.mean([v["kernel variation"] for v in kernel_variation(model.cpu().eval(), images).values()]))


def screen_on_sources(targets, seeds, lever: str, values: tuple[float, float], train) -> None:
    """For every target's routing source-only spec and seed, 03_drt's cached run (``values[0]``, the recipe) against
    ``train(spec, task, seed)`` (``values[1]``, the lever); print per-run lines, the table (header ``lever``) and
    the rule's verdict: (a) merged-source accuracy at least 0.5 points higher on every seed, (b) the kernel varies
    more on every seed."""
    sizes = D.sizes_for("report")
    base_value, lever_value = values
    rows = {base_value: {}, lever_value: {}}
    for target in targets:
        spec = D.spec("source_only", target, sizes, dynamic="routing")
        task = build_task(spec, device="cpu")
        images = source_images(target, 250)
        for seed in seeds:
            t = time.perf_counter()
            base = run(spec, seed, progress=False)
            trained = train(spec, task, seed)
            for m, res in ((base_value, base), (lever_value, trained)):
                rows[m][target, seed] = (100 * res.final["source_acc"], 100 * mean_variation(res.method, images))
            print(f"{target} seed {seed}: x{base_value:g} {rows[base_value][target, seed][0]:.1f} % "
                  f"({rows[base_value][target, seed][1]:.2f} % variation), x{lever_value:g} "
                  f"{rows[lever_value][target, seed][0]:.1f} % ({rows[lever_value][target, seed][1]:.2f} %), "
                  f"{time.perf_counter() - t:.0f} s", flush=True)

    print(f"\n| {lever} | " + " | ".join(f"→ {t}" for t in targets)
          + " | mean per seed | kernel variation per seed (%) |")
    print("|---|" + "---:|" * len(targets) + "---:|---:|")
    for m in rows:
        acc = {s: np.mean([rows[m][t, s][0] for t in targets]) for s in seeds}
        var = {s: np.mean([rows[m][t, s][1] for t in targets]) for s in seeds}
        cells = [" / ".join(f"{rows[m][t, s][0]:.1f}" for s in seeds) for t in targets]
        print(f"| x{m:g} | " + " | ".join(cells) + " | " + " / ".join(f"{acc[s]:.2f}" for s in seeds)
              + " | " + " / ".join(f"{var[s]:.2f}" for s in seeds) + " |")
        rows[m]["acc"], rows[m]["var"] = acc, var
    verdict_a = all(rows[lever_value]["acc"][s] >= rows[base_value]["acc"][s] + 0.5 for s in seeds)
    verdict_b = all(rows[lever_value]["var"][s] > rows[base_value]["var"][s] for s in seeds)
    print(f"(a) {'holds' if verdict_a else 'fails'}, (b) {'holds' if verdict_b else 'fails'}: "
          + ("build the lever" if verdict_a and verdict_b else "drop the lever"))


def check_path(target: str, seed: int, train) -> None:
    """Exit unless ``train`` at its neutral setting reproduces 03_drt's cached routing source-only run exactly."""
    spec = D.spec("source_only", target, D.sizes_for("report"), dynamic="routing")
    ref = run(spec, seed, progress=False)
    same = train(spec, build_task(spec, device="cpu"), seed)
    if same.final["source_acc"] != ref.final["source_acc"]:
        raise SystemExit(f"path check failed: {same.final['source_acc']} != {ref.final['source_acc']}")
    print(f"path check: the neutral setting reproduces the cached run ({100 * ref.final['source_acc']:.2f} %)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mult", type=float, default=10.0)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--targets", nargs="+", default=list(D.DOMAINS), choices=list(D.DOMAINS))
    args = parser.parse_args()
    check_path(args.targets[0], args.seeds[0], lambda spec, task, seed: train_with_branch_mult(spec, task, seed, 1.0))
    screen_on_sources(args.targets, args.seeds, "branch rate", (1.0, args.mult),
                      lambda spec, task, seed: train_with_branch_mult(spec, task, seed, args.mult))


if __name__ == "__main__":
    main()
