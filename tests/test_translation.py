"""Tests of genlib.models.translation: pix2pix's and CycleGAN's nets, image pool and losses."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from genlib.models.translation import (
    ImagePool, PatchGANDiscriminator, UNetGenerator, cycle_consistency_loss, identity_loss, lsgan_discriminator_loss,
    lsgan_generator_loss, pix2pix_generator_loss,
)


def identity(x):
    return x


def test_unet_generator_shapes_range_and_errors():
    g = UNetGenerator(channels=4, depth=3)
    out = g(torch.rand(2, 1, 32, 32))
    assert out.shape == (2, 1, 32, 32) and 0 <= out.min() and out.max() <= 1
    assert UNetGenerator(in_channels=2, out_channels=3, channels=4, depth=2)(torch.rand(1, 2, 8, 8)).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, H, W\) with H, W divisible by 2\*\*depth = 8, "
                                         r"got \(2, 1, 12, 12\)"):
        g(torch.rand(2, 1, 12, 12))
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor of images"):
        g([[0.0]])


def test_patchgan_gives_one_logit_per_patch():
    d = PatchGANDiscriminator(in_channels=2, channels=4, n_layers=2)
    assert d(torch.rand(3, 2, 32, 32)).shape == (3, 1, 6, 6)  # 32 / 4 - 2
    assert PatchGANDiscriminator(channels=4, n_layers=3)(torch.rand(1, 1, 64, 64)).shape == (1, 1, 6, 6)
    with pytest.raises(ValueError, match=r"x must have 2 channel\(s\).*torch.cat\(\[x, y\], 1\)"):
        d(torch.rand(3, 1, 32, 32))


@pytest.mark.parametrize("make", [lambda: UNetGenerator(channels=4, depth=3),
                                  lambda: PatchGANDiscriminator(channels=4)])
def test_every_parameter_learns(make):
    torch.manual_seed(0)
    net = make()
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    net(torch.rand(4, 1, 32, 32)).square().mean().backward()
    optimizer.step()
    unchanged = [name for name, p in net.named_parameters() if torch.equal(p, before[name])]
    assert not unchanged, f"parameters that did not learn: {unchanged}"


def test_cycle_and_identity_losses_are_zero_for_identity_maps():
    a, b = torch.rand(3, 1, 8, 8), torch.rand(2, 1, 8, 8)
    assert cycle_consistency_loss(identity, identity, a, b) == 0
    assert identity_loss(identity, identity, a, b) == 0


def test_cycle_and_identity_losses_match_their_definitions():
    a, b = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    g_ab, g_ba = (lambda x: 1 - x), (lambda x: 0.5 * x)
    expected_cycle = (0.5 * (1 - a) - a).abs().mean() + (1 - 0.5 * b - b).abs().mean()
    torch.testing.assert_close(cycle_consistency_loss(g_ab, g_ba, a, b), expected_cycle)
    expected_identity = (1 - b - b).abs().mean() + (0.5 * a - a).abs().mean()
    torch.testing.assert_close(identity_loss(g_ab, g_ba, a, b), expected_identity)
    # an invertible pair has no cycle loss even though it changes the images
    assert cycle_consistency_loss(lambda x: 1 - x, lambda x: 1 - x, a, b) == 0
    with pytest.raises(ValueError, match=r"real_a must have 4 dimensions"):
        cycle_consistency_loss(identity, identity, a[0], b)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.integers(0, 10_000), st.floats(-2, 2))
def test_cycle_loss_is_nonnegative_and_zero_only_for_a_consistent_pair(n, seed, shift):
    a = torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed))
    b = torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed + 1))
    consistent = cycle_consistency_loss(lambda x: x + shift, lambda x: x - shift, a, b)
    assert float(consistent) == pytest.approx(0.0, abs=1e-6)
    broken = cycle_consistency_loss(lambda x: x + shift, identity, a, b)
    assert float(broken) == pytest.approx(2 * abs(shift), rel=1e-4, abs=1e-6)


def test_pix2pix_generator_loss_matches_binary_cross_entropy_plus_l1():
    torch.manual_seed(0)
    logits, fake, target = torch.randn(2, 1, 6, 6), torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    expected = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)) + 100 * F.l1_loss(fake, target)
    torch.testing.assert_close(pix2pix_generator_loss(logits, fake, target), expected)
    torch.testing.assert_close(pix2pix_generator_loss(logits, fake, target, l1_weight=0.0),
                               F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)))
    with pytest.raises(ValueError, match=r"fake and target must have the same shape"):
        pix2pix_generator_loss(logits, fake, target[:1])


def test_least_squares_losses():
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert lsgan_discriminator_loss(ones, zeros) == 0  # D perfect
    assert lsgan_discriminator_loss(zeros, ones) == 1
    assert lsgan_generator_loss(ones) == 0 and lsgan_generator_loss(zeros) == 1
    half = torch.full((4,), 0.5)
    assert lsgan_discriminator_loss(half, half) == pytest.approx(0.25)  # 0.5 * 0.25 + 0.5 * 0.25


def test_image_pool_passes_through_then_mixes_in_old_fakes():
    assert torch.equal(ImagePool(0).query(torch.ones(3, 1, 2, 2)), torch.ones(3, 1, 2, 2))
    pool = ImagePool(4, seed=0)
    first = torch.arange(4.0).reshape(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling up: returned as is
    returned = torch.cat([pool.query(torch.full((1, 1, 1, 1), 10.0 + i)) for i in range(200)]).flatten()
    old = returned != 10.0 + torch.arange(200.0)  # a stored image came back instead of the new one
    assert 0.3 < old.float().mean() < 0.7, "once full, about half the queries return a stored image"
    seen = set(range(4)) | {10.0 + i for i in range(200)}
    assert set(returned.tolist()) <= seen
    x = torch.rand(2, 1, 2, 2, requires_grad=True)
    assert not ImagePool(2).query(x).requires_grad
    with pytest.raises(ValueError, match=r"size must be an integer >= 0 \(0 turns the pool off\), got -1"):
        ImagePool(-1)
