"""Training-batch augmentation (uda_nb.augment) and its plumbing through fit() and RunSpec."""

from __future__ import annotations

import pytest
import torch

from uda_nb import methods
from uda_nb.augment import AUGMENTATIONS, color_jitter, gaussian_blur, get_augmentation
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


def test_fit_augments_source_and_target_batches_but_not_the_targets():
    task = toy_keypoint_task()
    seen = []

    class Spy(methods.RegDA):
        def update(self, batch, progress, optimizer):
            seen.append(batch)
            return super().update(batch, progress, optimizer)

    def run_once(augment):
        seen.clear()
        base = methods.for_task("regda", task, seed=0)
        spy = Spy(base.features, base.classifier, base.adversary, sigma=base.sigma)
        train.fit(spy, task, 2, 8, lr=1e-3, augment=augment, eval_samples=8, channels_last=False, progress=False)
        return list(seen)

    plain, augmented = run_once(None), run_once("appearance")
    for p, a in zip(plain, augmented):
        assert torch.equal(p.y_s, a.y_s) and torch.equal(p.visible_s, a.visible_s)  # same indices, same targets
        assert not torch.allclose(p.x_s, a.x_s) and not torch.allclose(p.x_t, a.x_t)
        assert a.x_s.min() >= 0 and a.x_s.max() <= 1
