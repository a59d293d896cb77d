"""Explorers for unit 02 (GANs), built on ipywidgets.

``TrainingReplay``: a slider over the steps saved during training (``train_gan``'s
snapshots); each position redraws the generator's samples at that step, so mode collapse
and oscillation can be scrubbed back and forth. 2-D samples are scattered over the modes
(with the modes covered and the high-quality fraction when the modes are given); images
are shown as a grid.

``RejectionExplorer``: a slider over the cap of discriminator rejection sampling; shows which
of a fixed set of generator draws are kept, with the modes covered, the high-quality fraction
and the acceptance rate, and where the cap sits among the logits.

``LatentInterpolation``: two latent codes z_0 and z_1 (chosen by seed) and a slider t;
shows G((1 - t) z_0 + t z_1) and the strip of images along the path.
"""
from __future__ import annotations

from typing import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from genlib._validation import as_generator
from genlib.metrics.modes import mode_coverage
from genlib.models.gan_sampling import acceptance_probability
from genlib.viz import to_numpy_images, image_grid
from genlib.widgets._figure import FigureExplorer, index_slider


class TrainingReplay(FigureExplorer):
    """A slider over saved training steps -> the generator's samples at that step.

    Parameters
    ----------
    snapshots : list of tensors, each (N, 2) or (N, ...) images
        G's samples of the same fixed latent codes at each saved step.
    steps : list of int
        The training step of each snapshot (same length).
    means : tensor, shape (K, 2), optional
        Mode centres, drawn as crosses; with ``std``, the title reports mode coverage.
    std : float, optional
        The modes' standard deviation (for the coverage in the title).
    lim : float, optional
        Axis limits [-lim, lim] for 2-D samples; default: fits the modes.
    n_images : int
        How many images to show per step for image snapshots.

    Attributes
    ----------
    widget : ipywidgets.Widget
    slider : ipywidgets.IntSlider
        Index of the snapshot shown.
    """

    def __init__(self, snapshots, steps, *, means=None, std: float | None = None, lim: float | None = None,
                 n_images: int = 32):
        if not isinstance(snapshots, (list, tuple)) or len(snapshots) == 0:
            raise ValueError("snapshots must be a non-empty list of sample tensors, e.g. train_gan(...)['snapshots']; "
                             "pass snapshot_every= to train_gan to record them.")
        if len(steps) != len(snapshots):
            raise ValueError(f"steps must have one entry per snapshot: got {len(steps)} steps for {len(snapshots)} snapshots.")
        self.snapshots = [torch.as_tensor(s).detach().cpu() for s in snapshots]
        self.steps = [int(s) for s in steps]
        self.is_2d = self.snapshots[0].ndim == 2 and self.snapshots[0].shape[1] == 2
        self.means = None if means is None else torch.as_tensor(means).detach().cpu().double()
        self.std, self.n_images = std, n_images
        if lim is None and self.is_2d:
            reference = self.means if self.means is not None else self.snapshots[-1]
            lim = 1.25 * float(reference.abs().max()) + 0.1
        self.lim = lim
        self.slider = index_slider("snapshot", len(snapshots) - 1, value=len(snapshots) - 1)
        self._connect([self.slider])

    @property
    def step(self) -> int:
        """The training step shown now."""
        return self.steps[self.slider.value]

    def title(self) -> str:
        """The figure's title: the step, and mode coverage when the modes are known."""
        text = f"step {self.step}"
        if self.is_2d and self.means is not None and self.std is not None:
            result = mode_coverage(self.snapshots[self.slider.value], self.means, self.std)
            text += f": {result.modes_covered}/{result.n_modes} modes, {result.high_quality_fraction:.0%} high quality"
        return text

    def draw(self) -> plt.Figure:
        """The snapshot selected by the slider: a scatter over the modes, or an image grid."""
        samples = self.snapshots[self.slider.value]
        if self.is_2d:
            fig, ax = plt.subplots(figsize=(4.5, 4.5))
            points = samples.numpy()
            ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5, label="G(z)")
            if self.means is not None:
                ax.scatter(self.means[:, 0], self.means[:, 1], marker="x", color="red", s=40, label="modes")
            ax.set_xlim(-self.lim, self.lim)
            ax.set_ylim(-self.lim, self.lim)
            ax.set_aspect("equal")
            ax.legend(loc="upper right", fontsize=8)
        else:
            fig, ax = plt.subplots(figsize=(6, 2.8))
            image_grid(samples[: self.n_images], ncols=16, ax=ax)
        ax.set_title(self.title())
        return fig


