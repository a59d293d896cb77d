"""The ELBO of a diffusion model, term by term, and its discretised decoder.

A diffusion model is a hierarchical VAE with latents x_1..x_T (each the size of x_0), a
fixed inference path q(x_{1:T} | x_0) and a learned generative path
p(x_T) prod_t p_theta(x_{t-1} | x_t). Its negative ELBO splits into (Ho et al., 2020, eq. 5)

    -ELBO(x_0) = L_T + sum_{t=2}^{T} L_{t-1} + L_0,
    L_T     = KL(q(x_T | x_0) || N(0, I))                                   (prior matching)
    L_{t-1} = E_{q(x_t | x_0)} KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t))   (denoising matching)
    L_0     = -E_{q(x_1 | x_0)} log p_theta(x_0 | x_1)                      (reconstruction)

All KLs are between Gaussians, so they are computed in closed form; the expectation over x_t
is estimated with one sample per t. With p_theta(x_{t-1} | x_t) = N(mu_theta, sigma_t^2 I) and
the noise-prediction form of mu_theta, L_{t-1} = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t))
* ||eps - eps_theta(x_t, t)||^2 summed over dimensions, plus a constant that is 0 when
sigma_t^2 = beta_tilde_t: the simplified loss drops that weight.

For discrete data (the 17-level digits mapped to [-1, 1]) the decoder p_theta(x_0 | x_1) gives
each level the mass of N(mu_theta(x_1, 1), sigma_1^2) over that level's bin, so the model's
marginal P(x_0) is a probability mass function and -ELBO >= -log P(x_0), the discrete NLL.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from genlib._validation import check_same_shape
from genlib.models.diffusion.schedule import alpha_bar, at_timestep, posterior_mean_var, q_sample, reverse_mean, reverse_var

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mean_q, var_q, mean_p, var_p) -> torch.Tensor:
    """KL(N(mean_q, var_q) || N(mean_p, var_p)) elementwise (diagonal Gaussians; arguments broadcast).

    KL = 1/2 * (log(var_p / var_q) + (var_q + (mean_q - mean_p)^2) / var_p - 1)
    """
    var_q, var_p = torch.as_tensor(var_q), torch.as_tensor(var_p)
    return 0.5 * (torch.log(var_p / var_q) + (var_q + (mean_q - mean_p) ** 2) / var_p - 1)


def levels_to_signed(levels: torch.Tensor, n_levels: int = 17) -> torch.Tensor:
    """Map integer levels 0..L-1 to the grid -1 + 2k / (L - 1) in [-1, 1], where diffusion works."""
    return 2 * levels / (n_levels - 1) - 1


def _log_mass(lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """log(Phi(upper) - Phi(lower)) for standard normal Phi, stable in both tails."""
    flip = lower > 0  # right tail: Phi(b) - Phi(a) = Phi(-a) - Phi(-b)
    a, b = torch.where(flip, -upper, lower), torch.where(flip, -lower, upper)  # now a < b, a <= 0
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    return log_b + torch.log1p(-torch.exp(log_a - log_b))


def discretised_gaussian_log_likelihood(x0: torch.Tensor, mean: torch.Tensor, var, n_levels: int = 17) -> torch.Tensor:
    """log P(x_0) of each entry under N(mean, var) discretised to ``n_levels`` bins on [-1, 1].

    Level k sits at c_k = -1 + 2k / (L - 1); its bin is [c_k - h, c_k + h] with h = 1 / (L - 1),
    except that the first bin extends to -inf and the last to +inf, so the L masses sum to 1.

    Parameters
    ----------
    x0 : torch.Tensor, shape (B, ...), values on the grid c_k
    mean : torch.Tensor, shape like x0
    var : torch.Tensor or float, broadcastable to x0

    Returns
    -------
    torch.Tensor, shape like x0: the log-probability of each entry (sum it over dimensions).
    """
    check_same_shape("x0", x0, "mean", mean)
    h = 1.0 / (n_levels - 1)
    k = (x0 + 1) / (2 * h)
    if (k - k.round()).abs().max() > 1e-4 or k.min() < -1e-4 or k.max() > n_levels - 1 + 1e-4:
        raise ValueError(
            f"x0 must lie on the {n_levels}-level grid -1 + 2k/{n_levels - 1} in [-1, 1]; "
            f"map integer levels with levels_to_signed(levels, {n_levels}).")
    std = torch.as_tensor(var, dtype=mean.dtype, device=mean.device).sqrt()
    lower = torch.where(k.round() <= 0, torch.full_like(x0, -math.inf), (x0 - h - mean) / std)
    upper = torch.where(k.round() >= n_levels - 1, torch.full_like(x0, math.inf), (x0 + h - mean) / std)
    return _log_mass(lower, upper)


def _sum_dims(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1).sum(dim=1)


@torch.no_grad()
def elbo_terms(eps_model: Callable, x0: torch.Tensor, betas: torch.Tensor, *, n_levels: int | None = None,
               var_kind: str = "beta", generator: torch.Generator | None = None,
               variances: torch.Tensor | None = None, decoder: Callable | None = None) -> dict:
    """The terms of -ELBO(x_0) in nats, one value per example (see the module docstring).

    Parameters
    ----------
    eps_model : callable
        eps_theta(x_t, t) -> predicted noise, shape like x_t; t is an int64 tensor (B,).
    x0 : torch.Tensor, shape (B, ...)
        Data; for discrete data, on the grid of ``levels_to_signed``.
    betas : torch.Tensor, shape (T,)
    n_levels : int, optional
        Use the discretised Gaussian decoder with this many levels (17 for the digits), so the
        bound is on the discrete NLL; without it the decoder is the Gaussian density and the
        bound is on the continuous NLL.
    var_kind : {"posterior", "beta"}
        The fixed reverse variances sigma_t^2 (``reverse_var``).
    generator : torch.Generator, optional
        For the noise that draws each x_t ~ q(x_t | x_0).
    variances : torch.Tensor, shape (T,), optional
        sigma_t^2 to use instead of ``var_kind``'s (e.g. ``kl_optimal_variances``); entry 0 is the
        Gaussian decoder's variance.
    decoder : CategoricalDecoder, optional
        A learned p(x_0 | x_1) over the ``n_levels`` levels (``fit_categorical_decoder``) instead of
        the discretised Gaussian; needs ``n_levels``.

    Returns
    -------
    dict of torch.Tensor (float64)
        "prior" L_T (B,); "diffusion" L_{t-1} for t = 2..T (B, T - 1); "reconstruction" L_0 (B,);
        "total" = their sum (B,), the negative ELBO.
    """
    T, B = len(betas), len(x0)
    x0 = x0.double()
    if decoder is not None and (n_levels is None or n_levels != decoder.n_levels):
        raise ValueError(f"a categorical decoder needs n_levels={getattr(decoder, 'n_levels', '?')} (the levels it "
                         f"models), got n_levels={n_levels!r}.")
    sigma2 = reverse_var(betas, var_kind) if variances is None else torch.as_tensor(variances, dtype=torch.float64)
    if sigma2.shape != (T,) or not bool((sigma2 > 0).all()):
        raise ValueError(f"variances must be T = {T} positive numbers, one per step; got shape "
                         f"{tuple(sigma2.shape)}.")
    ab_T = alpha_bar(betas)[-1]
    prior = _sum_dims(gaussian_kl(ab_T.sqrt() * x0, 1 - ab_T, torch.zeros_like(x0), 1.0))  # (B,)
    diffusion = torch.zeros(B, T - 1, dtype=torch.float64)
    reconstruction = torch.zeros(B, dtype=torch.float64)
    for t_value in range(1, T + 1):
        t = torch.full((B,), t_value, dtype=torch.long)
        eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
        x_t = q_sample(x0, t, betas, eps)
        eps_pred = eps_model(x_t.float(), t).double()
        mean_p = reverse_mean(x_t, t, eps_pred, betas)
        var_p = at_timestep(sigma2, t, x0)
        if t_value == 1:
            if decoder is not None:
                from genlib.models.diffusion.decoder import decoder_log_likelihood
                with torch.no_grad():
                    reconstruction = -decoder_log_likelihood(decoder, eps_model, x0, betas, eps)
                continue
            if n_levels is None:
                log_p = -0.5 * (LOG_2PI + torch.log(var_p) + (x0 - mean_p) ** 2 / var_p)
            else:
                log_p = discretised_gaussian_log_likelihood(x0, mean_p, var_p, n_levels)
            reconstruction = -_sum_dims(log_p)
        else:
            mean_q, var_q = posterior_mean_var(x_t, x0, t, betas)
            diffusion[:, t_value - 2] = _sum_dims(gaussian_kl(mean_q, var_q, mean_p, var_p))
    return {"prior": prior, "diffusion": diffusion, "reconstruction": reconstruction,
            "total": prior + diffusion.sum(dim=1) + reconstruction}


def negative_elbo(eps_model: Callable, x0: torch.Tensor, betas: torch.Tensor, *, batch_size: int = 512,
                  **kwargs) -> torch.Tensor:
    """-ELBO(x_0) in nats for each example, shape (B,), computed in batches (see ``elbo_terms``).

    Divide the mean by D ln 2 (``genlib.metrics.bits_per_dim``) for bits per dimension.
    """
    return torch.cat([elbo_terms(eps_model, x0[i:i + batch_size], betas, **kwargs)["total"]
                      for i in range(0, len(x0), batch_size)])
