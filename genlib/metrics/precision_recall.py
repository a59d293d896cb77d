"""Precision and recall of a generator by k-nearest-neighbour manifolds (Kynkäänniemi et al. 2019).

Each set of features approximates its data manifold by the union of balls around its
points, the radius of each ball being the distance to that point's k-th nearest neighbour
in the same set. Then

- precision = the fraction of generated samples inside the real manifold (fidelity:
  are the samples realistic?),
- recall = the fraction of real samples inside the generated manifold (diversity:
  does the generator cover the data?).

FID mixes both into one number; these two tell a blurry generator (low precision) from a
collapsed one (low recall).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from genlib.metrics.frechet import check_features

_BLOCK = 1024  # rows of a distance matrix held in memory at once


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded).

    Parameters
    ----------
    features : torch.Tensor, shape (N, d), N > k
    k : int

    Returns
    -------
    torch.Tensor, shape (N,)
    """
    radii = torch.empty(len(features), dtype=features.dtype)
    for start in range(0, len(features), _BLOCK):
        distances = torch.cdist(features[start:start + _BLOCK], features)  # (b, N)
        radii[start:start + _BLOCK] = distances.kthvalue(k + 1, dim=1).values  # the 1st is the point itself
    return radii


def _fraction_inside(manifold: torch.Tensor, radii: torch.Tensor, queries: torch.Tensor) -> float:
    """The fraction of ``queries`` within radii[i] of some manifold[i]."""
    inside = 0
    for start in range(0, len(queries), _BLOCK):
        distances = torch.cdist(queries[start:start + _BLOCK], manifold)  # (b, N)
        inside += int((distances <= radii[None, :]).any(dim=1).sum())
    return inside / len(queries)


def precision_recall(features_real, features_fake, *, k: int = 3) -> PrecisionRecall:
    """Improved precision and recall of generated features against real ones.

    Parameters
    ----------
    features_real : torch.Tensor or numpy.ndarray, shape (N_r, d)
    features_fake : torch.Tensor or numpy.ndarray, shape (N_g, d)
    k : int
        Neighbourhood size; the paper uses 3. Both sets need more than k points.

    Returns
    -------
    PrecisionRecall
        ``precision`` and ``recall``, floats in [0, 1].
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer (the paper uses 3), got {k!r}.")
    real = check_features("features_real", features_real, min_rows=k + 1)
    fake = check_features("features_fake", features_fake, min_rows=k + 1)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"features_real and features_fake must have the same feature dimension d, got {real.shape[1]} "
            f"and {fake.shape[1]}: compute both with the same feature network."
        )
    precision = _fraction_inside(real, knn_radii(real, k), fake)
    recall = _fraction_inside(fake, knn_radii(fake, k), real)
    return PrecisionRecall(precision, recall)
