"""Tests of genlib.models.gan (losses, optimal D, WGAN-GP, packing, nets) and gan_training."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from genlib.data.toys import make_toy
from genlib.metrics import mode_coverage
from genlib.models.gan import (
    ConvDiscriminator,
    ConvGenerator,
    MLPDiscriminator,
    MLPGenerator,
    TwoHeadDiscriminator,
    discriminator_loss,
    generator_loss_nonsaturating,
    generator_loss_saturating,
    gradient_penalty,
    optimal_discriminator,
    pack,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from genlib.models.gan_sampling import acceptance_probability, discriminator_rejection_sampling
from genlib.models.gan_training import train_gan
from genlib.train import seed_everything


@pytest.fixture(autouse=True)
def _one_thread():
    """Small nets train faster on one thread, and much faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- losses from logits -------------------------------------------------------------

def _naive_v(real_logits, fake_logits):
    """V(D, G) written with probabilities, in float64 (fine for moderate logits)."""
    d_real, d_fake = torch.sigmoid(real_logits.double()), torch.sigmoid(fake_logits.double())
    return torch.log(d_real).mean() + torch.log(1 - d_fake).mean()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), scale=st.floats(0.1, 5.0))
def test_losses_match_the_probability_form(seed, n, scale):
    gen = torch.Generator().manual_seed(seed)
    real, fake = scale * torch.randn(n, generator=gen, dtype=torch.float64), scale * torch.randn(n + 3, generator=gen, dtype=torch.float64)
    assert discriminator_loss(real, fake).item() == pytest.approx(-_naive_v(real, fake).item(), rel=1e-6, abs=1e-9)
    assert generator_loss_saturating(fake).item() == pytest.approx(torch.log(1 - torch.sigmoid(fake)).mean().item(), rel=1e-6, abs=1e-9)
    assert generator_loss_nonsaturating(fake).item() == pytest.approx(-torch.log(torch.sigmoid(fake)).mean().item(), rel=1e-6, abs=1e-9)


def test_losses_agree_with_binary_cross_entropy():
    real, fake = torch.tensor([2.0, -1.0, 0.3]), torch.tensor([[0.5], [-3.0]])
    bce = nn.functional.binary_cross_entropy_with_logits
    expected = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
    assert discriminator_loss(real, fake).item() == pytest.approx(expected.item(), rel=1e-6)
    assert generator_loss_nonsaturating(fake).item() == pytest.approx(bce(fake, torch.ones_like(fake)).item(), rel=1e-6)


def test_the_uninformed_discriminator_loses_2_log_2():
    assert discriminator_loss(torch.zeros(5), torch.zeros(7)).item() == pytest.approx(2 * math.log(2), rel=1e-6)


def test_losses_are_finite_for_extreme_logits():
    extreme = torch.tensor([-1e4, -200.0, 200.0, 1e4])
    for value in (discriminator_loss(extreme, extreme), generator_loss_saturating(extreme), generator_loss_nonsaturating(extreme)):
        assert torch.isfinite(value)
    assert discriminator_loss(torch.tensor([-200.0]), torch.tensor([200.0])).item() == pytest.approx(400.0)
    assert generator_loss_nonsaturating(torch.tensor([-300.0])).item() == pytest.approx(300.0)


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    logit = torch.tensor([-8.0], requires_grad=True)  # D confidently rejects the fake
    (grad_sat,) = torch.autograd.grad(generator_loss_saturating(logit), logit)
    (grad_ns,) = torch.autograd.grad(generator_loss_nonsaturating(logit), logit)
    # d/dl of -softplus(l) = -sigmoid(l); of softplus(-l) = -sigmoid(-l) = -(1 - sigmoid(l))
    assert grad_sat.item() == pytest.approx(-torch.sigmoid(torch.tensor(-8.0)).item(), rel=1e-5)
    assert grad_ns.item() == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-8.0))).item(), rel=1e-5)
    assert abs(grad_sat.item()) < 1e-3 < abs(grad_ns.item())


def test_loss_input_errors():
    with pytest.raises(TypeError, match=r"real_logits must be a torch.Tensor of logits, got list"):
        discriminator_loss([0.0], torch.zeros(1))
    with pytest.raises(TypeError, match=r"fake_logits must be a floating-point tensor, got dtype torch.int64"):
        generator_loss_nonsaturating(torch.zeros(3, dtype=torch.int64))


