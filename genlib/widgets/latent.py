"""Interactive explorers built on ipywidgets.

``LatentExplorer``: one slider per latent coordinate; moving a slider decodes the point
and redraws the image. For a 2-D latent space it also shows the encoded test set
coloured by class, with the current point marked, so a student sees which regions of
the latent space hold which digits, and where classes overlap (entanglement).
"""
from __future__ import annotations

from typing import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from genlib.viz import _to_numpy_images
from genlib.widgets._figure import FigureExplorer


class LatentExplorer(FigureExplorer):
    """Sliders over latent coordinates -> decoded image.

    Parameters
    ----------
    decode : callable
        Maps latents (B, K) to images (B, D), (B, H, W) or (B, 1, H, W) in [0, 1].
    latent_dim : int
        K. Up to 16 sliders are shown.
    encoded : tensor, shape (N, K), optional
        Latent means of a data set, drawn as a scatter when K == 2.
    labels : tensor, shape (N,), optional
        Class of each encoded point, for the scatter's colours.
    limit : float
        Each slider ranges over [-limit, limit] (the prior N(0, I) has 99.7% of its
        mass within 3).

    Attributes
    ----------
    widget : ipywidgets.Widget
        Display it (it is also the cell's value when the explorer is the last line).
    sliders : list of ipywidgets.FloatSlider
    """

    def __init__(self, decode: Callable, latent_dim: int, *, encoded=None, labels=None,
                 limit: float = 3.0, step: float = 0.05):
        if not isinstance(latent_dim, int) or not 1 <= latent_dim <= 16:
            raise ValueError(f"latent_dim must be an integer between 1 and 16, got {latent_dim!r}.")
        if encoded is not None and torch.as_tensor(encoded).shape[-1] != latent_dim:
            raise ValueError(
                f"encoded must have shape (N, {latent_dim}), got {tuple(torch.as_tensor(encoded).shape)}."
            )
        self.decode, self.latent_dim = decode, latent_dim
        self.encoded = None if encoded is None else torch.as_tensor(encoded).detach().cpu().numpy()
        self.labels = None if labels is None else torch.as_tensor(labels).cpu().numpy()
        self.sliders = [
            widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=step, description=f"z[{k}]",
                                continuous_update=False, layout=widgets.Layout(width="300px"))
            for k in range(latent_dim)
        ]
        self._connect(self.sliders, lambda output: widgets.HBox([widgets.VBox(self.sliders), output]))

    @property
    def z(self) -> torch.Tensor:
        """The current latent point, shape (1, K)."""
        return torch.tensor([[s.value for s in self.sliders]], dtype=torch.float32)

    def current_image(self) -> np.ndarray:
        """The decoded image at the current point, shape (H, W)."""
        with torch.no_grad():
            return _to_numpy_images(self.decode(self.z))[0]

    def draw(self) -> plt.Figure:
        """The decoded image at the current point (and the encoded test set for K = 2)."""
        image = self.current_image()
        show_scatter = self.encoded is not None and self.latent_dim == 2
        fig, axes = plt.subplots(1, 2 if show_scatter else 1, figsize=(7 if show_scatter else 3, 3))
        axes = np.atleast_1d(axes)
        axes[0].imshow(image, cmap="gray_r", vmin=0, vmax=1)
        axes[0].set_title("decoded image")
        axes[0].set_axis_off()
        if show_scatter:
            scatter = axes[1].scatter(self.encoded[:, 0], self.encoded[:, 1], c=self.labels,
                                      cmap="tab10", s=4, alpha=0.6)
            axes[1].plot(*self.z[0].numpy(), marker="x", color="black", markersize=12, mew=3)
            axes[1].set_title("encoded test set")
            if self.labels is not None:
                fig.colorbar(scatter, ax=axes[1], ticks=range(10))
        return fig
