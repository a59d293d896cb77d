"""``CardiacExplorer``: phantom parameters in (pathology, wall, cavity, style), label map and image out."""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from genlib.viz import show_label_map


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
            fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")  # room for the colour bar's names
            shown = show_label_map(ax0, labels, n_labels=len(LABEL_NAMES))
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
