"""The Fréchet distance between Gaussians, and FID computed from features.

For Gaussians N(mu1, sigma1) and N(mu2, sigma2),

    FD = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)).

The product sigma1 sigma2 is not symmetric, which is why pytorch-fid takes scipy's general
``sqrtm`` of it (slow, and complex or NaN on singular covariances) and torchmetrics takes its
general eigenvalues. Only the trace of the square root is needed, and

    Tr((sigma1 sigma2)^(1/2)) = sum_i sqrt(lambda_i(F^T sigma2 F))  for any F with sigma1 = F F^T,

because F^T sigma2 F has the eigenvalues of F F^T sigma2 = sigma1 sigma2 and is symmetric
positive semi-definite. With F = sigma1^(1/2) (one symmetric eigendecomposition) this is
Tr((sigma1^(1/2) sigma2 sigma1^(1/2))^(1/2)): two symmetric eigendecompositions, exact on
singular covariances once the tiny negative eigenvalues of rounding are clipped to 0. When
sigma1 is positive definite, its Cholesky factor L is a cheaper F (``method="auto"`` tries
it first and falls back to the eigendecomposition when the factorisation fails).

FID (Heusel et al. 2017) is this distance between Gaussians fitted to the features of real
and generated images. Its estimate from N samples is biased upwards by a term of order 1/N;
``fid_versus_sample_size`` and ``extrapolate_fid`` give FID_inf (Chong and Forsyth 2020) and
``bootstrap_fid`` a confidence interval.
"""
from __future__ import annotations

import numpy as np
import torch

from genlib._validation import as_generator, as_tensor, check_choice

_METHODS = ("auto", "eigh", "cholesky")
_SYMMETRY_RTOL = 1e-6


def _check_finite(name: str, value: torch.Tensor) -> None:
    if not torch.isfinite(value).all():
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s). Check the features it was computed "
            "from (a diverged generator, or fewer than 2 samples)."
        )


def _check_cov(sigma, name: str, d: int | None = None, match: str = "") -> torch.Tensor:
    """sigma as a float64 symmetric (d, d) tensor, or a ValueError naming ``name``."""
    sigma = as_tensor(name, sigma, dtype=torch.float64)
    if d is None and (sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1]):
        raise ValueError(f"{name} must be a square covariance matrix of shape (d, d), got shape {tuple(sigma.shape)}.")
    if d is not None and sigma.shape != (d, d):
        raise ValueError(
            f"{name} must be a covariance of shape ({d}, {d}) to match {match}, "
            f"got shape {tuple(sigma.shape)}."
        )
    _check_finite(name, sigma)
    scale = float(sigma.abs().max()) if sigma.numel() else 0.0
    asymmetry = float((sigma - sigma.T).abs().max()) if sigma.numel() else 0.0
    if asymmetry > _SYMMETRY_RTOL * max(scale, 1e-300):
        raise ValueError(
            f"{name} must be symmetric (a covariance matrix), but it differs from its transpose by "
            f"up to {asymmetry:.3g} (largest entry {scale:.3g}). Pass a covariance such as "
            "gaussian_statistics(features)[1], or symmetrise it with (S + S.T) / 2."
        )
    return (sigma + sigma.T) / 2


