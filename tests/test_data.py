"""Tests of genlib.data: the fixed digits split and the 2-D toys with exact densities."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.datasets
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import logsumexp

from genlib.data import DIGITS_LEVELS, DIGITS_SPLITS, GaussianMixture2D, TOY_NAMES, load_digits, make_toy

FAST = settings(max_examples=15, deadline=None)


# ----------------------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def sklearn_digits():
    return sklearn.datasets.load_digits()


@pytest.mark.parametrize("split, size", [("train", 1000), ("val", 350), ("test", 447)])
def test_digits_split_sizes_and_shapes(split, size):
    images, labels = load_digits(split)
    assert images.shape == (size, 64)
    assert labels.shape == (size,)
    assert images.dtype == torch.float32
    assert labels.dtype == torch.int64
    assert set(labels.tolist()) == set(range(10)), "every split should hold all ten classes"

    images_2d, labels_2d = load_digits(split, shape="image")
    assert images_2d.shape == (size, 1, 8, 8)
    torch.testing.assert_close(images_2d.reshape(size, 64), images)
    torch.testing.assert_close(labels_2d, labels)


def test_digits_splits_partition_the_whole_data_set():
    sizes = [len(load_digits(split)[0]) for split in DIGITS_SPLITS]
    assert sum(sizes) == 1797
    assert list(DIGITS_SPLITS) == ["train", "val", "test"]


@pytest.mark.parametrize("split, rows", [("train", slice(0, 1000)), ("val", slice(1000, 1350)),
                                         ("test", slice(1350, 1797))])
def test_digits_split_is_sklearn_file_order(sklearn_digits, split, rows):
    images, labels = load_digits(split, scale="levels")
    np.testing.assert_array_equal(images.numpy(), sklearn_digits.data[rows].astype(np.float32))
    np.testing.assert_array_equal(labels.numpy(), sklearn_digits.target[rows])


def test_digits_scale_unit_is_levels_over_16():
    unit, _ = load_digits("train", scale="unit")
    levels, _ = load_digits("train", scale="levels")
    assert unit.min() == 0.0 and unit.max() == 1.0
    torch.testing.assert_close(unit, levels / 16)


@pytest.mark.parametrize("split", list(DIGITS_SPLITS))
def test_digits_scale_levels_are_integers_0_to_16(split):
    levels, _ = load_digits(split, scale="levels")
    assert DIGITS_LEVELS == 17
    assert torch.equal(levels, levels.round()), "levels must be integer-valued"
    assert levels.min() == 0 and levels.max() == 16


@pytest.mark.parametrize("kwargs, match", [
    ({"split": "training"}, r"split must be one of 'train', 'val', 'test'; got 'training'"),
    ({"scale": "bits"}, r"scale must be one of .*'unit'.*; got 'bits'"),
    ({"shape": "square"}, r"shape must be one of 'flat', 'image'; got 'square'"),
])
def test_digits_bad_names_raise_value_error_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_digits(**kwargs)


# ----------------------------------------------------------------------------- toys: layout


def test_toy_names():
    assert set(TOY_NAMES) == {"ring8", "grid25", "moons"}


def test_ring8_has_8_modes_evenly_spaced_on_the_unit_circle():
    toy = make_toy("ring8")
    assert toy.n_modes == 8
    assert toy.std == 0.01
    means = toy.means.numpy()
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 1.0, atol=1e-12)
    angles = np.sort(np.mod(np.arctan2(means[:, 1], means[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(np.diff(angles), 2 * np.pi / 8, atol=1e-12)


def test_grid25_has_25_modes_on_the_grid():
    toy = make_toy("grid25")
    assert toy.n_modes == 25
    assert toy.std == 0.05
    expected = {(x, y) for x in (-4.0, -2.0, 0.0, 2.0, 4.0) for y in (-4.0, -2.0, 0.0, 2.0, 4.0)}
    assert {tuple(m) for m in toy.means.tolist()} == expected


def test_moons_default_std():
    toy = make_toy("moons")
    assert toy.std == 0.1
    assert toy.n_modes == 64


@pytest.mark.parametrize("name", TOY_NAMES)
def test_std_is_a_parameter(name):
    toy = make_toy(name, std=0.3)
    assert toy.std == 0.3
    torch.testing.assert_close(toy.means, make_toy(name).means)
    assert repr(toy) == f"GaussianMixture2D(name={name!r}, n_modes={toy.n_modes}, std=0.3)"


# ----------------------------------------------------------------------------- toys: sampling


@pytest.mark.parametrize("name", TOY_NAMES)
def test_sample_is_deterministic_with_a_seed_and_leaves_global_rng_alone(name):
    toy = make_toy(name)
    state = torch.get_rng_state()
    a = toy.sample(500, seed=3)
    b = toy.sample(500, seed=3)
    c = toy.sample(500, seed=4)
    assert torch.equal(torch.get_rng_state(), state), "a seeded draw must not touch the global generator"
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_a_generator_seeds_a_toy_draw_like_its_int_and_a_bad_seed_is_named():
    toy = make_toy("ring8")
    assert torch.equal(toy.sample(50, seed=3), toy.sample(50, seed=torch.Generator().manual_seed(3)))
    g = torch.Generator().manual_seed(3)
    first, second = toy.sample(50, seed=g), toy.sample(50, seed=g)
    assert not torch.equal(first, second), "a Generator's draws continue"
    with pytest.raises(TypeError, match=r"seed must be an int or a torch.Generator, got float"):
        toy.sample(5, seed=1.5)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_samples_spread_around_their_mode_with_std(name):
    toy = make_toy(name)
    x, modes = toy.sample(40_000, seed=0, return_modes=True)
    assert modes.shape == (40_000,) and modes.dtype == torch.int64
    residual = x.double() - toy.means[modes]
    np.testing.assert_allclose(residual.mean(0).numpy(), 0.0, atol=5 * toy.std / math.sqrt(40_000))
    np.testing.assert_allclose(residual.std(0).numpy(), toy.std, rtol=0.03)
    # every mode is equally likely: a chi-square test of the mode counts
    counts = torch.bincount(modes, minlength=toy.n_modes).numpy()
    assert stats.chisquare(counts).pvalue > 1e-4


@pytest.mark.parametrize("n", [0, -3, 2.5, "10"])
def test_sample_rejects_bad_n(n):
    with pytest.raises(ValueError, match=r"n must be a positive integer"):
        make_toy("ring8").sample(n)


# ----------------------------------------------------------------------------- toys: density


def _grid_integral(toy, lim_x, lim_y, step):
    xs = torch.arange(-lim_x + step / 2, lim_x, step, dtype=torch.float64)
    ys = torch.arange(-lim_y + step / 2, lim_y, step, dtype=torch.float64)
    xx, yy = torch.meshgrid(xs, ys, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    return float(toy.log_prob(points).exp().sum() * step**2)


@pytest.mark.parametrize("name, std, lim, step", [
    ("ring8", 0.1, 2.0, 0.02),
    ("grid25", 0.3, 6.0, 0.05),
    ("moons", None, 2.0, 0.02),
])
def test_log_density_integrates_to_one_on_a_grid(name, std, lim, step):
    toy = make_toy(name, std)
    assert _grid_integral(toy, lim, lim, step) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_narrow_default_modes_integrate_to_one_on_fine_local_grids(name):
    toy = make_toy(name)  # std 0.01 / 0.05: integrate on a fine grid around each mode
    s, step = toy.std, toy.std / 5
    offsets = torch.arange(-7 * s + step / 2, 7 * s, step, dtype=torch.float64)
    ox, oy = torch.meshgrid(offsets, offsets, indexing="ij")
    local = torch.stack([ox.reshape(-1), oy.reshape(-1)], dim=1)  # (G, 2)
    points = (toy.means[:, None, :] + local[None]).reshape(-1, 2)
    total = float(toy.log_prob(points).exp().sum() * step**2)
    assert total == pytest.approx(1.0, abs=1e-3)


def test_single_mode_log_density_is_the_gaussian_normaliser():
    toy = GaussianMixture2D([[0.5, -1.0]], std=0.2)
    assert float(toy.log_prob([[0.5, -1.0]])[0]) == pytest.approx(-math.log(2 * math.pi * 0.04), rel=1e-12)


@pytest.mark.parametrize("name, std", [("moons", None), ("ring8", 0.15)])
def test_log_density_agrees_with_a_histogram_of_samples(name, std):
    toy = make_toy(name, std)
    n, width, lim = 200_000, 0.1, 2.0
    x = toy.sample(n, seed=1).double().numpy()
    edges = np.arange(-lim, lim + width / 2, width)
    counts, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=[edges, edges])
    # exact mass of every bin, by a 5x5 midpoint rule inside the bin
    sub = (np.arange(5) + 0.5) / 5 * width
    px = (edges[:-1, None] + sub[None]).reshape(-1)
    xx, yy = np.meshgrid(px, px, indexing="ij")
    density = toy.log_prob(np.stack([xx.ravel(), yy.ravel()], axis=1)).exp().numpy()
    nb = len(edges) - 1
    mass = density.reshape(nb, 5, nb, 5).sum(axis=(1, 3)) * (width / 5) ** 2
    assert mass.sum() == pytest.approx(1.0, abs=1e-3)
    empirical = counts / n
    tv = 0.5 * np.abs(empirical - mass).sum()
    assert tv < 0.03, f"total variation {tv:.3f} between the histogram and the exact density"
    # the same check is sensitive: a mode width 30% off is clearly rejected
    wrong = make_toy(name, toy.std * 1.3).log_prob(np.stack([xx.ravel(), yy.ravel()], axis=1)).exp().numpy()
    wrong_mass = wrong.reshape(nb, 5, nb, 5).sum(axis=(1, 3)) * (width / 5) ** 2
    assert 0.5 * np.abs(empirical - wrong_mass).sum() > 2 * tv


def _scipy_log_prob(toy, x):
    means, cov = toy.means.numpy(), toy.std**2 * np.eye(2)
    per_mode = np.stack([stats.multivariate_normal(m, cov).logpdf(x) for m in means], axis=1)
    return logsumexp(per_mode, axis=1) - np.log(len(means))


@pytest.mark.parametrize("name", TOY_NAMES)
def test_log_prob_matches_scipy_mixture(name):
    toy = make_toy(name)
    rng = np.random.default_rng(0)
    x = np.concatenate([toy.sample(200, seed=0).double().numpy(), rng.uniform(-5, 5, size=(50, 2))])
    got = toy.log_prob(x)
    assert got.dtype == torch.float64 and got.shape == (250,)
    np.testing.assert_allclose(got.numpy(), _scipy_log_prob(toy, x), rtol=1e-9, atol=1e-9)


@FAST
@given(seed=st.integers(0, 2**31 - 1), std=st.floats(0.02, 2.0), k=st.integers(1, 6))
def test_log_prob_matches_scipy_for_random_mixtures(seed, std, k):
    rng = np.random.default_rng(seed)
    toy = GaussianMixture2D(rng.normal(size=(k, 2)), std)
    x = rng.normal(scale=2.0, size=(20, 2))
    np.testing.assert_allclose(toy.log_prob(x).numpy(), _scipy_log_prob(toy, x), rtol=1e-9, atol=1e-9)


def test_log_prob_is_stable_far_from_every_mode():
    toy = make_toy("ring8")  # std 0.01: exp underflows at distance 1 without log-sum-exp
    lp = toy.log_prob([[0.0, 0.0], [30.0, 30.0]])
    assert torch.isfinite(lp).all()
    np.testing.assert_allclose(lp.numpy(), _scipy_log_prob(toy, np.array([[0.0, 0.0], [30.0, 30.0]])), rtol=1e-12)


def test_entropy_estimate_of_one_gaussian():
    toy = GaussianMixture2D([[0.0, 0.0]], std=0.5)
    exact = math.log(2 * math.pi * math.e * 0.25)
    assert toy.entropy_estimate(n=50_000) == pytest.approx(exact, abs=0.02)


# ----------------------------------------------------------------------------- toys: nearest_mode


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_nearest_mode_recovers_the_generating_mode(name):
    toy = make_toy(name)
    x, modes = toy.sample(2000, seed=5, return_modes=True)
    nearest, distances = toy.nearest_mode(x)
    assert torch.equal(nearest, modes)
    expected = torch.linalg.norm(x.double() - toy.means[modes], dim=1)
    torch.testing.assert_close(distances, expected)


def test_nearest_mode_at_the_centres():
    toy = make_toy("grid25")
    modes, distances = toy.nearest_mode(toy.means + 0.3)
    assert torch.equal(modes, torch.arange(25))
    torch.testing.assert_close(distances, torch.full((25,), 0.3 * math.sqrt(2), dtype=torch.float64))


# ----------------------------------------------------------------------------- toys: errors


@pytest.mark.parametrize("method", ["log_prob", "nearest_mode"])
def test_points_with_three_columns_are_rejected(method):
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2\), got \(4, 3\)"):
        getattr(make_toy("ring8"), method)(torch.zeros(4, 3))


@pytest.mark.parametrize("method", ["log_prob", "nearest_mode"])
def test_one_point_without_batch_dimension_is_rejected_with_a_hint(method):
    with pytest.raises(ValueError, match=r"x must have 2 dimensions .*unsqueeze\(0\)"):
        getattr(make_toy("ring8"), method)(torch.zeros(2))


@pytest.mark.parametrize("method", ["log_prob", "nearest_mode"])
def test_nan_points_are_rejected(method):
    x = torch.zeros(3, 2)
    x[1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"x contains 1 NaN or infinite value"):
        getattr(make_toy("moons"), method)(x)


def test_non_array_points_are_rejected():
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor or a numpy array, got str"):
        make_toy("ring8").log_prob("points")


@pytest.mark.parametrize("std", [0.0, -0.1, float("nan"), float("inf")])
def test_non_positive_std_is_rejected(std):
    with pytest.raises(ValueError, match=r"std must be a positive finite number"):
        make_toy("ring8", std=std)


def test_means_must_be_2d():
    with pytest.raises(ValueError, match=r"means must have shape \(K, 2\), got \(3, 3\)"):
        GaussianMixture2D(np.zeros((3, 3)), 0.1)


def test_unknown_toy_name_is_rejected():
    with pytest.raises(ValueError, match=r"name must be one of 'ring8', 'grid25', 'moons'; got 'spiral'"):
        make_toy("spiral")
