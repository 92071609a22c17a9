"""Why DRT's routing stays uniform in 03_drt, and whether the coefficient branch's initialisation explains it.

The diagnosis (issue 40). The authors initialise the branch ``Linear -> ReLU -> Linear`` with N(0, 0.01)
(``resnet_dra.py:99-100``). On their ResNet-50 blocks the branch pools 256-2048 channels, so its hidden units start
at about ``0.01 * sqrt(C)``, 0.16-0.45 per unit of input scale; on drt-digits' conv2 and conv3 it pools 16 and 32
channels and they start 4-10 times smaller. Both layers' gradients are proportional to the other's weights (a
saddle at zero), so the time to leave it grows as that scale shrinks. This runner measures, label-free:

1. at initialisation, the hidden activations and the routing logits of conv2 and conv3 under both initialisations;
2. after DRT-MCD's report run (seed 0, every target), the routing entropy and spread per layer on 200 held-out
   images of each domain, and the merged sources' test accuracy, for ``branch_init="reference"`` (03_drt's runs,
   shared through the run cache) and ``"fan_in"`` (``nn.Linear``'s own initialisation).

The rule, written before the runs: ``"fan_in"`` replaces the reference initialisation in 03_drt only if, on seed 0,
the routing entropy of conv2 and conv3 is at most 0.9 on every one of the five targets, and the merged sources'
test accuracy is on average no more than 1 point below the reference's. Target accuracy is not read.

    .venv/bin/python studies/drt_branch_init.py
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from uda_nb import methods
from uda_nb.experiments import run
from uda_nb.papers import drt as D

INITS = ("reference", "fan_in")


def with_init(spec, init: str):
    if init == "reference":
        return spec  # 03_drt's own spec and cache key
    return dataclasses.replace(spec, model={**spec.model, "branch_init": init})


def at_initialisation(sizes, images: torch.Tensor) -> pd.DataFrame:
    rows = []
    for init in INITS:
        spec = with_init(D.spec("mcd", "street", sizes, dynamic="routing"), init)
        net = methods.create("mcd", 10, (3, 32, 32), seed=0, backbone=spec.backbone, **spec.model).eval()
        hidden = {}
        hooks = [m.branch[0].register_forward_hook(lambda mod, i, o, n=n: hidden.__setitem__(n, o.detach()))
                 for n, m in net.named_modules() if getattr(m, "branch", None) is not None]
        coeffs = D.coefficients(net, images)
        for h in hooks:
            h.remove()
        for name, pi in coeffs.items():
            h = next(v for k, v in hidden.items() if k.endswith(name))
            logits = np.log(pi)
            rows.append({"init": init, "layer": name, "hidden |h| (mean)": float(h.abs().mean()),
                         "logit spread (std over K)": float(logits.std(1).mean()),
                         "entropy": float(D.routing_dynamics({name: pi}).entropy.iloc[0])})
    return pd.DataFrame(rows)


def after_training(sizes, images: torch.Tensor) -> pd.DataFrame:
    rows = []
    for init in INITS:
        for target in D.DOMAINS:
            res = run(with_init(D.spec("mcd", target, sizes, dynamic="routing"), init), 0)
            dyn = D.routing_dynamics(D.coefficients(res.method, images))
            rows.append({"init": init, "target": target, "source acc %": 100 * res.final["source_acc"],
                         **{f"{layer} entropy": dyn.entropy[layer] for layer in dyn.index},
                         **{f"{layer} spread": dyn.spread[layer] for layer in dyn.index},
                         "seconds": res.seconds})
    return pd.DataFrame(rows)


def main() -> None:
    sizes = D.sizes_for("report")
    images, _ = D.domain_images(200)
    pd.set_option("display.width", 200)
    print("At initialisation (seed 0, 1,000 held-out images):\n")
    print(at_initialisation(sizes, images).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    trained = after_training(sizes, images)
    print("\nAfter DRT-MCD's report run (seed 0):\n")
    print(trained.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    ref, fan = (trained[trained.init == i] for i in INITS)
    dynamic = bool((fan[["conv2 entropy", "conv3 entropy"]] <= 0.9).all().all())
    cost = ref["source acc %"].mean() - fan["source acc %"].mean()
    print(f"\nRule: conv2 and conv3 entropy <= 0.9 on every target with fan_in: {dynamic}; merged-source accuracy "
          f"{cost:+.2f} points below the reference (at most 1 allowed). Adopt fan_in: {dynamic and cost <= 1.0}")


if __name__ == "__main__":
    main()
