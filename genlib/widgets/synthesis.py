"""The explorer of unit 07 (cardiac MR synthesis), built on ipywidgets.

``SynthesisExplorer``: pick a label map, edit it (LV wall thickness, LV cavity size, a scar
in a coronary territory) and pick a style (a vendor preset encoded from real images, LGE,
or a random style code from the prior); shows the edited label map beside the synthetic
image, and the image of the unedited map in the same style.

The cine generator knows the four ACDC labels (0 background, 1 RV cavity, 2 LV myocardium,
3 LV cavity): a scar painted into the map (label 4) is handed to it as myocardium, so a cine
image does not show it (as in a real cine scan, where scar and healthy myocardium look
alike). The LGE generator knows five labels, the fifth the scar, and shows it bright.
"""
from __future__ import annotations

from typing import Callable, Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from genlib.data.cardiac.morphology import edit_lv
from genlib.data.cardiac.labels import LV_MYOCARDIUM, N_LABELS, check_label_map
from genlib.viz import LABEL_TITLES, show_label_map
from genlib.widgets._figure import FigureExplorer

SCAR = N_LABELS  # label 4: the scar class of the LGE label maps
NO_SCAR = "none"
RANDOM_STYLE = "random (prior)"
LGE_STYLE = "LGE (scar visible)"
TERRITORIES = ("LAD", "LCX", "RCA")


def _check_code(name: str, code, z_dim: int) -> torch.Tensor:
    code = torch.as_tensor(code, dtype=torch.float32)
    if code.ndim == 1:
        code = code[None]
    if code.shape != (1, z_dim):
        raise ValueError(f"{name} must be one style code of shape (z_dim,) or (1, z_dim) = (1, {z_dim}), "
                         f"got {tuple(code.shape)}. Encode a reference image with the style encoder and take "
                         f"mu[0], or pass torch.zeros({z_dim}) for the mean style.")
    return code


