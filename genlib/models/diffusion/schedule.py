"""Noise schedules, the forward process q(x_t | x_0) and the posterior q(x_{t-1} | x_t, x_0).

The forward (noising) chain of a diffusion model, with nothing to learn:

    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),           t = 1..T
    q(x_t | x_0)     = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I),    alpha_bar_t = prod_{s<=t} (1 - beta_s)
    q(x_{t-1} | x_t, x_0) = N(mu_tilde_t, beta_tilde_t I)  (Bayes' rule), with
        mu_tilde_t   = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0
                       + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t,
        beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t,   alpha_t = 1 - beta_t.

Conventions: timesteps ``t`` are integers 1..T as in the maths (a LongTensor of shape (B,),
one per example); a schedule is a tensor ``betas`` of shape (T,) with betas[t - 1] = beta_t,
and ``alpha_bar[t - 1]`` = alpha_bar_t (alpha_bar_0 = 1 is implicit). Data ``x0`` has shape
(B, ...) (points (B, 2) or images (B, 1, 8, 8)).
"""
from __future__ import annotations

import math

import torch

from genlib._validation import check_same_shape


def linear_betas(T: int, beta_1: float | None = None, beta_T: float | None = None) -> torch.Tensor:
    """The linear schedule of Ho et al. (2020), beta_t from beta_1 to beta_T, in float64.

    The defaults scale DDPM's (1e-4, 0.02) for T = 1000 by 1000 / T, so that fewer steps
    still destroy the signal (Nichol & Dhariwal, 2021): beta_1 = 0.1 / T, beta_T = 20 / T,
    capped at 0.5 (for T < 40: a step with beta_t near 1 divides the reverse mean by sqrt(1 - beta_t),
    which blows up the error of a learned eps_theta).

    Returns
    -------
    betas : torch.Tensor, float64, shape (T,)
    """
    _check_T(T)
    beta_1 = min(0.1 / T, 0.999) if beta_1 is None else beta_1
    beta_T = min(20.0 / T, 0.5) if beta_T is None else beta_T
    if not 0 < beta_1 <= beta_T < 1:
        raise ValueError(f"need 0 < beta_1 <= beta_T < 1, got beta_1={beta_1!r}, beta_T={beta_T!r}.")
    return torch.linspace(beta_1, beta_T, T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """The cosine schedule of Nichol & Dhariwal (2021), in float64.

    alpha_bar_t = f(t) / f(0) with f(t) = cos^2((t / T + s) / (1 + s) * pi / 2), and
    beta_t = 1 - alpha_bar_t / alpha_bar_{t-1}, capped at ``max_beta`` (f(T) = 0 would
    give beta_T = 1).

    Returns
    -------
    betas : torch.Tensor, float64, shape (T,)
    """
    _check_T(T)
    steps = torch.arange(T + 1, dtype=torch.float64) / T  # (T + 1,): t / T for t = 0..T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


def alpha_bar(betas: torch.Tensor) -> torch.Tensor:
    """alpha_bar_t = prod_{s=1}^{t} (1 - beta_s) for t = 1..T, shape (T,)."""
    check_betas(betas)
    return torch.cumprod(1 - betas, dim=0)


def signal_to_noise(betas: torch.Tensor) -> torch.Tensor:
    """SNR(t) = alpha_bar_t / (1 - alpha_bar_t), the signal-to-noise ratio of x_t, shape (T,)."""
    ab = alpha_bar(betas)
    return ab / (1 - ab)


def _check_T(T) -> None:
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T must be a positive integer (the number of diffusion steps), got {T!r}.")


def check_betas(betas) -> None:
    """Raise unless ``betas`` is a 1-D tensor of noise levels in (0, 1) (shared by the schedule and the sampler)."""
    if not isinstance(betas, torch.Tensor) or betas.ndim != 1:
        raise ValueError(f"betas must be a 1-D torch.Tensor of shape (T,), got {getattr(betas, 'shape', type(betas))}.")
    if not ((betas > 0) & (betas < 1)).all():
        raise ValueError("betas must lie in (0, 1): every noising step keeps some signal and adds some noise.")


def at_timestep(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t - 1] per example, shaped (B, 1, ..., 1) to broadcast against ``like`` (B, ...)."""
    if not isinstance(t, torch.Tensor) or t.ndim != 1 or t.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"t must be an integer tensor of shape (B,) with timesteps 1..T, got {t!r}.")
    if len(t) != len(like):
        raise ValueError(f"t must hold one timestep per example: got {len(t)} for a batch of {len(like)}.")
    T = len(values)
    if len(t) and (t.min() < 1 or t.max() > T):
        raise ValueError(f"t must lie in 1..T = 1..{T}, got values from {int(t.min())} to {int(t.max())}.")
    out = values.to(like.device)[t.to(like.device) - 1].to(like.dtype)  # (B,)
    return out.reshape(-1, *([1] * (like.ndim - 1)))


def q_mean_var(x0: torch.Tensor, t: torch.Tensor, betas: torch.Tensor):
    """Mean and variance of q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I).

    Returns
    -------
    mean : torch.Tensor, shape like x0
    var : torch.Tensor, shape (B, 1, ..., 1), broadcastable to x0
    """
    ab = at_timestep(alpha_bar(betas), t, x0)
    return ab.sqrt() * x0, 1 - ab


def q_sample(x0: torch.Tensor, t: torch.Tensor, betas: torch.Tensor, eps: torch.Tensor | None = None):
    """Draw x_t ~ q(x_t | x_0): x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps.

    Parameters
    ----------
    x0 : torch.Tensor, shape (B, ...)
    t : torch.Tensor, int64, shape (B,), values in 1..T
    betas : torch.Tensor, shape (T,)
    eps : torch.Tensor, shape like x0, optional
        The standard normal noise; drawn when not given.

    Returns
    -------
    x_t : torch.Tensor, shape like x0
    """
    if eps is None:
        eps = torch.randn_like(x0)
    check_same_shape("x0", x0, "eps", eps)
    mean, var = q_mean_var(x0, t, betas)
    return mean + var.sqrt() * eps


def posterior_mean_var(x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor, betas: torch.Tensor):
    """Mean and variance of the posterior q(x_{t-1} | x_t, x_0) (see the module docstring).

    At t = 1 the posterior is a point mass at x_0 (mean x_0, variance 0).

    Returns
    -------
    mean : torch.Tensor, shape like x_t
    var : torch.Tensor, shape (B, 1, ..., 1)
    """
    check_same_shape("x_t", x_t, "x0", x0)
    ab = alpha_bar(betas)  # coefficients in float64, then gathered at t
    ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])  # alpha_bar_{t-1}, with alpha_bar_0 = 1
    coef_x0 = ab_prev.sqrt() * betas / (1 - ab)
    coef_x_t = (1 - betas).sqrt() * (1 - ab_prev) / (1 - ab)
    mean = at_timestep(coef_x0, t, x0) * x0 + at_timestep(coef_x_t, t, x0) * x_t
    return mean, at_timestep((1 - ab_prev) / (1 - ab) * betas, t, x0)


def predict_x0(x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """Invert q_sample for x_0: x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
    check_same_shape("x_t", x_t, "eps", eps)
    ab = at_timestep(alpha_bar(betas), t, x_t)
    return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()


