"""LatentExplorer's panels: pixel samples at z, the nearest training digit, a picked digit's posterior,
and the static copy shown when it is displayed."""
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from IPython.display import Image
from matplotlib.patches import Ellipse

from genlib.widgets import LatentExplorer

WEIGHTS = torch.linspace(-1, 1, 2 * 64).reshape(2, 64)


def decode(z):
    return torch.sigmoid(z @ WEIGHTS)  # (B, 64)


class RecordingSampler:
    def __init__(self):
        self.calls = []

    def __call__(self, z, generator):
        self.calls.append(z.clone())
        return (torch.rand(len(z), 64, generator=generator) < decode(z)).float()


def make_explorer(**kwargs):
    train_encoded = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-2.0, 0.5]])
    train_images = torch.stack([torch.full((64,), v) for v in (0.1, 0.5, 0.9)])
    mu = torch.tensor([[0.5, -0.5], [-1.0, 2.0]])
    log_var = torch.log(torch.tensor([[0.04, 0.25], [1.0, 0.01]]))
    digits = torch.rand(2, 64, generator=torch.Generator().manual_seed(1))
    args = dict(encoded=torch.randn(30, 2), labels=torch.randint(0, 10, (30,)), sample=RecordingSampler(),
                n_samples=3, posterior=(mu, log_var), digits=digits, train_encoded=train_encoded,
                train_images=train_images)
    args.update(kwargs)
    return LatentExplorer(decode, 2, **args)


def test_pixel_samples_are_drawn_at_the_current_z():
    explorer = make_explorer()
    explorer.sliders[0].value, explorer.sliders[1].value = 1.0, -0.5
    torch.testing.assert_close(explorer.sample.calls[-1], torch.tensor([[1.0, -0.5]] * 3))
    samples = explorer.current_samples()
    assert samples.shape == (3, 8, 8)
    np.testing.assert_array_equal(samples, explorer.current_samples())  # a fixed seed: the same draws at the same z
    assert set(np.unique(samples)) <= {0.0, 1.0}


def test_the_nearest_training_digit_follows_z():
    explorer = make_explorer()
    assert explorer.nearest_training_index() == 0
    explorer.sliders[0].value, explorer.sliders[1].value = 0.9, 1.2
    assert explorer.nearest_training_index() == 1
    explorer.sliders[0].value = -1.8
    assert explorer.nearest_training_index() == 2


def test_the_picked_digit_gives_its_posterior_mean_and_std():
    explorer = make_explorer()
    mean, std = explorer.picked_posterior()
    np.testing.assert_allclose(mean, [0.5, -0.5])
    np.testing.assert_allclose(std, [0.2, 0.5], rtol=1e-6)
    explorer.digit_slider.value = 1
    mean, std = explorer.picked_posterior()
    np.testing.assert_allclose(mean, [-1.0, 2.0])
    np.testing.assert_allclose(std, [1.0, 0.1], rtol=1e-6)


def test_the_figure_draws_the_posterior_ellipses_at_one_and_two_std():
    explorer = make_explorer()
    explorer.digit_slider.value = 1
    fig = explorer.draw()
    ellipses = [p for p in fig.axes[-2].patches if isinstance(p, Ellipse)]  # the last axes is the colour bar
    assert len(ellipses) == 2
    for ellipse, n_std in zip(ellipses, (1, 2)):
        np.testing.assert_allclose([*ellipse.center, ellipse.width, ellipse.height], [-1.0, 2.0, 2 * n_std, 0.2 * n_std])
    titles = [ax.get_title() for ax in fig.axes]
    assert "mean E[x|z]" in titles and "3 samples x~p(x|z)" in titles and "picked:\nimage #1" in titles
    plt.close(fig)


def test_displaying_shows_a_static_figure_and_the_controls_without_leaking_figures(monkeypatch):
    explorer = make_explorer()
    shown = []
    monkeypatch.setattr("genlib.widgets.latent.display", shown.append)
    before = len(plt.get_fignums())
    explorer._ipython_display_()
    assert len(shown) == 2 and shown[1] is explorer.widget
    assert isinstance(shown[0], Image) and shown[0].data[:8] == b"\x89PNG\r\n\x1a\n", \
        "a static run must show the figure as an image, not only the widget"
    assert len(plt.get_fignums()) == before


def test_the_explorer_works_with_the_decoder_alone():
    explorer = LatentExplorer(decode, 2)
    assert explorer.current_samples() is None and explorer.nearest_training_index() is None
    assert explorer.picked_posterior() is None and explorer.digit_slider is None
    plt.close(explorer.draw())


def test_mismatched_inputs_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match="posterior and digits go together"):
        make_explorer(digits=None)
    with pytest.raises(ValueError, match="train_encoded and train_images go together"):
        make_explorer(train_images=None)
    with pytest.raises(ValueError, match=re.escape("train_encoded must have shape (N, 2), got (3, 5)")):
        make_explorer(train_encoded=torch.zeros(3, 5))
    with pytest.raises(ValueError, match="must have the same number of rows, got 2, 2 and 4"):
        make_explorer(digits=torch.zeros(4, 64))
    with pytest.raises(ValueError, match="n_samples must be a positive integer, got 0"):
        make_explorer(n_samples=0)
