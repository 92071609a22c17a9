"""Training-batch augmentation (uda_nb.augment) and its plumbing through fit() and RunSpec."""

from __future__ import annotations

import pytest
import torch

from uda_nb import methods
from uda_nb.augment import AUGMENTATIONS, color_jitter, gaussian_blur, get_augmentation, random_affine
from uda_nb.experiments import RunSpec, run_key
from uda_nb import train
from conftest import toy_keypoint_task


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_brightness_alone_scales_each_image_by_its_own_factor_in_range():
    x = torch.full((64, 3, 4, 4), 0.5)
    y = color_jitter(x, _gen(), brightness=0.25, contrast=0.0, saturation=0.0)
    factor = y[:, 0, 0, 0] / 0.5
    assert torch.allclose(y, factor.view(-1, 1, 1, 1) * x)  # one factor per image, every pixel and channel
    assert factor.min() >= 0.75 - 1e-6 and factor.max() <= 1.25 + 1e-6
    assert factor.std() > 0.05  # drawn per image, not once per batch


def test_contrast_keeps_the_mean_grey_and_saturation_keeps_the_grey_image():
    g = _gen(1)
    x = torch.rand(8, 3, 6, 6, generator=g) * 0.5 + 0.25  # no clipping at these factors
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    y = color_jitter(x, _gen(), brightness=0.0, contrast=0.25, saturation=0.0)
    assert torch.allclose((y * luma).sum(1).mean((1, 2)), (x * luma).sum(1).mean((1, 2)), atol=1e-5)
    z = color_jitter(x, _gen(), brightness=0.0, contrast=0.0, saturation=0.25)
    assert torch.allclose((z * luma).sum(1), (x * luma).sum(1), atol=1e-5)
    assert not torch.allclose(z, x)
    grey = torch.rand(4, 1, 6, 6, generator=g).expand(4, 3, 6, 6)  # a grey image has no saturation to change
    assert torch.allclose(color_jitter(grey, _gen(), 0.0, 0.0, 0.25), grey, atol=1e-6)


def test_jitter_output_stays_in_the_unit_range():
    y = color_jitter(torch.rand(16, 3, 8, 8, generator=_gen(2)), _gen(), 0.9, 0.9, 0.9)
    assert y.min() >= 0 and y.max() <= 1


def test_blur_by_hand_keeps_constants_and_mass_and_spreads_a_dot():
    flat = torch.full((3, 3, 9, 9), 0.3)
    assert torch.allclose(gaussian_blur(flat, _gen(), 0.8), flat, atol=1e-6)
    dot = torch.zeros(1, 1, 9, 9)
    dot[0, 0, 4, 4] = 1.0
    g = _gen(5)
    out = gaussian_blur(dot, g, max_sigma=0.8)
    sigma = float((torch.rand(1, generator=_gen(5)) * 0.8).clamp_min(1e-3))  # the same draw
    taps = torch.exp(-torch.arange(-2.0, 3.0) ** 2 / (2 * sigma ** 2))
    taps = taps / taps.sum()
    expected = torch.zeros(9, 9)
    expected[2:7, 2:7] = taps[:, None] * taps[None, :]  # the separable kernel, written out
    assert torch.allclose(out[0, 0], expected, atol=1e-6)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)  # away from the border a blur moves no mass


def test_augmentation_is_deterministic_in_its_generator_and_keeps_the_memory_format():
    aug = get_augmentation("appearance")
    x = torch.rand(4, 3, 16, 16, generator=_gen(3)).contiguous(memory_format=torch.channels_last)
    a, b = aug(x, _gen(7)), aug(x, _gen(7))
    assert torch.equal(a, b) and not torch.allclose(a, aug(x, _gen(8)))
    assert a.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="expects a batch"):
        aug(x[0], _gen())


def test_unknown_names_fail_clearly():
    with pytest.raises(ValueError, match="Unknown augmentation 'flip'"):
        get_augmentation("flip")
    with pytest.raises(ValueError, match="Unknown augmentation"):
        RunSpec("source_only", "dsprites-color", "dsprites-color", augment="flip")
    assert get_augmentation(None) is None and "appearance" in AUGMENTATIONS


def test_augment_enters_the_cache_key_only_when_set():
    cpu = torch.device("cpu")
    plain = RunSpec("source_only", "hands-render", "hands-render")
    assert run_key(plain, 0, cpu) == run_key(RunSpec("source_only", "hands-render", "hands-render", augment=None), 0, cpu)
    assert run_key(plain, 0, cpu) != run_key(RunSpec("source_only", "hands-render", "hands-render",
                                                     augment="appearance"), 0, cpu)


def _batches_seen_by_fit(task, augment) -> list:
    """The batches a RegDA method receives in two ``fit()`` steps on ``task`` with ``augment``."""
    seen = []

    class Spy(methods.RegDA):
        def update(self, batch, progress, optimizer):
            seen.append(batch)
            return super().update(batch, progress, optimizer)

    base = methods.for_task("regda", task, seed=0)
    spy = Spy(base.features, base.classifier, base.adversary, sigma=base.sigma)
    train.fit(spy, task, 2, 8, lr=1e-3, augment=augment, eval_samples=8, channels_last=False, progress=False)
    return seen


