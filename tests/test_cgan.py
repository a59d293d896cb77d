"""Tests of genlib.models.cgan: conditional generator and projection discriminator on the digits, and their losses."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from genlib.models.cgan import (
    ConditionalDiscriminator, ConditionalGenerator, conditional_discriminator_loss, conditional_generator_loss,
    train_cgan,
)


def test_generator_shapes_and_the_label_changes_the_image():
    torch.manual_seed(0)
    g = ConditionalGenerator(latent_dim=4, channels=16).eval()
    z = torch.randn(1, 4).expand(10, -1)
    images = g(z, torch.arange(10))
    assert images.shape == (10, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    assert (images[0] - images[1]).abs().max() > 1e-3, "the same z under two classes must give two images"
    assert g.sample(torch.tensor([3, 3, 7])).shape == (3, 1, 8, 8)


def test_projection_discriminator_matches_its_formula():
    torch.manual_seed(0)
    d = ConditionalDiscriminator(channels=16, spectral_norm=False)
    x, y = torch.rand(5, 1, 8, 8), torch.tensor([0, 1, 2, 3, 9])
    h = d.features(x)  # (5, 64)
    expected = h @ d.base.net[-1].weight.T + d.base.net[-1].bias + (d.embed.weight[y] * h).sum(1, keepdim=True)
    torch.testing.assert_close(d(x, y), expected.squeeze(1))
    assert d(x, y).shape == (5,)


def test_label_errors_say_what_to_pass():
    g, d = ConditionalGenerator(latent_dim=4, channels=16), ConditionalDiscriminator(channels=16)
    with pytest.raises(TypeError, match=r"labels must be a 1-D integer tensor of classes \(B,\).*labels.long\(\)"):
        g(torch.randn(2, 4), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels must lie in 0 .. 9, got values from 0 to 10"):
        d(torch.rand(2, 1, 8, 8), torch.tensor([0, 10]))
    with pytest.raises(ValueError, match=r"labels must have one class per sample: 2 samples but 3 labels"):
        d(torch.rand(2, 1, 8, 8), torch.tensor([0, 1, 2]))


def _bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def test_losses_match_binary_cross_entropy_on_the_labelled_pairs():
    torch.manual_seed(1)
    d = ConditionalDiscriminator(channels=16, spectral_norm=False)
    real, fake, y = torch.rand(6, 1, 8, 8), torch.rand(6, 1, 8, 8), torch.randint(10, (6,))
    expected_d = _bce(d(real, y), 1.0) + _bce(d(fake, y), 0.0)
    torch.testing.assert_close(conditional_discriminator_loss(d, real, fake, y), expected_d)
    torch.testing.assert_close(conditional_generator_loss(d, fake, y), _bce(d(fake, y), 1.0))
    # the class matters: the same images judged under other labels give another loss
    assert conditional_generator_loss(d, fake, (y + 1) % 10) != conditional_generator_loss(d, fake, y)


def test_discriminator_loss_does_not_train_the_generator():
    g, d = ConditionalGenerator(latent_dim=4, channels=16), ConditionalDiscriminator(channels=16)
    y = torch.arange(4)
    conditional_discriminator_loss(d, torch.rand(4, 1, 8, 8), g(torch.randn(4, 4), y), y).backward()
    assert all(p.grad is None for p in g.parameters())
    assert any(p.grad is not None for p in d.parameters())


def test_a_short_run_trains_every_parameter():
    torch.manual_seed(0)
    g, d = ConditionalGenerator(latent_dim=4, channels=16), ConditionalDiscriminator(channels=16)
    before = {name: p.detach().clone() for name, p in [*g.named_parameters(), *d.named_parameters()]}
    history = train_cgan(g, d, torch.rand(32, 1, 8, 8), torch.randint(10, (32,)), steps=3, batch_size=8)
    assert len(history["d_loss"]) == len(history["g_loss"]) == 3
    unchanged = [name for name, p in [*g.named_parameters(), *d.named_parameters()] if torch.equal(p, before[name])]
    assert not unchanged, f"parameters that did not learn: {unchanged}"