# ---- the optimal discriminator ------------------------------------------------------

def test_optimal_discriminator_is_the_density_ratio():
    x = torch.linspace(-3, 3, 41, dtype=torch.float64)
    p_data, p_g = torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(1.0, 0.5)
    d_star = optimal_discriminator(p_data.log_prob(x), p_g.log_prob(x))
    expected = p_data.log_prob(x).exp() / (p_data.log_prob(x).exp() + p_g.log_prob(x).exp())
    torch.testing.assert_close(d_star, expected)


def test_optimal_discriminator_maximises_v_pointwise():
    # for fixed densities a, b the integrand a log D + b log(1 - D) is maximal at D = a / (a + b)
    a, b = 0.3, 0.9
    grid = torch.linspace(1e-4, 1 - 1e-4, 100_001, dtype=torch.float64)
    best = grid[torch.argmax(a * torch.log(grid) + b * torch.log(1 - grid))]
    d_star = optimal_discriminator(torch.tensor([math.log(a)]), torch.tensor([math.log(b)]))
    assert d_star.item() == pytest.approx(best.item(), abs=1e-4)


def test_optimal_discriminator_is_stable_where_both_densities_underflow():
    d_star = optimal_discriminator(torch.tensor([-1000.0, -2000.0]), torch.tensor([-1001.0, -1000.0]))
    torch.testing.assert_close(d_star, torch.tensor([torch.sigmoid(torch.tensor(1.0)).item(), 0.0]))


def test_optimal_discriminator_shape_error():
    with pytest.raises(ValueError, match=r"log_p_data and log_p_g must have the same shape, got \(3,\) and \(4,\)"):
        optimal_discriminator(torch.zeros(3), torch.zeros(4))


def test_js_divergence_at_the_optimal_discriminator():
    # V(D*, G) = 2 JS(p_data || p_g) - log 4, checked by quadrature on a 1-D example
    x = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    dx = x[1] - x[0]
    log_a, log_b = torch.distributions.Normal(0.0, 1.0).log_prob(x), torch.distributions.Normal(2.0, 1.0).log_prob(x)
    d_star = optimal_discriminator(log_a, log_b)
    value = ((log_a.exp() * torch.log(d_star) + log_b.exp() * torch.log1p(-d_star)) * dx).sum()
    log_m = torch.logaddexp(log_a, log_b) - math.log(2)
    js = 0.5 * ((log_a.exp() * (log_a - log_m)).sum() + (log_b.exp() * (log_b - log_m)).sum()) * dx
    assert value.item() == pytest.approx(2 * js.item() - math.log(4), abs=1e-6)


# ---- WGAN-GP ------------------------------------------------------------------------

def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0])  # ||grad|| = 5 everywhere -> penalty (5 - 1)^2 = 16
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    assert gradient_penalty(lambda x: x @ w, real, fake).item() == pytest.approx(16.0)
    assert gradient_penalty(lambda x: x @ (w / 5), real, fake).item() == pytest.approx(0.0, abs=1e-12)


def test_gradient_penalty_matches_a_per_sample_autograd_reference():
    torch.manual_seed(0)
    critic = MLPDiscriminator(hidden=16, depth=2)
    real, fake, eps = torch.randn(6, 2), torch.randn(6, 2), torch.rand(6)
    penalty = gradient_penalty(critic, real, fake, eps)
    norms = []
    for i in range(6):
        x_hat = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).unsqueeze(0)
        jac = torch.autograd.functional.jacobian(lambda v: critic(v).sum(), x_hat)
        norms.append(jac.norm())
    assert penalty.item() == pytest.approx(((torch.stack(norms) - 1) ** 2).mean().item(), rel=1e-5)
    penalty.backward()  # create_graph=True: the penalty trains the critic
    weights = [p for p in critic.parameters() if p.ndim == 2]  # the last bias does not change grad_x f
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)


def test_gradient_penalty_on_images_and_eps_ends():
    critic = ConvDiscriminator(channels=8, spectral_norm=False)
    real, fake = torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8)
    at_real = gradient_penalty(critic, real, fake, torch.ones(4))
    x = real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    assert at_real.item() == pytest.approx(((grad.flatten(1).norm(dim=1) - 1) ** 2).mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match=r"real and fake must have the same shape"):
        gradient_penalty(critic, real, fake[:2])


