"""Interactive explorers built on ipywidgets.

``LatentExplorer``: one slider per latent coordinate; moving a slider decodes the point and redraws.
Beside the decoder's mean E[x | z] it can show pixel samples x ~ p(x | z) at the same z (a VAE's
samples are not its means), the training digit whose code lies nearest to z (what real digit lives
there), and, for a picked digit, its image and the posterior q(z | x) as a mean with 1- and 2-standard-
deviation ellipses among the encoded test set (K = 2), coloured by class. Displaying the explorer
shows a static copy of its figure at the starting point first, so a notebook run without a live kernel
(a rendered page, a test) still shows what the explorer draws.
"""
from __future__ import annotations

from io import BytesIO
from typing import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Image, display
from matplotlib.patches import Ellipse

from genlib.viz import to_numpy_images, image_grid
from genlib.widgets._figure import FigureExplorer


def _rows(name: str, value, width: int | None = None) -> torch.Tensor:
    tensor = torch.as_tensor(value).detach().cpu().float()
    if tensor.ndim != 2 or (width is not None and tensor.shape[1] != width):
        expected = f"(N, {width})" if width is not None else "(N, D)"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(tensor.shape)}.")
    return tensor


class LatentExplorer(FigureExplorer):
    """Sliders over latent coordinates -> the decoded mean, pixel samples, the nearest training digit.

    Parameters
    ----------
    decode : callable
        Maps latents (B, K) to mean images E[x | z], shape (B, D), (B, H, W) or (B, 1, H, W), in [0, 1].
    latent_dim : int
        K. Up to 16 sliders are shown.
    encoded : tensor, shape (N, K), optional
        Latent means of a data set, drawn as a scatter when K == 2.
    labels : tensor, shape (N,), optional
        Class of each encoded point, for the scatter's colours.
    limit : float
        Each slider ranges over [-limit, limit] (the prior N(0, I) has 99.7% of its mass within 3).
    sample : callable, optional
        ``sample(z, generator)`` maps latents (B, K) to images drawn from p(x | z); ``n_samples`` of them
        are drawn at the current z (with a fixed seed, so a redraw at the same z shows the same draws).
    posterior : (mu, log_var), tensors of shape (M, K), optional
        The encoder's q(z | x) for the digits in ``digits``; an "image #" slider picks one by its row
        index, whose image is shown and whose posterior is drawn as ellipses (K == 2).
    digits : tensor, shape (M, D), optional
        The images that ``posterior`` encodes.
    train_encoded, train_images : tensors of shape (T, K) and (T, D), optional
        Codes and images of the training digits; the one whose code is nearest to z is shown.

    Attributes
    ----------
    widget : ipywidgets.Widget
    sliders : list of ipywidgets.FloatSlider
    digit_slider : ipywidgets.IntSlider or None
    """

    def __init__(self, decode: Callable, latent_dim: int, *, encoded=None, labels=None,
                 limit: float = 3.0, step: float = 0.05, sample: Callable | None = None, n_samples: int = 4,
                 posterior=None, digits=None, train_encoded=None, train_images=None):
        if not isinstance(latent_dim, int) or not 1 <= latent_dim <= 16:
            raise ValueError(f"latent_dim must be an integer between 1 and 16, got {latent_dim!r}.")
        if encoded is not None and torch.as_tensor(encoded).shape[-1] != latent_dim:
            raise ValueError(
                f"encoded must have shape (N, {latent_dim}), got {tuple(torch.as_tensor(encoded).shape)}."
            )
        if not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        if (posterior is None) != (digits is None):
            raise ValueError("posterior and digits go together: pass both (the encoder's (mu, log_var) of the "
                             "digits, and the digits) or neither.")
        if (train_encoded is None) != (train_images is None):
            raise ValueError("train_encoded and train_images go together: pass both or neither.")
        self.decode, self.latent_dim, self.sample, self.n_samples = decode, latent_dim, sample, n_samples
        self.encoded = None if encoded is None else torch.as_tensor(encoded).detach().cpu().numpy()
        self.labels = None if labels is None else torch.as_tensor(labels).cpu().numpy()
        self.posterior = None
        if posterior is not None:
            mu, log_var = (_rows(name, v, latent_dim) for name, v in zip(("posterior mu", "posterior log_var"), posterior))
            self.digits = _rows("digits", digits)
            if not len(mu) == len(log_var) == len(self.digits):
                raise ValueError(f"posterior mu, log_var and digits must have the same number of rows, got "
                                 f"{len(mu)}, {len(log_var)} and {len(self.digits)}.")
            self.posterior = (mu, log_var)
        self.train_encoded = None if train_encoded is None else _rows("train_encoded", train_encoded, latent_dim)
        self.train_images = None if train_images is None else _rows("train_images", train_images)
        if self.train_encoded is not None and len(self.train_encoded) != len(self.train_images):
            raise ValueError(f"train_encoded and train_images must have the same number of rows, got "
                             f"{len(self.train_encoded)} and {len(self.train_images)}.")
        self.sliders = [
            widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=step, description=f"z[{k}]",
                                continuous_update=False, layout=widgets.Layout(width="300px"))
            for k in range(latent_dim)
        ]
        self.digit_slider = None
        controls = list(self.sliders)
        if self.posterior is not None:
            self.digit_slider = widgets.IntSlider(value=0, min=0, max=len(self.digits) - 1, description="image #",
                                                  continuous_update=False, layout=widgets.Layout(width="300px"))
            controls.append(self.digit_slider)
        self._connect(controls, lambda output: widgets.HBox([widgets.VBox(controls), output]))

    @property
    def z(self) -> torch.Tensor:
        """The current latent point, shape (1, K)."""
        return torch.tensor([[s.value for s in self.sliders]], dtype=torch.float32)

    def current_image(self) -> np.ndarray:
        """The decoded mean E[x | z] at the current point, shape (H, W)."""
        with torch.no_grad():
            return to_numpy_images(self.decode(self.z))[0]

    def current_samples(self) -> np.ndarray | None:
        """``n_samples`` pixel samples x ~ p(x | z) at the current point, shape (n, H, W); None without ``sample``."""
        if self.sample is None:
            return None
        with torch.no_grad():
            return to_numpy_images(self.sample(self.z.expand(self.n_samples, -1),
                                                torch.Generator().manual_seed(0)))

    def nearest_training_index(self) -> int | None:
        """Index of the training digit whose code is nearest (Euclidean) to z; None without training codes."""
        if self.train_encoded is None:
            return None
        return int((self.train_encoded - self.z).norm(dim=1).argmin())

    def picked_posterior(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Mean and standard deviation of q(z | x) of the picked digit, shapes (K,) and (K,)."""
        if self.posterior is None:
            return None
        mu, log_var = self.posterior
        k = self.digit_slider.value
        return mu[k].numpy(), (0.5 * log_var[k]).exp().numpy()

    def draw(self) -> plt.Figure:
        """Mean and samples at z, the nearest training digit, the picked digit, and (K = 2) the code space."""
        panels = [("mean E[x|z]", self.current_image()[None])]
        samples = self.current_samples()
        if samples is not None:
            panels.append((f"{self.n_samples} samples x~p(x|z)", samples))
        nearest = self.nearest_training_index()
        if nearest is not None:
            panels.append(("nearest training\ndigit (by code)", self.train_images[nearest:nearest + 1]))
        if self.posterior is not None:
            panels.append((f"picked:\nimage #{self.digit_slider.value}", self.digits[self.digit_slider.value:][:1]))
        show_scatter = self.encoded is not None and self.latent_dim == 2
        widths = [max(1.0, 0.55 * (len(images) if len(images) <= 4 else 2)) for _, images in panels]
        if show_scatter:
            widths.append(3.2)
        fig, axes = plt.subplots(1, len(widths), figsize=(sum(widths) + 1.2, 3.4), layout="constrained",
                                 gridspec_kw={"width_ratios": widths})
        axes = np.atleast_1d(axes)
        for ax, (title, images) in zip(axes, panels):
            image_grid(images, ncols=2 if len(images) > 1 else 1, ax=ax, title=title)
            ax.title.set_fontsize(9)
        if show_scatter:
            self._draw_code_space(fig, axes[-1])
        return fig

    def _draw_code_space(self, fig: plt.Figure, ax: plt.Axes) -> None:
        scatter = ax.scatter(self.encoded[:, 0], self.encoded[:, 1], c=self.labels, cmap="tab10", s=4, alpha=0.6,
                             vmin=-0.5, vmax=9.5)
        ax.plot(*self.z[0].numpy(), marker="x", color="black", markersize=12, mew=3, label="z")
        picked = self.picked_posterior()
        if picked is not None:
            mean, std = picked
            for n_std, style in ((1, "-"), (2, "--")):
                ax.add_patch(Ellipse(tuple(mean), 2 * n_std * std[0], 2 * n_std * std[1], fill=False,
                                     color="black", linestyle=style, linewidth=1.2))
            ax.plot(*mean, marker="o", color="black", markersize=4, label="picked image: q(z|x), 1 and 2 sd")
        ax.set(xlabel="z[0]", ylabel="z[1]", title="encoded test digits", aspect="equal")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))  # below the axes, off the points
        if self.labels is not None:
            fig.colorbar(scatter, ax=ax, ticks=range(10), label="class")

    def _ipython_display_(self):
        """A static copy of the figure (for a page without a live kernel), then the live controls."""
        fig = self.draw()
        fig.suptitle("static copy at the starting point; the controls below redraw it in a live kernel", fontsize=9)
        png = BytesIO()
        fig.savefig(png, format="png", dpi=100, bbox_inches="tight")  # an image, whatever the backend
        plt.close(fig)
        display(Image(data=png.getvalue(), format="png"))
        display(self.widget)
