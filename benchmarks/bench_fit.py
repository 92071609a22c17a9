"""fit()'s overhead over a bare hand-written DANN loop on the same model, data and batch sizes.

Both loops: DANN's digits network, batches of B source + B target images sampled by index from in-memory
MNIST / MNIST-M, SGD momentum 0.9 with the DANN lr and lambda schedules set every step, and one evaluation of
both test splits at the end. fit() adds its sampler, role groups, log accumulation, NaN checks, the progress
bar (disabled here) and its periodic history rows (every ``--eval-every`` steps; the notebooks log every 300
steps of 1,500). With ``--eval-every`` >= steps only the final row remains: the pure loop overhead. Runs alternate (bare, fit, bare, fit, ...) and the median of
``--repeats`` is reported.

    .venv/bin/python benchmarks/bench_fit.py --steps 300 --batch-size 64 --repeats 3
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from uda_nb import methods
from uda_nb.config import get_device, seed_everything
from uda_nb.data import make_task
from uda_nb.methods import grad_reverse
from uda_nb.metrics import accuracy
from uda_nb.schedules import dann_lr_factor, grl_lambda
from uda_nb.train import fit


def bare_loop(task, steps: int, batch_size: int, lr: float, seed: int, channels_last: bool) -> float:
    """The minimal DANN loop a person would write by hand; returns seconds."""
    seed_everything(seed)
    model = methods.create("dann", 10, task.image_shape).to(task.device)
    if channels_last:
        task = task.channels_last()
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    xs_all, ys_all, xt_all = task.source.images, task.source.labels, task.target.images
    g = torch.Generator().manual_seed(seed)
    domain_y = torch.cat([torch.ones(batch_size), torch.zeros(batch_size)]).to(task.device)
    start = time.perf_counter()
    for step in range(steps):
        p = step / steps
        for group in opt.param_groups:
            group["lr"] = lr * dann_lr_factor(p)
        i_s = torch.randint(len(xs_all), (batch_size,), generator=g).to(task.device)
        i_t = torch.randint(len(xt_all), (batch_size,), generator=g).to(task.device)
        f = model.features(torch.cat([xs_all[i_s], xt_all[i_t]]))
        loss = F.cross_entropy(model.classifier(f[:batch_size]), ys_all[i_s])
        loss = loss + F.binary_cross_entropy_with_logits(model.discriminator(grad_reverse(f, grl_lambda(p))), domain_y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    # the final evaluation anyone does at the end of training (fit() reports the same two numbers)
    accuracy(model, task.source_test), accuracy(model, task.target_test)
    if task.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def fit_loop(task, steps: int, batch_size: int, lr: float, seed: int, eval_every: int, channels_last: bool) -> float:
    seed_everything(seed)
    model = methods.create("dann", 10, task.image_shape)
    start = time.perf_counter()
    fit(model, task, steps, batch_size, lr=lr, seed=seed, eval_every=eval_every, eval_samples=1000,
        progress=False, device=task.device, channels_last=channels_last)
    if task.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--eval-every", type=int, default=300)
    ap.add_argument("--memory-format", choices=("channels_last", "contiguous"), default="channels_last",
                    help="image/weight layout for both loops (fit()'s default is channels_last)")
    args = ap.parse_args()
    device = get_device()
    task = make_task("mnist", "mnistm", device=device)
    cl = args.memory_format == "channels_last"
    bare_loop(task, 20, args.batch_size, 0.01, 0, cl)  # warm-up
    bare, fitted = [], []
    for r in range(args.repeats):
        bare.append(bare_loop(task, args.steps, args.batch_size, 0.01, r, cl))
        fitted.append(fit_loop(task, args.steps, args.batch_size, 0.01, r, args.eval_every, cl))
    b, f = statistics.median(bare), statistics.median(fitted)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} cpu={platform.processor() or platform.machine()}")
    print(f"steps={args.steps} batch={args.batch_size}+{args.batch_size} repeats={args.repeats} "
          f"eval_every={args.eval_every} memory_format={args.memory_format}")
    print(f"bare loop: {args.steps / b:.2f} it/s (median {b:.2f} s; runs {[round(x, 2) for x in bare]})")
    print(f"fit():     {args.steps / f:.2f} it/s (median {f:.2f} s; runs {[round(x, 2) for x in fitted]})")
    print(f"overhead of fit() over the bare loop: {100 * (f / b - 1):+.1f} %")


if __name__ == "__main__":
    main()
