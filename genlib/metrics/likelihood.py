"""The course's one likelihood unit: bits per dimension.

bits/dim = NLL in nats per image / (D ln 2), with D = 64 for the 8x8 digits. Applied to
a discrete NLL (or a bound on it, such as a negative ELBO), it is comparable across
VAEs, flows and diffusion models.
"""
from __future__ import annotations

import math

import torch

from genlib._validation import as_tensor, check_finite


def bits_per_dim(nll_nats, data_dim: int = 64) -> float:
    """Average negative log-likelihood in bits per dimension.

    Parameters
    ----------
    nll_nats : torch.Tensor or array, shape (N,)
        Negative log-likelihood (or its upper bound) of each image, in nats.
    data_dim : int
        D, the number of dimensions of one image.

    Returns
    -------
    float
    """
    nll = as_tensor("nll_nats", nll_nats, dtype=torch.float64)
    if nll.ndim != 1 or len(nll) == 0:
        raise ValueError(f"nll_nats must have shape (N,) with N >= 1, got {tuple(nll.shape)}.")
    check_finite("nll_nats", nll)
    if not isinstance(data_dim, int) or data_dim < 1:
        raise ValueError(f"data_dim must be a positive integer, got {data_dim!r}.")
    return float(nll.mean() / (data_dim * math.log(2)))


def uniform_dequantize(x_levels, n_levels: int = 17, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform dequantisation: v = (x + u) / L with u ~ U[0, 1)^D, a point of the cell of x.

    Parameters
    ----------
    x_levels : torch.Tensor, shape (N, D)
        Integer levels 0..L-1 (as floats or integers), e.g. ``load_digits(scale="levels")``.
    n_levels : int
        L, the number of levels (17 for the digits).
    generator : torch.Generator, optional
        For reproducible noise.

    Returns
    -------
    v : torch.Tensor, float32, shape (N, D), in (0, 1)
        The cell of level k is [k / L, (k + 1) / L).
    """
    x = _check_levels(x_levels, n_levels)
    u = torch.rand(x.shape, generator=generator)  # (N, D)
    return ((x + u) / n_levels).float()


def dequantized_nll_bound(log_density, x_levels, n_levels: int = 17, *, n_samples: int = 1,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """Upper bound on the discrete NLL -log P(x) from a density on dequantised data, in nats.

    With v = (x + u) / L, the discrete model is P(x) = integral over the cell of x of
    q(v) dv = E_u[q(v)] / L^D. Jensen's inequality (log is concave) gives
    log P(x) >= E_u[log q(v)] - D log L, so

        -log P(x) <= E_u[-log q(v)] + D log L.

    With ``n_samples`` = S > 1 the importance-weighted form
    -log( (1/S) sum_s q(v_s) ) + D log L is used: still an upper bound in expectation, and a
    tighter one (it tends to -log P(x) as S grows).

    Parameters
    ----------
    log_density : callable
        ``log_density(v) -> (N,)``: the model's log-density of points v in (0, 1)^D.
    x_levels : torch.Tensor, shape (N, D)
        Integer levels 0..L-1.
    n_levels : int
        L.
    n_samples : int
        S, dequantisation draws per image.
    generator : torch.Generator, optional

    Returns
    -------
    torch.Tensor, float64, shape (N,)
        The bound for each image, in nats; ``bits_per_dim`` turns it into the course's unit.
    """
    x = _check_levels(x_levels, n_levels)
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    n, d = x.shape
    log_q = torch.stack([torch.as_tensor(log_density(uniform_dequantize(x, n_levels, generator=generator)))
                         .detach().double().reshape(-1) for _ in range(n_samples)])  # (S, N)
    if log_q.shape != (n_samples, n):
        raise ValueError(f"log_density must return one value per image, shape ({n},), got {tuple(log_q.shape[1:])}.")
    log_p_discrete = torch.logsumexp(log_q, dim=0) - math.log(n_samples) - d * math.log(n_levels)  # (N,)
    return -log_p_discrete


def _check_levels(x_levels, n_levels: int) -> torch.Tensor:
    if not isinstance(n_levels, int) or n_levels < 2:
        raise ValueError(f"n_levels must be an integer >= 2, got {n_levels!r}.")
    x = as_tensor("x_levels", x_levels, dtype=torch.float64)
    if x.ndim != 2:
        raise ValueError(f"x_levels must have shape (N, D), got {tuple(x.shape)}. Flatten images with "
                         "x.reshape(len(x), -1).")
    check_finite("x_levels", x)
    if not bool(((x == x.round()) & (x >= 0) & (x <= n_levels - 1)).all()):
        raise ValueError(f"x_levels must hold integer levels 0..{n_levels - 1}; got values in "
                         f"[{x.min().item():g}, {x.max().item():g}]. For the digits, load them with "
                         "scale='levels', not scale='unit'.")
    return x
