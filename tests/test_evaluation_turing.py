"""The visual Turing test widget of unit 04, clicked from code as a student clicks it."""
import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from scipy.stats import binomtest  # noqa: E402

from genlib.widgets import VisualTuringTest, binomial_confidence_interval  # noqa: E402


def _pools():
    real = np.zeros((30, 8, 8))
    real[:, 2:6, 2:6] = 1.0  # a bright square: easy to tell from the synthetic pool
    synthetic = np.full((25, 1, 8, 8), 0.3)
    return real, synthetic


def _shown_is_real(test) -> bool:
    """Read the displayed PNG and say whether it is a real (square) image: what a perfect reader sees."""
    pixels = np.asarray(Image.open(io.BytesIO(test.image.value)).convert("L"), dtype=float) / 255
    return bool(pixels.max() > 0.9)


def test_clicking_every_image_right_scores_all_correct_and_closes_the_test():
    test = VisualTuringTest(*_pools(), n_trials=12, seed=3)
    assert "image 1 of 12" in test.status.value
    for _ in range(12):
        test.buttons["real" if _shown_is_real(test) else "synthetic"].click()
    assert test.done and len(test.answers) == 12
    result = test.results()
    assert (result.n, result.correct, result.accuracy) == (12, 12, 1.0)
    assert result.high == 1.0 and result.low == pytest.approx(0.025 ** (1 / 12), rel=1e-9)  # Clopper-Pearson at k = n
    assert all(button.disabled for button in test.buttons.values())
    assert "Done." in test.status.value and "accuracy 12/12 = 1.00" in test.status.value
    assert "better than chance" in test.status.value and "0.5 is outside the interval" in test.status.value
    test.buttons["real"].click()  # further clicks are ignored
    assert len(test.answers) == 12


def test_always_clicking_real_scores_the_share_of_real_images():
    test = VisualTuringTest(*_pools(), n_trials=20, seed=1)
    for _ in range(20):
        test.buttons["real"].click()
    result = test.results()
    n_real = int(test.is_real.sum())
    assert 0 < n_real < 20
    assert result.correct == n_real and result.real_called_real == n_real
    assert result.synthetic_called_real == 20 - n_real
    assert (result.low, result.high) == pytest.approx(tuple(binomtest(n_real, 20).proportion_ci(0.95, method="exact")))


def test_the_images_shown_are_the_pools_images_in_a_seeded_order():
    real, synthetic = _pools()
    a, b = VisualTuringTest(real, synthetic, n_trials=10, seed=7), VisualTuringTest(real, synthetic, n_trials=10, seed=7)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.is_real, b.is_real)
    np.testing.assert_array_equal(a.images[a.is_real], np.broadcast_to(real[0], (int(a.is_real.sum()), 8, 8)))
    np.testing.assert_array_equal(a.images[~a.is_real], np.full((int((~a.is_real).sum()), 8, 8), 0.3))
    shown = [_shown_is_real(a)]
    for _ in range(9):
        a.buttons["synthetic"].click()
        if not a.done:
            shown.append(_shown_is_real(a))
    assert shown == list(a.is_real[:len(shown)])


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (7, 20), (20, 20), (1, 1)])
def test_clopper_pearson_matches_scipy(k, n):
    expected = binomtest(k, n).proportion_ci(0.95, method="exact")
    assert binomial_confidence_interval(k, n) == pytest.approx((expected.low, expected.high), rel=1e-9, abs=1e-12)


def test_bad_arguments_are_explained():
    real, synthetic = _pools()
    with pytest.raises(ValueError, match=r"n_trials must be an integer between 1 and 55 \(the images given\), got 100"):
        VisualTuringTest(real, synthetic, n_trials=100)
    with pytest.raises(ValueError, match=r"real and synthetic images must have the same size, got \(8, 8\) and \(4, 4\)"):
        VisualTuringTest(real, np.zeros((5, 4, 4)))
    with pytest.raises(ValueError, match=r"no answers yet: click Real or Synthetic"):
        VisualTuringTest(real, synthetic).results()
    with pytest.raises(ValueError, match=r"successes must be an integer between 0 and trials=5, got 6"):
        binomial_confidence_interval(6, 5)
