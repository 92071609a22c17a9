"""DRT's residual bases drawn further apart, screened on the merged sources only (no target image is read).

``drt_basis_gradients.py`` found the K residuals' gradients almost parallel while ``pi(x)`` is near uniform, and
named two levers that could break the symmetry: a faster routing branch (``drt_branch_lr.py``: the kernel varied 4-5
times as much per image, the sources were fitted no better, dropped) and initial bases further apart, screened
here. Each ``Phi_i`` is drawn like the static kernel ``W0`` (``DynamicConv2d.reset_parameters``); this screen
multiplies every dynamic layer's bases by ``--scale`` right after initialisation, so their pairwise distances (and
the routing branch's gradient, which scales with how far the bases differ) grow by that factor, then trains 03_drt's
routing source-only model (report budget, 1,200 steps) exactly as ``run()`` does otherwise.

**The rule, written before any run with a scale other than 1** (the branch screen's rule): the lever is worth
building into the package (a ``DynamicConv2d`` option, then 03_drt and 03a re-run) only if, at scale 3, (a) the
merged sources' test accuracy, averaged over the five leave-one-out targets, is at least 0.5 points higher on every
seed, and (b) the per-image kernel varies more (mean over layers and targets, every seed). Otherwise it is dropped.
The training path is the branch screen's, which reproduces 03_drt's cached run exactly at multiplier 1 (checked
again here at scale 1).

    python studies/drt_basis_spread.py --scale 3 --seeds 0 1
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

os.environ.setdefault("UDA_NB_QUIET", "1")
sys.path.insert(0, os.path.dirname(__file__))

from drt_branch_lr import check_path, screen_on_sources, train_with_branch_mult  # noqa: E402

from uda_nb.models.dynamic import dynamic_layers  # noqa: E402
from uda_nb.papers import drt as D  # noqa: E402


def spread_bases(scale: float):
    """A ``prepare`` callback: every dynamic layer's residual bases times ``scale`` (``W0`` and branch untouched)."""
    def prepare(method) -> None:
        with torch.no_grad():
            for layer in dynamic_layers(method.features).values():
                if layer.bases is not None:
                    layer.bases.mul_(scale)
    return prepare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--targets", nargs="+", default=list(D.DOMAINS), choices=list(D.DOMAINS))
    args = parser.parse_args()
    train = lambda scale: lambda spec, task, seed: train_with_branch_mult(  # noqa: E731
        spec, task, seed, 1.0, prepare=spread_bases(scale))
    check_path(args.targets[0], args.seeds[0], train(1.0))
    screen_on_sources(args.targets, args.seeds, "bases", (1.0, args.scale), train(args.scale))


if __name__ == "__main__":
    main()
