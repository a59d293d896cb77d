"""Tests of genlib.metrics' Fréchet distance, FID helpers, KID and precision/recall (unit 04).

References are independent: scipy.linalg.sqrtm of the product (pytorch-fid's formula), the
closed form for commuting covariances, naive double loops, Monte-Carlo draws.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genlib.metrics import (
    bootstrap_fid, extrapolate_fid, fid_from_features, fid_versus_sample_size, frechet_distance,
    gaussian_statistics, kernel_inception_distance, polynomial_kernel, precision_recall, trace_sqrt_product,
)


def _random_gaussian(rng, d, rank=None, scale=1.0):
    A = rng.standard_normal((d, rank or d)) * scale
    return rng.standard_normal(d), A @ A.T + (0 if rank else 0.1 * np.eye(d))


def _sqrtm_reference(mu1, s1, mu2, s2):
    """pytorch-fid's formula: scipy's sqrtm of the non-symmetric product."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)


# ----------------------------------------------------------------------------- frechet_distance: properties

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 12), scale=st.floats(0.1, 10.0))
def test_frechet_matches_sqrtm_on_well_conditioned_cases(seed, d, scale):
    rng = np.random.default_rng(seed)
    mu1, s1 = _random_gaussian(rng, d, scale=scale)
    mu2, s2 = _random_gaussian(rng, d, scale=scale)
    expected = _sqrtm_reference(mu1, s1, mu2, s2)
    for method in ("auto", "eigh", "cholesky"):
        assert frechet_distance(mu1, s1, mu2, s2, method=method) == pytest.approx(expected, rel=1e-7, abs=1e-9 * scale**2)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 10), rank1=st.integers(1, 10), rank2=st.integers(1, 10))
def test_frechet_is_nonnegative_symmetric_and_zero_on_identical_inputs_even_when_singular(seed, d, rank1, rank2):
    rng = np.random.default_rng(seed)
    mu1, s1 = _random_gaussian(rng, d, rank=min(rank1, d))
    mu2, s2 = _random_gaussian(rng, d, rank=min(rank2, d))
    forward = frechet_distance(mu1, s1, mu2, s2)
    backward = frechet_distance(mu2, s2, mu1, s1)
    assert np.isfinite(forward) and forward >= 0
    assert forward == pytest.approx(backward, rel=1e-6, abs=1e-6 * (np.trace(s1) + np.trace(s2)))
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-6 * np.trace(s1))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 10), zeros=st.integers(0, 5))
def test_frechet_equals_the_closed_form_for_commuting_covariances(seed, d, zeros):
    # Q diag(a) Q^T and Q diag(b) Q^T commute: FD = ||dmu||^2 + sum (sqrt(a) - sqrt(b))^2, zeros included
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a, b = rng.uniform(0, 3, d), rng.uniform(0, 3, d)
    a[:min(zeros, d)] = 0.0
    b[d - min(zeros, d):] = 0.0
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    got = frechet_distance(mu1, Q @ np.diag(a) @ Q.T, mu2, Q @ np.diag(b) @ Q.T)
    assert got == pytest.approx(expected, rel=1e-7, abs=1e-7)


def test_rank_one_covariances_have_the_closed_form():
    # sigma1 = u u^T, sigma2 = v v^T: Tr((sigma1 sigma2)^(1/2)) = |u . v|
    u, v = np.array([1.0, 2.0, 0.0, -1.0]), np.array([0.5, -1.0, 3.0, 2.0])
    expected = u @ u + v @ v - 2 * abs(u @ v)
    assert frechet_distance(np.zeros(4), np.outer(u, u), np.zeros(4), np.outer(v, v)) == pytest.approx(expected, rel=1e-10)
    assert trace_sqrt_product(np.outer(u, u), np.outer(v, v)) == pytest.approx(abs(u @ v), rel=1e-10)


def test_fewer_samples_than_dimensions_gives_a_finite_real_value():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) + 0.3  # rank 19 covariances, d = 64
    value = fid_from_features(x, y)
    assert isinstance(value, float) and np.isfinite(value) and value > 0
    # the same number from the definition, with an exact square root of the symmetric form
    mu1, s1 = gaussian_statistics(x)
    mu2, s2 = gaussian_statistics(y)
    w, V = np.linalg.eigh(s1)
    root1 = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(inner, 0, None)).sum()
    # 45 zero eigenvalues each carry rounding of order sqrt(1e-16 * |S|^2): agreement to 1e-6, not 1e-12
    assert value == pytest.approx(expected, rel=1e-6)


