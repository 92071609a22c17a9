"""Class-balanced source batches (GSDA's training aid): the sampler's class frequencies, its determinism, and the
fit / RunSpec switch that leaves every other run unchanged."""

from __future__ import annotations

import pytest
import torch

from uda_nb import methods
from uda_nb.experiments import RunSpec, run_key
from uda_nb.train import BalancedIndexSampler, IndexSampler, fit
from conftest import toy_keypoint_task, toy_task


def _fraction_of_class_1(sampler, labels, batches=300):
    drawn = torch.cat([labels[sampler.next()] for _ in range(batches)])
    return float((drawn == 1).float().mean())


def test_balanced_batches_draw_every_class_equally_often():
    labels = torch.tensor([0] * 900 + [1] * 100)
    balanced = BalancedIndexSampler(labels, 32, torch.Generator().manual_seed(0), torch.device("cpu"))
    plain = IndexSampler(len(labels), 32, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert 0.45 < _fraction_of_class_1(balanced, labels) < 0.55
    assert 0.07 < _fraction_of_class_1(plain, labels) < 0.13
    # item probabilities: 1 / (C * count)
    assert torch.allclose(balanced.weights[:2].float(), torch.tensor([1 / 1800, 1 / 1800]))
    assert float(balanced.weights[-1]) == pytest.approx(1 / 200)


def test_balanced_batches_are_deterministic_for_a_seed():
    labels = torch.tensor([0, 0, 0, 1, 2, 2])
    a = BalancedIndexSampler(labels, 4, torch.Generator().manual_seed(3), torch.device("cpu"))
    b = BalancedIndexSampler(labels, 4, torch.Generator().manual_seed(3), torch.device("cpu"))
    assert all(torch.equal(a.next(), b.next()) for _ in range(5))


def test_fit_switch_and_spec_field():
    task = toy_task()
    m1 = methods.create("source_only", task.num_classes, task.image_shape, seed=0)
    m2 = methods.create("source_only", task.num_classes, task.image_shape, seed=0)
    fit(m1, task, 4, 8, progress=False, eval_every=4, eval_samples=16, seed=0)
    fit(m2, task, 4, 8, progress=False, eval_every=4, eval_samples=16, seed=0, balance_source=True)
    p1, p2 = next(m1.parameters()), next(m2.parameters())
    assert not torch.equal(p1, p2)  # other batches, so other weights
    kp = toy_keypoint_task()
    km = methods.for_task("source_only", kp)
    with pytest.raises(ValueError, match="balance_source"):
        fit(km, kp, 2, 4, progress=False, balance_source=True)
    cpu = torch.device("cpu")
    assert run_key(RunSpec("gsda", balance_source=True), 0, cpu) != run_key(RunSpec("gsda"), 0, cpu)
