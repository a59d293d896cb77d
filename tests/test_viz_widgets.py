"""Tests of genlib.viz (image grids, 2-D densities and samples) and genlib.widgets."""
from __future__ import annotations

import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from genlib.data import make_toy  # noqa: E402
from genlib.viz import image_grid, plot_density_2d, plot_samples_2d  # noqa: E402
from genlib.widgets import LatentExplorer  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _images(n=5):
    return torch.arange(n * 64, dtype=torch.float32).reshape(n, 8, 8) / (n * 64)  # (N, 8, 8), all distinct


# ----------------------------------------------------------------------------- image_grid


@pytest.mark.parametrize("layout", ["flat", "hw", "chw"])
def test_image_grid_accepts_every_layout_and_places_the_images(layout):
    images = _images(5)
    given = {"flat": images.reshape(5, 64), "hw": images, "chw": images.reshape(5, 1, 8, 8)}[layout]
    ax = image_grid(given, ncols=3, title="digits")
    canvas = np.ma.getdata(ax.images[0].get_array()).astype(float)
    assert canvas.shape == (2 * 9 - 1, 3 * 9 - 1)  # two rows of three, one-pixel gaps
    for i in range(5):
        r, c = divmod(i, 3)
        np.testing.assert_allclose(canvas[9 * r:9 * r + 8, 9 * c:9 * c + 8], images[i].numpy())
    assert np.isnan(canvas[8, :]).all() and np.isnan(canvas[:, 8]).all(), "gaps are blank"
    assert np.isnan(canvas[9:, 18:]).all(), "the unused sixth cell is blank"
    assert ax.get_title() == "digits"


def test_image_grid_gaps_are_white_without_changing_the_global_colormap():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no (pending) deprecation warnings from matplotlib
        ax = image_grid(_images(2), cmap="gray_r")
    np.testing.assert_allclose(ax.images[0].get_cmap()(np.nan), (1.0, 1.0, 1.0, 1.0))
    assert matplotlib.colormaps["gray_r"](np.nan) != (1.0, 1.0, 1.0, 1.0), "the registered colormap is left alone"


def test_image_grid_draws_into_a_given_axes_and_accepts_numpy():
    _, ax = plt.subplots()
    assert image_grid(_images(3).numpy(), ax=ax) is ax
    assert ax.images[0].get_array().shape == (8, 3 * 9 - 1)


def test_image_grid_rejects_non_square_flat_images():
    with pytest.raises(ValueError, match=r"flat images must have a square number of pixels, got 63; pass them as \(N, H, W\)"):
        image_grid(torch.zeros(4, 63))


@pytest.mark.parametrize("shape", [(4, 3, 8, 8), (8,), (2, 2, 2, 2, 2)])
def test_image_grid_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match=r"images must have shape \(N, D\), \(N, H, W\) or \(N, 1, H, W\), got " + re.escape(str(shape))):
        image_grid(torch.zeros(shape))


# ----------------------------------------------------------------------------- 2-D plots


def test_plot_density_2d_draws_the_density_the_right_way_up():
    toy = make_toy("ring8", std=0.2)
    ax = plot_density_2d(toy.log_prob, lim=1.5, resolution=31, title="ring")
    assert isinstance(ax, plt.Axes)
    image = ax.images[0]
    assert image.get_extent() == [-1.5, 1.5, -1.5, 1.5]
    density = np.asarray(image.get_array())
    ticks = np.linspace(-1.5, 1.5, 31)
    xx, yy = np.meshgrid(ticks, ticks, indexing="xy")
    expected = toy.log_prob(np.stack([xx.ravel(), yy.ravel()], axis=1)).exp().numpy().reshape(31, 31)
    np.testing.assert_allclose(density, expected, rtol=1e-10)
    assert ax.get_title() == "ring"


def test_plot_density_2d_orientation():
    # a density that grows with x only: columns left to right, rows bottom to top (origin="lower")
    ax = plot_density_2d(lambda p: p[:, 0] + 0.1 * p[:, 1], lim=1.0, resolution=5)
    density = np.log(np.asarray(ax.images[0].get_array()))
    assert ax.images[0].origin == "lower"
    assert (np.diff(density, axis=1) > 0.4).all()  # x increases along columns
    assert (np.abs(np.diff(density, axis=0) - 0.05) < 1e-9).all()  # y increases along rows


def test_plot_samples_2d_returns_axes_with_the_points():
    points = make_toy("grid25").sample(100, seed=0)
    _, given_ax = plt.subplots()
    ax = plot_samples_2d(points, lim=5, ax=given_ax, title="grid", label="data")
    assert ax is given_ax
    np.testing.assert_allclose(ax.collections[0].get_offsets(), points.numpy())
    assert ax.get_xlim() == (-5, 5) and ax.get_ylim() == (-5, 5)
    assert ax.get_title() == "grid"
    assert isinstance(plot_samples_2d(points.numpy()), plt.Axes)


@pytest.mark.parametrize("shape", [(10, 3), (10,), (2, 5, 2)])
def test_plot_samples_2d_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"samples must have shape \(N, 2\), got " + re.escape(str(shape))):
        plot_samples_2d(np.zeros(shape))


# ----------------------------------------------------------------------------- LatentExplorer


