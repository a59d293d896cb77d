"""genlib.models.diffusion: schedules, the forward process, the posterior, the ELBO terms.

Independent references: Monte-Carlo estimates for the closed-form KLs and moments, Bayes' rule
on a grid for the posterior, scipy's normal CDF for the discretised decoder, and exact
denoisers (Gaussian data, data on a finite set of points) for the ELBO as a bound.
"""
import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genlib.models.diffusion import (
    ConvDenoiser,
    GaussianDiffusion,
    MLPDenoiser,
    alpha_bar,
    cosine_betas,
    discretised_gaussian_log_likelihood,
    elbo_terms,
    gaussian_kl,
    levels_to_signed,
    linear_betas,
    negative_elbo,
    p_sample_step,
    posterior_mean_var,
    predict_x0,
    q_mean_var,
    q_sample,
    reverse_mean,
    reverse_var,
    signal_to_noise,
    simple_loss,
    time_embedding,
)


# ----------------------------------------------------------------------------- schedules


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 2000), kind=st.sampled_from(["linear", "cosine"]))
def test_alpha_bar_decreases_strictly_from_below_one(T, kind):
    betas = linear_betas(T) if kind == "linear" else cosine_betas(T)
    ab = alpha_bar(betas)
    assert betas.shape == (T,) and ab.shape == (T,) and betas.dtype == torch.float64
    assert ((betas > 0) & (betas < 1)).all()
    assert (ab > 0).all() and ab[0] < 1 and (ab[1:] < ab[:-1]).all()
    assert (signal_to_noise(betas)[1:] < signal_to_noise(betas)[:-1]).all()


def test_alpha_bar_is_the_product_of_one_minus_beta():
    betas = torch.tensor([0.1, 0.2, 0.5], dtype=torch.float64)
    torch.testing.assert_close(alpha_bar(betas), torch.tensor([0.9, 0.72, 0.36], dtype=torch.float64))


def test_cosine_alpha_bar_follows_the_cosine_formula_until_the_cap():
    T, s = 50, 0.008
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    ab = alpha_bar(cosine_betas(T, s))
    expected = torch.tensor([f(t) / f(0) for t in range(1, T)], dtype=torch.float64)
    torch.testing.assert_close(ab[:-1], expected)  # the last beta (1 by the formula) is capped at 0.999
    assert cosine_betas(T)[-1] == 0.999


def test_linear_betas_scale_ddpm_to_T():
    torch.testing.assert_close(linear_betas(1000)[[0, -1]], torch.tensor([1e-4, 0.02], dtype=torch.float64))
    torch.testing.assert_close(linear_betas(100)[[0, -1]], torch.tensor([1e-3, 0.2], dtype=torch.float64))
    assert alpha_bar(linear_betas(1000))[-1] < 1e-4  # x_T is nearly pure noise


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_schedules_reject_a_bad_T(bad):
    with pytest.raises(ValueError, match="T must be a positive integer"):
        linear_betas(bad)
    with pytest.raises(ValueError, match="T must be a positive integer"):
        cosine_betas(bad)


def test_schedule_errors_name_the_problem():
    with pytest.raises(ValueError, match="need 0 < beta_1 <= beta_T < 1"):
        linear_betas(10, 0.5, 0.1)
    with pytest.raises(ValueError, match=r"betas must lie in \(0, 1\)"):
        alpha_bar(torch.tensor([0.1, 1.0]))
    with pytest.raises(ValueError, match=r"betas must be a 1-D torch.Tensor of shape \(T,\)"):
        alpha_bar(torch.ones(2, 2) * 0.1)


# ----------------------------------------------------------------------------- forward process


def test_q_sample_has_the_closed_form_moments():
    betas = linear_betas(100)
    ab = alpha_bar(betas)
    x0 = torch.tensor([[0.7, -0.3]], dtype=torch.float64).expand(200_000, 2)
    for t_value in (1, 37, 100):
        t = torch.full((len(x0),), t_value)
        x_t = q_sample(x0, t, betas, torch.randn(x0.shape, generator=torch.Generator().manual_seed(t_value), dtype=torch.float64))
        torch.testing.assert_close(x_t.mean(0), ab[t_value - 1].sqrt() * x0[0], atol=0.01, rtol=0)
        torch.testing.assert_close(x_t.var(0), (1 - ab[t_value - 1]).expand(2), atol=0.01, rtol=0.01)


