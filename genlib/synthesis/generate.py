"""Synthesising image-label pairs: label maps from several sources, rendered by a SPADE generator in chosen styles.

A synthetic pair is (G(m, z), m): the generator G (unit 03's SPADE, ``load_conditional("spade")``,
or unit 07's LGE generator) draws an image of the label map m in the style z, so every image
comes with its exact segmentation. Variety comes from both arguments.

Label maps m (anatomy):

* ``deform_labels``: real maps warped by a smooth random displacement (``elastic_deform``, the
  LV kept one ring) and, at random, one morphological edit (wall thicker or thinner by about
  3 mm, a cavity dilated or shrunk), undone when it breaks the ring;
* ``rotate_labels``: a rotation about the image centre, nearest neighbour;
* ``LabelVAE.sample``: new anatomies from the label VAE's prior (``label_vae.py``);
* ``pathology_labels``: fresh phantoms of a chosen ACDC group (DCM, HCM, MINF, ARV) from the
  data engine, to add the pathological cases a small real set lacks.

Style codes z (appearance):

* ``prior_styles``: z ~ N(0, I), new styles;
* ``encode_styles``: the style encoder's mean mu(x) (or a draw from q(z | x)) of reference
  images, e.g. **unlabelled** images of a vendor absent from the labelled set.

``synthesise(generator, labels, styles)`` renders them, in batches and without gradients.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch.nn import functional as F

from genlib._validation import as_generator, check_ndim
from genlib.data.cardiac import dilate_cavity, elastic_deform, is_one_ring, shrink_cavity, thicken_wall, thin_wall
from genlib.data.cardiac.labels import LV_CAVITY, RV_CAVITY, check_label_map
from genlib.models import conditional_pretrained as cp

# The morphological edits deform_labels draws from (each with probability 1/7, or none): a border moved by
# about 3 mm (one pixel of the old 3.125 mm crops; ``EDIT_PIXELS`` whole pixels of the crops, 1 at 2.67 mm).
EDIT_MM = 3.125
EDIT_PIXELS = max(1, cp.mm_to_pixels(EDIT_MM))
MORPHOLOGY = (
    ("none", lambda m: m),
    ("thicken wall (outer)", lambda m: thicken_wall(m, EDIT_PIXELS, side="outer")),
    ("thin wall (outer)", lambda m: thin_wall(m, EDIT_PIXELS, side="outer")),
    ("dilate LV cavity", lambda m: dilate_cavity(m, LV_CAVITY, EDIT_PIXELS)),
    ("shrink LV cavity", lambda m: shrink_cavity(m, LV_CAVITY, EDIT_PIXELS)),
    ("dilate RV cavity", lambda m: dilate_cavity(m, RV_CAVITY, EDIT_PIXELS)),
    ("shrink RV cavity", lambda m: shrink_cavity(m, RV_CAVITY, EDIT_PIXELS)),
)
# deform_labels' elastic warp: largest displacement 6.25 mm, smoothness 15.6 mm (2 and 5 pixels of the old
# 3.125 mm crops), converted to the crops' pixels (``cp.PIXEL_MM``).
ELASTIC_ALPHA_MM, ELASTIC_SIGMA_MM = 6.25, 15.625


def _label_batch(labels, n_values: int = 5) -> torch.Tensor:
    labels = check_label_map(labels, name="labels", n_values=n_values)
    if labels.ndim != 3:
        hint = " For one map, add the batch dimension: labels[None]." if labels.ndim == 2 else ""
        raise ValueError(f"labels must have shape (N, H, W), got shape {tuple(labels.shape)}.{hint}")
    return labels


def rotate_labels(labels, degrees) -> torch.Tensor:
    """Rotate label maps counter-clockwise (on screen) about the image centre, nearest neighbour.

    Parameters
    ----------
    labels : torch.Tensor of int, shape (N, H, W)
        Any label convention (0..4); pixels rotated in from outside become background (0).
    degrees : float, or sequence / tensor of N floats

    Returns
    -------
    torch.Tensor, int64, shape (N, H, W)
    """
    labels = _label_batch(labels)
    n = len(labels)
    angle = torch.as_tensor(np.asarray(degrees, dtype=np.float32)).flatten()
    if angle.numel() == 1:
        angle = angle.expand(n)
    if angle.shape != (n,) or not torch.isfinite(angle).all():
        raise ValueError(f"degrees must be one finite number or one per map ({n}), got {degrees!r}.")
    theta = torch.deg2rad(angle)
    cos, sin = torch.cos(theta), torch.sin(theta)
    # output pixel (x, y) samples the input at R(-theta) (x, y); y points down, so on screen this turns counter-clockwise
    matrix = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)], 1)
    grid = F.affine_grid(matrix, (n, 1, *labels.shape[-2:]), align_corners=False)
    out = F.grid_sample(labels[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out[:, 0].round().long()


def deform_labels(labels, *, seed: int = 0, alpha: float = ELASTIC_ALPHA_MM / cp.PIXEL_MM,
                  sigma: float = ELASTIC_SIGMA_MM / cp.PIXEL_MM, morphology: bool = True) -> torch.Tensor:
    """New anatomies from real label maps: an elastic warp, then (at random) one morphological edit.

    Parameters
    ----------
    labels : torch.Tensor of int, shape (N, H, W)
        ACDC label maps (0..3).
    seed : int
        Seeds the fields and the choice of edit: same seed, same maps.
    alpha, sigma : float
        ``elastic_deform``'s largest displacement and smoothness, in pixels (defaults: 6.25 mm and 15.6 mm
        in the crops' pixels, ``ELASTIC_ALPHA_MM / cp.PIXEL_MM``: 2.3 and 5.9 px at 2.67 mm).
    morphology : bool
        Also apply one edit of ``MORPHOLOGY`` per map (drawn uniformly; kept only if the LV
        is still one ring, or was not one before).

    Returns
    -------
    torch.Tensor, int64, shape (N, H, W)
    """
    labels = _label_batch(labels, 4)
    if not isinstance(morphology, bool):
        raise TypeError(f"morphology must be True or False, got {morphology!r}.")
    warped = elastic_deform(labels, alpha=alpha, sigma=sigma, seed=seed)
    if not morphology:
        return warped
    choice = np.random.default_rng(seed).integers(len(MORPHOLOGY), size=len(warped))
    out = warped.clone()
    for k, (_, edit) in enumerate(MORPHOLOGY):
        rows = np.nonzero(choice == k)[0]
        if k == 0 or not len(rows):
            continue
        edited = edit(warped[rows])
        for row, new in zip(rows, edited):
            if is_one_ring(new) or not is_one_ring(warped[row]):
                out[row] = new
    return out


def pathology_labels(n: int, pathology: str | None = None, *, seed: int = 0) -> torch.Tensor:
    """Label maps of ``n`` fresh phantom crops of one ACDC group (None: random groups), (n, SIZE, SIZE) int64."""
    return cp.sample_crops(n, seed=seed, pathology=pathology, phase=None).labels


def prior_styles(n: int, *, seed: int | torch.Generator = 0, z_dim: int = cp.Z_DIM,
                 scale: float = 1.0) -> torch.Tensor:
    """``n`` style codes from the prior: z ~ N(0, scale^2 I), shape (n, z_dim), drawn with ``seed`` (an int or a
    torch.Generator, whose draws continue)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not scale > 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be a positive number (1: the prior), got {scale!r}.")
    return scale * torch.randn(n, z_dim, generator=as_generator(seed))


