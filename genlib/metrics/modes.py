"""Mode coverage: the measurement of mode collapse used by the VEEGAN and PacGAN papers.

Given samples of a model trained on a mixture of K Gaussians with known centres m_k and
a common standard deviation s:

- a sample x is **high quality** if it lies within ``n_std`` standard deviations of its
  nearest mode: min_k ||x - m_k|| <= n_std * s (the papers use n_std = 3);
- a mode is **covered** if it is the nearest mode of at least one high-quality sample.

The papers draw 2,500 samples and report the number of modes covered and the fraction of
high-quality samples, averaged over seeds.

Usage::

    result = mode_coverage(generator_samples, toy.means, toy.std)
    print(result.modes_covered, "/", result.n_modes, f"{result.high_quality_fraction:.1%}")
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genlib._validation import as_tensor, check_ndim, check_positive


@dataclass(frozen=True)
class ModeCoverage:
    """The result of :func:`mode_coverage`.

    Attributes
    ----------
    modes_covered : int
        Number of modes that are the nearest mode of at least one high-quality sample.
    n_modes : int
        K, the number of modes.
    high_quality_fraction : float
        Fraction of the samples (in [0, 1]) within ``n_std`` standard deviations of their
        nearest mode.
    counts : numpy.ndarray, int64, shape (K,)
        Number of high-quality samples whose nearest mode is mode k.
    """

    modes_covered: int
    n_modes: int
    high_quality_fraction: float
    counts: np.ndarray


def mode_coverage(samples, means, std: float, *, n_std: float = 3.0) -> ModeCoverage:
    """Modes covered and high-quality fraction of ``samples`` for a Gaussian mixture.

    Parameters
    ----------
    samples : torch.Tensor or array, shape (N, D)
        Model samples. Non-finite rows (NaN or infinity, from a diverged run) are counted
        as low quality.
    means : torch.Tensor or array, shape (K, D)
        The mode centres m_k.
    std : float
        The standard deviation s of every mode.
    n_std : float
        A sample is high quality if its distance to the nearest centre is at most
        ``n_std * std``.

    Returns
    -------
    ModeCoverage
        ``modes_covered``, ``n_modes``, ``high_quality_fraction`` and per-mode ``counts``.
        A sample exactly as far from two centres goes to the one listed first in ``means``.
    """
    samples = as_tensor("samples", samples, dtype=torch.float64)
    means = as_tensor("means", means, dtype=torch.float64)
    check_ndim("samples", samples, 2, "(N, D)")
    check_ndim("means", means, 2, "(K, D)")
    if len(samples) == 0:
        raise ValueError("samples is empty (shape (0, D)): draw at least one sample, e.g. 2,500 as in the papers.")
    if len(means) == 0:
        raise ValueError("means is empty (shape (0, D)): give at least one mode centre.")
    if samples.shape[1] != means.shape[1]:
        raise ValueError(
            f"samples and means must have the same number of columns D, got samples {tuple(samples.shape)} "
            f"and means {tuple(means.shape)}. Pass the mode centres of the data the model was trained on."
        )
    if not torch.isfinite(means).all():
        raise ValueError("means contains NaN or infinite values; the mode centres must be finite.")
    check_positive("std", std)
    check_positive("n_std", n_std)
    finite = torch.isfinite(samples).all(dim=1)  # (N,)
    squared = (samples[finite, None, :] - means[None, :, :]).pow(2).sum(dim=-1)  # (N_finite, K)
    nearest_squared, nearest = squared.min(dim=1)  # (N_finite,), ties -> first index
    high_quality = nearest_squared <= (n_std * std) ** 2  # (N_finite,)
    counts = torch.bincount(nearest[high_quality], minlength=len(means)).numpy().astype(np.int64)  # (K,)
    return ModeCoverage(
        modes_covered=int((counts > 0).sum()),
        n_modes=len(means),
        high_quality_fraction=float(high_quality.sum()) / len(samples),
        counts=counts,
    )
