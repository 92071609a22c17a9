"""bf16 autocast (fit(precision="bf16"), RunSpec.precision): applied to the forward pass, weights kept in float32,
and every method's losses stay finite, GSDA's double backward and RegDA's KL on heatmaps included."""

from __future__ import annotations

import math

import pytest
import torch

from uda_nb import methods
from uda_nb.experiments import RunSpec, run_key
from uda_nb.train import fit
from conftest import toy_keypoint_task, toy_task


def test_bf16_runs_the_forward_pass_in_bfloat16_and_keeps_float32_weights():
    task = toy_task()
    seen = []
    results = {}
    for precision in ("fp32", "bf16"):
        m = methods.for_task("dann", task, seed=0)
        hook = m.features.register_forward_hook(lambda mod, inp, out: seen.append((precision, out.dtype)))
        results[precision] = fit(m, task, 3, 8, seed=0, device="cpu", progress=False, precision=precision)
        hook.remove()
        assert all(p.dtype == torch.float32 for p in m.parameters())
    training = {(p, d) for p, d in seen}
    assert ("bf16", torch.bfloat16) in training and ("fp32", torch.float32) in training
    a, b = (dict(r.method.named_parameters()) for r in results.values())
    assert any(not torch.equal(a[k], b[k]) for k in a)  # bf16 rounding changed the training


@pytest.mark.parametrize("name,make,options", [("gsda", toy_task, {"beta": 1.0}), ("regda", toy_keypoint_task, {}),
                                               ("mdd", toy_task, {}), ("mcd", toy_task, {"backbone": "drt-digits"})])
def test_bf16_losses_stay_finite(name, make, options):
    task = make()
    res = fit(methods.for_task(name, task, seed=0, **options), task, 4, 8, seed=0, device="cpu", progress=False,
              precision="bf16", eval_every=2)
    losses = [c for c in res.history.columns if c.startswith("loss")]
    assert losses and all(math.isfinite(v) for c in losses for v in res.history[c])


def test_precision_is_checked_and_keyed():
    with pytest.raises(ValueError, match="precision must be one of"):
        RunSpec("dann", precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        fit(methods.for_task("dann", toy_task(), seed=0), toy_task(), 2, 8, progress=False, precision="half")
    cpu = torch.device("cpu")
    assert run_key(RunSpec("dann"), 0, cpu) == run_key(RunSpec("dann", precision="fp32"), 0, cpu)
    assert run_key(RunSpec("dann", precision="bf16"), 0, cpu) != run_key(RunSpec("dann"), 0, cpu)
