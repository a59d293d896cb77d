"""What the slider explorers share: controls above one output area, and a matplotlib figure
redrawn there whenever a control's value changes.

A subclass builds its controls, calls ``self._connect(controls)`` at the end of ``__init__``
and implements ``draw()``, which returns the figure for the controls' current values.
"""
from __future__ import annotations

from typing import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display


def index_slider(description: str, maximum: int, value: int = 0) -> widgets.IntSlider:
    """An integer slider over 0..maximum that fires when released (a redraw per position, not per pixel)."""
    return widgets.IntSlider(value=value, min=0, max=maximum, step=1, description=description,
                             continuous_update=False, layout=widgets.Layout(width="400px"))


class FigureExplorer:
    """Base class: controls whose every change redraws one figure in ``output``.

    Attributes
    ----------
    widget : ipywidgets.Widget
        The controls and the output area; display it (or the explorer itself).
    output : ipywidgets.Output
        Where ``draw()``'s figure is shown.
    """

    widget: widgets.Widget
    output: widgets.Output

    def _connect(self, controls: Sequence[widgets.Widget],
                 arrange: Callable[[widgets.Output], widgets.Widget] | None = None) -> None:
        """Redraw on every change of ``controls``; lay them out with ``arrange(output)``
        (default: the controls stacked above the output); draw once."""
        self.output = widgets.Output()
        for control in controls:
            control.observe(lambda change: self.redraw(), names="value")
        self.widget = arrange(self.output) if arrange else widgets.VBox([*controls, self.output])
        self.redraw()

    def draw(self) -> plt.Figure:
        """The figure for the controls' current values (implemented by each explorer)."""
        raise NotImplementedError

    def redraw(self) -> None:
        """Replace the output area's figure with a new ``draw()``."""
        with self.output:
            self.output.clear_output(wait=True)
            fig = self.draw()
            display(fig)  # plt.show takes no figure: plt.show(fig) raises TypeError outside the inline backend
            plt.close(fig)

    def _ipython_display_(self):
        display(self.widget)
