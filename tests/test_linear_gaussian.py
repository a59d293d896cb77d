"""Tests of genlib.models.LinearGaussianModel: exact marginal, posterior, ELBO and its gap."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import distributions as D

from genlib.models import LinearGaussianModel

FAST = settings(max_examples=25, deadline=None)


def _random_model(seed, d=5, k=2, sigma=0.5):
    rng = np.random.default_rng(seed)
    return LinearGaussianModel(rng.normal(size=(d, k)), rng.normal(size=d), sigma), rng


def _exact_posterior(model, x):
    """p(z | x) by conditioning the joint Gaussian of (z, x): an independent formula.

    cov = I - W^T C^-1 W,  mean = W^T C^-1 (x - b),  C = W W^T + sigma^2 I.
    """
    W, b = model.W.numpy(), model.b.numpy()
    C = W @ W.T + model.sigma**2 * np.eye(len(b))
    gain = np.linalg.solve(C, W).T  # W^T C^-1, (K, D)
    mean = (np.asarray(x) - b) @ gain.T  # (N, K)
    cov = np.eye(W.shape[1]) - gain @ W
    return torch.as_tensor(mean), torch.as_tensor(cov)


def _q(q_mean, q_log_var):
    return D.MultivariateNormal(q_mean, covariance_matrix=torch.diag_embed(q_log_var.exp()))


def test_shapes_and_repr():
    model, _ = _random_model(0, d=6, k=3)
    assert (model.data_dim, model.latent_dim) == (6, 3)
    assert model.W.dtype == torch.float64
    assert repr(model) == "LinearGaussianModel(D=6, K=3, sigma=0.5)"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_marginal_matches_scipy(seed):
    model, rng = _random_model(seed, d=4, k=2, sigma=0.3 + seed)
    x = rng.normal(scale=2.0, size=(10, 4))
    W, b = model.W.numpy(), model.b.numpy()
    expected = stats.multivariate_normal(b, W @ W.T + model.sigma**2 * np.eye(4)).logpdf(x)
    got = model.log_marginal(x)
    assert got.shape == (10,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_posterior_matches_gaussian_conditioning():
    model, rng = _random_model(3, d=6, k=3)
    x = rng.normal(size=(8, 6))
    mean, cov = model.posterior(x)
    expected_mean, expected_cov = _exact_posterior(model, x)
    assert mean.shape == (8, 3) and cov.shape == (3, 3)
    torch.testing.assert_close(mean, expected_mean)
    torch.testing.assert_close(cov, expected_cov)


@pytest.mark.parametrize("seed", [0, 1])
def test_elbo_gap_is_kl_from_q_to_the_exact_posterior(seed):
    model, rng = _random_model(seed, d=5, k=3)
    x = rng.normal(size=(6, 5))
    q_mean, q_log_var = torch.as_tensor(rng.normal(size=(6, 3))), torch.as_tensor(rng.normal(size=(6, 3)))
    post_mean, post_cov = _exact_posterior(model, x)
    expected = D.kl_divergence(_q(q_mean, q_log_var), D.MultivariateNormal(post_mean, covariance_matrix=post_cov))
    torch.testing.assert_close(model.elbo_gap(x, q_mean, q_log_var), expected)


@FAST
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 3), sigma=st.floats(0.05, 3.0),
       q_scale=st.floats(0.0, 4.0))
def test_elbo_gap_is_never_negative(seed, k, sigma, q_scale):
    model, rng = _random_model(seed, d=4, k=k, sigma=sigma)
    x = rng.normal(scale=3.0, size=(5, 4))
    q_mean = torch.as_tensor(q_scale * rng.normal(size=(5, k)))
    q_log_var = torch.as_tensor(q_scale * rng.normal(size=(5, k)))
    gap = model.elbo_gap(x, q_mean, q_log_var)
    assert (gap >= -1e-9 * (1 + model.log_marginal(x).abs())).all()


def test_gap_is_zero_when_q_is_the_exact_posterior_with_one_latent():
    model, rng = _random_model(4, d=5, k=1)  # K = 1: the diagonal q can equal the posterior
    x = rng.normal(size=(7, 5))
    mean, cov = model.posterior(x)
    gap = model.elbo_gap(x, mean, cov.diagonal().log().expand(7, 1))
    torch.testing.assert_close(gap, torch.zeros(7, dtype=torch.float64), atol=1e-10, rtol=0)
    # and any other q has a strictly positive gap
    assert (model.elbo_gap(x, mean + 0.1, cov.diagonal().log().expand(7, 1)) > 1e-4).all()
    assert (model.elbo_gap(x, mean, cov.diagonal().log().expand(7, 1) + 0.2) > 1e-4).all()


def test_elbo_at_the_posterior_mean_and_variances_is_below_log_marginal():
    model, rng = _random_model(5, d=6, k=3)
    x = rng.normal(size=(9, 6))
    mean, cov = model.posterior(x)
    assert (cov - torch.diag(cov.diagonal())).abs().max() > 1e-3, "a correlated posterior, for a non-trivial check"
    elbo = model.elbo(x, mean, cov.diagonal().log().expand(9, 3))
    log_px = model.log_marginal(x)
    assert elbo.shape == (9,)
    assert (elbo <= log_px).all()
    assert (log_px - elbo > 1e-6).all(), "a diagonal q cannot match a correlated posterior"


def test_closed_form_elbo_matches_monte_carlo():
    model, rng = _random_model(6, d=4, k=2, sigma=0.7)
    x = torch.as_tensor(rng.normal(size=(3, 4)))
    q_mean, q_log_var = torch.as_tensor(rng.normal(size=(3, 2))), torch.as_tensor(rng.normal(size=(3, 2)) - 0.5)
    q = D.Normal(q_mean, (0.5 * q_log_var).exp())
    torch.manual_seed(0)
    z = q.sample((100_000,))  # (S, N, K)
    log_lik = D.Normal(z @ model.W.T + model.b, model.sigma).log_prob(x).sum(-1)  # (S, N)
    kl = D.kl_divergence(D.Independent(q, 1), D.Independent(D.Normal(torch.zeros(2), torch.ones(2)), 1))
    estimate = log_lik.mean(0) - kl
    standard_error = log_lik.std(0) / math.sqrt(len(log_lik))
    closed_form = model.elbo(x, q_mean, q_log_var)
    assert ((closed_form - estimate).abs() < 4 * standard_error).all(), (closed_form, estimate, standard_error)


def test_ancestral_samples_have_the_marginal_moments():
    model, _ = _random_model(7, d=3, k=2, sigma=0.4)
    x = model.sample(100_000, seed=0)
    assert x.shape == (100_000, 3) and x.dtype == torch.float64
    torch.testing.assert_close(x.mean(0), model.b, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), model.marginal_covariance(), atol=0.05, rtol=0.03)
    assert torch.equal(model.sample(10, seed=1), model.sample(10, seed=1))
    assert torch.equal(model.sample(10, seed=1), model.sample(10, seed=torch.Generator().manual_seed(1)))
    with pytest.raises(TypeError, match=r"seed must be an int or a torch.Generator, got float"):
        model.sample(10, seed=1.0)


def test_fit_ppca_recovers_a_planted_model():
    rng = np.random.default_rng(8)
    truth = LinearGaussianModel(rng.normal(size=(6, 2)) * [2.0, 1.0], rng.normal(size=6), 0.3)
    x = truth.sample(60_000, seed=1)
    fitted = LinearGaussianModel.fit_ppca(x, latent_dim=2)
    assert (fitted.data_dim, fitted.latent_dim) == (6, 2)
    assert fitted.sigma == pytest.approx(0.3, rel=0.03)
    torch.testing.assert_close(fitted.b, truth.b, atol=0.03, rtol=0)
    C_fit, C_true = fitted.marginal_covariance(), truth.marginal_covariance()
    assert torch.linalg.matrix_norm(C_fit - C_true) < 0.03 * torch.linalg.matrix_norm(C_true)
    # maximum likelihood: on its training data the fit is at least as likely as the truth
    assert fitted.log_marginal(x).mean() >= truth.log_marginal(x).mean() - 1e-9


def test_fit_ppca_is_the_maximum_likelihood_solution():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(500, 5)) @ rng.normal(size=(5, 5))  # not low-rank: sigma takes up the rest
    fitted = LinearGaussianModel.fit_ppca(x, latent_dim=2)
    best = fitted.log_marginal(x).mean()
    for _ in range(5):  # small perturbations of W and sigma never increase the likelihood
        W = fitted.W + 0.05 * torch.as_tensor(rng.normal(size=(5, 2)))
        assert LinearGaussianModel(W, fitted.b, fitted.sigma).log_marginal(x).mean() <= best
    for factor in (0.95, 1.05):
        assert LinearGaussianModel(fitted.W, fitted.b, fitted.sigma * factor).log_marginal(x).mean() <= best


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("W, b, sigma, error, match", [
    (np.zeros(5), np.zeros(5), 1.0, ValueError, r"W must have 2 dimensions \(D, K\), got shape \(5,\)"),
    (np.zeros((5, 2)), np.zeros(4), 1.0, ValueError, r"b must have shape \(D,\) = \(5,\) to match W of shape \(5, 2\); got \(4,\)"),
    (np.zeros((5, 2)), np.zeros((5, 1)), 1.0, ValueError, r"b must have 1 dimensions \(D,\), got shape \(5, 1\)"),
    (np.full((5, 2), np.nan), np.zeros(5), 1.0, ValueError, r"W contains 10 NaN"),
    (np.zeros((5, 2)), np.zeros(5), 0.0, ValueError, r"sigma must be a positive finite number, got 0.0"),
    (np.zeros((5, 2)), np.zeros(5), -1.0, ValueError, r"sigma must be a positive finite number"),
    ("W", np.zeros(5), 1.0, TypeError, r"W must be a torch.Tensor or a numpy array, got str"),
])
def test_constructor_errors(W, b, sigma, error, match):
    with pytest.raises(error, match=match):
        LinearGaussianModel(W, b, sigma)


def test_x_shape_errors():
    model, _ = _random_model(0, d=5, k=2)
    for method in (model.log_marginal, model.posterior):
        with pytest.raises(ValueError, match=r"x must have shape \(N, 5\), got \(3, 4\)"):
            method(np.zeros((3, 4)))
        with pytest.raises(ValueError, match=r"x must have 2 dimensions \(N, D\) with D = 5, got shape \(5,\).*unsqueeze"):
            method(np.zeros(5))
        with pytest.raises(ValueError, match=r"x contains 1 NaN"):
            method(np.array([[0.0, 1.0, np.nan, 0.0, 0.0]]))


def test_q_shape_errors():
    model, _ = _random_model(0, d=5, k=2)
    x = np.zeros((3, 5))
    with pytest.raises(ValueError, match=r"q_mean must have shape \(N, K\) = \(3, 2\), got \(3, 3\)"):
        model.elbo(x, np.zeros((3, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"q_log_var must have shape \(N, K\) = \(3, 2\), got \(2,\)"):
        model.elbo_gap(x, np.zeros((3, 2)), np.zeros(2))


@pytest.mark.parametrize("latent_dim", [0, 5, 7])
def test_fit_ppca_latent_dim_range(latent_dim):
    with pytest.raises(ValueError, match=rf"latent_dim must be between 1 and D - 1 = 4, got {latent_dim}"):
        LinearGaussianModel.fit_ppca(np.random.default_rng(0).normal(size=(20, 5)), latent_dim)
