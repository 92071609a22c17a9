"""How much does DRT's per-image kernel actually change between images? A diagnostic, no labels read.

``papers.drt.routing_dynamics`` says the routing coefficients pi(x) stay near uniform. What reaches the output is
the kernel ``W(x) = W0 + sum_i pi_i(x) Phi_i`` (eq. 2, 4), so a small spread of pi matters only in proportion to
how different the residual kernels Phi_i are. Per dynamic layer of a routing source-only model, on held-out
test images of its four source domains (images only):

* ``kernel variation``: the mean over images of ``||W(x) - mean_x W(x)|| / ||mean_x W(x)||`` (Frobenius), the
  share of the kernel that differs from image to image (0 for a static network);
* ``bases apart``: ``mean_i ||Phi_i - mean_j Phi_j|| / ||W0 + mean_j Phi_j||``, how different the K residuals are,
  i.e. the largest variation one-hot routing could reach;
* ``pi spread``: the std of pi(x) over images, averaged over the K entries (as in ``routing_dynamics``).

Each for the network at initialisation (the spec's seed, no step taken) and after the report budget's
source-only stage (the cached 03_drt run, trained if absent) and, with ``--adapted``, after DRT-MCD's adaptation
from it (03_drt's run; the adaptation reads unlabeled target images, this script only source test images).

    python studies/drt_kernel_variation.py --targets mnist --seeds 0 1 --adapted
"""

from __future__ import annotations

import argparse
import os

import torch

os.environ.setdefault("UDA_NB_QUIET", "1")

from uda_nb.config import seed_everything  # noqa: E402
from uda_nb.experiments import build_method, build_task, run  # noqa: E402
from uda_nb.models.dynamic import dynamic_layers  # noqa: E402
from uda_nb.papers import drt as D  # noqa: E402


def source_images(target: str, per_domain: int) -> torch.Tensor:
    """Held-out test images of ``target``'s four source domains (``papers.drt.domain_images``' draw)."""
    images, ids = D.domain_images(per_domain)
    return images[torch.from_numpy(ids != D.DOMAINS.index(target))]


@torch.no_grad()
def kernel_variation(model, images: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per dynamic layer of ``model.features``: the three numbers of the module docstring."""
    layers = dynamic_layers(model.features)
    inputs: dict[str, torch.Tensor] = {}
    hooks = [layer.register_forward_pre_hook(lambda mod, args, name=name: inputs.__setitem__(name, args[0]))
             for name, layer in layers.items()]
    try:
        model.eval()
        model.features(images)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for name, layer in layers.items():
        x = inputs[name]
        w = layer.kernel_for(x).flatten(1)  # (N, C_out C_in k k)
        mean_w = w.mean(0)
        bases = layer._full_bases().flatten(1)  # (K, ...)
        centre = bases.mean(0)
        pi = layer.dynamic_coefficients(x)["routing"]
        out[name.split(".")[-1]] = {
            "kernel variation": float(((w - mean_w).norm(dim=1) / mean_w.norm()).mean()),
            "bases apart": float((bases - centre).norm(dim=1).mean() / (layer.weight.flatten() + centre).norm()),
            "pi spread": float(pi.std(0).mean()),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", nargs="+", default=["mnist"], choices=list(D.DOMAINS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--images", type=int, default=250, help="held-out test images per source domain")
    parser.add_argument("--adapted", action="store_true", help="also the DRT-MCD model adapted from the trained one")
    args = parser.parse_args()
    sizes = D.sizes_for("report")
    print("| target | seed | network | layer | kernel variation | bases apart | pi spread |")
    print("|---|---:|---|---|---:|---:|---:|")
    for target in args.targets:
        images = source_images(target, args.images)
        spec = D.spec("source_only", target, sizes, dynamic="routing")
        task = build_task(spec, device="cpu")
        for seed in args.seeds:
            seed_everything(seed)
            fresh = build_method(spec, task)  # what run() builds before its first step
            trained = run(spec, seed, progress=False).method
            models = [("at initialisation", fresh), ("after the source-only stage", trained)]
            if args.adapted:
                adapted = run(D.spec("mcd", target, sizes, dynamic="routing"), seed, progress=False).method
                models.append(("after DRT-MCD", adapted))
            for label, model in models:
                for layer, v in kernel_variation(model, images).items():
                    print(f"| {target} | {seed} | {label} | {layer} | {v['kernel variation']:.4f} | "
                          f"{v['bases apart']:.3f} | {v['pi spread']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