def test_frechet_in_2d_matches_a_monte_carlo_optimal_transport():
    # FD between Gaussians is the squared 2-Wasserstein distance: compare with the optimal matching of samples
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(1)
    mu1, s1 = np.array([0.0, 0.0]), np.array([[1.0, 0.6], [0.6, 0.8]])
    mu2, s2 = np.array([1.0, -0.5]), np.array([[0.3, -0.2], [-0.2, 1.5]])
    n = 600
    x = rng.multivariate_normal(mu1, s1, n)
    y = rng.multivariate_normal(mu2, s2, n)
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    monte_carlo = cost[rows, cols].mean()
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(monte_carlo, rel=0.1)


def test_inputs_may_be_torch_or_numpy_in_any_float_dtype():
    rng = np.random.default_rng(2)
    mu1, s1 = _random_gaussian(rng, 5)
    mu2, s2 = _random_gaussian(rng, 5)
    reference = frechet_distance(mu1, s1, mu2, s2)
    as_torch = [torch.as_tensor(a, dtype=torch.float32) for a in (mu1, s1, mu2, s2)]
    assert frechet_distance(*as_torch) == pytest.approx(reference, rel=1e-4)


# ----------------------------------------------------------------------------- frechet_distance: errors

def test_mismatched_shapes_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match=r"sigma1 must be a covariance of shape \(3, 3\) to match mu1 of shape \(3,\), got shape \(4, 4\)"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match=r"mu1 and mu2 must have the same dimension d, got \(3,\) and \(2,\)"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"mu1 must be a mean vector of shape \(d,\), got shape \(1, 3\)"):
        frechet_distance(np.zeros((1, 3)), np.eye(3), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match=r"sigma2 must be a covariance of shape \(2, 2\) to match sigma1 of shape \(2, 2\)"):
        trace_sqrt_product(np.eye(2), np.eye(3))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs_are_rejected(bad):
    sigma = np.eye(3)
    sigma[1, 1] = bad
    with pytest.raises(ValueError, match=r"sigma2 contains 1 NaN or infinite value\(s\)"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), sigma)
    with pytest.raises(ValueError, match=r"mu1 contains 1 NaN or infinite value\(s\)"):
        frechet_distance(np.array([0.0, bad, 0.0]), np.eye(3), np.zeros(3), np.eye(3))