class _RecordingDecoder:
    """A decoder whose image depends on both latent coordinates; records the points it decodes."""

    def __init__(self, latent_dim=2, layout="flat"):
        self.weights = torch.linspace(-1, 1, latent_dim * 64).reshape(latent_dim, 64)
        self.layout, self.calls = layout, []

    def __call__(self, z):
        self.calls.append(z.clone())
        images = torch.sigmoid(z @ self.weights)  # (B, 64)
        return images.reshape(-1, 1, 8, 8) if self.layout == "chw" else images


def test_moving_a_slider_decodes_the_new_point():
    decode = _RecordingDecoder()
    explorer = LatentExplorer(decode, 2)
    assert len(explorer.sliders) == 2
    start = explorer.current_image()
    assert start.shape == (8, 8)
    torch.testing.assert_close(decode.calls[-1], torch.zeros(1, 2))

    explorer.sliders[0].value = 1.5
    torch.testing.assert_close(decode.calls[-1], torch.tensor([[1.5, 0.0]]))  # the redraw decoded the new point
    explorer.sliders[1].value = -2.0
    torch.testing.assert_close(decode.calls[-1], torch.tensor([[1.5, -2.0]]))
    torch.testing.assert_close(explorer.z, torch.tensor([[1.5, -2.0]]))

    moved = explorer.current_image()
    assert not np.allclose(moved, start)
    expected = torch.sigmoid(torch.tensor([[1.5, -2.0]]) @ decode.weights).reshape(8, 8).numpy()
    np.testing.assert_allclose(moved, expected, rtol=1e-6)


def test_latent_explorer_with_encoded_points_draws_without_leaking_figures():
    decode = _RecordingDecoder(layout="chw")
    encoded, labels = torch.randn(50, 2), torch.randint(0, 10, (50,))
    before = len(plt.get_fignums())
    explorer = LatentExplorer(decode, 2, encoded=encoded, labels=labels, limit=2.0)
    explorer.sliders[1].value = 0.5
    assert len(plt.get_fignums()) == before, "redraw must close its figures"
    assert explorer.sliders[0].min == -2.0 and explorer.sliders[0].max == 2.0
    np.testing.assert_allclose(explorer.encoded, encoded.numpy())
    assert explorer.current_image().shape == (8, 8)


def test_latent_explorer_with_many_latents():
    decode = _RecordingDecoder(latent_dim=5)
    explorer = LatentExplorer(decode, 5)
    explorer.sliders[4].value = 1.0
    torch.testing.assert_close(decode.calls[-1], torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]]))


@pytest.mark.parametrize("latent_dim", [0, 17, 2.0, "2"])
def test_latent_explorer_rejects_bad_latent_dim(latent_dim):
    with pytest.raises(ValueError, match=r"latent_dim must be an integer between 1 and 16, got " + re.escape(repr(latent_dim))):
        LatentExplorer(_RecordingDecoder(), latent_dim)


def test_latent_explorer_rejects_encoded_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"encoded must have shape \(N, 2\), got \(50, 3\)"):
        LatentExplorer(_RecordingDecoder(), 2, encoded=torch.zeros(50, 3))


def test_figure_explorer_redraws_once_per_change_and_shows_one_figure():
    import matplotlib.pyplot as plt

    from genlib.widgets._figure import FigureExplorer, index_slider

    class Counter(FigureExplorer):
        def __init__(self):
            self.drawn = []
            self.slider = index_slider("k", 5)
            self._connect([self.slider])

        def draw(self):
            self.drawn.append(self.slider.value)
            fig, ax = plt.subplots()
            ax.set_title(f"k = {self.slider.value}")
            return fig

    explorer = Counter()
    assert explorer.drawn == [0], "the explorer must draw once when it is built"
    explorer.slider.value = 3
    assert explorer.drawn == [0, 3], f"one redraw per change, with the new value; drew {explorer.drawn}"
    assert explorer.widget.children == (explorer.slider, explorer.output)
    assert (explorer.slider.min, explorer.slider.max, explorer.slider.continuous_update) == (0, 5, False)
    assert not plt.get_fignums(), "every drawn figure must be closed, or notebooks leak figures"


def test_label_maps_are_drawn_in_the_course_colours():
    """Every label map in the course is drawn with genlib.viz's one colour per label (lectures and widgets)."""
    import matplotlib.colors as mcolors

    from genlib.viz import LABEL_COLOURS, label_colormap, show_label_map

    fig, ax = plt.subplots()
    labels = torch.tensor([[0, 1], [2, 3]])
    shown = show_label_map(ax, labels)
    for value in range(4):  # the colour drawn for each label is that label's colour
        assert np.allclose(shown.cmap(shown.norm(value)), mcolors.to_rgba(LABEL_COLOURS[value])), value
    assert label_colormap(5).N == 5 and label_colormap().N == 4
    with pytest.raises(ValueError, match=r"labels hold values 0 \.\. 4, outside 0 \.\. 3; pass n_labels=5"):
        show_label_map(ax, torch.tensor([[0, 4]]))
    with pytest.raises(ValueError, match=r"one label map of shape \(H, W\)"):
        show_label_map(ax, torch.zeros(2, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"n_labels must be at most 5"):
        label_colormap(6)
    plt.close(fig)
    print("label maps: one colour per label from genlib.viz.LABEL_COLOURS; out-of-range labels and batches refused")
