"""Plots the notebooks share: image grids and 2-D densities and samples."""
from __future__ import annotations

import math
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch

from genlib._validation import as_tensor, check_int

# One colour per label, wherever the course draws a cardiac label map (lectures and widgets):
# 0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity (ACDC's convention), 4 scar (unit 07's LGE labels).
LABEL_COLOURS = ("black", "tab:blue", "tab:red", "gold", "white")
LABEL_TITLES = ("background", "RV cavity", "LV myocardium", "LV cavity", "scar")


def to_numpy_images(images) -> np.ndarray:
    """(N, D) with D a square, (N, H, W) or (N, 1, H, W) -> (N, H, W) numpy."""
    images = as_tensor("images", images).detach().cpu()
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    elif images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(
                f"flat images must have a square number of pixels, got {images.shape[1]}; "
                "pass them as (N, H, W) instead."
            )
        images = images.reshape(len(images), side, side)
    if images.ndim != 3:
        raise ValueError(
            f"images must have shape (N, D), (N, H, W) or (N, 1, H, W), got {tuple(images.shape)}."
        )
    return images.numpy()


def image_grid(images, *, ncols: int = 10, ax=None, title: str | None = None,
               vmin: float = 0.0, vmax: float = 1.0, cmap: str = "gray_r"):
    """Show images in one grid with a one-pixel gap between them.

    Parameters
    ----------
    images : tensor or array, shape (N, D), (N, H, W) or (N, 1, H, W)
    ncols : int
        Images per row.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    arrays = to_numpy_images(images)
    n, h, w = arrays.shape
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    canvas = np.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan)
    for i, image in enumerate(arrays):
        r, c = divmod(i, ncols)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = image
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * ncols + 0.4, 0.6 * nrows + 0.4))
    colormap = plt.get_cmap(cmap).with_extremes(bad="white")  # a copy; set_bad is pending deprecation
    ax.imshow(canvas, cmap=colormap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_density_2d(log_prob: Callable, *, lim: float = 1.5, resolution: int = 200, ax=None,
                    title: str | None = None, cmap: str = "viridis"):
    """Draw exp(log_prob(x)) on a square grid [-lim, lim]^2.

    Parameters
    ----------
    log_prob : callable
        Maps a tensor of points (N, 2) to log-densities (N,).
    """
    ticks = torch.linspace(-lim, lim, resolution, dtype=torch.float64)
    xx, yy = torch.meshgrid(ticks, ticks, indexing="xy")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)  # (R*R, 2)
    with torch.no_grad():
        density = torch.as_tensor(log_prob(points)).double().exp().reshape(resolution, resolution)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(density.numpy(), extent=(-lim, lim, -lim, lim), origin="lower", cmap=cmap)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def plot_samples_2d(samples, *, lim: float | None = None, ax=None, title: str | None = None,
                    color=None, s: float = 2.0, alpha: float = 0.5, label: str | None = None):
    """Scatter 2-D samples, shape (N, 2)."""
    points = as_tensor("samples", samples).detach().cpu().numpy()
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"samples must have shape (N, 2), got {points.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(points[:, 0], points[:, 1], s=s, alpha=alpha, c=color, label=label)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def label_colormap(n_labels: int = 4):
    """The course's colour map for label maps with labels 0 .. n_labels - 1 (``LABEL_COLOURS``; 4 = ACDC, 5 = with scar)."""
    check_int("n_labels", n_labels, 2)
    if n_labels > len(LABEL_COLOURS):
        raise ValueError(f"n_labels must be at most {len(LABEL_COLOURS)} ({', '.join(LABEL_TITLES)}), got {n_labels}; "
                         "for tissue maps with more classes use a qualitative colour map such as 'tab20'.")
    from matplotlib.colors import ListedColormap

    return ListedColormap(LABEL_COLOURS[:n_labels], name=f"course_labels_{n_labels}")


def show_label_map(ax, labels, *, n_labels: int = 4, **imshow_kwargs):
    """Draw an integer label map (H, W) on ``ax`` in the course's label colours, one flat colour per label
    (no interpolation), and return the image (for a colour bar: ticks 0 .. n_labels - 1)."""
    labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be one label map of shape (H, W), got shape {labels.shape}; "
                         "draw a batch one map at a time (labels[i]).")
    if labels.size and (labels.min() < 0 or labels.max() >= n_labels):
        raise ValueError(f"labels hold values {int(labels.min())} .. {int(labels.max())}, outside 0 .. {n_labels - 1}; "
                         f"pass n_labels={int(labels.max()) + 1} (5 when the map holds scar).")
    return ax.imshow(labels, cmap=label_colormap(n_labels), vmin=-0.5, vmax=n_labels - 0.5,
                     interpolation="nearest", **imshow_kwargs)
