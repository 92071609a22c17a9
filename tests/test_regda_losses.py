"""RegDA's heatmap targets, losses and keypoint metrics, checked against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from uda_nb.losses import (GroundFalseLoss, HeatmapKLLoss, HeatmapMSELoss, area_ground_false_distribution, area_mask,
                           gaussian_heatmaps, ground_false_distribution, heatmap_argmax, heatmap_sigma,
                           kl_to_prediction, normalise_spatial)
from uda_nb.metrics import nearest_other_keypoint, normalised_mae, outside_area_fraction, pck, pck_threshold


def test_sigma_scales_with_heatmap_size():
    assert heatmap_sigma(64) == 2.0
    assert heatmap_sigma(32) == 1.0
    assert heatmap_sigma(16) == 0.5


def test_gaussian_peaks_at_the_float_position():
    # stride 4: pixel (10, 6) is cell-index (2.0, 1.0), a cell centre, so the value there is exactly 1
    g = gaussian_heatmaps(torch.tensor([[10.0, 6.0]]), (16, 16), stride=4, sigma=1.0)[0]
    assert g.shape == (16, 16)
    assert g[1, 2] == pytest.approx(1.0)
    assert g[1, 3] == pytest.approx(math.exp(-0.5))  # one cell to the right: exp(-1 / (2 sigma^2))
    assert g[2, 3] == pytest.approx(math.exp(-1.0))


@pytest.mark.parametrize("stride,size", [(4, 16), (2, 32), (1, 64)])
def test_argmax_recovers_float_coordinates_within_the_stride(stride, size):
    g = torch.Generator().manual_seed(0)
    kp = torch.rand(50, 3, 2, generator=g) * (64 - 2 * stride) + stride
    maps = gaussian_heatmaps(kp, (size, size), stride, heatmap_sigma(size))
    for refine in (False, True):
        pred = heatmap_argmax(maps, stride, refine=refine)
        err = (pred - kp).abs().max()
        assert err <= stride / 2 + 1e-4  # within half a cell on each axis
    # the quarter-cell refinement makes the average error smaller than the plain cell centre
    plain = (heatmap_argmax(maps, stride, refine=False) - kp).norm(dim=-1).mean()
    refined = (heatmap_argmax(maps, stride, refine=True) - kp).norm(dim=-1).mean()
    assert refined < plain


def test_argmax_carries_no_gradient():
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    assert not heatmap_argmax(logits, 4).requires_grad


def test_kl_is_zero_for_identical_distributions_and_positive_otherwise():
    target = normalise_spatial(gaussian_heatmaps(torch.tensor([[[20.0, 24.0]]]), (16, 16), 4, 0.5))
    logits = torch.log(target.clamp_min(1e-30))  # softmax(log p) = p
    assert kl_to_prediction(target, logits).item() == pytest.approx(0.0, abs=1e-5)
    assert kl_to_prediction(target, torch.zeros_like(logits)).item() > 0.1
    loss = HeatmapKLLoss(stride=4, sigma=0.5)
    kp = torch.tensor([[[20.0, 24.0]]])
    assert loss(logits, kp).item() == pytest.approx(0.0, abs=1e-5)
    assert loss(logits, kp + 8).item() > 1.0


def test_kl_hand_computation_and_visibility_mask():
    # two cells: P = (0.25, 0.75), logits (0, 0) -> q = (0.5, 0.5); KL = 0.25 ln(0.5) + 0.75 ln(1.5)
    target = torch.tensor([0.25, 0.75]).view(1, 1, 1, 2)
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert kl_to_prediction(target, torch.zeros(1, 1, 1, 2)).item() == pytest.approx(expected, rel=1e-5)
    # a second, invisible keypoint with a huge error does not count
    target2 = torch.cat([target, torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)], 1)
    logits2 = torch.cat([torch.zeros(1, 1, 1, 2), torch.tensor([-20.0, 20.0]).view(1, 1, 1, 2)], 1)
    vis = torch.tensor([[True, False]])
    assert kl_to_prediction(target2, logits2, vis).item() == pytest.approx(expected, rel=1e-5)
    assert kl_to_prediction(target2, logits2).item() > 10 * expected


def test_mse_loss_is_zero_on_the_target_heatmap_and_ignores_invisible():
    kp = torch.tensor([[[20.0, 24.0], [40.0, 12.0]]])
    loss = HeatmapMSELoss(stride=4, sigma=0.5)
    target = gaussian_heatmaps(kp, (16, 16), 4, 0.5)
    assert loss(target, kp).item() == pytest.approx(0.0, abs=1e-8)
    wrong = target.clone()
    wrong[0, 1] = 0
    assert loss(wrong, kp, torch.tensor([[True, False]])).item() == pytest.approx(0.0, abs=1e-8)
    assert loss(wrong, kp, torch.tensor([[True, True]])).item() == pytest.approx(
        float(target[0, 1].pow(2).mean()) / 2, rel=1e-5)


def test_ground_false_matches_a_hand_computation_for_three_keypoints():
    pred = torch.tensor([[[6.0, 6.0], [26.0, 6.0], [6.0, 26.0]]])  # cell indices (1,1), (6,1), (1,6) at stride 4
    size, stride, sigma = (8, 8), 4, 1.0
    pf = ground_false_distribution(pred, size, stride, sigma)
    g = gaussian_heatmaps(pred, size, stride, sigma)[0]
    for k in range(3):
        others = sum(g[j] for j in range(3) if j != k)
        assert torch.allclose(pf[0, k], others / others.sum(), atol=1e-6)
    assert torch.allclose(pf.sum(dim=(-2, -1)), torch.ones(1, 3))
    # keypoint 0's map does not contain its own prediction's blob: its mass near (1, 1) is small
    assert pf[0, 0, 1, 1] < 1e-3 and pf[0, 0, 1, 6] > 0.05  # the peak of another blob


def test_ground_false_is_unchanged_when_only_the_keypoints_own_prediction_moves():
    pred = torch.tensor([[[6.0, 6.0], [26.0, 6.0], [6.0, 26.0]]])
    moved = pred.clone()
    moved[0, 0] = torch.tensor([18.0, 22.0])
    a = ground_false_distribution(pred, (8, 8), 4, 1.0)
    b = ground_false_distribution(moved, (8, 8), 4, 1.0)
    assert torch.allclose(a[0, 0], b[0, 0], atol=1e-6)
    assert not torch.allclose(a[0, 1], b[0, 1], atol=1e-3)  # the others' maps do see it


def test_ground_false_needs_two_keypoints():
    with pytest.raises(ValueError, match="at least 2 keypoints"):
        ground_false_distribution(torch.zeros(1, 1, 2), (8, 8), 4, 1.0)


def test_middle_area_ground_false_is_zero_outside_A_and_sums_to_one():
    size, stride, sigma, area = (32, 32), 2, 1.0, (16, 48, 16, 48)
    mask = area_mask(size, stride, area)
    assert int(mask.sum()) == 16 * 16 and mask[8, 8] and not mask[7, 8] and mask[23, 23] and not mask[24, 23]
    pred = torch.tensor([[[31.0, 31.0]]])  # cell (15, 15), inside A
    pf = area_ground_false_distribution(pred, size, stride, sigma, area)
    assert pf.shape == (1, 1, 32, 32)
    assert float(pf[0, 0][~mask].abs().max()) == 0.0
    assert float(pf.sum()) == pytest.approx(1.0, abs=1e-5)
    # the predicted cell is the least likely inside A's interior: its own Gaussian was removed
    assert pf[0, 0, 15, 15] < pf[0, 0, 15, 11]
    # a prediction outside A removes nothing: the map is the plain normalised sum over A
    outside = area_ground_false_distribution(torch.tensor([[[2.0, 2.0]]]), size, stride, sigma, area)
    cells = mask.nonzero().flip(-1).float()
    all_a = gaussian_heatmaps((cells + 0.5) * stride, size, stride, sigma).sum(0) * mask
    assert torch.allclose(outside[0, 0], all_a / all_a.sum(), atol=1e-6)


def test_ground_false_loss_pulls_the_adversary_away_from_f():
    pred = torch.tensor([[[6.0, 6.0], [26.0, 6.0], [6.0, 26.0]]])
    loss = GroundFalseLoss(stride=4, sigma=1.0)
    on_f = torch.log(normalise_spatial(gaussian_heatmaps(pred, (8, 8), 4, 1.0)))  # f' agrees with f
    target = loss.distribution(pred, (8, 8))
    on_false = torch.log(target)  # f' on the ground-false map
    assert loss(on_false, pred).item() == pytest.approx(0.0, abs=1e-5)
    assert loss(on_f, pred).item() > 1.0


# ------------------------------------------------------------------------------------------- metrics


def test_pck_all_right_all_wrong_invisible_and_by_hand():
    truth = torch.tensor([[[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]],
                          [[12.0, 10.0], [22.0, 20.0], [32.0, 30.0]]])
    vis = torch.ones(2, 3, dtype=torch.bool)
    assert pck(truth, truth, vis, 3.2)["pck"] == 1.0
    assert pck(truth + 10, truth, vis, 3.2)["pck"] == 0.0
    # by hand: keypoint 0 right in both images (1.0), keypoint 1 right in one (0.5), keypoint 2 wrong (0.0)
    pred = truth.clone()
    pred[1, 1] += torch.tensor([3.2, 0.0])  # exactly at the threshold: not correct (strictly closer)
    pred[:, 2] += 5.0
    assert pck(pred, truth, vis, 3.2)["pck"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    # an invisible wrong keypoint is ignored; a keypoint never visible leaves the mean
    vis2 = vis.clone()
    vis2[1, 1] = False
    vis2[:, 2] = False
    out = pck(pred, truth, vis2, 3.2, groups={"first": (0,), "pair": (0, 1)})
    assert out["pck"] == 1.0 and out["pck_first"] == 1.0 and out["pck_pair"] == 1.0
    assert pck_threshold(64) == pytest.approx(3.2)


def test_mae_normalisation():
    truth = torch.tensor([[[16.5, 47.5]]])
    pred = torch.tensor([[[47.5, 47.5]]])  # x off by the whole range, y exact
    assert normalised_mae(pred, truth, (16.5, 47.5)) == pytest.approx(0.5)
    assert normalised_mae(truth, truth, (16.5, 47.5)) == 0.0
    assert normalised_mae(pred, truth, (0.0, 62.0)) == pytest.approx(31 / 62 / 2)


def test_outside_area_fraction_counts_the_half_open_box_by_hand():
    area = (16.0, 48.0, 16.0, 48.0)
    # two images, two keypoints: inside, on the open right edge (outside), on the closed lower edges (inside),
    # and outside in y only
    pred = torch.tensor([[[30.0, 30.0], [48.0, 20.0]],
                         [[16.0, 16.0], [20.0, 15.9]]])
    assert outside_area_fraction(pred, area) == pytest.approx(2 / 4)
    assert outside_area_fraction(pred[:1, :1], area) == 0.0
    assert outside_area_fraction(pred + 100.0, area) == 1.0
    with pytest.raises(ValueError, match="x1 > x0"):
        outside_area_fraction(pred, (48.0, 16.0, 16.0, 48.0))
    with pytest.raises(ValueError, match=r"\(N, K, 2\)"):
        outside_area_fraction(pred[..., 0], area)


def test_nearest_other_keypoint_distance():
    truth = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [0.0, 20.0]]])
    pred = torch.tensor([[[9.0, 0.0], [10.0, 0.0], [0.0, 0.0]]])  # kp 0 landed on kp 1; kp 2 on kp 0
    vis = torch.tensor([[True, True, True]])
    d = nearest_other_keypoint(pred, truth, vis)
    assert d[0, 0] == pytest.approx(1.0) and d[0, 2] == pytest.approx(0.0) and d[0, 1] == pytest.approx(10.0)
    vis[0, 1] = False  # an invisible keypoint is neither measured nor a landing place
    d = nearest_other_keypoint(pred, truth, vis)
    assert d[0, 0] == pytest.approx(math.hypot(9, 20))
    assert math.isinf(d[0, 1])
