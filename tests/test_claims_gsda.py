"""Claims test: GSDA at a reduced budget (about two minutes): on mnist -> mnistm, seeds 0 and 1, Table 1's
global-only and full rows of notebooks/05_gsda.ipynb (uda_nb.papers.gsda, 500 steps since 2026-12-07), no caching, without the
A-distance curve and feature snapshots (they only read the network, so the accuracies are the notebook's).

What it checks: full GSDA trains with finite losses on every logged row, learns the source, and is not below
global-only by more than the seeds' spread (the "beyond the seeds' spread" screen below). On the Intel
machine the notebook measured full GSDA 72.1 / 67.0 % against global-only 68.2 / 69.9 %: a tie within the
seeds' spread, so the paper's +6.0 does not hold here (the notebook's claims table says so). This test would
catch a sync term or local discriminators that broke the training.
"""

import numpy as np
import pytest

from uda_nb.experiments import run
from uda_nb.papers import gsda as G

pytestmark = pytest.mark.claims


def beyond_spread_greater(a, b) -> bool:
    """``mean(a) - mean(b) > std(a) + std(b)`` (sample standard deviations): a difference larger than the seeds'
    spread, the loose screen this test needs on two seeds (the notebooks decide by uda_nb.claims' 90 % interval)."""
    return bool(a.mean() - b.mean() > a.std(ddof=1) + b.std(ddof=1))

SEEDS = (0, 1)


def _runs(label):
    spec = G.spec("gsda", "mnist", "mnistm", "report", G.ABLATION[label], adist_samples=0, snapshot_samples=0)
    return [run(spec, s, cache=False, device="cpu", progress=False) for s in SEEDS]


def test_full_gsda_trains_and_is_not_below_global_only_beyond_the_seeds_spread():
    full, glob = _runs(G.FULL), _runs("global")
    for r in full:
        losses = r.history[["loss", "loss_cls", "loss_global", "loss_local", "loss_sync"]].to_numpy()
        assert np.isfinite(losses).all() and (r.history.loss_sync > 0).all(), r.history
        assert r.final["source_acc"] > 0.9, r.final
    acc = {k: 100 * np.array([r.final["target_acc"] for r in v]) for k, v in (("full", full), ("global", glob))}
    assert (acc["full"] > 50).all(), acc  # it adapts: source-only reaches 48.4 / 50.4 % at this length (04_transpar)
    assert not beyond_spread_greater(acc["global"], acc["full"]), acc
