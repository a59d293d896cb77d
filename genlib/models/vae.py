"""The variational auto-encoder of unit 01, and the pieces of its ELBO.

Latent variable model:  p(z) = N(0, I),  p_theta(x | z) = a decoder,
encoder (amortised posterior):  q_phi(z | x) = N(mu(x), diag(exp(log_var(x)))).

    log p(x) >= ELBO(x) = E_q[log p_theta(x | z)] - KL(q_phi(z | x) || p(z))

Names: ``mu`` = mu, ``log_var`` = log sigma^2, ``eps`` = epsilon ~ N(0, I),
``logits`` = decoder outputs before the sigmoid / softmax.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genlib._validation import check_choice, check_ndim, check_same_shape

LOG_2PI = math.log(2 * math.pi)
LIKELIHOODS = ("categorical", "bernoulli", "gaussian")


def reparameterize(mu: torch.Tensor, log_var: torch.Tensor, eps: torch.Tensor | None = None):
    """Draw z ~ N(mu, diag(sigma^2)) as a differentiable function of (mu, log_var).

    z = mu + sigma * eps, with sigma = exp(log_var / 2) and eps ~ N(0, I).

    Parameters
    ----------
    mu, log_var : torch.Tensor, shape (B, K)
    eps : torch.Tensor, shape (B, K), optional
        The standard normal noise; drawn when not given.

    Returns
    -------
    z : torch.Tensor, shape (B, K)
    """
    check_same_shape("mu", mu, "log_var", log_var)
    if eps is None:
        eps = torch.randn_like(mu)
    check_same_shape("mu", mu, "eps", eps)
    return mu + torch.exp(0.5 * log_var) * eps


def kl_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(log_var))) || N(0, I)), summed over the latent dimensions.

    KL = 1/2 * sum_k (exp(log_var_k) + mu_k^2 - 1 - log_var_k)

    Parameters
    ----------
    mu, log_var : torch.Tensor, shape (B, K)

    Returns
    -------
    torch.Tensor, shape (B,)
    """
    check_same_shape("mu", mu, "log_var", log_var)
    check_ndim("mu", mu, 2, "(B, K)")
    # expm1(v) - v rather than exp(v) - 1 - v: never negative in floating point (exp(v) - 1
    # rounds to 0 for |v| < 1e-8 in float32, which made the KL slightly negative)
    return 0.5 * (log_var.expm1() - log_var + mu.pow(2)).sum(dim=1)


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(x; sigmoid(logits)) summed over pixels, stable for any logits.

    log p(x | z) = sum_d x_d * logits_d - softplus(logits_d)

    Parameters
    ----------
    x : torch.Tensor, shape (B, D), values in [0, 1]
    logits : torch.Tensor, shape (B, D)

    Returns
    -------
    torch.Tensor, shape (B,)
    """
    check_same_shape("x", x, "logits", logits)
    return (x * logits - F.softplus(logits)).sum(dim=1)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_var) -> torch.Tensor:
    """log N(x; mean, diag(exp(log_var))) summed over dimensions.

    Parameters
    ----------
    x, mean : torch.Tensor, shape (B, D)
    log_var : torch.Tensor broadcastable to (B, D), or a float

    Returns
    -------
    torch.Tensor, shape (B,)
    """
    check_same_shape("x", x, "mean", mean)
    log_var = torch.as_tensor(log_var, dtype=x.dtype, device=x.device).expand_as(x)
    return -0.5 * (LOG_2PI + log_var + (x - mean).pow(2) / log_var.exp()).sum(dim=1)


def categorical_log_likelihood(levels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log Categorical(levels; softmax(logits)) summed over pixels.

    Parameters
    ----------
    levels : torch.Tensor, shape (B, D), integer-valued in 0..L-1
    logits : torch.Tensor, shape (B, D, L)

    Returns
    -------
    torch.Tensor, shape (B,)
    """
    if logits.shape[:-1] != levels.shape:
        raise ValueError(
            f"logits must have shape (B, D, L) matching levels (B, D); got logits "
            f"{tuple(logits.shape)} and levels {tuple(levels.shape)}."
        )
    log_probs = F.log_softmax(logits, dim=-1)  # (B, D, L)
    return log_probs.gather(-1, levels.long().unsqueeze(-1)).squeeze(-1).sum(dim=1)


