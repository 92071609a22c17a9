"""Proxy A-distance, gap covered, accuracy."""

import numpy as np
import pytest
import torch
from torch import nn

from uda_nb.data import Domain
from uda_nb.metrics import accuracy, gap_covered, mean_std, proxy_a_distance


def test_a_distance_near_zero_for_one_distribution():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(600, 20)), rng.normal(size=(600, 20))
    assert proxy_a_distance(a, b, seed=0) < 0.3


def test_a_distance_near_two_for_separable_samples():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 20))
    b = rng.normal(size=(400, 20)) + 4.0
    assert proxy_a_distance(a, b, seed=0) == pytest.approx(2.0, abs=0.02)


def test_a_distance_orders_shifts_and_stays_in_range():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(500, 10))
    values = [proxy_a_distance(a, rng.normal(size=(500, 10)) + s, seed=3) for s in (0.0, 0.3, 0.8, 3.0)]
    assert all(0.0 <= v <= 2.0 for v in values)
    assert values[0] < values[1] < values[2] <= values[3]


def test_a_distance_is_seeded_and_checks_shapes():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(300, 5)), rng.normal(size=(250, 5)) + 0.5
    assert proxy_a_distance(a, b, seed=7) == proxy_a_distance(a, b, seed=7)
    with pytest.raises(ValueError, match="same width"):
        proxy_a_distance(a, rng.normal(size=(300, 6)))
    with pytest.raises(ValueError, match="at least 4"):
        proxy_a_distance(a[:2], b[:2])


def test_gap_covered_hand_values():
    assert gap_covered(0.7666, 0.5225, 0.9596) == pytest.approx(0.5585, abs=1e-3)
    assert gap_covered(0.5, 0.5, 0.9) == 0.0
    assert gap_covered(0.9, 0.5, 0.9) == 1.0
    assert np.isnan(gap_covered(0.5, 0.6, 0.6))


def test_mean_std_uses_sample_std():
    m, s = mean_std([1.0, 2.0, 3.0])
    assert (m, s) == (2.0, 1.0)
    assert mean_std([5.0]) == (5.0, 0.0)


def test_accuracy_counts_correct_predictions_and_refuses_unlabeled():
    class Fixed(nn.Module):
        def forward(self, x):  # predicts class = round(mean pixel * 10) clipped
            k = (x.mean((1, 2, 3)) * 10).long().clamp(0, 9)
            return nn.functional.one_hot(k, 10).float()

    imgs = torch.stack([torch.full((3, 4, 4), v) for v in (0.05, 0.15, 0.55, 0.95)])
    dom = Domain("d", "test", imgs, torch.tensor([0, 1, 3, 9]), tuple("0123456789"))
    assert accuracy(Fixed(), dom) == 0.75
    with pytest.raises(ValueError, match="unlabeled"):
        accuracy(Fixed(), dom.unlabeled())