class RejectionExplorer(FigureExplorer):
    """Discriminator rejection sampling on fixed draws, with a slider for the cap log M.

    Each draw x_i is kept if u_i < min(1, exp(l(x_i) - log M)), with u_i ~ U(0, 1) drawn once,
    so moving the slider changes only the cap: log M is the ``quantile`` quantile of the
    logits (1.0: the largest logit, exact rejection sampling on these draws).

    Parameters
    ----------
    draws : tensor, shape (N, 2)
        Generator samples.
    logits : tensor, shape (N,)
        The per-sample discriminator's logits l(x_i), estimates of log p_data / p_g.
    means : tensor, shape (K, 2)
        Mode centres (crosses; mode coverage in the title).
    std : float
        The modes' standard deviation.
    quantile : float
        The slider's start.
    seed : int
        Seeds the uniform draws u_i.

    Attributes
    ----------
    widget : ipywidgets.Widget
    slider : ipywidgets.FloatSlider
        The cap's quantile among the logits, 0.5 ... 1.
    """

    def __init__(self, draws, logits, *, means, std: float, quantile: float = 0.99,
                 seed: int | torch.Generator = 0):
        self.draws = torch.as_tensor(draws).detach().cpu().float()
        self.logits = torch.as_tensor(logits).detach().cpu().float()
        if self.draws.ndim != 2 or self.draws.shape[1] != 2:
            raise ValueError(f"draws must have shape (N, 2), got {tuple(self.draws.shape)}.")
        if self.logits.shape != (len(self.draws),):
            raise ValueError(f"logits must have one value per draw, shape ({len(self.draws)},), "
                             f"got {tuple(self.logits.shape)}; pass the per-sample head's logits.")
        if not torch.isfinite(self.logits).all():
            raise ValueError("logits contain NaN or infinite values; check the discriminator's training.")
        self.means = torch.as_tensor(means).detach().cpu().double()
        self.std = std
        self.uniform = torch.rand(len(self.draws), generator=as_generator(seed))
        self.lim = 1.25 * float(self.means.abs().max()) + 0.1
        self.slider = widgets.FloatSlider(value=quantile, min=0.5, max=1.0, step=0.01, description="cap quantile",
                                          continuous_update=False, style={"description_width": "initial"},
                                          layout=widgets.Layout(width="400px"))
        self._connect([self.slider])

    @property
    def log_cap(self) -> float:
        """log M: the slider's quantile of the logits."""
        return float(torch.quantile(self.logits, self.slider.value))

    def kept(self) -> torch.Tensor:
        """Which draws are kept at the current cap, a bool tensor of shape (N,)."""
        return self.uniform < acceptance_probability(self.logits, self.log_cap)

    def title(self) -> str:
        """Kept fraction, modes covered and high-quality fraction of the kept draws."""
        kept = self.kept()
        text = (f"cap at the {self.slider.value:.2f} quantile: {int(kept.sum())} of {len(kept)} draws kept "
                f"({kept.float().mean():.0%})")
        if kept.any():
            result = mode_coverage(self.draws[kept], self.means, self.std)
            text += f"\n{result.modes_covered}/{result.n_modes} modes, {result.high_quality_fraction:.0%} high quality"
        return text

    def draw(self) -> plt.Figure:
        """Left: all draws (grey) and the kept ones (blue) over the modes; right: the logits and the cap."""
        kept = self.kept().numpy()
        points = self.draws.numpy()
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
        axes[0].scatter(points[~kept, 0], points[~kept, 1], s=2, color="lightgrey", label="rejected")
        axes[0].scatter(points[kept, 0], points[kept, 1], s=3, color="tab:blue", label="kept")
        axes[0].scatter(self.means[:, 0], self.means[:, 1], marker="x", color="red", s=30, label="modes")
        axes[0].set(xlim=(-self.lim, self.lim), ylim=(-self.lim, self.lim), aspect="equal", title=self.title())
        axes[0].legend(loc="upper right", fontsize=8)
        axes[1].hist(self.logits.numpy(), bins=60, color="grey")
        axes[1].axvline(self.log_cap, color="black", linestyle="--", label="log M (always kept above)")
        axes[1].set(xlabel="per-sample logit l(x)", ylabel="draws", title="the logits of the draws")
        axes[1].legend(fontsize=8)
        plt.tight_layout()
        return fig