def _check_mean_cov(mu, sigma, mu_name: str, sigma_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    mu = as_tensor(mu_name, mu, dtype=torch.float64)
    if mu.ndim != 1:
        raise ValueError(f"{mu_name} must be a mean vector of shape (d,), got shape {tuple(mu.shape)}.")
    _check_finite(mu_name, mu)
    return mu, _check_cov(sigma, sigma_name, mu.shape[0], f"{mu_name} of shape ({mu.shape[0]},)")


def _sqrt_psd(eigenvalues: torch.Tensor) -> torch.Tensor:
    """sqrt of eigenvalues of a PSD matrix, rounding's tiny negative ones clipped to 0."""
    return eigenvalues.clamp(min=0.0).sqrt()


def _factor(sigma: torch.Tensor, method: str) -> torch.Tensor:
    """F with sigma = F F^T: Cholesky when asked (or "auto" and it succeeds), else sigma^(1/2)."""
    if method in ("auto", "cholesky"):
        L, info = torch.linalg.cholesky_ex(sigma)
        if int(info) == 0:
            return L
        if method == "cholesky":
            raise ValueError(
                "sigma1 is not positive definite, so method='cholesky' cannot factor it (a covariance "
                "from fewer samples than dimensions is singular). Use method='eigh' or 'auto'."
            )
    w, V = torch.linalg.eigh(sigma)
    return V * _sqrt_psd(w)[None, :]  # V diag(sqrt(w)): F F^T = sigma (F = sigma^(1/2) V)


def _trace_sqrt(sigma1: torch.Tensor, sigma2: torch.Tensor, method: str) -> torch.Tensor:
    """Tr((sigma1 sigma2)^(1/2)) for checked float64 tensors."""
    F = _factor(sigma1, method)  # (d, d)
    M = F.T @ sigma2 @ F  # (d, d), symmetric PSD, eigenvalues of sigma1 sigma2
    return _sqrt_psd(torch.linalg.eigvalsh((M + M.T) / 2)).sum()


def trace_sqrt_product(sigma1, sigma2, *, method: str = "auto") -> float:
    """Tr((sigma1 sigma2)^(1/2)) from symmetric factorisations only.

    Parameters
    ----------
    sigma1, sigma2 : torch.Tensor or numpy.ndarray, shape (d, d)
        Symmetric positive semi-definite matrices (singular allowed).
    method : {"auto", "eigh", "cholesky"}
        How sigma1 = F F^T is factored: "eigh" F = sigma1^(1/2) V (a symmetric
        eigendecomposition; always works), "cholesky" (positive definite sigma1 only,
        faster), "auto" Cholesky with "eigh" as fallback.

    Returns
    -------
    float
        sum_i sqrt(lambda_i), lambda_i the eigenvalues of F^T sigma2 F (clipped at 0).
    """
    check_choice("method", method, _METHODS)
    sigma1 = _check_cov(sigma1, "sigma1")
    sigma2 = _check_cov(sigma2, "sigma2", sigma1.shape[0], f"sigma1 of shape {tuple(sigma1.shape)}")
    return float(_trace_sqrt(sigma1, sigma2, method))


def frechet_distance(mu1, sigma1, mu2, sigma2, *, method: str = "auto") -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, sigma1) and N(mu2, sigma2).

    FD = ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2)), in float64.

    Parameters
    ----------
    mu1, mu2 : torch.Tensor or numpy.ndarray, shape (d,)
    sigma1, sigma2 : torch.Tensor or numpy.ndarray, shape (d, d)
        Symmetric positive semi-definite; singular covariances (fewer samples than
        dimensions) are fine.
    method : {"auto", "eigh", "cholesky"}
        See ``trace_sqrt_product``.

    Returns
    -------
    float
        >= 0 (a value below 0 from rounding is returned as 0).

    Raises
    ------
    ValueError
        Mismatched shapes, NaN or infinity, or a covariance that is not symmetric.
    """
    check_choice("method", method, _METHODS)
    mu1, sigma1 = _check_mean_cov(mu1, sigma1, "mu1", "sigma1")
    mu2, sigma2 = _check_mean_cov(mu2, sigma2, "mu2", "sigma2")
    if mu1.shape != mu2.shape:
        raise ValueError(
            f"mu1 and mu2 must have the same dimension d, got {tuple(mu1.shape)} and {tuple(mu2.shape)}: "
            "both Gaussians must be fitted to features of the same network layer."
        )
    trace_sqrt = _trace_sqrt(sigma1, sigma2, method)
    distance = ((mu1 - mu2) ** 2).sum() + torch.trace(sigma1) + torch.trace(sigma2) - 2 * trace_sqrt
    return max(float(distance), 0.0)


def gaussian_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (divisor N - 1) of a set of feature vectors, in float64.

    Parameters
    ----------
    features : torch.Tensor or numpy.ndarray, shape (N, d)
        N >= 2 feature vectors.

    Returns
    -------
    mu : numpy.ndarray, shape (d,)
    sigma : numpy.ndarray, shape (d, d)
    """
    x = check_features("features", features)
    mu = x.mean(dim=0)  # (d,)
    centred = x - mu  # (N, d)
    sigma = centred.T @ centred / (x.shape[0] - 1)  # (d, d)
    return mu.numpy(), sigma.numpy()


def check_features(name: str, features, *, min_rows: int = 2) -> torch.Tensor:
    """``features`` as a float64 (N, d) tensor with at least ``min_rows`` finite rows, or raise naming ``name``
    (shared by the FID, KID and precision/recall)."""
    x = as_tensor(name, features, dtype=torch.float64).detach().cpu()
    if x.ndim != 2:
        hint = " Flatten each image's features to one row: features.reshape(len(features), -1)." if x.ndim > 2 else ""
        raise ValueError(f"{name} must have shape (N, d), got shape {tuple(x.shape)}.{hint}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows (samples) to estimate a covariance, got {x.shape[0]}.")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values: check the images and the feature network.")
    return x


