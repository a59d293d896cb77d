"""2-D toy distributions with exact log-densities.

Each toy is an equally weighted mixture of isotropic Gaussians,

    p(x) = (1/K) sum_k N(x; m_k, s^2 I),

so it can be sampled and its log-density evaluated exactly: a model's learned
density can be drawn beside the truth, and mode coverage can be counted.

- ``ring8``: 8 modes evenly spaced on a circle of radius 1, std 0.01 (the PacGAN
  paper's 2-D ring).
- ``grid25``: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05 (the PacGAN grid).
- ``moons``: two interleaved half-circles, each traced by 32 modes of std 0.1:
  a smooth density, good for density plots.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from genlib._validation import as_generator, as_tensor, check_choice, check_finite, check_ndim, check_positive

TOY_NAMES = ("ring8", "grid25", "moons")
_DEFAULT_STD = {"ring8": 0.01, "grid25": 0.05, "moons": 0.1}


class GaussianMixture2D:
    """An equally weighted mixture of isotropic 2-D Gaussians.

    Parameters
    ----------
    means : array-like, shape (K, 2)
        The mode centres m_k.
    std : float
        The standard deviation s of every mode.
    name : str
        A name for plots and messages.
    """

    def __init__(self, means, std: float, name: str = "mixture"):
        means = as_tensor("means", means, dtype=torch.float64)
        check_ndim("means", means, 2, "(K, 2)")
        if means.shape[1] != 2:
            raise ValueError(f"means must have shape (K, 2), got {tuple(means.shape)}.")
        check_positive("std", std)
        self.means = means  # (K, 2)
        self.std = float(std)
        self.name = name

    @property
    def n_modes(self) -> int:
        return self.means.shape[0]

    def sample(self, n: int, *, seed: int | torch.Generator | None = None, return_modes: bool = False):
        """Draw ``n`` samples.

        Parameters
        ----------
        n : int
            Number of samples.
        seed : int or torch.Generator, optional
            Seed of a private generator (or a Generator, whose draws continue), so the
            draw is reproducible and does not touch the global random state.
        return_modes : bool
            Also return the index of the mode each sample came from.

        Returns
        -------
        x : torch.Tensor, float32, shape (n, 2)
        modes : torch.Tensor, int64, shape (n,), only if ``return_modes``
        """
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        generator = as_generator(seed) if seed is not None else None
        modes = torch.randint(self.n_modes, (int(n),), generator=generator)  # (n,)
        noise = torch.randn(int(n), 2, generator=generator, dtype=torch.float64)  # (n, 2)
        x = (self.means[modes] + self.std * noise).float()
        return (x, modes) if return_modes else x

    @staticmethod
    def _as_points(x) -> torch.Tensor:
        """``x`` as a float64 tensor of shape (N, 2) without NaN, or a ValueError naming x."""
        x = as_tensor("x", x, dtype=torch.float64)
        check_ndim("x", x, 2, "(N, 2)")
        if x.shape[1] != 2:
            raise ValueError(f"x must have shape (N, 2), got {tuple(x.shape)}.")
        check_finite("x", x)
        return x

    def log_prob(self, x) -> torch.Tensor:
        """Exact log-density log p(x), computed in float64 with log-sum-exp.

        Parameters
        ----------
        x : torch.Tensor or array, shape (N, 2)

        Returns
        -------
        torch.Tensor, float64, shape (N,)
        """
        x = self._as_points(x)
        squared_dist = torch.cdist(x, self.means).pow(2)  # (N, K)
        log_normal = -squared_dist / (2 * self.std**2) - math.log(2 * math.pi * self.std**2)
        return torch.logsumexp(log_normal, dim=1) - math.log(self.n_modes)  # (N,)

    def nearest_mode(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """Index of, and distance to, the closest mode centre of each point.

        Returns
        -------
        modes : torch.Tensor, int64, shape (N,)
        distances : torch.Tensor, float64, shape (N,)
        """
        x = self._as_points(x)
        distances, modes = torch.cdist(x, self.means).min(dim=1)
        return modes, distances

    def entropy_estimate(self, n: int = 200_000, seed: int = 0) -> float:
        """Monte-Carlo estimate of the differential entropy H = -E[log p(x)], in nats."""
        return float(-self.log_prob(self.sample(n, seed=seed)).mean())

    def __repr__(self) -> str:
        return f"GaussianMixture2D(name={self.name!r}, n_modes={self.n_modes}, std={self.std})"


def _ring_means(n_modes: int = 8, radius: float = 1.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _grid_means() -> np.ndarray:
    ticks = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.stack(np.meshgrid(ticks, ticks, indexing="ij"), axis=-1).reshape(-1, 2)


def _moons_means(points_per_moon: int = 32) -> np.ndarray:
    angles = np.linspace(0, np.pi, points_per_moon)
    upper = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    lower = np.stack([1 - np.cos(angles), 0.5 - np.sin(angles)], axis=1)
    return np.concatenate([upper, lower]) - np.array([0.5, 0.25])


def make_toy(name: str, std: float | None = None) -> GaussianMixture2D:
    """Build one of the course's 2-D toys.

    Parameters
    ----------
    name : {"ring8", "grid25", "moons"}
    std : float, optional
        Standard deviation of every mode; defaults to 0.01 (ring8), 0.05 (grid25),
        0.1 (moons).

    Returns
    -------
    GaussianMixture2D
    """
    check_choice("name", name, TOY_NAMES)
    std = _DEFAULT_STD[name] if std is None else std
    means = {"ring8": _ring_means, "grid25": _grid_means, "moons": _moons_means}[name]()
    return GaussianMixture2D(means, std, name=name)
