"""A normalising flow as a stack of layers on a standard normal base, and ``realnvp``, the course's standard stack.

A flow writes the data as an invertible function of Gaussian noise, x = f(z), z ~ N(0, I). Its
exact log-likelihood is the change of variables

    log p(x) = log N(f^{-1}(x); 0, I) + log |det d f^{-1}(x) / dx|.

``Flow`` chains layers of ``genlib.models.flows.layers`` and adds up their log-determinants;
``realnvp`` builds couplings with alternating half masks, ActNorm and mixing between them.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from genlib.models.flows.layers import (
    ActNorm, AffineCoupling, InvertibleLinear, LogitTransform, Permutation, SplineCoupling, check_batch,
)


class Flow(nn.Module):
    """A normalising flow: invertible layers on top of a standard normal base N(0, I_D).

    Parameters
    ----------
    layers : sequence of nn.Module
        Each with ``forward(x) -> (y, log_det)`` (towards the noise) and
        ``inverse(y) -> (x, log_det)`` (towards the data); applied in this order by
        ``forward``, in reverse order by ``inverse``.
    dim : int
        D, the dimension of the data and of the noise.
    """

    def __init__(self, layers, dim: int):
        super().__init__()
        layers = list(layers)
        if not layers or not all(hasattr(layer, "inverse") for layer in layers):
            raise TypeError("layers must be a non-empty sequence of flow layers, each with forward and inverse.")
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}.")
        self.layers = nn.ModuleList(layers)  # a plain list would hide the parameters from the optimiser
        self.dim = dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = f^{-1}(x), shape (B, D), and log |det d f^{-1}/dx|, shape (B,)."""
        x = check_batch("x", x, self.dim)
        log_det = x.new_zeros(len(x))
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = f(z), shape (B, D), and log |det df/dz|, shape (B,)."""
        z = check_batch("z", z, self.dim)
        log_det = z.new_zeros(len(z))
        for layer in reversed(self.layers):
            z, ld = layer.inverse(z)
            log_det = log_det + ld
        return z, log_det

    def base_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I), shape (B,)."""
        return -0.5 * (z**2).sum(dim=1) - 0.5 * self.dim * math.log(2 * math.pi)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density log p(x) = log N(f^{-1}(x); 0, I) + log |det d f^{-1}/dx|, shape (B,)."""
        z, log_det = self.forward(x)
        return self.base_log_prob(z) + log_det

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n samples x = f(z), z ~ N(0, I), shape (n, D)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        device = next((p.device for p in self.parameters()), torch.device("cpu"))
        z = torch.randn(n, self.dim, generator=generator).to(device)
        return self.inverse(z)[0]

    def intermediates(self, z: torch.Tensor) -> list[torch.Tensor]:
        """The points after each layer of the generating direction, from the noise to the data.

        Parameters
        ----------
        z : torch.Tensor, shape (B, D)
            Noise (for example a draw from N(0, I)).

        Returns
        -------
        list of L + 1 tensors of shape (B, D)
            ``[z, after the last layer's inverse, ..., x = f(z)]``: entry k is the point after
            k layers of the generating direction.
        """
        z = check_batch("z", z, self.dim)
        points = [z]
        for layer in reversed(self.layers):
            z, _ = layer.inverse(z)
            points.append(z)
        return points


def realnvp(dim: int, n_couplings: int = 8, *, hidden: int = 64, n_hidden: int = 2,
            mixing: str = "linear", actnorm: bool = True, logit: bool = False, coupling: str = "affine",
            n_bins: int = 16, bound: float = 4.0, dropout: float = 0.0, seed: int = 0) -> Flow:
    """A RealNVP-style flow: couplings with alternating half masks, mixing and ActNorm between them.

    Parameters
    ----------
    dim : int
        D (at least 2).
    n_couplings : int
        Number of affine coupling layers.
    hidden, n_hidden : int
        Width and depth of each coupling's network.
    mixing : {"linear", "reverse", "none"}
        What goes between couplings: a learned ``InvertibleLinear``, a reversing
        ``Permutation``, or nothing (the masks still alternate).
    actnorm : bool
        Put an ``ActNorm`` before each coupling.
    logit : bool
        Start with a ``LogitTransform`` (data in (0, 1), such as dequantised images).
    coupling : {"affine", "spline"}
        ``AffineCoupling`` (RealNVP) or ``SplineCoupling`` (Neural Spline Flows).
    n_bins, bound : int, float
        Bins and range of the splines (``coupling="spline"`` only).
    dropout : float
        Dropout in the affine couplings' networks (``coupling="affine"`` only).
    seed : int
        Seeds the initial weights.

    Returns
    -------
    Flow
    """
    if not isinstance(dim, int) or dim < 2:
        raise ValueError(f"dim must be an integer >= 2 (a coupling splits the entries in two), got {dim!r}.")
    if not isinstance(n_couplings, int) or n_couplings < 1:
        raise ValueError(f"n_couplings must be a positive integer, got {n_couplings!r}.")
    if mixing not in ("linear", "reverse", "none"):
        raise ValueError(f"mixing must be one of 'linear', 'reverse', 'none'; got {mixing!r}.")
    if coupling not in ("affine", "spline"):
        raise ValueError(f"coupling must be 'affine' or 'spline'; got {coupling!r}.")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        half = (torch.arange(dim) < dim // 2).float()  # (D,)
        layers = [LogitTransform(dim)] if logit else []
        for k in range(n_couplings):
            if actnorm:
                layers.append(ActNorm(dim))
            mask = half if k % 2 == 0 else 1 - half
            if coupling == "affine":
                layers.append(AffineCoupling(mask, hidden=hidden, n_hidden=n_hidden, dropout=dropout))
            else:
                layers.append(SplineCoupling(mask, n_bins=n_bins, bound=bound, hidden=hidden, n_hidden=n_hidden))
            if k < n_couplings - 1 and mixing == "linear":
                layers.append(InvertibleLinear(dim, seed=seed + k))
            elif k < n_couplings - 1 and mixing == "reverse":
                layers.append(Permutation.reverse(dim))
    return Flow(layers, dim)
