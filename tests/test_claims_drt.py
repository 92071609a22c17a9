"""Claims test: DRT's central claim at a reduced budget (about 2 minutes): on the leave-one-out target street (the
SVHN analogue), MCD on the dynamic network ends above MCD on the static network.

Same recipe as notebooks/03_drt.ipynb (uda_nb.papers.drt: 600 source-only steps per network, then 300 MCD
steps from that model), one seed, no caching. street is a target where 03_drt measured a DRT gain over static MCD
on both seeds on both machines it ran on (+7.0 / +5.1 points on the AVX2 machine, +4.5 / +2.1 on the AVX-512 one).
"""

import pytest

from uda_nb.experiments import run
from uda_nb.papers import drt as D

pytestmark = pytest.mark.claims


def test_drt_mcd_beats_static_mcd_on_street():
    sizes = D.SIZES["report"]
    static = run(D.spec("mcd", "street", sizes, dynamic="static"), 0, cache=False, device="cpu", progress=False)
    dynamic = run(D.spec("mcd", "street", sizes, dynamic="routing"), 0, cache=False, device="cpu", progress=False)
    # both fit the merged sources (about 95 % on their test split); DRT must end above static MCD on the target
    assert static.final["source_acc"] > 0.85 and dynamic.final["source_acc"] > 0.85
    assert dynamic.final["target_acc"] > static.final["target_acc"] + 0.02, (
        f"DRT-MCD {dynamic.final['target_acc']:.3f} vs static MCD {static.final['target_acc']:.3f}")
