"""Likelihood baselines that cost nothing: independent per-pixel categoricals.

The model treats the 64 pixels as independent, each with its own distribution over the L = 17 grey
levels: p(x) = prod_i pi_i[x_i], with 64 x 17 = 1,088 probabilities (1,024 free ones) estimated by
counting the training images, smoothed with a pseudo-count alpha per level,

    pi_i[k] = (n_i[k] + alpha) / (N + L alpha),

so that a level never seen at a pixel keeps a non-zero probability (alpha = 1 is Laplace's add-one
rule). alpha is chosen on the validation split (``choose_smoothing``), never on the test split. A
likelihood model that does not beat this baseline has learned nothing beyond the pixel marginals.

Layer: a metric (``genlib.metrics``); it imports only torch and ``genlib._validation``.
"""
from __future__ import annotations

import math

import torch

from genlib._validation import as_tensor, check_finite

N_LEVELS = 17


def _levels(name: str, x_levels, n_levels: int) -> torch.Tensor:
    if not isinstance(n_levels, int) or n_levels < 2:
        raise ValueError(f"n_levels must be an integer >= 2, got {n_levels!r}.")
    x = as_tensor(name, x_levels, dtype=torch.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name} must have shape (N, D) with N >= 1, got {tuple(x.shape)}. Flatten images with "
                         "x.reshape(len(x), -1).")
    check_finite(name, x)
    if not bool(((x == x.round()) & (x >= 0) & (x <= n_levels - 1)).all()):
        raise ValueError(f"{name} must hold integer levels 0..{n_levels - 1}, got values in [{x.min().item():g}, "
                         f"{x.max().item():g}]. Load the digits with scale='levels', not scale='unit'.")
    return x.long()


def fit_pixel_categoricals(x_levels, alpha: float = 1.0, n_levels: int = N_LEVELS) -> torch.Tensor:
    """The smoothed per-pixel level frequencies, as log-probabilities.

    Parameters
    ----------
    x_levels : torch.Tensor, shape (N, D)
        Training images as integer levels 0..L-1.
    alpha : float
        Pseudo-count added to every level of every pixel (> 0; 1 is add-one smoothing).
    n_levels : int
        L.

    Returns
    -------
    log_probs : torch.Tensor, float64, shape (D, L)
        log pi_i[k]; each row's probabilities sum to 1.
    """
    x = _levels("x_levels", x_levels, n_levels)
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive number (a pseudo-count; 1 is add-one smoothing), got {alpha!r}. "
                         "With alpha = 0 a level unseen in training gets probability 0 and an infinite test NLL.")
    counts = torch.nn.functional.one_hot(x, n_levels).sum(0).double()  # (D, L)
    return torch.log((counts + alpha) / (len(x) + n_levels * alpha))


def pixel_categorical_log_likelihood(log_probs: torch.Tensor, x_levels) -> torch.Tensor:
    """log p(x) = sum_i log pi_i[x_i] of each image, in nats.

    Parameters
    ----------
    log_probs : torch.Tensor, shape (D, L)
        From ``fit_pixel_categoricals``.
    x_levels : torch.Tensor, shape (N, D)
        Integer levels 0..L-1.

    Returns
    -------
    torch.Tensor, float64, shape (N,)
    """
    if not isinstance(log_probs, torch.Tensor) or log_probs.ndim != 2:
        raise ValueError("log_probs must be the (D, L) tensor returned by fit_pixel_categoricals, got "
                         f"{tuple(log_probs.shape) if isinstance(log_probs, torch.Tensor) else type(log_probs).__name__}.")
    d, n_levels = log_probs.shape
    x = _levels("x_levels", x_levels, n_levels)
    if x.shape[1] != d:
        raise ValueError(f"x_levels has {x.shape[1]} pixels per image but log_probs was fitted on {d}; "
                         "use images of the same size as the training images.")
    return log_probs.gather(1, x.T).sum(0)  # (D, N) -> (N,)


def choose_smoothing(x_train, x_val, alphas=None, n_levels: int = N_LEVELS) -> tuple[float, dict[float, float]]:
    """The pseudo-count alpha with the lowest validation NLL (bits per dimension).

    Parameters
    ----------
    x_train, x_val : torch.Tensor, shapes (N, D) and (M, D)
        Integer levels: the training split fits the frequencies, the validation split scores them.
    alphas : sequence of float, optional
        The candidates; default 25 values spaced evenly in log from 0.001 to 10, with 1 (add-one).
    n_levels : int

    Returns
    -------
    best : float
        The alpha of the lowest validation bits/dim (the smallest such alpha on a tie).
    val_bits : dict
        alpha -> validation bits/dim, for every candidate.
    """
    if alphas is None:
        alphas = sorted({round(float(a), 6) for a in torch.logspace(-3, 1, 25)} | {1.0})
    alphas = list(alphas)
    if not alphas:
        raise ValueError("alphas must hold at least one candidate pseudo-count.")
    d = _levels("x_val", x_val, n_levels).shape[1]
    val_bits = {}
    for alpha in alphas:
        log_probs = fit_pixel_categoricals(x_train, alpha, n_levels)
        nll = -pixel_categorical_log_likelihood(log_probs, x_val)
        val_bits[alpha] = float(nll.mean() / (d * math.log(2)))
    best = min(alphas, key=lambda a: (val_bits[a], a))
    return best, val_bits
