"""BatchNorm statistics re-estimated on target images (uda_nb.batchnorm): the running mean against a hand
computation, nothing else changed, dropout kept off, clear errors."""

import pytest
import torch
from torch import nn

from uda_nb.batchnorm import batchnorm_layers, with_batchnorm_statistics


def _net():
    """Conv - dropout - BN - ReLU - conv - BN, with trained-looking (not the default) running statistics."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Dropout(0.5), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Conv2d(4, 2, 1), nn.BatchNorm2d(2))
    for bn in (net[2], net[5]):
        bn.running_mean.uniform_(-3, 3)
        bn.running_var.uniform_(2, 5)
        bn.num_batches_tracked.fill_(7)
    return net


class _TwoHeads(nn.Module):
    """A trunk and a head on the forward path, and a second head with its own BatchNorm that forward never uses
    (as RegDA's f')."""

    def __init__(self):
        super().__init__()
        self.trunk, self.unused = _net(), nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2))
        self.unused[1].running_mean.fill_(4.0)

    def forward(self, x):
        return self.trunk(x)


def _drawn(images, batches, batch_size, seed):
    g = torch.Generator().manual_seed(seed)
    return [images[torch.randint(len(images), (batch_size,), generator=g)] for _ in range(batches)]


def test_running_mean_is_the_mean_over_the_drawn_images_and_variance_the_mean_of_batch_variances():
    net = _net()
    images = torch.rand(40, 3, 8, 8) * 2 + 1  # far from the fresh statistics (mean 0, variance 1)
    out = with_batchnorm_statistics(net, images, batches=5, batch_size=8, seed=3)
    conv = net[0]
    with torch.no_grad():
        per_batch = [conv(x) for x in _drawn(images, 5, 8, 3)]  # the first BatchNorm's inputs, no dropout
    expected_mean = torch.stack([z.mean(dim=(0, 2, 3)) for z in per_batch]).mean(0)
    expected_var = torch.stack([z.transpose(0, 1).reshape(4, -1).var(1, unbiased=True) for z in per_batch]).mean(0)
    bn = out[2]
    assert torch.allclose(bn.running_mean, expected_mean, atol=1e-5)
    assert torch.allclose(bn.running_var, expected_var, rtol=1e-4)
    assert int(bn.num_batches_tracked) == 5 and bn.momentum == 0.1  # reset first, then 5 batches; momentum back
    assert not any(m.training for m in out.modules())


def test_the_model_passed_in_keeps_its_mode_and_unreached_layers_keep_their_statistics():
    net = _TwoHeads().train()
    out = with_batchnorm_statistics(net, torch.rand(16, 3, 8, 8), batches=2, batch_size=4)
    assert all(m.training for m in net.modules())
    assert torch.equal(out.unused[1].running_mean, torch.full((2,), 4.0))
    assert int(out.unused[1].num_batches_tracked) == 0 and int(out.trunk[2].num_batches_tracked) == 2


def test_only_the_copy_changes_and_only_its_running_statistics():
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = with_batchnorm_statistics(net, torch.rand(16, 3, 8, 8) + 0.5, batches=3, batch_size=4)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), f"the model passed in changed: {k}"
    changed = {k for k, v in out.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {f"{i}.{b}" for i in (2, 5) for b in ("running_mean", "running_var", "num_batches_tracked")}
    assert len(batchnorm_layers(out)) == 2


def test_a_different_domain_moves_the_statistics_towards_it():
    net = _net()
    dark, bright = torch.rand(64, 3, 8, 8) * 0.2, 0.8 + torch.rand(64, 3, 8, 8) * 0.2
    with torch.no_grad():
        mean_dark = net[0](dark).mean(dim=(0, 2, 3))
        mean_bright = net[0](bright).mean(dim=(0, 2, 3))
    m_dark = with_batchnorm_statistics(net, dark, batches=20, batch_size=16)[2].running_mean
    m_bright = with_batchnorm_statistics(net, bright, batches=20, batch_size=16)[2].running_mean
    assert torch.allclose(m_dark, mean_dark, atol=0.05) and torch.allclose(m_bright, mean_bright, atol=0.05)
    assert not torch.allclose(m_dark, m_bright, atol=0.1)


def test_bad_input_gives_a_clear_error():
    with pytest.raises(ValueError, match="no BatchNorm layer"):
        with_batchnorm_statistics(nn.Sequential(nn.Conv2d(3, 2, 1), nn.GroupNorm(1, 2)), torch.rand(4, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        with_batchnorm_statistics(_net(), torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="at least 2 images"):
        with_batchnorm_statistics(_net(), torch.rand(4, 3, 8, 8), batch_size=1)
    with pytest.raises(ValueError, match="floating point"):
        with_batchnorm_statistics(_net(), torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
