"""Claims test: TransPar-DANN at a reduced budget (about a minute): on mnist -> mnistm, seeds 0 and 1, the method
table's runs of notebooks/04_transpar.ipynb (uda_nb.papers.transpar, 750 steps, tau = 0.5), no caching.

What it checks is what 04_transpar measured on both seeds: TransPar-DANN adapts (well above source-only: 61.5 /
67.1 % against 48.4 / 50.4 % on the Intel machine) and it is not below DANN (66.9 / 69.6 %) by more than the seeds'
spread (the "beyond the seeds' spread" screen below: mean difference against the sum of the two sample
standard deviations; 3.9 against 5.9 points there). The paper's headline, TransPar-DANN above DANN, does not hold
on these from-scratch networks (the notebook's claims table says so); this test would catch a wrapper that
stopped adapting or fell far below DANN. The A-distance of Figure 7 is not tested: on this pair TransPar-DANN and
DANN tie (1.48 / 1.52 against 1.48 / 1.54).
"""

import numpy as np
import pytest

from uda_nb.experiments import run
from uda_nb.papers import transpar as T

pytestmark = pytest.mark.claims


def beyond_spread_greater(a, b) -> bool:
    """``mean(a) - mean(b) > std(a) + std(b)`` (sample standard deviations): a difference larger than the seeds'
    spread, the loose screen this test needs on two seeds (the notebooks decide by uda_nb.claims' 90 % interval)."""
    return bool(a.mean() - b.mean() > a.std(ddof=1) + b.std(ddof=1))

SEEDS = (0, 1)


def _runs(method, transpar=None):
    spec = T.table_spec(method, "mnist", "mnistm", "report", transpar=transpar)
    return [run(spec, s, cache=False, device="cpu", progress=False) for s in SEEDS]


def test_transpar_dann_adapts_and_stays_within_the_seeds_spread_of_dann():
    so, dann, tp = _runs("source_only"), _runs("dann"), _runs("dann", {"ratio": 0.5})
    acc = {k: np.array([r.final["target_acc"] for r in v]) * 100 for k, v in (("so", so), ("dann", dann), ("tp", tp))}
    assert all(r.final["source_acc"] > 0.9 for r in tp), [r.final["source_acc"] for r in tp]
    # it adapts: measured +13.1 / +16.7 points over source-only
    assert (acc["tp"] > acc["so"] + 8).all(), acc
    # not below DANN by more than the seeds' spread
    assert not beyond_spread_greater(acc["dann"], acc["tp"]), acc