def reverse_mean(x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """The reverse mean in noise-prediction form: mu = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t).

    It equals the posterior mean with x_0 replaced by ``predict_x0(x_t, t, eps)``.
    """
    check_same_shape("x_t", x_t, "eps", eps)
    ab = alpha_bar(betas)
    coef_eps = betas / (1 - ab).sqrt()
    return (x_t - at_timestep(coef_eps, t, x_t) * eps) / at_timestep((1 - betas).sqrt(), t, x_t)


def reverse_var(betas: torch.Tensor, kind: str = "beta") -> torch.Tensor:
    """The fixed variances sigma_t^2 of the reverse steps p(x_{t-1} | x_t), shape (T,).

    kind="posterior": sigma_t^2 = beta_tilde_t (exact when x_0 is a single point);
    kind="beta": sigma_t^2 = beta_t (exact when x_0 ~ N(0, I)). Either way sigma_1^2 = beta_1,
    the variance of the decoder p(x_0 | x_1) (beta_tilde_1 = 0).
    """
    if kind not in ("posterior", "beta"):
        raise ValueError(f"kind must be 'posterior' or 'beta', got {kind!r}.")
    if kind == "beta":
        return betas.clone()
    ab = alpha_bar(betas)
    ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
    var = (1 - ab_prev) / (1 - ab) * betas
    var[0] = betas[0]
    return var