def test_non_symmetric_covariance_is_rejected_but_rounding_is_tolerated():
    sigma = np.array([[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"sigma1 must be symmetric \(a covariance matrix\).*symmetrise it with \(S \+ S.T\) / 2"):
        frechet_distance(np.zeros(2), sigma, np.zeros(2), np.eye(2))
    nearly = np.array([[1.0, 0.5], [0.5 + 1e-12, 1.0]])
    assert frechet_distance(np.zeros(2), nearly, np.zeros(2), nearly) == pytest.approx(0.0, abs=1e-9)


def test_unknown_method_and_cholesky_on_a_singular_covariance():
    with pytest.raises(ValueError, match=r"method must be one of 'auto', 'eigh', 'cholesky'; got 'sqrtm'"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="sqrtm")
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=r"sigma1 is not positive definite, so method='cholesky' cannot factor it"):
        frechet_distance(np.zeros(2), singular, np.zeros(2), np.eye(2), method="cholesky")
    assert frechet_distance(np.zeros(2), singular, np.zeros(2), np.eye(2), method="auto") == pytest.approx(
        frechet_distance(np.zeros(2), singular, np.zeros(2), np.eye(2), method="eigh"), rel=1e-12)


def test_features_are_checked():
    with pytest.raises(ValueError, match=r"features_real must have shape \(N, d\), got shape \(4, 2, 2\). Flatten"):
        fid_from_features(np.zeros((4, 2, 2)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"features_fake needs at least 2 rows \(samples\) to estimate a covariance, got 1"):
        fid_from_features(np.zeros((4, 3)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"must have the same feature dimension d, got 3 and 5: compute both with the same feature network"):
        fid_from_features(np.zeros((4, 3)), np.zeros((4, 5)))
    with pytest.raises(TypeError, match=r"features must be a torch.Tensor or a numpy array, got str"):
        gaussian_statistics("features")


# ----------------------------------------------------------------------------- statistics, FID, sample size

def test_gaussian_statistics_match_numpy():
    x = np.random.default_rng(3).standard_normal((50, 4))
    mu, sigma = gaussian_statistics(torch.as_tensor(x))
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-12)
    assert mu.dtype == sigma.dtype == np.float64


def test_fid_is_biased_upwards_at_small_n_and_the_extrapolation_removes_most_of_it():
    rng = np.random.default_rng(4)
    d = 8
    x, y = rng.standard_normal((4000, d)), rng.standard_normal((4000, d)) * 1.2 + 0.1
    true_fd = d * 0.1**2 + d * (1.2 - 1.0) ** 2  # same-shape isotropic Gaussians: closed form
    sizes = [100, 200, 400, 800, 1600]
    fids = fid_versus_sample_size(x, y, sizes, n_repeats=6, seed=0)
    assert fids.shape == (5, 6)
    means = fids.mean(axis=1)
    assert means[0] > means[-1] > true_fd * 0.9, "the estimate decreases towards the true value as N grows"
    fid_inf, slope = extrapolate_fid(sizes, fids)
    assert slope > 0
    assert abs(fid_inf - true_fd) < abs(means[0] - true_fd) / 3


def test_extrapolation_recovers_an_exact_line_and_checks_shapes():
    sizes = np.array([50, 100, 200, 400])
    fid_inf, slope = extrapolate_fid(sizes, 3.0 + 120.0 / sizes)
    assert (fid_inf, slope) == (pytest.approx(3.0), pytest.approx(120.0))
    with pytest.raises(ValueError, match=r"sizes and fids must give one FID per size \(at least 2 sizes\), got shapes \(4,\) and \(3,\)"):
        extrapolate_fid(sizes, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"sizes go up to 50 but only 10 samples are available"):
        fid_versus_sample_size(np.zeros((10, 2)), np.zeros((20, 2)), [5, 50])


def test_bootstrap_interval_is_the_estimates_and_shrinks_with_more_data():
    rng = np.random.default_rng(5)
    widths = []
    for n in (100, 800):
        x, y = rng.standard_normal((n, 3)), rng.standard_normal((n, 3)) + 0.5
        fid, low, high = bootstrap_fid(x, y, n_boot=100, seed=1)
        assert low < high
        assert fid == pytest.approx(fid_from_features(x, y))
        widths.append(high - low)
    assert widths[1] < widths[0] / 1.8


def test_a_generator_seeds_the_resampling_like_its_int_and_a_bad_seed_is_named():
    """seed: int | torch.Generator; a Generator seeded with 3 draws what seed=3 draws, and its draws continue."""
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((30, 2)), rng.standard_normal((30, 2)) + 0.5
    np.testing.assert_array_equal(fid_versus_sample_size(x, y, [5, 10], n_repeats=2, seed=3),
                                  fid_versus_sample_size(x, y, [5, 10], n_repeats=2, seed=torch.Generator().manual_seed(3)))
    assert bootstrap_fid(x, y, n_boot=5, seed=3) == bootstrap_fid(x, y, n_boot=5, seed=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    assert bootstrap_fid(x, y, n_boot=5, seed=g) != bootstrap_fid(x, y, n_boot=5, seed=g), "a Generator's draws continue"
    for bad in (1.5, "3", None):
        with pytest.raises(TypeError, match=rf"seed must be an int or a torch.Generator, got {type(bad).__name__}"):
            bootstrap_fid(x, y, n_boot=5, seed=bad)
        with pytest.raises(TypeError, match=rf"seed must be an int or a torch.Generator, got {type(bad).__name__}"):
            fid_versus_sample_size(x, y, [5, 10], seed=bad)


# ----------------------------------------------------------------------------- KID

def _naive_mmd2(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("n, m", [(5, 5), (6, 9), (12, 4)])
def test_kid_matches_a_naive_double_loop(n, m):
    rng = np.random.default_rng(n * m)
    x, y = rng.standard_normal((n, 3)), rng.standard_normal((m, 3)) + 0.4
    result = kernel_inception_distance(x, y)
    assert result.value == pytest.approx(_naive_mmd2(x, y), rel=1e-10)
    # the jackknife standard error from its definition: recompute with each point left out
    drop_x = [_naive_mmd2(np.delete(x, i, 0), y) for i in range(n)]
    drop_y = [_naive_mmd2(x, np.delete(y, j, 0)) for j in range(m)]
    var = (n - 1) / n * np.sum((drop_x - np.mean(drop_x)) ** 2) + (m - 1) / m * np.sum((drop_y - np.mean(drop_y)) ** 2)
    assert result.std_error == pytest.approx(np.sqrt(var), rel=1e-8)


def test_polynomial_kernel_values():
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    np.testing.assert_allclose(polynomial_kernel(x, x).numpy(), [[1.5**3, 1.5**3], [1.5**3, 2.0**3]])


def test_kid_is_unbiased_for_two_samples_of_one_distribution_and_its_error_is_calibrated():
    rng = np.random.default_rng(6)
    values, errors = [], []
    for _ in range(200):
        result = kernel_inception_distance(rng.standard_normal((30, 4)), rng.standard_normal((50, 4)))
        values.append(result.value)
        errors.append(result.std_error)
    values = np.array(values)
    assert abs(values.mean()) < 3 * values.std() / np.sqrt(len(values)), "mean of the estimates is 0 within noise"
    assert (values < 0).any(), "an unbiased estimate of 0 is sometimes negative"
    assert 0.6 < np.mean(errors) / values.std() < 1.6, "the jackknife error is close to the real spread"


def test_kid_does_not_depend_on_n_on_average_while_fid_does():
    rng = np.random.default_rng(7)
    kids = {n: np.mean([kernel_inception_distance(rng.standard_normal((n, 4)), rng.standard_normal((n, 4)) + 0.5).value
                        for _ in range(40)]) for n in (20, 200)}
    assert kids[20] == pytest.approx(kids[200], rel=0.25)
    fids = {n: np.mean([fid_from_features(rng.standard_normal((n, 4)), rng.standard_normal((n, 4)) + 0.5)
                        for _ in range(40)]) for n in (20, 200)}
    assert fids[20] > 1.5 * fids[200]


def test_kid_checks_its_inputs():
    with pytest.raises(ValueError, match=r"features_real needs at least 3 rows"):
        kernel_inception_distance(np.zeros((2, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"same feature dimension d, got 3 and 2"):
        kernel_inception_distance(np.zeros((5, 3)), np.zeros((5, 2)))


# ----------------------------------------------------------------------------- precision / recall

def _naive_precision_recall(real, fake, k):
    def radii(a):
        dist = np.linalg.norm(a[:, None] - a[None], axis=-1)
        return np.sort(dist, axis=1)[:, k]

    def inside(manifold, r, queries):
        dist = np.linalg.norm(queries[:, None] - manifold[None], axis=-1)
        return float((dist <= r[None]).any(axis=1).mean())

    return inside(real, radii(real), fake), inside(fake, radii(fake), real)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_match_a_naive_implementation(k):
    rng = np.random.default_rng(k)
    real, fake = rng.standard_normal((60, 3)), rng.standard_normal((45, 3)) * 0.7 + 0.5
    got = precision_recall(real, fake, k=k)
    assert got == pytest.approx(_naive_precision_recall(real, fake, k))


def test_precision_recall_tell_fidelity_from_diversity():
    rng = np.random.default_rng(8)
    centres = rng.standard_normal((10, 5)) * 10
    def modes(ids, n, spread=0.5):
        return centres[rng.choice(ids, n)] + spread * rng.standard_normal((n, 5))
    real = modes(range(10), 1000)
    assert precision_recall(real, modes(range(10), 1000)) > (0.9, 0.9)
    collapsed = precision_recall(real, modes([0, 1], 1000))  # realistic but covers 2 of 10 modes
    assert collapsed.precision > 0.9 and collapsed.recall < 0.35
    off_manifold = precision_recall(real, modes(range(10), 1000) + 3.0)  # covers the modes' layout but shifted
    assert off_manifold.precision < 0.2
    assert precision_recall(real, real) == (1.0, 1.0)


def test_precision_recall_check_k():
    with pytest.raises(ValueError, match=r"k must be a positive integer \(the paper uses 3\), got 0"):
        precision_recall(np.zeros((5, 2)), np.zeros((5, 2)), k=0)
    with pytest.raises(ValueError, match=r"features_fake needs at least 4 rows"):
        precision_recall(np.zeros((5, 2)), np.zeros((3, 2)), k=3)
