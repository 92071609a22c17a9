"""Claims test: DRT at a reduced budget (about 2 minutes), on the leave-one-out target street (the SVHN analogue),
with 03_drt's recipe (uda_nb.papers.drt: 1,200 source-only steps per network, then 300 MCD steps from that model),
one seed, no caching.

DRT's headline (DRT-MCD above static MCD) does not hold on every CPU at this budget: on street, seed 0, 03_drt
measured +7.0 points on the AVX2 machine and +4.5 on the AMD AVX-512 one, but -1.0 on the Intel AVX-512 one (the
float rounding of each CPU moves these short adversarial runs by a few points; 03_drt's claims table decides the
headline from both seeds of all five targets). So this test checks what held on all three machines: the dynamic
network's MCD is not far below the static network's (a broken residual or coefficient branch falls much further),
and the routing coefficients carry the domain (the paper's Figures 4-5): a linear probe reads an image's domain
from them far above chance (20 %; 55-65 % in 03_drt on the AMD machine).
"""

import pytest

from uda_nb.experiments import run
from uda_nb.papers import drt as D

pytestmark = pytest.mark.claims


def test_drt_mcd_on_street_stays_near_static_mcd_and_its_coefficients_know_the_domain():
    sizes = D.SIZES["report"]
    static = run(D.spec("mcd", "street", sizes, dynamic="static"), 0, cache=False, device="cpu", progress=False)
    dynamic = run(D.spec("mcd", "street", sizes, dynamic="routing"), 0, cache=False, device="cpu", progress=False)
    # both fit the merged sources (about 95 % on their test split)
    assert static.final["source_acc"] > 0.85 and dynamic.final["source_acc"] > 0.85
    assert dynamic.final["target_acc"] > static.final["target_acc"] - 0.03, (
        f"DRT-MCD {dynamic.final['target_acc']:.3f} vs static MCD {static.final['target_acc']:.3f}")
    images, domains = D.domain_images(200, seed=0)
    probe = D.domain_probe(D.coefficients(dynamic.method, images), domains, ("conv1", "conv2", "conv3"), seed=0)
    assert probe > 40.0, f"domain probe on the routing coefficients {probe:.1f} % (chance 20 %)"
