"""Explorers for unit 03 (conditional generation), built on ipywidgets.

``ClassLatentExplorer``: pick a class y and a latent seed; shows G(z | y) large and the same
z under every class (the latent keeps the style, the label picks the digit).

``LabelMapEditor``: pick a phantom label map, edit it (LV wall thickness, LV cavity size) and
pick a style code; shows the edited map, the SPADE image, and where the image changed.
"""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from genlib.data.cardiac.morphology import edit_lv
from genlib.data.cardiac.labels import check_label_map
from genlib.viz import image_grid, show_label_map
from genlib.widgets._figure import FigureExplorer


class ClassLatentExplorer(FigureExplorer):
    """Class + latent -> digit: G(z | y) for the chosen class and seed, and z under every class.

    Parameters
    ----------
    generator : callable
        ``generator(z, labels)``: z (B, latent_dim), labels (B,) int -> images (B, 1, 8, 8).
    latent_dim : int
    n_classes : int
    label : int
        The class shown first.
    seed : int
        Draws z ~ N(0, I).

    Attributes
    ----------
    widget : ipywidgets.Widget
    label, seed : ipywidgets.IntSlider
    """

    def __init__(self, generator, latent_dim: int, *, n_classes: int = 10, label: int = 0, seed: int = 0):
        for name, value, low in (("latent_dim", latent_dim, 1), ("n_classes", n_classes, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < n_classes:
            raise ValueError(f"label must be a class in 0 .. {n_classes - 1}, got {label!r}.")
        self.generator, self.latent_dim, self.n_classes = generator, latent_dim, n_classes
        self.label = widgets.IntSlider(value=label, min=0, max=n_classes - 1, description="class y",
                                       continuous_update=False)
        self.seed = widgets.IntSlider(value=seed, min=0, max=99, description="z seed", continuous_update=False)
        self._connect([self.label, self.seed],
                      lambda output: widgets.VBox([widgets.HBox([self.label, self.seed]), output]))

    @property
    def z(self) -> torch.Tensor:
        """The latent drawn with the current seed, shape (1, latent_dim)."""
        return torch.randn(1, self.latent_dim, generator=torch.Generator().manual_seed(int(self.seed.value)))

    def images(self) -> torch.Tensor:
        """G(z | y) for y = 0 .. n_classes - 1 at the current z, shape (n_classes, 1, 8, 8)."""
        with torch.no_grad():
            return self.generator(self.z.expand(self.n_classes, -1), torch.arange(self.n_classes)).cpu()

    def current_image(self) -> np.ndarray:
        """G(z | y) for the chosen class, shape (H, W)."""
        return self.images()[self.label.value, 0].numpy()

    def draw(self) -> plt.Figure:
        """The chosen class's image and the row of every class."""
        row = self.images()
        fig, axes = plt.subplots(1, 2, figsize=(9, 2.2), gridspec_kw={"width_ratios": [1, 5]})
        axes[0].imshow(row[self.label.value, 0].numpy(), cmap="gray_r", vmin=0, vmax=1)
        axes[0].set_title(f"G(z | y = {self.label.value})")
        axes[0].set_axis_off()
        image_grid(row, ncols=self.n_classes, ax=axes[1], title="the same z, y = 0 ... 9")
        return fig


class LabelMapEditor(FigureExplorer):
    """Edit a cardiac label map, see the SPADE image: labels -> G(labels, z).

    Parameters
    ----------
    generator : callable
        ``generator(labels, z)``: labels (B, H, W) int, z (B, z_dim) -> images (B, 1, H, W),
        e.g. a trained ``SPADEGenerator``.
    label_maps : torch.Tensor of int, shape (N, H, W)
        The maps to choose from (ACDC labels).
    z_dim : int
    max_pixels : int
        Range of the wall and cavity sliders (-max_pixels .. max_pixels).

    Attributes
    ----------
    widget : ipywidgets.Widget
    index, wall, cavity, style : ipywidgets.IntSlider
        The map, the LV wall change (pixels; > 0 thicker, outward), the LV cavity change
        (pixels; > 0 larger), and the seed of the style code z ~ N(0, I) (0 = the mean style z = 0).
    """

    def __init__(self, generator, label_maps, z_dim: int, *, max_pixels: int = 3):
        maps = check_label_map(label_maps, name="label_maps")
        if maps.ndim != 3 or len(maps) == 0:
            raise ValueError(f"label_maps must have shape (N, H, W) with N >= 1, got {tuple(maps.shape)}. "
                             f"For one map, pass label_maps[None].")
        if isinstance(z_dim, bool) or not isinstance(z_dim, int) or z_dim < 1:
            raise ValueError(f"z_dim must be a positive integer, got {z_dim!r}.")
        self.generator, self.maps, self.z_dim = generator, maps, z_dim
        slider = dict(continuous_update=False)
        self.index = widgets.IntSlider(value=0, min=0, max=len(maps) - 1, description="label map", **slider)
        self.wall = widgets.IntSlider(value=0, min=-max_pixels, max=max_pixels, description="LV wall", **slider)
        self.cavity = widgets.IntSlider(value=0, min=-max_pixels, max=max_pixels, description="LV cavity", **slider)
        self.style = widgets.IntSlider(value=0, min=0, max=99, description="style seed", **slider)
        self._connect([self.index, self.wall, self.cavity, self.style],
                      lambda output: widgets.VBox([widgets.HBox([self.index, self.style]),
                                                   widgets.HBox([self.wall, self.cavity]), output]))

    def edited_labels(self) -> torch.Tensor:
        """The chosen map after the wall and cavity edits, shape (H, W)."""
        labels = self.maps[self.index.value]
        labels = edit_lv(labels, wall=self.wall.value, cavity=self.cavity.value)
        return labels

    @property
    def z(self) -> torch.Tensor:
        """The style code, shape (1, z_dim): 0 for seed 0, else drawn from N(0, I) with the seed."""
        if self.style.value == 0:
            return torch.zeros(1, self.z_dim)
        return torch.randn(1, self.z_dim, generator=torch.Generator().manual_seed(int(self.style.value)))

    def image(self, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(labels, z) for the edited map (or ``labels``), shape (H, W)."""
        labels = self.edited_labels() if labels is None else labels
        with torch.no_grad():
            return self.generator(labels[None], self.z)[0, 0].cpu()

    def draw(self) -> plt.Figure:
        """The edited map, its image, and |image - image of the unedited map|."""
        labels = self.edited_labels()
        image, original = self.image(labels), self.image(self.maps[self.index.value])
        fig, axes = plt.subplots(1, 3, figsize=(9, 3))
        show_label_map(axes[0], labels)
        axes[0].set_title("edited label map")
        axes[1].imshow(image.numpy(), cmap="gray", vmin=0, vmax=1)
        axes[1].set_title("SPADE image")
        axes[2].imshow((image - original).abs().numpy(), cmap="magma", vmin=0, vmax=0.5)
        axes[2].set_title("|change| from the unedited map")
        for ax in axes:
            ax.set_axis_off()
        return fig
