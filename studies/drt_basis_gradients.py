"""Do DRT's K residual kernels get different gradients? A diagnostic on source images and source labels only.

``drt_kernel_variation.py`` found the K residuals ``Phi_i`` pulled together by training and the per-image kernel
``W(x) = W0 + sum_i pi_i(x) Phi_i`` (eq. 2, 4) varying by about 1 %. A reason to expect that: the gradient of the
loss with respect to ``Phi_i`` is ``sum_b pi_i(x_b) dL/dW(x_b)``, so when ``pi(x)`` is near uniform every basis
receives nearly the same update, scaled by about ``1 / K``. Their differences then stay where initialisation put
them while their common part grows. Per dynamic layer, on one batch of merged-source training images with their
(source) labels, this prints

* ``gradient cosine``: the mean pairwise cosine similarity of the K gradients ``dL/dPhi_i`` (1: the same update);
* ``gradient spread``: ``mean_i ||g_i - mean_j g_j|| / ||mean_j g_j||``, how far the updates differ, relative to
  their common part;

for the routing network at initialisation and after the report budget's source-only stage (03_drt's cached run,
trained if absent). No target image is read.

    python studies/drt_basis_gradients.py --targets mnist mnistm --seeds 0 1
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F

os.environ.setdefault("UDA_NB_QUIET", "1")

from uda_nb.config import seed_everything  # noqa: E402
from uda_nb.experiments import build_method, build_task, run  # noqa: E402
from uda_nb.models.dynamic import dynamic_layers  # noqa: E402
from uda_nb.papers import drt as D  # noqa: E402


def basis_gradients(model, images: torch.Tensor, labels: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per dynamic layer of ``model.features``: the two numbers of the module docstring."""
    model.train()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(images), labels).backward()
    out = {}
    for name, layer in dynamic_layers(model.features).items():
        k = layer.num_bases
        g = layer.bases.grad.reshape(k, -1)  # (K, C_out C_in s s): row i is dL/dPhi_i
        unit = F.normalize(g, dim=1)
        cos = unit @ unit.T
        pairs = cos[~torch.eye(k, dtype=torch.bool)]
        centre = g.mean(0)
        out[name.split(".")[-1]] = {"gradient cosine": float(pairs.mean()),
                                    "gradient spread": float((g - centre).norm(dim=1).mean() / centre.norm())}
    model.zero_grad(set_to_none=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", nargs="+", default=["mnist"], choices=list(D.DOMAINS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--batch", type=int, default=256, help="merged-source training images in the batch")
    args = parser.parse_args()
    sizes = D.sizes_for("report")
    print("| target | seed | network | layer | gradient cosine | gradient spread |")
    print("|---|---:|---|---|---:|---:|")
    for target in args.targets:
        spec = D.spec("source_only", target, sizes, dynamic="routing")
        task = build_task(spec, device="cpu")
        idx = torch.randperm(len(task.source), generator=torch.Generator().manual_seed(0))[:args.batch]
        images, labels = task.source.images[idx], task.source.labels[idx]
        for seed in args.seeds:
            seed_everything(seed)
            fresh = build_method(spec, task)  # what run() builds before its first step
            trained = run(spec, seed, progress=False).method
            for label, model in (("at initialisation", fresh), ("after the source-only stage", trained)):
                for layer, v in basis_gradients(model, images, labels).items():
                    print(f"| {target} | {seed} | {label} | {layer} | {v['gradient cosine']:.4f} | "
                          f"{v['gradient spread']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