class LatentInterpolation(FigureExplorer):
    """Walk in a generator's latent space: G((1 - t) z_0 + t z_1) for t in [0, 1].

    Parameters
    ----------
    generate : callable
        Maps latents (B, latent_dim) to images (B, D), (B, H, W) or (B, 1, H, W) in [0, 1].
    latent_dim : int
    n_steps : int
        Images in the strip along the path (t = 0 ... 1).
    start_seed, end_seed : int
        Seeds that draw z_0 and z_1 from N(0, I).

    Attributes
    ----------
    widget : ipywidgets.Widget
    t : ipywidgets.FloatSlider
    start_seed, end_seed : ipywidgets.IntSlider
    """

    def __init__(self, generate: Callable, latent_dim: int, *, n_steps: int = 9, start_seed: int = 0,
                 end_seed: int = 1):
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}.")
        if not isinstance(n_steps, int) or n_steps < 2:
            raise ValueError(f"n_steps must be an integer >= 2 (the two ends at least), got {n_steps!r}.")
        self.generate, self.latent_dim, self.n_steps = generate, latent_dim, n_steps
        self.t = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t",
                                     continuous_update=False)
        self.start_seed = widgets.IntSlider(value=start_seed, min=0, max=99, description="z_0 seed",
                                            continuous_update=False)
        self.end_seed = widgets.IntSlider(value=end_seed, min=0, max=99, description="z_1 seed",
                                          continuous_update=False)
        self._connect([self.t, self.start_seed, self.end_seed], lambda output: widgets.VBox(
            [widgets.HBox([self.start_seed, self.end_seed]), self.t, output]))

    def _latent(self, seed: int) -> torch.Tensor:
        return torch.randn(1, self.latent_dim, generator=torch.Generator().manual_seed(int(seed)))  # (1, K)

    @property
    def endpoints(self) -> tuple[torch.Tensor, torch.Tensor]:
        """z_0 and z_1, each of shape (1, latent_dim)."""
        return self._latent(self.start_seed.value), self._latent(self.end_seed.value)

    @property
    def z(self) -> torch.Tensor:
        """The current point (1 - t) z_0 + t z_1, shape (1, latent_dim)."""
        z0, z1 = self.endpoints
        return (1 - self.t.value) * z0 + self.t.value * z1

    def path(self) -> torch.Tensor:
        """The ``n_steps`` latents from z_0 to z_1, shape (n_steps, latent_dim)."""
        z0, z1 = self.endpoints
        ts = torch.linspace(0, 1, self.n_steps).unsqueeze(1)  # (n_steps, 1)
        return (1 - ts) * z0 + ts * z1

    def current_image(self) -> np.ndarray:
        """G(z) at the current t, shape (H, W)."""
        with torch.no_grad():
            return to_numpy_images(self.generate(self.z))[0]

    def draw(self) -> plt.Figure:
        """The current image and the strip of images along the path."""
        image = self.current_image()
        with torch.no_grad():
            strip = to_numpy_images(self.generate(self.path()))
        fig, axes = plt.subplots(1, 2, figsize=(9, 2.2), gridspec_kw={"width_ratios": [1, 4]})
        axes[0].imshow(image, cmap="gray_r", vmin=0, vmax=1)
        axes[0].set_title(f"G(z), t = {self.t.value:.2f}")
        axes[0].set_axis_off()
        image_grid(strip, ncols=self.n_steps, ax=axes[1], title="t = 0 ... 1")
        return fig
