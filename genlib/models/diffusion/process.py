"""Training and sampling: the simplified loss, one ancestral step, and a model that holds both.

Training (Ho et al., 2020, Algorithm 1): t ~ U{1..T}, eps ~ N(0, I),
    L_simple = E || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2.
Sampling (Algorithm 2): x_T ~ N(0, I), then for t = T..1
    x_{t-1} = mu_theta(x_t, t) + sigma_t z,   z ~ N(0, I)   (no noise at t = 1),
    mu_theta(x_t, t) = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_t).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from genlib._validation import check_same_shape
from genlib.models.diffusion.elbo import elbo_terms, negative_elbo
from genlib.models.diffusion.schedule import at_timestep, check_betas, q_sample, reverse_mean, reverse_var


def simple_loss(eps_model: Callable, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor,
                betas: torch.Tensor) -> torch.Tensor:
    """L_simple: the mean squared error between eps and eps_theta(x_t, t), x_t = q_sample(x0, t, eps).

    Returns
    -------
    torch.Tensor, scalar: the mean over the batch and every dimension.
    """
    x_t = q_sample(x0, t, betas, eps)
    return ((eps - eps_model(x_t, t)) ** 2).mean()


def p_sample_step(x_t: torch.Tensor, t: torch.Tensor, eps_pred: torch.Tensor, betas: torch.Tensor,
                  z: torch.Tensor, var_kind: str = "beta") -> torch.Tensor:
    """One ancestral step x_{t-1} = mu_theta(x_t, t) + sigma_t z, with no noise where t = 1.

    Parameters
    ----------
    x_t, eps_pred, z : torch.Tensor, shape (B, ...)
    t : torch.Tensor, int64, shape (B,), values in 1..T
    betas : torch.Tensor, shape (T,)
    var_kind : {"posterior", "beta"}
        sigma_t^2 = beta_tilde_t or beta_t (``reverse_var``).

    Returns
    -------
    x_prev : torch.Tensor, shape like x_t
    """
    check_same_shape("x_t", x_t, "z", z)
    mean = reverse_mean(x_t, t, eps_pred, betas)
    sigma = at_timestep(reverse_var(betas, var_kind), t, x_t).sqrt()
    noise_on = at_timestep((torch.arange(len(betas)) > 0).double(), t, x_t)  # 0 where t = 1
    return mean + noise_on * sigma * z


class GaussianDiffusion(nn.Module):
    """A denoising diffusion model: a fixed schedule and a learned noise predictor.

    Parameters
    ----------
    eps_model : nn.Module
        eps_theta(x_t, t) -> predicted noise of the shape of x_t (``MLPDenoiser``, ``ConvDenoiser``).
    betas : torch.Tensor, shape (T,)
        The noise schedule (``linear_betas``, ``cosine_betas``).
    var_kind : {"posterior", "beta"}
        The fixed reverse variances.
    """

    def __init__(self, eps_model: nn.Module, betas: torch.Tensor, var_kind: str = "beta"):
        super().__init__()
        check_betas(betas)
        reverse_var(betas, var_kind)  # validates var_kind
        self.eps_model, self.var_kind = eps_model, var_kind
        self.register_buffer("betas", betas.double())

    @property
    def T(self) -> int:
        return len(self.betas)

    def loss(self, x0: torch.Tensor) -> torch.Tensor:
        """L_simple on a mini-batch, with fresh t ~ U{1..T} and eps ~ N(0, I) (a scalar)."""
        t = torch.randint(1, self.T + 1, (len(x0),), device=x0.device)
        return simple_loss(self.eps_model, x0, t, torch.randn_like(x0), self.betas)

    @torch.no_grad()
    def sample(self, n: int, shape: tuple[int, ...], *, generator: torch.Generator | None = None,
               trajectory: bool = False, x_T: torch.Tensor | None = None):
        """Ancestral sampling from x_T ~ N(0, I) down to x_0.

        Parameters
        ----------
        n : int
        shape : tuple
            The shape of one example, e.g. (2,) or (1, 8, 8).
        trajectory : bool
            Also return every x_t.
        x_T : torch.Tensor, shape (n, *shape), optional
            Start from this x_T instead of drawing it from N(0, I).

        Returns
        -------
        x0 : torch.Tensor, float32, shape (n, *shape)
        path : torch.Tensor, shape (T + 1, n, *shape), only if ``trajectory``: path[t] = x_t.
        """
        device = self.betas.device
        x = torch.randn((n, *shape), generator=generator).to(device) if x_T is None else x_T.float().to(device)
        if x.shape != (n, *shape):
            raise ValueError(f"x_T must have shape {(n, *shape)} (n, *shape), got {tuple(x.shape)}.")
        path = [x]
        for t_value in range(self.T, 0, -1):
            t = torch.full((n,), t_value, dtype=torch.long, device=device)
            z = torch.randn((n, *shape), generator=generator).to(device)
            x = p_sample_step(x, t, self.eps_model(x, t), self.betas, z, self.var_kind)
            path.append(x)
        if trajectory:
            return x, torch.stack(path[::-1])
        return x

    def elbo_terms(self, x0: torch.Tensor, **kwargs) -> dict:
        """The terms of -ELBO(x_0) in nats (``genlib.models.diffusion.elbo_terms``)."""
        return elbo_terms(self.eps_model, x0, self.betas, var_kind=self.var_kind, **kwargs)

    def negative_elbo(self, x0: torch.Tensor, **kwargs) -> torch.Tensor:
        """-ELBO(x_0) in nats for each example, shape (B,)."""
        return negative_elbo(self.eps_model, x0, self.betas, var_kind=self.var_kind, **kwargs)
