"""genlib.metrics.baselines: independent per-pixel categoricals, smoothed, with alpha chosen on validation."""
import math

import numpy as np
import pytest
import torch

from genlib.data import load_digits
from genlib.metrics import choose_smoothing, fit_pixel_categoricals, pixel_categorical_log_likelihood


def test_add_one_smoothing_matches_counting_by_hand():
    x = torch.tensor([[0, 2], [0, 1], [1, 1]]).float()  # 3 images of 2 pixels, 3 levels
    probs = fit_pixel_categoricals(x, alpha=1.0, n_levels=3).exp()
    assert torch.allclose(probs, torch.tensor([[3 / 6, 2 / 6, 1 / 6], [1 / 6, 3 / 6, 2 / 6]], dtype=torch.float64))


@pytest.mark.parametrize("alpha", [0.01, 1.0, 50.0])
def test_every_pixel_distribution_sums_to_one(alpha):
    x = load_digits("train", scale="levels")[0]
    probs = fit_pixel_categoricals(x, alpha).exp()
    assert probs.shape == (64, 17) and torch.allclose(probs.sum(1), torch.ones(64, dtype=torch.float64))


def test_log_likelihood_against_a_plain_loop():
    x_train, x_val = load_digits("train", scale="levels")[0], load_digits("val", scale="levels")[0][:20]
    log_probs = fit_pixel_categoricals(x_train, 0.5)
    table = log_probs.numpy()
    expected = [sum(table[i, int(v)] for i, v in enumerate(row)) for row in x_val.numpy()]
    assert np.allclose(pixel_categorical_log_likelihood(log_probs, x_val).numpy(), expected)


def test_large_alpha_tends_to_uniform():
    x = load_digits("train", scale="levels")[0]
    probs = fit_pixel_categoricals(x, 1e6).exp()
    assert torch.allclose(probs, torch.full((64, 17), 1 / 17, dtype=torch.float64), atol=1e-3)


def test_choose_smoothing_returns_the_validation_argmin():
    x_train, x_val = load_digits("train", scale="levels")[0], load_digits("val", scale="levels")[0]
    best, val_bits = choose_smoothing(x_train, x_val, alphas=[0.001, 0.1, 1.0, 10.0])
    assert best == min(val_bits, key=val_bits.get)
    nll = -pixel_categorical_log_likelihood(fit_pixel_categoricals(x_train, best), x_val)
    assert math.isclose(val_bits[best], float(nll.mean()) / (64 * math.log(2)))
    assert val_bits[best] < math.log2(17), "pixel frequencies must beat the uniform distribution"
    assert len(set(val_bits.values())) == 4, "different pseudo-counts should give different validation scores"


def test_errors_name_the_fix():
    x = load_digits("train", scale="levels")[0][:10]
    with pytest.raises(ValueError, match="alpha must be a positive number.*infinite test NLL"):
        fit_pixel_categoricals(x, 0.0)
    with pytest.raises(ValueError, match="scale='levels'"):
        fit_pixel_categoricals(x / 16 + 0.01)
    with pytest.raises(ValueError, match=r"shape \(N, D\).*reshape"):
        fit_pixel_categoricals(x.reshape(10, 1, 8, 8))
    with pytest.raises(ValueError, match="fitted on 64"):
        pixel_categorical_log_likelihood(fit_pixel_categoricals(x), x[:, :32])
    with pytest.raises(ValueError, match="at least one candidate"):
        choose_smoothing(x, x, alphas=[])