@torch.no_grad()
def encode_styles(encoder, images, *, sample: bool = False, seed: int | torch.Generator = 0) -> torch.Tensor:
    """Style codes of reference images: the encoder's mean mu(x), or (``sample``) z ~ q(z | x).

    Parameters
    ----------
    encoder : StyleEncoder
        E.g. ``load_conditional("spade")[1]``.
    images : torch.Tensor, shape (N, 1, H, W), in [0, 1]
        Reference images; they need no labels.
    sample : bool
        Draw z = mu + sigma * eps instead of returning mu.
    seed : int or torch.Generator
        Seeds eps when ``sample`` (a Generator's draws continue).

    Returns
    -------
    torch.Tensor, shape (N, z_dim)
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor of shape (N, 1, H, W), got {type(images).__name__}.")
    check_ndim("images", images, 4, "(N, 1, H, W)")
    mu, log_var = encoder(images.float())
    if not sample:
        return mu
    eps = torch.randn(mu.shape, generator=as_generator(seed))
    return mu + torch.exp(0.5 * log_var) * eps


@torch.no_grad()
def synthesise(generator, labels, styles: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """Images of ``labels`` in the styles ``styles``: G(m, z), in eval mode and without gradients.

    Parameters
    ----------
    generator : SPADEGenerator
        Unit 03's cine generator (4 classes) or unit 07's LGE generator (5 classes).
    labels : torch.Tensor of int, shape (N, H, W)
    styles : torch.Tensor, shape (N, z_dim), or (1, z_dim) for one style for all
    batch_size : int

    Returns
    -------
    torch.Tensor, float32, shape (N, 1, H, W), in [0, 1]
    """
    labels = _label_batch(labels, generator.n_labels)
    if not isinstance(styles, torch.Tensor) or styles.ndim != 2 or styles.shape[1] != generator.z_dim:
        shape = tuple(styles.shape) if isinstance(styles, torch.Tensor) else type(styles).__name__
        raise ValueError(f"styles must be a tensor of shape (N, z_dim={generator.z_dim}) or (1, z_dim), got {shape}. "
                         "Draw them with prior_styles(n) or encode_styles(encoder, images).")
    if len(styles) == 1:
        styles = styles.expand(len(labels), -1)
    if len(styles) != len(labels):
        raise ValueError(f"styles must have one row per label map ({len(labels)}) or one for all, got {len(styles)}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    was_training = generator.training
    generator.eval()
    try:
        images = [generator(labels[i:i + batch_size], styles[i:i + batch_size].float())
                  for i in range(0, len(labels), batch_size)]
    finally:
        generator.train(was_training)
    return torch.cat(images)
