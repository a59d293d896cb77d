"""The linear-Gaussian latent variable model: a VAE whose likelihood is exact.

    p(z) = N(0, I_K),    p(x | z) = N(W z + b, sigma^2 I_D)

Marginal:   p(x) = N(x; b, C),  C = W W^T + sigma^2 I_D          (closed form)
Posterior:  p(z | x) = N(M^-1 W^T (x - b), sigma^2 M^-1),  M = W^T W + sigma^2 I_K

For a diagonal Gaussian q(z | x) = N(q_mean, diag(exp(q_log_var))) the ELBO is also
in closed form (no sampling):

    E_q[log p(x | z)] = -D/2 log(2 pi sigma^2)
                        - (||x - W q_mean - b||^2 + sum_k exp(q_log_var_k) ||W[:, k]||^2) / (2 sigma^2)
    ELBO = E_q[log p(x | z)] - KL(q || N(0, I))

and the gap  log p(x) - ELBO  equals  KL(q(z | x) || p(z | x)) >= 0.
With W fitted by maximum likelihood this is probabilistic PCA (Tipping & Bishop, 1999).
"""
from __future__ import annotations

import math

import torch

from genlib._validation import as_generator, as_tensor, check_finite, check_ndim, check_positive
from genlib.models.vae import LOG_2PI, kl_standard_normal


class LinearGaussianModel:
    """p(z) = N(0, I_K), p(x | z) = N(W z + b, sigma^2 I_D); all maths in float64.

    Parameters
    ----------
    W : array-like, shape (D, K)
    b : array-like, shape (D,)
    sigma : float
        The observation noise standard deviation.
    """

    def __init__(self, W, b, sigma: float):
        self.W = as_tensor("W", W, dtype=torch.float64)
        self.b = as_tensor("b", b, dtype=torch.float64)
        check_ndim("W", self.W, 2, "(D, K)")
        check_ndim("b", self.b, 1, "(D,)")
        if self.b.shape[0] != self.W.shape[0]:
            raise ValueError(
                f"b must have shape (D,) = ({self.W.shape[0]},) to match W of shape "
                f"{tuple(self.W.shape)}; got {tuple(self.b.shape)}."
            )
        check_finite("W", self.W)
        check_finite("b", self.b)
        check_positive("sigma", float(sigma))
        self.sigma = float(sigma)

    @property
    def data_dim(self) -> int:
        return self.W.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.W.shape[1]

    def _as_data(self, x) -> torch.Tensor:
        x = as_tensor("x", x, dtype=torch.float64)
        check_ndim("x", x, 2, f"(N, D) with D = {self.data_dim}")
        if x.shape[1] != self.data_dim:
            raise ValueError(f"x must have shape (N, {self.data_dim}), got {tuple(x.shape)}.")
        check_finite("x", x)
        return x

    def marginal_covariance(self) -> torch.Tensor:
        """C = W W^T + sigma^2 I, shape (D, D)."""
        return self.W @ self.W.T + self.sigma**2 * torch.eye(self.data_dim, dtype=torch.float64)

    def log_marginal(self, x) -> torch.Tensor:
        """Exact log p(x) = log N(x; b, W W^T + sigma^2 I), shape (N,)."""
        x = self._as_data(x)
        dist = torch.distributions.MultivariateNormal(self.b, covariance_matrix=self.marginal_covariance())
        return dist.log_prob(x)

    def posterior(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact posterior p(z | x): mean (N, K) and covariance (K, K), shared by all x."""
        x = self._as_data(x)
        M = self.W.T @ self.W + self.sigma**2 * torch.eye(self.latent_dim, dtype=torch.float64)
        mean = torch.linalg.solve(M, self.W.T @ (x - self.b).T).T  # (N, K)
        return mean, self.sigma**2 * torch.linalg.inv(M)

    def elbo(self, x, q_mean, q_log_var) -> torch.Tensor:
        """Closed-form ELBO for q(z | x) = N(q_mean, diag(exp(q_log_var))), shape (N,).

        q_mean, q_log_var : shape (N, K)
        """
        x = self._as_data(x)
        q_mean = as_tensor("q_mean", q_mean, dtype=torch.float64)
        q_log_var = as_tensor("q_log_var", q_log_var, dtype=torch.float64)
        expected_shape = (x.shape[0], self.latent_dim)
        for name, value in (("q_mean", q_mean), ("q_log_var", q_log_var)):
            if tuple(value.shape) != expected_shape:
                raise ValueError(f"{name} must have shape (N, K) = {expected_shape}, got {tuple(value.shape)}.")
        residual = x - q_mean @ self.W.T - self.b  # (N, D)
        spread = q_log_var.exp() @ self.W.pow(2).sum(dim=0)  # (N,): sum_k s_k^2 ||W[:, k]||^2
        expected_log_lik = (
            -0.5 * self.data_dim * (LOG_2PI + 2 * math.log(self.sigma))
            - (residual.pow(2).sum(dim=1) + spread) / (2 * self.sigma**2)
        )
        return expected_log_lik - kl_standard_normal(q_mean, q_log_var)

    def elbo_gap(self, x, q_mean, q_log_var) -> torch.Tensor:
        """log p(x) - ELBO(x), shape (N,): the KL from q(z | x) to the true posterior."""
        return self.log_marginal(x) - self.elbo(x, q_mean, q_log_var)

    def sample(self, n: int, *, seed: int | torch.Generator | None = None) -> torch.Tensor:
        """Draw x ~ p(x) by ancestral sampling, shape (n, D); ``seed`` (an int or a torch.Generator, whose
        draws continue) seeds the draw, None draws from torch's global generator."""
        generator = as_generator(seed) if seed is not None else None
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=torch.float64)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=torch.float64)
        return z @ self.W.T + self.b + self.sigma * noise

    @classmethod
    def fit_ppca(cls, x, latent_dim: int) -> "LinearGaussianModel":
        """Maximum-likelihood fit (probabilistic PCA, Tipping & Bishop 1999), in closed form.

        sigma^2 = mean of the discarded eigenvalues of the data covariance;
        W = U_K (Lambda_K - sigma^2 I)^(1/2).
        """
        x = as_tensor("x", x, dtype=torch.float64)
        check_ndim("x", x, 2, "(N, D)")
        check_finite("x", x)
        n, d = x.shape
        if not 1 <= latent_dim < d:
            raise ValueError(f"latent_dim must be between 1 and D - 1 = {d - 1}, got {latent_dim}.")
        b = x.mean(dim=0)
        eigvals, eigvecs = torch.linalg.eigh(torch.cov((x - b).T, correction=0))
        eigvals, eigvecs = eigvals.flip(0).clamp_min(0), eigvecs.flip(1)  # descending
        sigma2 = eigvals[latent_dim:].mean().clamp_min(1e-6)
        W = eigvecs[:, :latent_dim] * (eigvals[:latent_dim] - sigma2).clamp_min(0).sqrt()
        return cls(W, b, float(sigma2.sqrt()))

    def __repr__(self) -> str:
        return f"LinearGaussianModel(D={self.data_dim}, K={self.latent_dim}, sigma={self.sigma:.4g})"