def fid_from_features(features_real, features_fake, *, method: str = "auto") -> float:
    """FID: the Fréchet distance between Gaussians fitted to two sets of features.

    Parameters
    ----------
    features_real : torch.Tensor or numpy.ndarray, shape (N_r, d)
    features_fake : torch.Tensor or numpy.ndarray, shape (N_g, d)
        Features of the same network layer; N_r and N_g may differ.

    Returns
    -------
    float
    """
    real = check_features("features_real", features_real)
    fake = check_features("features_fake", features_fake)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"features_real and features_fake must have the same feature dimension d, got {real.shape[1]} "
            f"and {fake.shape[1]}: compute both with the same feature network."
        )
    return frechet_distance(*gaussian_statistics(real), *gaussian_statistics(fake), method=method)


def _check_sizes(sizes, n_available: int) -> np.ndarray:
    sizes = np.asarray(sizes)
    if sizes.ndim != 1 or len(sizes) < 2 or not np.issubdtype(sizes.dtype, np.integer) or sizes.min() < 2:
        raise ValueError(f"sizes must be a list of at least 2 integers >= 2, got {sizes.tolist()!r}.")
    if sizes.max() > n_available:
        raise ValueError(
            f"sizes go up to {int(sizes.max())} but only {n_available} samples are available in the smaller set; "
            "drop the larger sizes or pass more features."
        )
    return sizes


def fid_versus_sample_size(features_real, features_fake, sizes, *, n_repeats: int = 5,
                           seed: int | torch.Generator = 0) -> np.ndarray:
    """FID from N random samples of each set, for each N in ``sizes``, repeated.

    Parameters
    ----------
    features_real, features_fake : shape (N_r, d), (N_g, d)
    sizes : sequence of int, each 2 <= N <= min(N_r, N_g)
    n_repeats : int
        Draws per size, each N rows of each set without replacement, all from the same two sets: the repeats
        show the subsampling noise, not that of fresh data, and at N = N_r = N_g every repeat is the same draw.
    seed : int or torch.Generator
        Seeds the draws (a Generator's draws continue).

    Returns
    -------
    numpy.ndarray, shape (len(sizes), n_repeats)
    """
    real = check_features("features_real", features_real)
    fake = check_features("features_fake", features_fake)
    sizes = _check_sizes(sizes, min(len(real), len(fake)))
    generator = as_generator(seed)
    fids = np.empty((len(sizes), n_repeats))
    for i, n in enumerate(sizes):
        for r in range(n_repeats):
            pick_real = torch.randperm(len(real), generator=generator)[:n]
            pick_fake = torch.randperm(len(fake), generator=generator)[:n]
            fids[i, r] = fid_from_features(real[pick_real], fake[pick_fake])
    return fids


def extrapolate_fid(sizes, fids) -> tuple[float, float]:
    """Fit FID(N) = FID_inf + slope / N by least squares (Chong and Forsyth 2020).

    Parameters
    ----------
    sizes : sequence of int, shape (S,)
    fids : array, shape (S,) or (S, R)
        FID at each size (R repeats are averaged).

    Returns
    -------
    fid_inf : float
        The intercept: the FID an infinite sample would give.
    slope : float
        The bias coefficient: FID(N) - FID_inf is about slope / N.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    fids = np.asarray(fids, dtype=np.float64)
    fids = fids.mean(axis=1) if fids.ndim == 2 else fids
    if sizes.ndim != 1 or fids.shape != sizes.shape or len(sizes) < 2:
        raise ValueError(
            f"sizes and fids must give one FID per size (at least 2 sizes), got shapes {sizes.shape} and {fids.shape}."
        )
    design = np.stack([np.ones_like(sizes), 1.0 / sizes], axis=1)  # (S, 2)
    (fid_inf, slope), *_ = np.linalg.lstsq(design, fids, rcond=None)
    return float(fid_inf), float(slope)


def bootstrap_fid(features_real, features_fake, *, n_boot: int = 200, level: float = 0.95,
                  seed: int | torch.Generator = 0) -> tuple[float, float, float]:
    """FID with a percentile bootstrap confidence interval.

    Both sets are resampled with replacement ``n_boot`` times. The interval shows the
    estimate's sampling variability at this N; it does not remove the upward bias
    (the resampled FIDs are biased too). ``seed`` (an int or a torch.Generator, whose draws continue)
    seeds the resampling.

    Returns
    -------
    fid, low, high : float
    """
    real = check_features("features_real", features_real)
    fake = check_features("features_fake", features_fake)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level!r}.")
    generator = as_generator(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        pick_real = torch.randint(len(real), (len(real),), generator=generator)
        pick_fake = torch.randint(len(fake), (len(fake),), generator=generator)
        values[b] = fid_from_features(real[pick_real], fake[pick_fake])
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return fid_from_features(real, fake), float(low), float(high)
