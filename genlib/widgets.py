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
from IPython.display import display

from genlib.viz import _to_numpy_images


class LatentExplorer:
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
        self.output = widgets.Output()
        for slider in self.sliders:
            slider.observe(lambda change: self.redraw(), names="value")
        self.widget = widgets.HBox([widgets.VBox(self.sliders), self.output])
        self.redraw()

    @property
    def z(self) -> torch.Tensor:
        """The current latent point, shape (1, K)."""
        return torch.tensor([[s.value for s in self.sliders]], dtype=torch.float32)

    def current_image(self) -> np.ndarray:
        """The decoded image at the current point, shape (H, W)."""
        with torch.no_grad():
            return _to_numpy_images(self.decode(self.z))[0]

    def redraw(self) -> None:
        """Decode the current point and redraw the figure in the output area."""
        image = self.current_image()
        show_scatter = self.encoded is not None and self.latent_dim == 2
        with self.output:
            self.output.clear_output(wait=True)
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
            display(fig)  # plt.show takes no figure: plt.show(fig) raises TypeError outside the inline backend
            plt.close(fig)

    def _ipython_display_(self):
        display(self.widget)


class CardiacExplorer:
    """Anatomy and contrast explorer: phantom parameters in, label map and image out.

    A pathology dropdown draws a subject of that ACDC group; sliders then edit its LV
    cavity radius, wall thickness, cardiac phase and slice level; a dropdown picks the
    vendor/sequence style and a slider the signal-to-noise ratio. The label map and the
    rendered image are drawn side by side, so a student sees that the style changes the
    intensities and never the labels.

    Parameters
    ----------
    pathology : str
        Initial ACDC group ("NOR", "DCM", "HCM", "MINF", "ARV").
    style : str
        Initial rendering style, a name in ``genlib.data.cardiac.render.STYLES``.
    size : int
        Pixels per side of the slice.
    seed : int
        Seed of the subject drawn for each group and of the rendering noise.

    Attributes
    ----------
    widget : ipywidgets.Widget
    controls : dict of str -> ipywidgets widget
        "pathology", "lv_radius_mm", "wall_thickness_mm", "phase", "slice_level",
        "style", "snr"; set their ``value`` to drive the explorer from code.
    """

    def __init__(self, pathology: str = "NOR", style: str = "cine_vendor_a", *, size: int = 64, seed: int = 0):
        from genlib.data.cardiac.labels import PATHOLOGIES
        from genlib.data.cardiac.pathology import PARAM_RANGES
        from genlib.data.cardiac.render import STYLES

        self.size, self.seed = size, seed
        self.message = ""
        layout = widgets.Layout(width="320px")
        style_args = {"description_width": "110px"}
        radius_low, radius_high = PARAM_RANGES["lv_radius_mm"][:2]
        wall_low, wall_high = PARAM_RANGES["wall_thickness_mm"][:2]
        self.controls = {
            "pathology": widgets.Dropdown(options=list(PATHOLOGIES), value=pathology, description="pathology"),
            "lv_radius_mm": widgets.FloatSlider(min=radius_low, max=radius_high, step=0.5, description="LV radius (mm)"),
            "wall_thickness_mm": widgets.FloatSlider(min=wall_low, max=wall_high, step=0.5, description="wall (mm)"),
            "phase": widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="phase ED->ES"),
            "slice_level": widgets.FloatSlider(value=0.3, min=0.0, max=1.0, step=0.05, description="base->apex"),
            "style": widgets.Dropdown(options=[s for s in STYLES if s != "random"], value=style, description="style"),
            "snr": widgets.FloatLogSlider(value=20.0, base=10, min=0.5, max=2.5, step=0.05, description="SNR"),
        }
        for control in self.controls.values():
            control.layout, control.style = layout, style_args
            control.continuous_update = False
        self._updating = False
        self.output = widgets.Output()
        self.controls["pathology"].observe(lambda change: self._new_subject(), names="value")
        for name, control in self.controls.items():
            if name != "pathology":
                control.observe(lambda change: self.redraw(), names="value")
        self.widget = widgets.HBox([widgets.VBox(list(self.controls.values())), self.output])
        self._new_subject()

    def _new_subject(self) -> None:
        """Draw a subject of the chosen group and move the anatomy sliders to its values."""
        from genlib.data.cardiac.pathology import sample_subject

        self.subject = sample_subject(self.controls["pathology"].value, self.seed)
        self._updating = True
        self.controls["lv_radius_mm"].value = self.subject.lv_radius_mm
        self.controls["wall_thickness_mm"].value = self.subject.wall_thickness_mm
        self._updating = False
        self.redraw()

    def current(self) -> tuple[np.ndarray, np.ndarray]:
        """The label map (H, W) int64 and the rendered image (H, W) float32 of the current settings.

        Raises ValueError (naming the parameter) when the sliders describe an impossible heart.
        """
        import dataclasses

        from genlib.data.cardiac.phantom import make_slices
        from genlib.data.cardiac.render import render

        values = {name: control.value for name, control in self.controls.items()}
        subject = dataclasses.replace(self.subject, lv_radius_mm=values["lv_radius_mm"],
                                      wall_thickness_mm=values["wall_thickness_mm"])
        labels, tissues = make_slices(subject, phase=values["phase"], slice_level=values["slice_level"], size=self.size)
        image = render(tissues, values["style"], snr=values["snr"], seed=self.seed)
        return labels[0].numpy(), image[0, 0].numpy()

    def redraw(self) -> None:
        """Recompute the slice and redraw; an impossible heart shows its error message instead."""
        if self._updating:
            return
        from genlib.data.cardiac.labels import LABEL_NAMES

        with self.output:
            self.output.clear_output(wait=True)
            try:
                labels, image = self.current()
            except ValueError as error:
                self.message = str(error)
                print(f"Cannot draw this heart: {error}")
                return
            self.message = ""
            fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(7, 3.4))
            shown = ax0.imshow(labels, cmap=plt.get_cmap("viridis", len(LABEL_NAMES)), vmin=-0.5,
                               vmax=len(LABEL_NAMES) - 0.5, interpolation="nearest")
            cbar = fig.colorbar(shown, ax=ax0, ticks=list(LABEL_NAMES), fraction=0.046)
            cbar.ax.set_yticklabels(list(LABEL_NAMES.values()), fontsize=7)
            ax0.set_title("label map")
            ax1.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax1.set_title(f"image ({self.controls['style'].value})")
            for ax in (ax0, ax1):
                ax.set_axis_off()
            display(fig)
            plt.close(fig)

    def _ipython_display_(self):
        display(self.widget)
