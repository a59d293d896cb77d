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