def test_wasserstein_losses():
    assert wasserstein_critic_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0, -1.0])).item() == pytest.approx(-2.5)
    assert wasserstein_generator_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


# ---- packing and nets ---------------------------------------------------------------

def test_pack_concatenates_consecutive_samples():
    x = torch.arange(12.0).reshape(6, 2)
    packed = pack(x, 2)
    assert packed.shape == (3, 4)
    torch.testing.assert_close(packed[1], torch.tensor([4.0, 5.0, 6.0, 7.0]))
    assert pack(x, 1) is x or torch.equal(pack(x, 1), x)


def test_pack_errors():
    with pytest.raises(ValueError, match=r"the batch size must be a multiple of m = 4, got 6 samples"):
        pack(torch.zeros(6, 2), 4)
    with pytest.raises(ValueError, match=r"m must be a positive integer \(the packing degree\), got 0"):
        pack(torch.zeros(6, 2), 0)
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(B, D\), got \(6,\)"):
        pack(torch.zeros(6), 2)


def test_net_shapes():
    assert MLPGenerator(latent_dim=3)(torch.randn(5, 3)).shape == (5, 2)
    assert MLPDiscriminator(pack=4)(torch.randn(8, 2)).shape == (2,)
    assert ConvGenerator(latent_dim=8)(torch.randn(5, 8)).shape == (5, 1, 8, 8)
    assert ConvDiscriminator()(torch.rand(5, 1, 8, 8)).shape == (5,)
    images = ConvGenerator().sample(7, generator=torch.Generator().manual_seed(0))
    assert images.shape == (7, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    with pytest.raises(ValueError, match=r"hidden must be a positive integer, got 0"):
        MLPDiscriminator(hidden=0)


def test_spectral_norm_bounds_each_layer():
    torch.manual_seed(0)
    D = MLPDiscriminator(spectral_norm=True)
    D.train()
    for _ in range(20):  # power iterations converge while training
        D(torch.randn(64, 2))
    D.eval()
    for layer in D.net:
        if isinstance(layer, nn.Linear):
            assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("make", [
    lambda: (MLPGenerator(), MLPDiscriminator(pack=2, spectral_norm=True), lambda n: torch.randn(n, 2)),
    lambda: (ConvGenerator(latent_dim=8, channels=16), ConvDiscriminator(channels=16), lambda n: torch.rand(n, 1, 8, 8)),
])
def test_every_parameter_learns(make):
    torch.manual_seed(0)
    G, D, sample = make()
    before = {name: p.detach().clone() for name, p in [*G.named_parameters(), *D.named_parameters()]}
    train_gan(G, D, sample, steps=2, batch_size=16, seed=0)
    for name, p in [*G.named_parameters(), *D.named_parameters()]:
        assert not torch.equal(before[name], p.detach()), f"{name} did not change"


# ---- training -----------------------------------------------------------------------

def test_train_gan_records_and_is_reproducible():
    toy = make_toy("ring8")
    runs = []
    for _ in range(2):
        torch.manual_seed(0)  # the initial weights; train_gan seeds the rest
        G, D = MLPGenerator(hidden=32, depth=2), MLPDiscriminator(hidden=32, depth=2)
        runs.append(train_gan(G, D, toy.sample, steps=30, batch_size=32, seed=3, snapshot_every=10, n_snapshot=20))
    h = runs[0]
    assert len(h["d_loss"]) == len(h["g_loss"]) == 30
    assert h["snapshot_steps"] == [0, 10, 20, 30] and h["snapshots"][0].shape == (20, 2)
    assert h["d_loss"] == runs[1]["d_loss"]
    torch.testing.assert_close(h["snapshots"][-1], runs[1]["snapshots"][-1])


def test_train_gan_from_a_tensor_with_wgan_gp_and_ema():
    G, D = MLPGenerator(hidden=16, depth=2), MLPDiscriminator(hidden=16, depth=2)
    h = train_gan(G, D, torch.randn(100, 2), steps=5, batch_size=8, loss="wgan-gp", d_steps=2, ema_decay=0.9)
    assert isinstance(h["ema_generator"], MLPGenerator) and h["snapshots"] == []
    assert not any(p.requires_grad for p in h["ema_generator"].parameters())


def test_linear_lr_decay():
    G, D = MLPGenerator(hidden=8, depth=1), MLPDiscriminator(hidden=8, depth=1)
    h = train_gan(G, D, torch.randn(50, 2), steps=4, batch_size=8, lr_g=0.4, lr_decay=True, snapshot_every=2)
    assert h["lr_g"] == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert h["snapshot_steps"] == [0, 2, 4]
    constant = train_gan(G, D, torch.randn(50, 2), steps=3, batch_size=8, lr_g=0.01)
    assert constant["lr_g"] == [0.01] * 3


def test_train_gan_errors():
    G, D = MLPGenerator(), MLPDiscriminator()
    with pytest.raises(ValueError, match=r"loss must be one of 'nonsaturating', 'saturating', 'wgan-gp'; got 'hinge'"):
        train_gan(G, D, torch.randn(10, 2), steps=1, loss="hinge")
    with pytest.raises(ValueError, match=r"steps must be a positive integer, got 0"):
        train_gan(G, D, torch.randn(10, 2), steps=0)
    with pytest.raises(TypeError, match=r"data must be a tensor of training samples"):
        train_gan(G, D, [1, 2], steps=1)
    with pytest.raises(ValueError, match=r"ema_decay must be in \(0, 1\)"):
        train_gan(G, D, torch.randn(10, 2), steps=1, ema_decay=1.5)


def test_a_short_packed_run_moves_the_generator_onto_the_data():
    torch.manual_seed(0)
    target = torch.tensor([2.0, -1.0])
    G, D = MLPGenerator(hidden=32, depth=2), MLPDiscriminator(hidden=32, depth=2, pack=2)
    before = G.sample(1000, generator=torch.Generator().manual_seed(1)).mean(dim=0)
    train_gan(G, D, lambda n: target + 0.1 * torch.randn(n, 2), steps=200, batch_size=64, lr_g=3e-3, lr_d=3e-3, seed=0)
    after = G.sample(1000, generator=torch.Generator().manual_seed(1)).mean(dim=0)
    assert (before - target).norm() > 1.5
    assert (after - target).norm() < 0.3, f"the samples' mean {after.tolist()} should approach {target.tolist()}"


# ---- two heads and rejection sampling ------------------------------------------------

def test_two_head_discriminator_returns_a_logit_per_sample_and_per_pack():
    D = TwoHeadDiscriminator(hidden=16, depth=2, pack=4)
    sample_logits, pack_logits = D(torch.randn(12, 2))
    assert sample_logits.shape == (12,) and pack_logits.shape == (3,)
    assert D.pack_head.pack == 4 and D.sample_head.pack == 1
    with pytest.raises(ValueError, match=r"pack must be at least 2"):
        TwoHeadDiscriminator(pack=1)


def test_train_gan_sums_the_weighted_losses_of_the_heads():
    """D's first loss equals the heads' losses written out by hand and weighted."""
    torch.manual_seed(0)
    G, D = MLPGenerator(hidden=8, depth=1), TwoHeadDiscriminator(hidden=8, depth=1, pack=2)
    G_before, D_before = copy.deepcopy(G), copy.deepcopy(D)
    real = torch.randn(8, 2)
    h = train_gan(G, D, lambda n: real[:n], steps=1, batch_size=8, head_weights=(0.5, 2.0), seed=1)
    seed_everything(1)  # train_gan's first global draw is the fake batch's noise
    fake = G_before(torch.randn(8, 2)).detach()
    sample_logits, pack_logits = D_before(torch.cat([real, fake]))
    expected = 0.5 * discriminator_loss(*sample_logits.chunk(2)) + 2.0 * discriminator_loss(*pack_logits.chunk(2))
    assert h["d_loss"][0] == pytest.approx(expected.item(), rel=1e-5), "D's loss is not the weighted sum of the heads' losses"


def test_train_gan_head_errors():
    G = MLPGenerator(hidden=8, depth=1)
    with pytest.raises(ValueError, match=r"head_weights has 1 weights but the discriminator has 2 heads"):
        train_gan(G, TwoHeadDiscriminator(hidden=8, depth=1, pack=2), torch.randn(10, 2), steps=1, batch_size=4,
                  head_weights=(1.0,))
    with pytest.raises(ValueError, match=r"wgan-gp.*one score per sample"):
        train_gan(G, TwoHeadDiscriminator(hidden=8, depth=1, pack=2), torch.randn(10, 2), steps=1, batch_size=4,
                  loss="wgan-gp")
    with pytest.raises(ValueError, match=r"every head weight must be a positive finite number"):
        train_gan(G, MLPDiscriminator(hidden=8, depth=1), torch.randn(10, 2), steps=1, head_weights=(-1.0,))


class _ShiftedGenerator(nn.Module):
    """A 'generator' that draws N(0, 1) in 1-D: p_g is known exactly."""

    latent_dim = 1

    def sample(self, n, *, generator=None):
        return torch.randn(n, 1, generator=generator)


def test_rejection_sampling_with_the_exact_ratio_recovers_the_data():
    """With l(x) = log p_data / p_g exact and M above the ratio's maximum, DRS is exact rejection sampling.

    p_g = N(0, 1), p_data = N(1, 0.5^2): the ratio is bounded, so capping at a high quantile
    is nearly exact and the accepted samples must have the data's mean and std.
    """
    def log_ratio(x):
        x = x[:, 0]
        return (-(x - 1) ** 2 / (2 * 0.25) - math.log(0.5)) - (-x**2 / 2)

    result = discriminator_rejection_sampling(_ShiftedGenerator(), log_ratio, 4000, cap_quantile=0.9999,
                                              batch_size=20_000, seed=0)
    x = result.samples[:, 0]
    assert result.samples.shape == (4000, 1)
    assert abs(x.mean().item() - 1.0) < 0.05, f"mean {x.mean():.3f}, expected the data's 1.0"
    assert abs(x.std().item() - 0.5) < 0.05, f"std {x.std():.3f}, expected the data's 0.5"
    # the acceptance rate of exact rejection sampling is 1 / M
    assert 0 < result.acceptance_rate < 1 and result.n_drawn >= 4000


def test_rejection_sampling_drops_samples_the_discriminator_rejects():
    """A ratio that is very low for x > 0 keeps almost only x < 0; a lower cap accepts more."""
    def log_ratio(x):
        return torch.where(x[:, 0] > 0, -20.0, 0.0)

    strict = discriminator_rejection_sampling(_ShiftedGenerator(), log_ratio, 1000, cap_quantile=0.9)
    assert (strict.samples[:, 0] > 0).float().mean() < 0.01
    assert strict.acceptance_rate == pytest.approx(0.5, abs=0.03)


def test_acceptance_probability_is_the_capped_ratio():
    p = acceptance_probability(torch.tensor([-1.0, 0.0, 2.0, -1000.0]), 0.0)
    torch.testing.assert_close(p, torch.tensor([math.exp(-1.0), 1.0, 1.0, 0.0]))


def test_rejection_sampling_errors():
    G = _ShiftedGenerator()
    with pytest.raises(ValueError, match=r"one logit per sample"):
        discriminator_rejection_sampling(G, lambda x: x, 10)
    with pytest.raises(ValueError, match=r"NaN or infinite logits"):
        discriminator_rejection_sampling(G, lambda x: torch.full((len(x),), float("nan")), 10)
    with pytest.raises(ValueError, match=r"cap_quantile must be in \(0, 1\)"):
        discriminator_rejection_sampling(G, lambda x: x[:, 0], 10, cap_quantile=1.0)
    with pytest.raises(ValueError, match=r"n must be a positive integer"):
        discriminator_rejection_sampling(G, lambda x: x[:, 0], 0)
    with pytest.raises(RuntimeError, match=r"lower cap_quantile or raise max_draws"):
        # one sample per batch of 1000 has a high ratio: about 3 are accepted in 3000 draws
        discriminator_rejection_sampling(G, lambda x: torch.where(torch.arange(len(x)) == 0, 0.0, -50.0), 100,
                                         cap_quantile=0.9999, batch_size=1000, max_draws=3000)


def test_rejection_sampling_takes_the_network_as_g_net_and_a_generator_as_seed():
    """The GAN network is ``g_net`` (``generator`` names a torch.Generator); seed: int | torch.Generator."""
    def log_ratio(x):
        return -x[:, 0].abs()

    by_int = discriminator_rejection_sampling(_ShiftedGenerator(), log_ratio, 50, batch_size=100, seed=3)
    by_keyword = discriminator_rejection_sampling(g_net=_ShiftedGenerator(), log_ratio=log_ratio, n=50, batch_size=100,
                                                  seed=torch.Generator().manual_seed(3))
    assert torch.equal(by_int.samples, by_keyword.samples)
    assert by_int.n_drawn == by_keyword.n_drawn
