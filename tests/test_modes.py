"""Tests of genlib.metrics.mode_coverage, the VEEGAN/PacGAN measurement of mode collapse."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genlib.data.toys import make_toy
from genlib.metrics import ModeCoverage, mode_coverage


def _naive(samples, means, std, n_std=3.0):
    """A loop-by-loop reference: (modes covered, HQ fraction, counts)."""
    samples, means = np.asarray(samples, dtype=np.float64), np.asarray(means, dtype=np.float64)
    counts = np.zeros(len(means), dtype=np.int64)
    for x in samples:
        if not np.all(np.isfinite(x)):
            continue
        distances = [math.dist(x, m) for m in means]
        k = int(np.argmin(distances))
        if distances[k] <= n_std * std:
            counts[k] += 1
    return int((counts > 0).sum()), counts.sum() / len(samples), counts


def test_hand_worked_example():
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = torch.tensor([[0.1, 0.0], [0.0, -0.25], [10.0, 0.29], [5.0, 5.0], [0.0, 10.31]])
    result = mode_coverage(samples, means, 0.1)
    assert isinstance(result, ModeCoverage)
    assert result.modes_covered == 2 and result.n_modes == 3
    assert result.high_quality_fraction == pytest.approx(3 / 5)
    np.testing.assert_array_equal(result.counts, [2, 1, 0])
    assert result.counts.dtype == np.int64
    # a wider criterion admits the sample near mode 2
    assert mode_coverage(samples, means, 0.1, n_std=3.5).modes_covered == 3


def test_the_true_distribution_covers_every_mode_with_rayleigh_quality():
    # in 2-D, ||x - m|| / s is Rayleigh distributed: P(<= 3) = 1 - exp(-9/2) = 0.98889
    for name in ("ring8", "grid25"):
        toy = make_toy(name)
        result = mode_coverage(toy.sample(20_000, seed=1), toy.means, toy.std)
        assert result.modes_covered == toy.n_modes
        assert result.high_quality_fraction == pytest.approx(1 - math.exp(-4.5), abs=0.004)


def test_a_collapsed_generator_covers_one_mode():
    toy = make_toy("ring8")
    samples = toy.means[3] + 0.005 * torch.randn(2500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    result = mode_coverage(samples, toy.means, toy.std)
    assert result.modes_covered == 1 and result.counts[3] == 2500 and result.high_quality_fraction == 1.0


def test_all_samples_far_away_covers_nothing():
    toy = make_toy("grid25")
    result = mode_coverage(torch.full((100, 2), 50.0), toy.means, toy.std)
    assert result.modes_covered == 0 and result.high_quality_fraction == 0.0
    assert result.counts.sum() == 0 and len(result.counts) == 25


def test_a_sample_exactly_between_two_modes():
    means = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    midpoint = torch.zeros(1, 2)
    assert mode_coverage(midpoint, means, 0.1).modes_covered == 0  # 10 std away from both
    wide = mode_coverage(midpoint, means, 0.5)  # 2 std from both: high quality, goes to the first
    assert wide.modes_covered == 1
    np.testing.assert_array_equal(wide.counts, [1, 0])


def test_the_boundary_is_inclusive():
    means = torch.zeros(1, 2, dtype=torch.float64)
    assert mode_coverage(torch.tensor([[0.3, 0.4]], dtype=torch.float64), means, 0.5, n_std=1.0).high_quality_fraction == 1.0


def test_non_finite_samples_count_as_low_quality():
    means = torch.zeros(2, 2)
    means[1, 0] = 1.0
    samples = torch.tensor([[0.0, 0.0], [float("nan"), 0.0], [float("inf"), 1.0], [1.0, 0.0]])
    result = mode_coverage(samples, means, 0.1)
    assert result.high_quality_fraction == 0.5 and result.modes_covered == 2


def test_accepts_numpy_and_higher_dimensions():
    gen = np.random.default_rng(0)
    means = gen.normal(size=(4, 5)) * 10
    samples = means[gen.integers(0, 2, 300)] + 0.1 * gen.normal(size=(300, 5))
    result = mode_coverage(samples, means, 0.1)
    expected = _naive(samples, means, 0.1)
    assert result.modes_covered == expected[0] == 2
    assert result.high_quality_fraction == pytest.approx(expected[1])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60), k=st.integers(1, 6),
       std=st.floats(0.05, 2.0), n_std=st.floats(0.5, 4.0))
def test_matches_a_naive_loop(seed, n, k, std, n_std):
    gen = np.random.default_rng(seed)
    means = gen.uniform(-3, 3, size=(k, 2))
    samples = gen.uniform(-4, 4, size=(n, 2))
    result = mode_coverage(torch.as_tensor(samples), torch.as_tensor(means), std, n_std=n_std)
    covered, fraction, counts = _naive(samples, means, std, n_std)
    assert result.modes_covered == covered
    assert result.high_quality_fraction == pytest.approx(fraction)
    np.testing.assert_array_equal(result.counts, counts)
    assert 0 <= result.modes_covered <= result.n_modes == k
    assert result.counts.sum() == round(result.high_quality_fraction * n)


def test_errors_name_the_argument():
    means = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"samples must have 2 dimensions \(N, D\), got shape \(2,\)"):
        mode_coverage(torch.zeros(2), means, 0.1)
    with pytest.raises(ValueError, match=r"samples and means must have the same number of columns D"):
        mode_coverage(torch.zeros(5, 3), means, 0.1)
    with pytest.raises(ValueError, match=r"samples is empty"):
        mode_coverage(torch.zeros(0, 2), means, 0.1)
    with pytest.raises(ValueError, match=r"means is empty"):
        mode_coverage(torch.zeros(4, 2), torch.zeros(0, 2), 0.1)
    with pytest.raises(ValueError, match=r"std must be a positive finite number, got 0"):
        mode_coverage(torch.zeros(4, 2), means, 0)
    with pytest.raises(ValueError, match=r"n_std must be a positive finite number, got -3.0"):
        mode_coverage(torch.zeros(4, 2), means, 0.1, n_std=-3.0)
    with pytest.raises(TypeError, match=r"samples must be a torch.Tensor or a numpy array, got str"):
        mode_coverage("points", means, 0.1)
    with pytest.raises(ValueError, match=r"means contains NaN"):
        mode_coverage(torch.zeros(4, 2), torch.full((2, 2), float("nan")), 0.1)