def test_fit_augments_source_and_target_batches_but_not_the_targets():
    task = toy_keypoint_task()
    plain, augmented = _batches_seen_by_fit(task, None), _batches_seen_by_fit(task, "appearance")
    for p, a in zip(plain, augmented):
        assert torch.equal(p.y_s, a.y_s) and torch.equal(p.visible_s, a.visible_s)  # same indices, same targets
        assert not torch.allclose(p.x_s, a.x_s) and not torch.allclose(p.x_t, a.x_t)
        assert a.x_s.min() >= 0 and a.x_s.max() <= 1


def _blob_images(points: torch.Tensor, size: int = 48, sigma: float = 1.2) -> torch.Tensor:
    """``(B, 1, size, size)`` images with one Gaussian blob per image at ``points`` ``(B, 2)`` (pixel coordinates
    from the top-left corner, pixel centres at ``i + 0.5``)."""
    c = torch.arange(size, dtype=torch.float32) + 0.5
    dx = (c[None, None, :] - points[:, 0, None, None]) ** 2
    dy = (c[None, :, None] - points[:, 1, None, None]) ** 2
    return torch.exp(-(dx + dy) / (2 * sigma ** 2))[:, None]


def _centroid(images: torch.Tensor) -> torch.Tensor:
    """``(B, 2)`` intensity-weighted centre of each ``(B, 1, H, W)`` image."""
    h, w = images.shape[-2:]
    c_x, c_y = torch.arange(w, dtype=torch.float32) + 0.5, torch.arange(h, dtype=torch.float32) + 0.5
    m = images[:, 0]
    total = m.sum((1, 2))
    return torch.stack([(m.sum(1) * c_x).sum(1) / total, (m.sum(2) * c_y).sum(1) / total], 1)


def test_geometric_augmentation_moves_each_keypoint_with_its_image():
    """A blob drawn at each keypoint lands, after rotation and zoom, where the transformed keypoint says."""
    g = _gen(11)
    points = 14 + 20 * torch.rand(64, 2, generator=g)  # near the centre, so that most stay inside
    images = _blob_images(points)
    aug = get_augmentation("appearance+geometry")
    out, moved, vis = random_affine(images, _gen(4), aug.rotation, aug.scale, points[:, None], None)
    assert vis.shape == (64, 1) and moved.shape == (64, 1, 2)
    inside = vis[:, 0] & (moved[:, 0] > 4).all(1) & (moved[:, 0] < 44).all(1)  # blob wholly in the frame
    assert inside.sum() > 40
    err = (_centroid(out[inside]) - moved[inside, 0]).norm(dim=1)
    assert err.max() < 0.3, err.max()
    # the rotation angles really vary: keypoints at the same place end at different places
    assert (moved[:, 0] - points).norm(dim=1).std() > 3


def test_identity_geometry_changes_nothing_and_zooming_in_hides_the_corners():
    x = torch.rand(5, 3, 16, 16, generator=_gen(2))
    kp = torch.rand(5, 4, 2, generator=_gen(3)) * 16
    vis = torch.tensor([[True, False, True, True]] * 5)
    out, moved, v = random_affine(x, _gen(), 0.0, (1.0, 1.0), kp, vis)
    assert torch.allclose(out, x, atol=1e-5) and torch.allclose(moved, kp, atol=1e-5) and torch.equal(v, vis)
    # crop side 0.6 of the image: a corner keypoint moves 1 / 0.6 times further from the centre, out of the frame
    corners = torch.tensor([[[0.5, 0.5], [15.5, 15.5], [8.0, 8.0]]]).expand(5, 3, 2)
    _, moved, v = random_affine(x, _gen(), 0.0, (0.36, 0.36), corners, None)
    assert not v[:, :2].any() and v[:, 2].all()  # the centre stays within the 0.2-image shift
    assert (moved >= 0).all() and (moved < 16).all()  # clamped into the image for the heatmap


def test_geometric_recipe_through_fit_moves_source_keypoints_and_leaves_photometric_recipes_alone():
    task = toy_keypoint_task()
    plain, geo = _batches_seen_by_fit(task, None), _batches_seen_by_fit(task, "appearance+geometry")
    for p, a in zip(plain, geo):
        assert not torch.allclose(p.y_s, a.y_s)  # keypoints moved with their images
        assert (a.visible_s <= p.visible_s).all()  # a keypoint can only lose its visibility
        assert a.x_t.shape == p.x_t.shape and not torch.allclose(p.x_t, a.x_t)
    appearance = AUGMENTATIONS["appearance"]
    assert not appearance.geometric and AUGMENTATIONS["appearance+geometry"].geometric
    x, kp = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 2) * 8
    _, same, _ = appearance.with_keypoints(x, kp, None, _gen())
    assert torch.equal(same, kp)
    with pytest.raises(ValueError, match="expects keypoints"):
        appearance.with_keypoints(x, kp[0], None, _gen())