def test_q_sample_equals_running_the_markov_chain():
    """x_t from t steps of q(x_s | x_{s-1}) has the moments of the closed form q(x_t | x_0)."""
    betas = cosine_betas(20)
    gen = torch.Generator().manual_seed(0)
    x = torch.full((100_000, 1), 0.8, dtype=torch.float64)
    for beta in betas[:12]:
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    mean, var = q_mean_var(torch.full((1, 1), 0.8, dtype=torch.float64), torch.tensor([12]), betas)
    assert abs(x.mean() - mean.item()) < 0.01 and abs(x.var() - var.item()) < 0.01


def test_timestep_errors_name_the_problem():
    betas, x0 = linear_betas(10), torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"t must lie in 1..T = 1..10, got values from 0 to 10"):
        q_sample(x0, torch.tensor([0, 5, 10]), betas)
    with pytest.raises(ValueError, match="one timestep per example: got 2 for a batch of 3"):
        q_sample(x0, torch.tensor([1, 2]), betas)
    with pytest.raises(TypeError, match="t must be an integer tensor of shape"):
        q_sample(x0, torch.tensor([1.0, 2.0, 3.0]), betas)
    with pytest.raises(ValueError, match="x0 and eps must have the same shape"):
        q_sample(x0, torch.tensor([1, 2, 3]), betas, torch.zeros(3, 3))


# ----------------------------------------------------------------------------- posterior


