"""``FlowLayersExplorer``: a slider over a 2-D flow's layers, from the Gaussian to the data.

The points z ~ N(0, I) are pushed through the generating direction one layer at a time
(``Flow.intermediates``); the slider picks how many layers have been applied. Each point
keeps the colour of its starting angle, so a student sees where each part of the Gaussian
goes: which layers stretch, which shift, and where the mass is torn apart into modes.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from genlib._validation import as_generator
from genlib.widgets._figure import FigureExplorer, index_slider


class FlowLayersExplorer(FigureExplorer):
    """Slider over the layers of a 2-D flow: samples move from the Gaussian to the data.

    Parameters
    ----------
    flow : genlib.models.flows.Flow
        A flow of dimension 2.
    n_points : int
        How many noise points to push through the flow.
    data : tensor, shape (N, 2), optional
        Real data, drawn in grey behind the points for comparison.
    lim : float, optional
        Half-width of the square plotting window; default: from the data or the points.
    seed : int
        Seed of the noise points.

    Attributes
    ----------
    widget : ipywidgets.Widget
    slider : ipywidgets.IntSlider
        0 (the Gaussian) to L (the flow's samples); set its ``value`` to drive it from code.
    points : list of L + 1 numpy arrays, shape (n_points, 2)
    """

    def __init__(self, flow, n_points: int = 2000, *, data=None, lim: float | None = None,
                 seed: int | torch.Generator = 0):
        if getattr(flow, "dim", None) != 2 or not hasattr(flow, "intermediates"):
            raise ValueError("flow must be a genlib Flow of dimension 2 (it needs .intermediates and .dim == 2), "
                             f"got {type(flow).__name__} with dim {getattr(flow, 'dim', None)!r}.")
        if not isinstance(n_points, int) or n_points < 1:
            raise ValueError(f"n_points must be a positive integer, got {n_points!r}.")
        z = torch.randn(n_points, 2, generator=as_generator(seed))
        param = next(flow.parameters(), None)
        if param is not None:
            z = z.to(device=param.device, dtype=param.dtype)
        with torch.no_grad():
            self.points = [p.detach().cpu().numpy() for p in flow.intermediates(z)]
        self.names = ["N(0, I)"] + [type(layer).__name__ for layer in reversed(flow.layers)]
        self.data = None if data is None else torch.as_tensor(data).detach().cpu().numpy()
        if self.data is not None and (self.data.ndim != 2 or self.data.shape[1] != 2):
            raise ValueError(f"data must have shape (N, 2), got {self.data.shape}.")
        reference = self.data if self.data is not None else self.points[-1]
        self.lim = float(lim) if lim is not None else float(np.percentile(np.abs(reference), 99.5)) * 1.3
        self.colours = np.arctan2(self.points[0][:, 1], self.points[0][:, 0])
        self.slider = index_slider("layers", len(self.points) - 1)
        self._connect([self.slider])

    @property
    def n_layers(self) -> int:
        return len(self.points) - 1

    def current_points(self) -> np.ndarray:
        """The points after ``slider.value`` layers of the generating direction, shape (n_points, 2)."""
        return self.points[self.slider.value]

    def title(self) -> str:
        k = self.slider.value
        last = "" if k == 0 else f" (last: {self.names[k]}.inverse)"
        return f"after {k} of {self.n_layers} layers{last}"

    def draw(self) -> plt.Figure:
        """The points after the current number of layers, over the data in grey."""
        points = self.current_points()
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        if self.data is not None:
            ax.scatter(self.data[:, 0], self.data[:, 1], s=2, c="lightgrey", label="data")
        ax.scatter(points[:, 0], points[:, 1], s=3, c=self.colours, cmap="hsv", alpha=0.7)
        ax.set(xlim=(-self.lim, self.lim), ylim=(-self.lim, self.lim), aspect="equal", title=self.title())
        return fig
