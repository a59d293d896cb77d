"""Tests of genlib.models.vae: the ELBO's pieces against torch.distributions, and the VAE."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import distributions as D

from genlib.data import load_digits
from genlib.models import (
    VAE,
    bernoulli_log_likelihood,
    categorical_log_likelihood,
    elbo_bernoulli,
    gaussian_log_likelihood,
    kl_standard_normal,
    reparameterize,
)
from genlib.models.vae import LIKELIHOODS

FAST = settings(max_examples=30, deadline=None)


@pytest.fixture(scope="module")
def digits():
    return load_digits("train")[0][:256]  # (256, 64) in [0, 1]


def _gaussian(mu, log_var):
    return D.Independent(D.Normal(mu, (0.5 * log_var).exp()), 1)


# ----------------------------------------------------------------------------- reparameterize


def test_reparameterize_with_given_noise_is_mu_plus_sigma_eps():
    gen = torch.Generator().manual_seed(0)
    mu, log_var, eps = (torch.randn(5, 3, generator=gen, dtype=torch.float64) for _ in range(3))
    z = reparameterize(mu, log_var, eps)
    torch.testing.assert_close(z, mu + log_var.exp().sqrt() * eps)


def test_reparameterize_gradients_match_the_analytic_ones():
    gen = torch.Generator().manual_seed(1)
    mu = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    log_var = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    eps = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    weights = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    (reparameterize(mu, log_var, eps) * weights).sum().backward()
    torch.testing.assert_close(mu.grad, weights)
    torch.testing.assert_close(log_var.grad, weights * 0.5 * (0.5 * log_var.detach()).exp() * eps)
    assert torch.autograd.gradcheck(lambda m, v: reparameterize(m, v, eps), (mu, log_var))


def test_reparameterize_draws_from_q():
    torch.manual_seed(0)
    mu = torch.tensor([[1.0, -2.0]]).expand(100_000, 2)
    log_var = torch.tensor([[0.0, math.log(0.25)]]).expand(100_000, 2)
    z = reparameterize(mu, log_var)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 0.5]), atol=0.01, rtol=0)


def test_reparameterize_shape_errors():
    with pytest.raises(ValueError, match=r"mu and log_var must have the same shape, got \(4, 2\) and \(4, 3\)"):
        reparameterize(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"mu and eps must have the same shape, got \(4, 2\) and \(2, 4\)"):
        reparameterize(torch.zeros(4, 2), torch.zeros(4, 2), torch.zeros(2, 4))


# ----------------------------------------------------------------------------- KL


def test_kl_standard_normal_matches_torch_distributions():
    gen = torch.Generator().manual_seed(2)
    mu = 2 * torch.randn(7, 5, generator=gen, dtype=torch.float64)
    log_var = 2 * torch.randn(7, 5, generator=gen, dtype=torch.float64)
    expected = D.kl_divergence(_gaussian(mu, log_var), _gaussian(torch.zeros_like(mu), torch.zeros_like(mu)))
    got = kl_standard_normal(mu, log_var)
    assert got.shape == (7,)
    torch.testing.assert_close(got, expected)


def test_kl_standard_normal_matches_monte_carlo():
    mu = torch.tensor([[0.5, -1.0, 0.0]], dtype=torch.float64)
    log_var = torch.tensor([[0.3, -1.2, 0.8]], dtype=torch.float64)
    q, p = _gaussian(mu, log_var), _gaussian(torch.zeros_like(mu), torch.zeros_like(mu))
    torch.manual_seed(0)
    z = q.sample((200_000,))  # (S, 1, K)
    log_ratio = q.log_prob(z) - p.log_prob(z)  # (S, 1)
    estimate, standard_error = log_ratio.mean(), log_ratio.std() / math.sqrt(len(log_ratio))
    assert abs(kl_standard_normal(mu, log_var)[0] - estimate) < 4 * standard_error


# include tiny values: exp(v) - 1 - v rounds to a negative number for |v| < 1e-8
_values = arrays(np.float64, (3, 4), elements=st.one_of(
    st.floats(-8, 8, allow_subnormal=False), st.floats(-1e-6, 1e-6, allow_subnormal=False)))


@FAST
@given(mu=_values, log_var=_values)
@example(mu=np.zeros((3, 4)), log_var=np.full((3, 4), 1e-9))
@example(mu=np.zeros((3, 4)), log_var=np.full((3, 4), -1e-17))
def test_kl_is_never_negative_and_zero_only_at_the_prior(mu, log_var):
    for dtype in (torch.float64, torch.float32):
        kl = kl_standard_normal(torch.as_tensor(mu, dtype=dtype), torch.as_tensor(log_var, dtype=dtype))
        assert (kl >= 0).all(), f"negative KL {kl.min().item()} in {dtype}"
        away = (np.abs(mu) > 1e-2).any(axis=1) | (np.abs(log_var) > 1e-2).any(axis=1)
        assert (kl[torch.as_tensor(away)] > 0).all()


def test_kl_is_zero_at_the_prior():
    assert torch.equal(kl_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3))


def test_kl_needs_a_batch_dimension():
    with pytest.raises(ValueError, match=r"mu must have 2 dimensions \(B, K\), got shape \(4,\).*unsqueeze\(0\)"):
        kl_standard_normal(torch.zeros(4), torch.zeros(4))


# ----------------------------------------------------------------------------- likelihoods


def test_bernoulli_log_likelihood_matches_torch_distributions():
    gen = torch.Generator().manual_seed(3)
    logits = 3 * torch.randn(6, 10, generator=gen, dtype=torch.float64)
    x = torch.randint(0, 2, (6, 10), generator=gen).double()
    expected = D.Bernoulli(logits=logits).log_prob(x).sum(1)
    torch.testing.assert_close(bernoulli_log_likelihood(x, logits), expected)
    # grey values in [0, 1]: the continuous relaxation, -BCE
    grey = torch.rand(6, 10, generator=gen, dtype=torch.float64)
    expected = -torch.nn.functional.binary_cross_entropy_with_logits(logits, grey, reduction="none").sum(1)
    torch.testing.assert_close(bernoulli_log_likelihood(grey, logits), expected)


def test_bernoulli_log_likelihood_is_stable_for_huge_logits():
    logits = torch.tensor([[200.0, -200.0, 200.0, -200.0]], requires_grad=True)
    x = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    per_pixel = [bernoulli_log_likelihood(x[:, i:i + 1], logits[:, i:i + 1]) for i in range(4)]
    torch.testing.assert_close(torch.cat(per_pixel), torch.tensor([0.0, 0.0, -200.0, -200.0]))
    total = bernoulli_log_likelihood(x, logits)
    total.sum().backward()
    assert torch.isfinite(total).all() and torch.isfinite(logits.grad).all()
    torch.testing.assert_close(logits.grad, torch.tensor([[0.0, 0.0, -1.0, 1.0]]))


def test_bernoulli_shape_error():
    with pytest.raises(ValueError, match=r"x and logits must have the same shape, got \(2, 64\) and \(2, 63\)"):
        bernoulli_log_likelihood(torch.zeros(2, 64), torch.zeros(2, 63))


@pytest.mark.parametrize("log_var_kind", ["tensor", "float"])
def test_gaussian_log_likelihood_matches_torch_distributions(log_var_kind):
    gen = torch.Generator().manual_seed(4)
    x, mean = torch.randn(5, 8, generator=gen, dtype=torch.float64), torch.randn(5, 8, generator=gen, dtype=torch.float64)
    log_var = torch.randn(5, 8, generator=gen, dtype=torch.float64) if log_var_kind == "tensor" else -1.3
    scale = (0.5 * torch.as_tensor(log_var, dtype=torch.float64)).exp().expand(5, 8)
    expected = D.Normal(mean, scale).log_prob(x).sum(1)
    torch.testing.assert_close(gaussian_log_likelihood(x, mean, log_var), expected)


def test_categorical_log_likelihood_matches_torch_distributions():
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(4, 64, 17, generator=gen, dtype=torch.float64)
    levels = torch.randint(0, 17, (4, 64), generator=gen)
    expected = D.Categorical(logits=logits).log_prob(levels).sum(1)
    torch.testing.assert_close(categorical_log_likelihood(levels, logits), expected)
    torch.testing.assert_close(categorical_log_likelihood(levels.double(), logits), expected)


def test_categorical_shape_error():
    with pytest.raises(ValueError, match=r"logits must have shape \(B, D, L\) matching levels \(B, D\)"):
        categorical_log_likelihood(torch.zeros(4, 64), torch.zeros(4, 64))


def test_elbo_bernoulli_is_likelihood_minus_kl():
    gen = torch.Generator().manual_seed(6)
    x = torch.rand(3, 10, generator=gen)
    logits, mu, log_var = torch.randn(3, 10, generator=gen), torch.randn(3, 2, generator=gen), torch.randn(3, 2, generator=gen)
    expected = D.Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(1) - D.kl_divergence(
        _gaussian(mu, log_var), _gaussian(torch.zeros(3, 2), torch.zeros(3, 2)))
    torch.testing.assert_close(elbo_bernoulli(x, logits, mu, log_var), expected)


# ----------------------------------------------------------------------------- the VAE


def _vae(likelihood, seed=0):
    torch.manual_seed(seed)
    return VAE(data_dim=64, latent_dim=2, hidden_dim=32, likelihood=likelihood)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_vae_shapes(likelihood, digits):
    model = _vae(likelihood)
    x = digits[:10]
    mu, log_var = model.encode(x)
    assert mu.shape == log_var.shape == (10, 2)
    out = model.decode_logits(mu)
    assert out.shape == ((10, 64, 17) if likelihood == "categorical" else (10, 64))
    image = model.decode(mu)
    assert image.shape == (10, 64) and image.min() >= 0 and image.max() <= 1
    assert model.log_likelihood(x, mu).shape == (10,)
    for mean in (True, False):
        samples = model.sample(7, mean=mean, generator=torch.Generator().manual_seed(0))
        assert samples.shape == (7, 64) and samples.min() >= 0 and samples.max() <= 1
        again = model.sample(7, mean=mean, generator=torch.Generator().manual_seed(0))
        assert torch.equal(samples, again), "sample() with a seeded generator must be repeatable"
    drawn = model.sample(50, mean=False)
    if likelihood == "bernoulli":
        assert set(drawn.unique().tolist()) <= {0.0, 1.0}
    if likelihood == "categorical":
        torch.testing.assert_close(drawn * 16, (drawn * 16).round())


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_vae_log_likelihood_matches_torch_distributions(likelihood, digits):
    model = _vae(likelihood)
    x, z = digits[:5], torch.randn(5, 2)
    out = model.decode_logits(z)
    if likelihood == "categorical":
        expected = D.Categorical(logits=out).log_prob((x * 16).round().long()).sum(1)
    elif likelihood == "bernoulli":
        expected = D.Bernoulli(logits=out, validate_args=False).log_prob(x).sum(1)
    else:
        expected = D.Normal(out, model.gaussian_std).log_prob(x).sum(1)
    torch.testing.assert_close(model.log_likelihood(x, z), expected)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_vae_elbo_is_finite_and_the_loss_is_its_negative_mean(likelihood, digits):
    model = _vae(likelihood)
    torch.manual_seed(0)
    elbo = model.elbo(digits[:32])
    torch.manual_seed(0)
    loss = model.loss(digits[:32])
    assert elbo.shape == (32,) and torch.isfinite(elbo).all()
    assert loss.ndim == 0
    torch.testing.assert_close(loss, -elbo.mean())


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_importance_weighted_bound_is_above_the_elbo(likelihood, digits):
    model = _vae(likelihood)
    x = digits[:64]
    torch.manual_seed(0)
    with torch.no_grad():
        elbos = torch.stack([model.elbo(x).mean() for _ in range(20)])  # 20 estimates of the mean ELBO
    iwb = model.importance_weighted_bound(x, n_samples=30)
    assert iwb.shape == (64,) and torch.isfinite(iwb).all()
    assert iwb.mean() > elbos.mean()
    # with one sample the bound is an unbiased estimate of the ELBO (a check of log q and log p(z))
    iwb_1 = torch.stack([model.importance_weighted_bound(x, n_samples=1).mean() for _ in range(20)])
    standard_error = math.sqrt((elbos.var() + iwb_1.var()) / 20)
    assert abs(iwb_1.mean() - elbos.mean()) < 5 * standard_error
    assert iwb.mean() - elbos.mean() > 5 * standard_error


def test_importance_weights_use_the_right_densities(digits):
    model = _vae("bernoulli")
    x = digits[:8]
    torch.manual_seed(11)
    bound = model.importance_weighted_bound(x, n_samples=1)
    torch.manual_seed(11)
    with torch.no_grad():
        mu, log_var = model.encode(x)
        z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)
        log_p_x_z = D.Bernoulli(logits=model.decode_logits(z), validate_args=False).log_prob(x).sum(1)
        expected = log_p_x_z + _gaussian(torch.zeros_like(z), torch.zeros_like(z)).log_prob(z) - _gaussian(mu, log_var).log_prob(z)
    torch.testing.assert_close(bound, expected)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_every_parameter_learns(likelihood, digits):
    model = _vae(likelihood)
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    n_params = len(list(model.parameters()))
    assert n_params == 12, "encoder and decoder should each hold three linear layers"
    assert len(before) == n_params
    model.loss(digits[:64]).backward()
    optimizer.step()
    for name, value in model.state_dict().items():
        assert not torch.equal(value, before[name]), f"parameter {name} did not change after one Adam step"


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_short_training_decreases_the_loss(likelihood, digits):
    model = _vae(likelihood)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    with torch.no_grad():
        start = torch.stack([model.loss(digits) for _ in range(5)]).mean()
    for step in range(30):
        batch = digits[(step * 64) % 256:(step * 64) % 256 + 64]
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()
    with torch.no_grad():
        end = torch.stack([model.loss(digits) for _ in range(5)]).mean()
    assert end < start - 0.2 * abs(start), f"the loss went from {start:.2f} to {end:.2f} in 30 steps"


@pytest.mark.parametrize("x, match", [
    (torch.zeros(4, 63), r"x must have shape \(B, 64\), got \(4, 63\)\. Flatten"),
    (torch.zeros(4, 1, 8, 8), r"x must have 2 dimensions \(B, 64\), got shape \(4, 1, 8, 8\)"),
    (torch.zeros(64), r"x must have 2 dimensions \(B, 64\), got shape \(64,\).*unsqueeze\(0\)"),
])
def test_vae_rejects_bad_x_shapes(x, match):
    model = _vae("bernoulli")
    for method in (model.encode, model.elbo, model.loss, model.importance_weighted_bound):
        with pytest.raises(ValueError, match=match):
            method(x)


def test_vae_rejects_an_unknown_likelihood():
    with pytest.raises(ValueError, match=r"likelihood must be one of 'categorical', 'bernoulli', 'gaussian'; got 'poisson'"):
        VAE(likelihood="poisson")
