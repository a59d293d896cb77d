"""Unit 04 benchmark: the Fréchet distance at d = 2048 from 5,000 samples, three ways, side by side.

- ours: ``genlib.metrics.frechet_distance`` (symmetric factorisations: Cholesky, or the
  symmetric square root by eigh when Cholesky fails, then the eigenvalues of F^T sigma2 F);
- pytorch-fid: scipy.linalg.sqrtm of the product sigma1 sigma2 (its ``calculate_frechet_distance``);
- torchmetrics: the eigenvalues of the product, ``torch.linalg.eigvals(sigma1 @ sigma2).sqrt().real.sum()``.

All three run in float64 on the same covariances with the same number of threads (1 by
default, BENCH_FID_THREADS to change it) for numpy/scipy's BLAS and for torch. Targets: ours
at least 5x faster than sqrtm and faster than eigvals, agreeing with both to 1e-6 relative.

An earlier measurement on these machines (shared/FACTS.md, 2 threads): sqrtm of the product 9.9 s,
eigenvalues of the product 3.2 s, two symmetric eigendecompositions 1.9 s, all agreeing to 1e-6.
The "ours forced to two eigh" row repeats that last route (the one singular covariances need).
"""
from __future__ import annotations

import os
import time
import warnings

import numpy as np
import torch

D, N = 2048, 5000
THREADS = int(os.environ.get("BENCH_FID_THREADS", "1"))


def _features(seed: int, shift: float) -> np.ndarray:
    """N feature vectors with a decaying spectrum (like a network's pooled features)."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((D, D)) / np.sqrt(D) * np.exp(-np.arange(D) / 400.0)[None, :]
    return rng.standard_normal((N, D)) @ mixing.T + shift


def _statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.cov(x, rowvar=False)


def fid_sqrtm(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid's formula (without its retry: the product here is well conditioned)."""
    import scipy.linalg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy >= 1.16 deprecates the disp argument pytorch-fid passes
        covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_eigvals(mu1, sigma1, mu2, sigma2) -> float:
    """torchmetrics' formula (``_compute_fid``), in float64."""
    mu1, sigma1, mu2, sigma2 = (torch.from_numpy(a) for a in (mu1, sigma1, mu2, sigma2))
    a = (mu1 - mu2).square().sum(dim=-1)
    b = sigma1.trace() + sigma2.trace()
    c = torch.linalg.eigvals(sigma1 @ sigma2).sqrt().real.sum(dim=-1)
    return float(a + b - 2 * c)


def _timed(function, *args) -> tuple[float, float]:
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start


def run() -> list[dict]:
    from threadpoolctl import threadpool_limits

    from genlib.metrics import frechet_distance

    torch_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        with threadpool_limits(THREADS):
            mu1, sigma1 = _statistics(_features(1, 0.0))
            mu2, sigma2 = _statistics(_features(2, 0.05))
            frechet_distance(mu1[:64], sigma1[:64, :64], mu2[:64], sigma2[:64, :64])  # warm up lazy imports
            ours, t_ours = _timed(frechet_distance, mu1, sigma1, mu2, sigma2)
            eig, t_eig = _timed(fid_eigvals, mu1, sigma1, mu2, sigma2)
            sqrtm, t_sqrtm = _timed(fid_sqrtm, mu1, sigma1, mu2, sigma2)
            ours_eigh, t_ours_eigh = _timed(lambda *a: frechet_distance(*a, method="eigh"), mu1, sigma1, mu2, sigma2)
    finally:
        torch.set_num_threads(torch_threads)
    setting = f"d={D}, N={N}, float64, {THREADS} thread(s) each"
    rel_sqrtm, rel_eig = abs(ours - sqrtm) / abs(sqrtm), abs(ours - eig) / abs(eig)
    rel_eigh = abs(ours_eigh - sqrtm) / abs(sqrtm)
    print(f"  FID {ours:.6f} (ours) {eig:.6f} (eigvals) {sqrtm:.6f} (sqrtm); "
          f"{t_ours:.2f} s, {t_eig:.2f} s, {t_sqrtm:.2f} s", flush=True)
    return [
        {"item": f"Fréchet distance, ours (Cholesky + eigvalsh), {setting}", "measured": f"{t_ours:.2f} s",
         "target": "(reported)", "within": None, "seconds": round(t_ours, 3), "fid": ours},
        {"item": f"Fréchet distance, ours forced to two eigh (singular-safe route), {setting}",
         "measured": f"{t_ours_eigh:.2f} s", "target": "(reported)", "within": None,
         "seconds": round(t_ours_eigh, 3), "fid": ours_eigh, "relative_difference_vs_sqrtm": rel_eigh},
        {"item": f"Fréchet distance, torchmetrics' eigvals of the product, {setting}", "measured": f"{t_eig:.2f} s",
         "target": "(reported)", "within": None, "seconds": round(t_eig, 3), "fid": eig},
        {"item": f"Fréchet distance, pytorch-fid's scipy sqrtm of the product, {setting}",
         "measured": f"{t_sqrtm:.2f} s", "target": "(reported)", "within": None, "seconds": round(t_sqrtm, 3),
         "fid": sqrtm},
        {"item": "speed-up of ours over sqrtm", "measured": f"{t_sqrtm / t_ours:.1f}x", "target": ">= 5x",
         "within": t_sqrtm / t_ours >= 5.0, "ratio": round(t_sqrtm / t_ours, 2)},
        {"item": "speed-up of ours over eigvals", "measured": f"{t_eig / t_ours:.1f}x", "target": "> 1x",
         "within": t_eig / t_ours > 1.0, "ratio": round(t_eig / t_ours, 2)},
        {"item": "agreement of ours with sqrtm (relative difference)", "measured": f"{rel_sqrtm:.1e}",
         "target": "<= 1e-6", "within": rel_sqrtm <= 1e-6, "relative_difference": rel_sqrtm},
        {"item": "agreement of ours with eigvals (relative difference)", "measured": f"{rel_eig:.1e}",
         "target": "<= 1e-6", "within": rel_eig <= 1e-6, "relative_difference": rel_eig},
    ]
