"""A timestep slider for diffusion models: forward noising and reverse denoising side by side.

``DiffusionExplorer`` shows, for the timestep t chosen on a slider, the image x_t of a forward
(noising) trajectory x_0 -> x_T and the image x_t of a reverse (denoising) trajectory x_T -> x_0.
Built from a trained ``GaussianDiffusion`` with ``DiffusionExplorer.from_model``, the reverse
chain starts from the forward chain's own x_T, so a student sees that the noise has forgotten
the digit: the denoised image is a new digit.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from genlib._validation import as_generator
from genlib.viz import to_numpy_images
from genlib.widgets._figure import FigureExplorer, index_slider


def forward_trajectory(x0: torch.Tensor, betas: torch.Tensor, *, generator: torch.Generator | None = None):
    """Run the forward chain x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t for t = 1..T.

    Parameters
    ----------
    x0 : torch.Tensor, shape (B, ...)
    betas : torch.Tensor, shape (T,)

    Returns
    -------
    path : torch.Tensor, float32, shape (T + 1, B, ...), path[t] = x_t
    """
    path = [x0.float()]
    for beta in betas.double():
        eps = torch.randn(x0.shape, generator=generator)
        path.append((1 - beta).sqrt().float() * path[-1] + beta.sqrt().float() * eps)
    return torch.stack(path)


class DiffusionExplorer(FigureExplorer):
    """A slider over t = 0..T -> the forward x_t and the reverse x_t side by side.

    Parameters
    ----------
    forward : tensor, shape (T + 1, D), (T + 1, H, W) or (T + 1, 1, H, W)
        forward[t] = x_t of one noising trajectory (forward[0] is the data).
    reverse : tensor, same shape as ``forward``
        reverse[t] = x_t of one denoising trajectory (reverse[T] is where it starts).
    value_range : (float, float)
        The pixel values shown as white and black (the digits live in [-1, 1]).

    Attributes
    ----------
    widget : ipywidgets.Widget
    slider : ipywidgets.IntSlider
    """

    def __init__(self, forward, reverse, *, value_range: tuple[float, float] = (-1.0, 1.0)):
        self.forward, self.reverse = to_numpy_images(forward), to_numpy_images(reverse)
        if self.forward.shape != self.reverse.shape:
            raise ValueError(
                f"forward and reverse must have the same shape (T + 1, H, W), got {self.forward.shape} "
                f"and {self.reverse.shape}. Pass one trajectory of each, for the same T.")
        if len(self.forward) < 2:
            raise ValueError(f"a trajectory needs at least 2 images (x_0 and x_1), got {len(self.forward)}.")
        self.T, self.value_range = len(self.forward) - 1, value_range
        self.slider = index_slider("t", self.T)
        self._connect([self.slider])

    @classmethod
    def from_model(cls, model, x0: torch.Tensor, *, seed: int | torch.Generator = 0, **kwargs) -> "DiffusionExplorer":
        """Build the two trajectories from a ``GaussianDiffusion`` and one example x0 (shape (1, ...)); ``seed`` (an int
        or a torch.Generator) seeds the forward noise and then the reverse chain."""
        if len(x0) != 1:
            raise ValueError(f"x0 must hold one example, shape (1, ...), got {tuple(x0.shape)}; pass x0[:1].")
        generator = as_generator(seed)
        forward = forward_trajectory(x0, model.betas, generator=generator)  # (T + 1, 1, ...)
        _, reverse = model.sample(1, tuple(x0.shape[1:]), generator=generator, trajectory=True, x_T=forward[-1])
        return cls(forward[:, 0], reverse[:, 0], **kwargs)

    @property
    def t(self) -> int:
        return self.slider.value

    def current_images(self):
        """(forward x_t, reverse x_t) at the slider's t, each of shape (H, W)."""
        return self.forward[self.t], self.reverse[self.t]

    def draw(self) -> plt.Figure:
        """Forward and reverse x_t at the slider's t, side by side."""
        forward, reverse = self.current_images()
        vmin, vmax = self.value_range
        fig, axes = plt.subplots(1, 2, figsize=(5, 2.7))
        for ax, image, title in zip(axes, (forward, reverse),
                                    (f"forward: $x_{{{self.t}}}$ from $x_0$", f"reverse: $x_{{{self.t}}}$ from $x_{{{self.T}}}$")):
            ax.imshow(image, cmap="gray_r", vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_title(title, fontsize=10)
            ax.set_axis_off()
        return fig