def elbo_bernoulli(x, logits, mu, log_var) -> torch.Tensor:
    """Single-sample ELBO with a Bernoulli decoder: log p(x | z) - KL(q(z | x) || p(z)).

    Parameters
    ----------
    x, logits : torch.Tensor, shape (B, D)
        Data in [0, 1] and the decoder's logits for z ~ q(z | x).
    mu, log_var : torch.Tensor, shape (B, K)
        The encoder's outputs.

    Returns
    -------
    torch.Tensor, shape (B,), in nats
    """
    return bernoulli_log_likelihood(x, logits) - kl_standard_normal(mu, log_var)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """A fully connected VAE for flat images with values in [0, 1].

    Parameters
    ----------
    data_dim : int
        D, the number of pixels (64 for the 8x8 digits).
    latent_dim : int
        K, the dimension of z.
    hidden_dim : int
        Width of the two hidden layers of the encoder and of the decoder.
    likelihood : {"categorical", "bernoulli", "gaussian"}
        The decoder p(x | z). "categorical": each pixel is one of ``levels`` values
        (the exact discrete likelihood of the 17-level digits); "bernoulli": pixel
        intensities as probabilities; "gaussian": N(x; mean, sigma^2) with a fixed
        ``gaussian_std``, i.e. a scaled mean-squared error.
    levels : int
        Number of pixel levels L for the categorical decoder (17 for the digits).
    gaussian_std : float
        sigma of the Gaussian decoder.
    """

    def __init__(self, data_dim: int = 64, latent_dim: int = 2, hidden_dim: int = 256,
                 likelihood: str = "categorical", levels: int = 17, gaussian_std: float = 0.1):
        super().__init__()
        check_choice("likelihood", likelihood, LIKELIHOODS)
        self.data_dim, self.latent_dim, self.likelihood = data_dim, latent_dim, likelihood
        self.levels, self.gaussian_std = levels, gaussian_std
        out_per_pixel = levels if likelihood == "categorical" else 1
        self.encoder = _mlp([data_dim, hidden_dim, hidden_dim, 2 * latent_dim])
        self.decoder = _mlp([latent_dim, hidden_dim, hidden_dim, data_dim * out_per_pixel])

    def _check_x(self, x: torch.Tensor) -> None:
        check_ndim("x", x, 2, f"(B, {self.data_dim})")
        if x.shape[1] != self.data_dim:
            raise ValueError(
                f"x must have shape (B, {self.data_dim}), got {tuple(x.shape)}. "
                f"Flatten images with x.reshape(len(x), -1)."
            )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z | x). x: (B, D) in [0, 1] -> mu, log_var: (B, K)."""
        self._check_x(x)
        mu, log_var = self.encoder(x).chunk(2, dim=1)
        return mu, log_var.clamp(-12.0, 8.0)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder outputs: (B, D, L) logits (categorical), (B, D) logits (bernoulli) or means (gaussian)."""
        out = self.decoder(z)
        if self.likelihood == "categorical":
            return out.reshape(len(z), self.data_dim, self.levels)
        if self.likelihood == "gaussian":
            return torch.sigmoid(out)
        return out

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean image E[x | z] in [0, 1], shape (B, D)."""
        out = self.decode_logits(z)
        if self.likelihood == "categorical":
            values = torch.arange(self.levels, dtype=out.dtype, device=out.device) / (self.levels - 1)
            return (out.softmax(-1) * values).sum(-1)
        if self.likelihood == "bernoulli":
            return torch.sigmoid(out)
        return out

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) summed over pixels, shape (B,)."""
        out = self.decode_logits(z)
        if self.likelihood == "categorical":
            return categorical_log_likelihood(torch.round(x * (self.levels - 1)), out)
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(x, out)
        return gaussian_log_likelihood(x, out, 2 * math.log(self.gaussian_std))

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """Single-sample estimate of the ELBO of each image, in nats, shape (B,)."""
        mu, log_var = self.encode(x)
        z = reparameterize(mu, log_var)
        return self.log_likelihood(x, z) - kl_standard_normal(mu, log_var)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Negative ELBO averaged over the batch: the training loss."""
        return -self.elbo(x).mean()

    @torch.no_grad()
    def importance_weighted_bound(self, x: torch.Tensor, n_samples: int = 100) -> torch.Tensor:
        """The importance-weighted bound log (1/S) sum_s p(x, z_s) / q(z_s | x), shape (B,).

        It is at least the ELBO and tends to log p(x) as ``n_samples`` grows.
        """
        mu, log_var = self.encode(x)
        log_weights = []
        for _ in range(n_samples):
            z = reparameterize(mu, log_var)
            log_q = gaussian_log_likelihood(z, mu, log_var)
            log_prior = gaussian_log_likelihood(z, torch.zeros_like(z), 0.0)
            log_weights.append(self.log_likelihood(x, z) + log_prior - log_q)
        return torch.logsumexp(torch.stack(log_weights), dim=0) - math.log(n_samples)

    @torch.no_grad()
    def sample(self, n: int, *, mean: bool = True, generator: torch.Generator | None = None):
        """Generate ``n`` images, shape (n, D), values in [0, 1].

        mean=True returns E[x | z] (what VAE papers usually show); mean=False draws
        every pixel from p(x | z) as well.
        """
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        if mean:
            return self.decode(z)
        out = self.decode_logits(z)
        if self.likelihood == "categorical":
            probs = out.softmax(-1).reshape(-1, self.levels).cpu()
            flat = torch.multinomial(probs, 1, generator=generator)
            return flat.reshape(n, self.data_dim).float().to(device) / (self.levels - 1)
        if self.likelihood == "bernoulli":
            uniform = torch.rand(out.shape, generator=generator).to(device)
            return (uniform < torch.sigmoid(out)).float()
        return (out + self.gaussian_std * torch.randn(out.shape, generator=generator).to(device)).clamp(0, 1)