@pytest.mark.parametrize("t_value", [2, 7, 30])
def test_posterior_matches_bayes_rule_on_a_grid(t_value):
    """q(x_{t-1} | x_t, x_0) is proportional to q(x_t | x_{t-1}) q(x_{t-1} | x_0): normalise on a grid."""
    betas = linear_betas(30)
    ab = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar(betas)])  # ab[s] = alpha_bar_s, s = 0..T
    x0, x_t = 0.6, -0.4
    grid = torch.linspace(-6, 6, 400_001, dtype=torch.float64)  # values of x_{t-1}
    beta = betas[t_value - 1]
    log_prior = torch.distributions.Normal(ab[t_value - 1].sqrt() * x0, (1 - ab[t_value - 1]).sqrt()).log_prob(grid)
    log_lik = torch.distributions.Normal((1 - beta).sqrt() * grid, beta.sqrt()).log_prob(torch.tensor(x_t, dtype=torch.float64))
    weights = torch.softmax(log_prior + log_lik, dim=0)
    bayes_mean = (weights * grid).sum()
    bayes_var = (weights * (grid - bayes_mean) ** 2).sum()
    mean, var = posterior_mean_var(torch.tensor([[x_t]], dtype=torch.float64), torch.tensor([[x0]], dtype=torch.float64),
                                   torch.tensor([t_value]), betas)
    torch.testing.assert_close(mean.squeeze(), bayes_mean, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(var.squeeze(), bayes_var, rtol=1e-4, atol=1e-9)


def test_posterior_at_t_1_is_a_point_mass_at_x0():
    x0, x1 = torch.randn(4, 3), torch.randn(4, 3)
    mean, var = posterior_mean_var(x1, x0, torch.ones(4, dtype=torch.long), linear_betas(50))
    torch.testing.assert_close(mean, x0)
    assert (var == 0).all() and var.shape == (4, 1)


def test_reverse_mean_is_the_posterior_mean_at_the_predicted_x0():
    betas = cosine_betas(40)
    gen = torch.Generator().manual_seed(1)
    x_t, eps = torch.randn(6, 1, 8, 8, generator=gen, dtype=torch.float64), torch.randn(6, 1, 8, 8, generator=gen, dtype=torch.float64)
    t = torch.tensor([1, 2, 10, 20, 39, 40])
    x0_hat = predict_x0(x_t, t, eps, betas)
    torch.testing.assert_close(reverse_mean(x_t, t, eps, betas), posterior_mean_var(x_t, x0_hat, t, betas)[0])
    torch.testing.assert_close(q_sample(x0_hat, t, betas, eps), x_t)  # predict_x0 inverts q_sample


def test_reverse_variances_bracket_the_posterior():
    betas = linear_betas(60)
    post, beta = reverse_var(betas, "posterior"), reverse_var(betas, "beta")
    assert post[0] == beta[0] == betas[0]  # the decoder's variance
    assert (post[1:] < beta[1:]).all()
    with pytest.raises(ValueError, match="kind must be 'posterior' or 'beta', got 'learned'"):
        reverse_var(betas, "learned")


# ----------------------------------------------------------------------------- KL terms and the decoder


def test_gaussian_kl_matches_monte_carlo_and_torch():
    gen = torch.Generator().manual_seed(3)
    mq, vq, mp, vp = 0.3, 0.5, -0.2, 1.7
    z = mq + math.sqrt(vq) * torch.randn(1_000_000, generator=gen, dtype=torch.float64)
    q, p = torch.distributions.Normal(mq, math.sqrt(vq)), torch.distributions.Normal(mp, math.sqrt(vp))
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).mean()
    kl = gaussian_kl(torch.tensor(mq), torch.tensor(vq), torch.tensor(mp), torch.tensor(vp))
    assert abs(kl - monte_carlo) < 3e-3
    torch.testing.assert_close(kl.double(), torch.distributions.kl_divergence(q, p).double(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("t_value", [2, 15, 50])
def test_denoising_term_matches_a_monte_carlo_kl(t_value):
    """L_{t-1} for one x_t: closed-form KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) vs sampling x_{t-1}."""
    betas = linear_betas(50)
    gen = torch.Generator().manual_seed(t_value)
    x0 = torch.tensor([[0.5, -1.0, 0.25]], dtype=torch.float64)
    t = torch.tensor([t_value])
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    x_t = q_sample(x0, t, betas, eps)
    eps_pred = eps + 0.3 * torch.randn(x0.shape, generator=gen, dtype=torch.float64)  # an imperfect denoiser
    mean_q, var_q = posterior_mean_var(x_t, x0, t, betas)
    mean_p, var_p = reverse_mean(x_t, t, eps_pred, betas), reverse_var(betas)[t_value - 1]
    closed = gaussian_kl(mean_q, var_q, mean_p, var_p).sum()
    samples = mean_q + var_q.sqrt() * torch.randn(400_000, 3, generator=gen, dtype=torch.float64)
    q, p = torch.distributions.Normal(mean_q, var_q.sqrt()), torch.distributions.Normal(mean_p, var_p.sqrt())
    monte_carlo = (q.log_prob(samples) - p.log_prob(samples)).sum(1)
    assert abs(closed - monte_carlo.mean()) < 4 * monte_carlo.std() / math.sqrt(len(samples)) + 1e-6
    # the noise-prediction form: equal variances leave only the weighted squared error of eps
    alpha, ab = 1 - betas[t_value - 1], alpha_bar(betas)[t_value - 1]
    weight = betas[t_value - 1] ** 2 / (2 * var_p * alpha * (1 - ab))
    torch.testing.assert_close(gaussian_kl(mean_q, var_p, mean_p, var_p).sum(), weight * ((eps - eps_pred) ** 2).sum())


def test_prior_term_matches_a_monte_carlo_kl():
    betas = linear_betas(10, 0.01, 0.05)  # a short, gentle chain, so x_T still remembers x_0
    x0 = torch.full((1, 4), 0.9, dtype=torch.float64)
    terms = elbo_terms(lambda x, t: torch.zeros_like(x), x0, betas, generator=torch.Generator().manual_seed(0))
    mean, var = q_mean_var(x0, torch.tensor([10]), betas)
    q = torch.distributions.Normal(mean, var.sqrt())
    z = q.sample((400_000,))
    monte_carlo = (q.log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)).sum(-1).mean()
    assert terms["prior"].item() > 0.1 and abs(terms["prior"].item() - monte_carlo.item()) < 0.01


def test_discretised_decoder_is_a_probability_mass_function():
    levels = torch.arange(17, dtype=torch.float64)
    x0 = levels_to_signed(levels)[:, None].expand(17, 5)  # every level, for 5 different decoders
    mean = torch.tensor([-1.3, -0.2, 0.0, 0.51, 2.0], dtype=torch.float64).expand(17, 5)
    log_p = discretised_gaussian_log_likelihood(x0, mean, 0.01)
    torch.testing.assert_close(log_p.exp().sum(0), torch.ones(5, dtype=torch.float64))
    edges = np.concatenate([[-np.inf], np.linspace(-1, 1, 17)[:-1] + 1 / 16, [np.inf]])  # bin edges
    cdf = scipy.stats.norm.cdf(edges[:, None], loc=mean[0].numpy(), scale=0.1)
    np.testing.assert_allclose(log_p.exp().numpy(), np.diff(cdf, axis=0), atol=1e-12)


def test_discretised_decoder_is_finite_far_in_the_tails():
    x0 = levels_to_signed(torch.tensor([[0.0, 8.0, 16.0]], dtype=torch.float64))
    log_p = discretised_gaussian_log_likelihood(x0, torch.tensor([[5.0, -5.0, -5.0]], dtype=torch.float64), 1e-4)
    assert torch.isfinite(log_p).all() and (log_p < -1000).all()


def test_discretised_decoder_rejects_off_grid_data():
    with pytest.raises(ValueError, match="x0 must lie on the 17-level grid"):
        discretised_gaussian_log_likelihood(torch.tensor([[0.03]]), torch.zeros(1, 1), 0.01)


# ----------------------------------------------------------------------------- the ELBO as a bound


def _gaussian_oracle(s2):
    """The exact eps_theta for data x_0 ~ N(0, s2 I): E[eps | x_t] = sqrt(1 - ab) x_t / (ab s2 + 1 - ab)."""
    def eps_model(x_t, t, betas):
        ab = alpha_bar(betas)[t - 1].reshape(-1, 1)
        return (1 - ab).sqrt() * x_t.double() / (ab * s2 + 1 - ab)
    return eps_model


def _points_oracle(points):
    """The exact eps_theta for x_0 uniform on a finite set of points (K, D)."""
    def eps_model(x_t, t, betas):
        ab = alpha_bar(betas)[t - 1].reshape(-1, 1)
        x_t = x_t.double()
        logits = -(x_t[:, None, :] - points[None]).pow(2).sum(-1) / (2 * (1 - ab))  # (B, K)
        x0_mean = torch.softmax(logits, dim=1) @ points  # E[x_0 | x_t]
        return (x_t - ab.sqrt() * x0_mean) / (1 - ab).sqrt()
    return eps_model


@pytest.mark.parametrize("T", [5, 50, 500])
def test_elbo_bounds_the_entropy_of_gaussian_data_and_tightens_with_T(T):
    """E[-ELBO] >= H(p_data) for any model; with the exact denoiser the gap shrinks as T grows."""
    s2, D = 0.25, 2
    betas = linear_betas(T)
    model = _gaussian_oracle(s2)
    x0 = math.sqrt(s2) * torch.randn(4000, D, generator=torch.Generator().manual_seed(T), dtype=torch.float64)
    nelbo = negative_elbo(lambda x, t: model(x, t, betas), x0, betas, var_kind="beta",
                          generator=torch.Generator().manual_seed(1))
    entropy = 0.5 * D * math.log(2 * math.pi * math.e * s2)
    se = nelbo.std() / math.sqrt(len(nelbo))
    gap = nelbo.mean() - entropy
    assert gap > -3 * se, f"-ELBO {nelbo.mean():.4f} is below the entropy {entropy:.4f}: not a bound"
    assert gap < {5: 0.5, 50: 0.1, 500: 0.03}[T], f"gap {gap:.4f} nats too large for T = {T}"


@pytest.mark.parametrize("var_kind, tight", [("beta", 0.3), ("posterior", 2.0)])
def test_discrete_elbo_bounds_the_discrete_entropy(var_kind, tight):
    """Data uniform on 17 levels in 1-D: the discretised decoder makes -ELBO >= log 17, the discrete entropy.

    Even the exact denoiser leaves a gap: its reverse steps are Gaussian with a fixed variance.
    """
    T = 100
    betas = linear_betas(T)
    points = levels_to_signed(torch.arange(17, dtype=torch.float64))[:, None]  # (17, 1)
    model = _points_oracle(points)
    x0 = points[torch.randint(17, (3000,), generator=torch.Generator().manual_seed(0))]  # (3000, 1)
    nelbo = negative_elbo(lambda x, t: model(x, t, betas), x0, betas, n_levels=17, var_kind=var_kind,
                          generator=torch.Generator().manual_seed(2))
    se = nelbo.std() / math.sqrt(len(nelbo))
    gap = nelbo.mean() - math.log(17)
    assert -3 * se < gap < tight, f"-ELBO {nelbo.mean():.4f} vs log 17 = {math.log(17):.4f}"


def test_elbo_terms_have_the_documented_shapes_and_sum():
    betas = linear_betas(7)
    x0 = levels_to_signed(torch.randint(17, (3, 1, 8, 8)).double())
    terms = elbo_terms(ConvDenoiser(channels=8, n_blocks=1, emb_dim=8), x0, betas, n_levels=17)
    assert terms["diffusion"].shape == (3, 6) and terms["prior"].shape == terms["reconstruction"].shape == (3,)
    assert (terms["diffusion"] >= 0).all() and (terms["prior"] >= 0).all() and (terms["reconstruction"] >= 0).all()
    torch.testing.assert_close(terms["total"], terms["prior"] + terms["diffusion"].sum(1) + terms["reconstruction"])


# ----------------------------------------------------------------------------- loss, sampling, networks


def test_simple_loss_is_the_mean_squared_noise_error():
    betas = linear_betas(20)
    x0, eps = torch.randn(5, 2), torch.randn(5, 2)
    t = torch.tensor([1, 4, 9, 16, 20])
    seen = {}

    def eps_model(x_t, t_in):
        seen["x_t"], seen["t"] = x_t, t_in
        return 0.5 * x_t

    loss = simple_loss(eps_model, x0, t, eps, betas)
    torch.testing.assert_close(seen["x_t"], q_sample(x0, t, betas, eps))
    torch.testing.assert_close(loss, ((eps - 0.5 * seen["x_t"]) ** 2).mean())


def test_sampling_step_adds_noise_except_at_t_1():
    betas = linear_betas(30)
    x_t, eps = torch.randn(4, 3), torch.randn(4, 3)
    t = torch.tensor([1, 2, 15, 30])
    z = torch.ones(4, 3)
    step = p_sample_step(x_t, t, eps, betas, z)
    mean = reverse_mean(x_t, t, eps, betas)
    sigma = reverse_var(betas).sqrt()[t - 1].float()
    torch.testing.assert_close(step[0], mean[0])  # t = 1: the mean, no noise
    torch.testing.assert_close(step[1:], mean[1:] + sigma[1:, None])


def test_sampling_from_the_exact_denoiser_reproduces_the_data():
    """Ancestral sampling with the exact eps of 4 points lands on those points."""
    points = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]], dtype=torch.float64)
    betas = linear_betas(200)
    oracle = _points_oracle(points)

    class Exact(torch.nn.Module):
        def forward(self, x_t, t):
            return oracle(x_t, t, betas).float()

    model = GaussianDiffusion(Exact(), betas)
    x0, path = model.sample(400, (2,), generator=torch.Generator().manual_seed(0), trajectory=True)
    assert path.shape == (201, 400, 2) and torch.equal(path[0], x0)
    distance = torch.cdist(x0.double(), points).min(1).values
    assert distance.max() < 0.1
    counts = torch.bincount(torch.cdist(x0.double(), points).argmin(1), minlength=4)
    assert counts.min() > 60  # every point is reached, roughly equally often
    again = model.sample(400, (2,), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(again, x0)


def test_time_embedding_separates_timesteps():
    emb = time_embedding(torch.arange(1, 101), 32)
    assert emb.shape == (100, 32)
    assert torch.cdist(emb, emb).add(torch.eye(100) * 10).min() > 1e-3
    with pytest.raises(ValueError, match="dim must be even"):
        time_embedding(torch.arange(3), 5)


@pytest.mark.parametrize("net, shape", [(MLPDenoiser(2, hidden_dim=32), (2,)),
                                         (ConvDenoiser(channels=16, n_blocks=2, emb_dim=16), (1, 8, 8))])
def test_every_parameter_learns(net, shape):
    torch.manual_seed(0)
    model = GaussianDiffusion(net, linear_betas(50))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    assert len(before) == len(list(net.parameters())) > 4
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.loss(torch.randn(16, *shape)).backward()
    optimiser.step()
    frozen = [name for name, p in model.named_parameters() if torch.equal(p, before[name])]
    assert not frozen, f"parameters that did not change: {frozen}"
    assert net(torch.randn(3, *shape), torch.tensor([1, 2, 50])).shape == (3, *shape)


def test_training_lowers_the_loss_on_a_toy():
    torch.manual_seed(0)
    points = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    data = points[torch.randint(2, (512,))] + 0.05 * torch.randn(512, 2)
    model = GaussianDiffusion(MLPDenoiser(2, hidden_dim=64), linear_betas(50))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(200):
        loss = model.loss(data)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.mean(losses[-30:]) < 0.7 * np.mean(losses[:30])


def test_model_errors_name_the_problem():
    with pytest.raises(ValueError, match="channels must be a multiple of 8"):
        ConvDenoiser(channels=12)
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, C, H, W\)"):
        ConvDenoiser(channels=8)(torch.zeros(2, 64), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="kind must be 'posterior' or 'beta'"):
        GaussianDiffusion(MLPDenoiser(2), linear_betas(10), var_kind="small")


# ----------------------------------------------------------------------------- the shipped digits models


def test_digits_models_load_and_match_their_configuration(tmp_path):
    from genlib.models.diffusion.pretrained import DIGITS_DIFFUSION, digits_diffusion, load_digits_diffusion

    for T in DIGITS_DIFFUSION:
        model = load_digits_diffusion(T)
        assert model.T == T and not model.training
        torch.testing.assert_close(model.betas, linear_betas(T))
        assert model.sample(2, (1, 8, 8), generator=torch.Generator().manual_seed(0)).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"T must be one of \[5, 100\] \(the shipped models\), got 7"):
        digits_diffusion(7)
    with pytest.raises(FileNotFoundError, match="Build them with `make weights`"):
        load_digits_diffusion(5, path=tmp_path / "missing.pt")
