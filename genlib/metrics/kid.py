"""KID: the kernel distance between two sets of features (Bińkowski et al. 2018).

KID is the squared maximum mean discrepancy with the cubic polynomial kernel

    k(x, y) = (x . y / d + 1)^3,

estimated without bias (a U-statistic: the diagonal terms k(x_i, x_i) are left out):

    MMD^2 = 1/(n(n-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j)
            - 2/(n m) sum_{i, j} k(x_i, y_j).

Unlike FID, its expectation does not depend on the sample sizes n and m: two sets drawn
from the same distribution give 0 on average (single estimates may be negative). The
standard error is the two-sample jackknife (leave one x out, then one y out), computed in
closed form from the kernel matrices' row sums.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from genlib.metrics.frechet import check_features

_BLOCK = 2048  # rows of a kernel matrix held in memory at once


class KIDResult(NamedTuple):
    """``value``: the unbiased MMD^2 estimate; ``std_error``: its jackknife standard error."""

    value: float
    std_error: float


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x . y / d + 1)^3 for every pair of rows.

    Parameters
    ----------
    x : torch.Tensor, shape (n, d)
    y : torch.Tensor, shape (m, d)

    Returns
    -------
    torch.Tensor, shape (n, m)
    """
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _row_sums(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column sums of the kernel matrix K(x, y), block by block."""
    rows = torch.empty(len(x), dtype=x.dtype)
    cols = torch.zeros(len(y), dtype=x.dtype)
    for start in range(0, len(x), _BLOCK):
        block = polynomial_kernel(x[start:start + _BLOCK], y)  # (b, m)
        rows[start:start + _BLOCK] = block.sum(dim=1)
        cols += block.sum(dim=0)
    return rows, cols


def _within(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Off-diagonal row sums r_i = sum_{j != i} k(x_i, x_j), shape (n,), and their total."""
    rows, _ = _row_sums(x, x)
    rows = rows - (((x * x).sum(dim=1) / x.shape[1] + 1.0) ** 3)  # drop k(x_i, x_i)
    return rows, float(rows.sum())


def kernel_inception_distance(features_real, features_fake) -> KIDResult:
    """Unbiased MMD^2 with the cubic polynomial kernel, and its standard error.

    Parameters
    ----------
    features_real : torch.Tensor or numpy.ndarray, shape (n, d), n >= 3
    features_fake : torch.Tensor or numpy.ndarray, shape (m, d), m >= 3
        Features of the same network layer (KID does not need n = m).

    Returns
    -------
    KIDResult
        ``value`` (float, can be slightly negative when the sets match) and
        ``std_error`` (float, the jackknife estimate of the value's standard deviation).
    """
    x = check_features("features_real", features_real, min_rows=3)
    y = check_features("features_fake", features_fake, min_rows=3)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"features_real and features_fake must have the same feature dimension d, got {x.shape[1]} "
            f"and {y.shape[1]}: compute both with the same feature network."
        )
    n, m = len(x), len(y)
    rx, sx = _within(x)  # (n,), sum_{i != j} k(x_i, x_j)
    ry, sy = _within(y)  # (m,)
    cx, cy = _row_sums(x, y)  # (n,), (m,): sums of k(x_i, y_j) over j, over i
    sxy = float(cx.sum())
    value = sx / (n * (n - 1)) + sy / (m * (m - 1)) - 2 * sxy / (n * m)
    # leave x_i out: the pairs (i, j) and (j, i) leave the x-x sum, row i leaves the x-y sum
    drop_x = (sx - 2 * rx) / ((n - 1) * (n - 2)) + sy / (m * (m - 1)) - 2 * (sxy - cx) / ((n - 1) * m)
    drop_y = sx / (n * (n - 1)) + (sy - 2 * ry) / ((m - 1) * (m - 2)) - 2 * (sxy - cy) / (n * (m - 1))
    variance = (n - 1) / n * float(((drop_x - drop_x.mean()) ** 2).sum()) \
        + (m - 1) / m * float(((drop_y - drop_y.mean()) ** 2).sum())
    return KIDResult(float(value), float(np.sqrt(variance)))
