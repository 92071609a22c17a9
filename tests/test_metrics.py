"""Proxy A-distance, the linear probe, gap covered, accuracy."""

import numpy as np
import pytest
import torch
from torch import nn

from uda_nb.data import Domain
from uda_nb.metrics import (accuracy, domain_classifier_accuracy, gap_covered, knn_domain_mixing, linear_probe_accuracy,
                            mean_std, neighbour_class_agreement, proxy_a_distance)


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


def test_linear_probe_reads_what_the_features_carry_and_nothing_else():
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(5), 120)  # five domains
    centres = rng.normal(size=(5, 4)) * 3.0
    separable = centres[labels] + rng.normal(size=(600, 4)) * 0.3
    assert linear_probe_accuracy(separable, labels, seed=0) > 0.97
    noise = rng.normal(size=(600, 4))  # no domain information: chance is 1/5
    assert abs(linear_probe_accuracy(noise, labels, seed=0) - 0.2) < 0.08
    # half of the features informative: in between
    mixed = np.where(rng.random(600)[:, None] < 0.5, separable, noise)
    assert 0.4 < linear_probe_accuracy(mixed, labels, seed=0) < 0.8
    assert linear_probe_accuracy(torch.tensor(separable), torch.tensor(labels), seed=3) == \
        linear_probe_accuracy(separable, labels, seed=3)
    with pytest.raises(ValueError, match="two labels"):
        linear_probe_accuracy(noise, np.zeros(600))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        linear_probe_accuracy(noise[:, 0], labels)


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


def test_knn_mixing_is_one_for_one_distribution_and_zero_for_separate_clouds():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    assert knn_domain_mixing(a, b, k=10) == pytest.approx(1.0, abs=0.08)
    assert knn_domain_mixing(a, b + 10.0, k=10) == 0.0


def test_knn_mixing_by_hand_on_a_line():
    # source at 0, 1, 2, 3 and target at 10, 11, 12, 13.5 on a line, k = 4: each cloud has 4 points, so every
    # point's 4 neighbours are its 3 cloud-mates and one point of the other cloud: 1/4 other-domain neighbours.
    # Under perfect mixing a point has n / (2n - 1) = 4/7 of them, so the score is (1/4) / (4/7) = 7/16.
    xs = np.array([[0.0], [1.0], [2.0], [3.0]])
    xt = np.array([[10.0], [11.0], [12.0], [13.5]])
    assert knn_domain_mixing(xs, xt, k=4) == pytest.approx((1 / 4) / (4 / 7))
    with pytest.raises(ValueError, match="k=4 other points"):
        knn_domain_mixing(xs[:2], xt[:2], k=4)


def test_domain_classifier_accuracy_is_balanced_over_domains():
    # a "discriminator" that reads the first feature: positive -> source
    disc = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        disc.weight.copy_(torch.tensor([[1.0, 0.0]]))
    head = nn.Sequential(disc, nn.Flatten(0))
    fs = torch.tensor([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0], [3.0, 0.0]])  # 3 of 4 called source
    ft = torch.tensor([[-1.0, 5.0], [1.0, 5.0]])  # 1 of 2 called target
    assert domain_classifier_accuracy(head, fs, ft) == pytest.approx((3 / 4 + 1 / 2) / 2)


def test_neighbour_class_agreement_counts_target_points_next_to_their_own_source_class():
    xs = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    ys = np.array([0, 1, 2])
    xt = np.array([[0.5, 0.0], [9.0, 1.0], [0.0, 9.0], [1.0, 1.0]])
    # nearest sources: 0, 1, 2, 0 -> the last target point (class 2) sits next to class 0
    assert neighbour_class_agreement(xs, ys, xt, np.array([0, 1, 2, 2])) == pytest.approx(0.75)
    # swapping two classes of the target (globally aligned, locally wrong) drops it
    assert neighbour_class_agreement(xs, ys, xt, np.array([1, 0, 2, 2])) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="one label per row"):
        neighbour_class_agreement(xs, ys[:2], xt, np.array([0, 1, 2, 2]))