class SynthesisExplorer(FigureExplorer):
    """Edit a cardiac label map and choose a style: labels, style code -> G(labels, z).

    Parameters
    ----------
    generator : callable
        The cine generator, ``generator(labels, z)``: labels (B, H, W) int in 0..3, z (B, z_dim)
        -> images (B, 1, H, W) in [0, 1]; e.g. unit 03's ``SPADEGenerator``.
    label_maps : torch.Tensor of int, shape (N, H, W)
        The maps to choose from (ACDC labels 0..3).
    styles : mapping of str to torch.Tensor, shape (z_dim,) or (1, z_dim)
        Named style codes for the cine generator, e.g. ``{"vendor A": mu_a, ...}`` where each
        code is the style encoder's mean for a real image of that vendor. At least one.
    z_dim : int
        Size of the cine generator's style code (for the random style z ~ N(0, I)).
    lge_generator : callable, optional
        ``lge_generator(labels, z)`` with labels in 0..4 (4 = scar); adds the LGE style.
    lge_style : torch.Tensor, shape (lge_z_dim,) or (1, lge_z_dim), optional
        The style code used with ``lge_generator`` (needed when it is given).
    add_scar : callable, optional
        ``add_scar(labels, territory) -> labels``: labels (H, W) in 0..3 and a territory in
        ("LAD", "LCX", "RCA") -> the map with the scar sector as label 4. Adds the scar control.
    max_pixels : int
        Range of the wall and cavity sliders, -max_pixels .. max_pixels.

    Attributes
    ----------
    widget : ipywidgets.Widget
    index, wall, cavity, seed : ipywidgets.IntSlider
        The map; the LV wall change in pixels (> 0 thicker, outward); the LV cavity change in
        pixels (> 0 larger); the seed of the random style code z ~ N(0, I) (enabled with the
        random style only).
    style : ipywidgets.Dropdown
        A name of ``styles``, "LGE (scar visible)" (with ``lge_generator``) or "random (prior)".
    scar : ipywidgets.Dropdown or None
        "none" or a territory ("LAD", "LCX", "RCA"); None without ``add_scar``.
    """

    def __init__(self, generator, label_maps, *, styles: Mapping[str, torch.Tensor], z_dim: int,
                 lge_generator: Callable | None = None, lge_style=None, add_scar: Callable | None = None,
                 max_pixels: int = 3):
        maps = check_label_map(label_maps, name="label_maps")
        if maps.ndim != 3 or len(maps) == 0:
            raise ValueError(f"label_maps must have shape (N, H, W) with N >= 1, got {tuple(maps.shape)}. "
                             f"For one map, pass label_maps[None].")
        if isinstance(z_dim, bool) or not isinstance(z_dim, int) or z_dim < 1:
            raise ValueError(f"z_dim must be a positive integer, got {z_dim!r}.")
        if not isinstance(styles, Mapping) or not styles:
            raise ValueError(f"styles must be a non-empty dict of name -> style code (z_dim,), got {styles!r}. "
                             f"Encode one real image per vendor: {{'vendor A': encoder(image_a)[0][0], ...}}.")
        reserved = {LGE_STYLE, RANDOM_STYLE} & set(styles)
        if reserved:
            raise ValueError(f"styles may not use the reserved name(s) {sorted(reserved)}; rename them.")
        if (lge_generator is None) != (lge_style is None):
            raise ValueError("lge_generator and lge_style go together: pass both (the LGE generator and one "
                             "style code for it) or neither.")
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}.")
        self.generator, self.maps, self.z_dim = generator, maps, z_dim
        self.styles = {name: _check_code(f"styles[{name!r}]", code, z_dim) for name, code in styles.items()}
        self.lge_generator, self.add_scar = lge_generator, add_scar
        if lge_style is not None:
            self.lge_style = torch.as_tensor(lge_style, dtype=torch.float32).reshape(1, -1)
        slider = dict(continuous_update=False)
        self.index = widgets.IntSlider(value=0, min=0, max=len(maps) - 1, description="label map", **slider)
        self.wall = widgets.IntSlider(value=0, min=-max_pixels, max=max_pixels, description="LV wall", **slider)
        self.cavity = widgets.IntSlider(value=0, min=-max_pixels, max=max_pixels, description="LV cavity", **slider)
        self.seed = widgets.IntSlider(value=1, min=1, max=99, description="prior seed", disabled=True,
                                      style={"description_width": "initial"}, **slider)
        options = [*self.styles, *([LGE_STYLE] if lge_generator is not None else []), RANDOM_STYLE]
        self.style = widgets.Dropdown(options=options, value=options[0], description="style")
        self.scar = (widgets.Dropdown(options=[NO_SCAR, *TERRITORIES], value=NO_SCAR, description="scar")
                     if add_scar is not None else None)
        controls = [self.index, self.wall, self.cavity, self.style, self.seed] + ([self.scar] if self.scar else [])
        self._connect(controls, lambda output: widgets.VBox([
            widgets.HBox([self.index, self.style]), widgets.HBox([self.wall, self.cavity]),
            widgets.HBox([self.seed] + ([self.scar] if self.scar else [])), output]))

    def edited_labels(self) -> torch.Tensor:
        """The chosen map after the wall and cavity edits and the scar, shape (H, W), values 0..4."""
        labels = self.maps[self.index.value]
        labels = edit_lv(labels, wall=self.wall.value, cavity=self.cavity.value)
        if self.scar is not None and self.scar.value != NO_SCAR:
            labels = torch.as_tensor(self.add_scar(labels, self.scar.value)).long()
        return labels

    @property
    def z(self) -> torch.Tensor:
        """The style code of the chosen style, shape (1, z_dim) (the LGE code for the LGE style)."""
        if self.style.value == RANDOM_STYLE:
            return torch.randn(1, self.z_dim, generator=torch.Generator().manual_seed(int(self.seed.value)))
        if self.style.value == LGE_STYLE:
            return self.lge_style
        return self.styles[self.style.value]

    def image(self, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The synthetic image of the edited map (or of ``labels``) in the chosen style, shape (H, W).

        For a cine style a scar (label 4) is passed on as myocardium (label 2).
        """
        labels = self.edited_labels() if labels is None else labels
        if self.style.value == LGE_STYLE:
            generate = self.lge_generator
        else:
            generate, labels = self.generator, torch.where(labels == SCAR, LV_MYOCARDIUM, labels)
        with torch.no_grad():
            return generate(labels[None], self.z)[0, 0].cpu()

    def draw(self) -> plt.Figure:
        """The edited label map, its synthetic image, and the image of the unedited map."""
        self.seed.disabled = self.style.value != RANDOM_STYLE  # the seed matters for the random style only
        labels = self.edited_labels()
        fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.3))
        show_label_map(axes[0], labels, n_labels=5)
        present = [LABEL_TITLES[v] for v in np.unique(labels.numpy()) if v > 0]
        axes[0].set_title("edited label map", fontsize=9)
        axes[0].text(0.5, -0.08, ", ".join(present), transform=axes[0].transAxes, ha="center", va="top", fontsize=7)
        scar_note = ("  (scar drawn as myocardium)" if self.style.value != LGE_STYLE and bool((labels == SCAR).any())
                     else "")
        axes[1].imshow(self.image(labels).numpy(), cmap="gray", vmin=0, vmax=1)
        axes[1].set_title(f"synthetic: {self.style.value}{scar_note}", fontsize=9)
        axes[2].imshow(self.image(self.maps[self.index.value]).numpy(), cmap="gray", vmin=0, vmax=1)
        axes[2].set_title("unedited map, same style", fontsize=9)
        for ax in axes:
            ax.set_axis_off()
        fig.tight_layout()
        return fig
