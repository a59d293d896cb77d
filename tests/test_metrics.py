"""Tests of genlib.metrics.bits_per_dim, the course's likelihood unit."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genlib.metrics import bits_per_dim


def test_bits_per_dim_is_mean_nats_over_d_ln2():
    nll = torch.tensor([64 * math.log(2) * 1.0, 64 * math.log(2) * 3.0], dtype=torch.float64)
    assert bits_per_dim(nll) == pytest.approx(2.0, rel=1e-12)
    assert isinstance(bits_per_dim(nll), float)
    assert bits_per_dim(nll.float()) == pytest.approx(2.0, rel=1e-6)  # float32 input
    assert bits_per_dim(nll * 2, data_dim=128) == pytest.approx(2.0, rel=1e-12)


def test_one_bit_per_pixel_for_a_uniform_binary_image():
    # a uniform Bernoulli over 64 pixels: NLL = 64 ln 2 nats = 1 bit per pixel
    assert bits_per_dim(np.full(10, 64 * math.log(2))) == pytest.approx(1.0, rel=1e-12)
    # 17 equally likely levels: log2(17) bits per pixel
    assert bits_per_dim([64 * math.log(17)]) == pytest.approx(math.log2(17), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(0, 1e4), min_size=1, max_size=20), data_dim=st.integers(1, 1000))
def test_bits_per_dim_matches_the_definition(values, data_dim):
    expected = np.mean(values) / (data_dim * np.log(2))
    assert bits_per_dim(torch.tensor(values, dtype=torch.float64), data_dim=data_dim) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_nll_is_rejected(bad):
    with pytest.raises(ValueError, match=r"nll_nats contains 1 NaN or infinite value"):
        bits_per_dim(torch.tensor([1.0, bad, 2.0]))


@pytest.mark.parametrize("shape", [(), (3, 2), (0,)])
def test_nll_must_be_a_non_empty_vector(shape):
    with pytest.raises(ValueError, match=r"nll_nats must have shape \(N,\) with N >= 1, got " + re.escape(str(shape))):
        bits_per_dim(torch.ones(shape))


@pytest.mark.parametrize("data_dim", [0, -64, 64.0, "64"])
def test_data_dim_must_be_a_positive_integer(data_dim):
    with pytest.raises(ValueError, match=r"data_dim must be a positive integer, got " + re.escape(repr(data_dim))):
        bits_per_dim(torch.ones(3), data_dim=data_dim)


def test_non_numeric_input_is_rejected():
    with pytest.raises(TypeError, match=r"nll_nats must be a torch.Tensor or a numpy array, got dict"):
        bits_per_dim({"nll": 1.0})
