"""The baselines' augmentations of unit 07's experiment: the field's standard set, and histogram matching.

``nnunet_augment`` is the augmentation nnU-Net (Isensee et al., 2021) applies by default to 2-D data,
with its probabilities and ranges, plus a bias field (torchio's ``RandomBiasField``), applied per image:

============================== =========== ================================================
transform                      probability range
============================== =========== ================================================
rotation                       0.2         +-180 degrees (2-D)
scaling                        0.2         0.7 .. 1.4
elastic warp (*)               0.2         2 px, smoothness 5 px (``elastic_deform``)
Gaussian noise                 0.1         variance 0 .. 0.1
Gaussian blur                  0.2         sigma 0.5 .. 1 px
brightness (multiplicative)    0.15        0.75 .. 1.25
contrast                       0.15        0.75 .. 1.25 about the mean
low resolution                 0.25        downsample by 1 .. 2, upsample (linear)
gamma                          0.3         0.7 .. 1.5 (inverted gamma with p = 0.1)
bias field                     0.3         strength 0 .. 0.4 (``render.bias_field``)
mirroring                      0.5 per axis
============================== =========== ================================================

The table is nnU-Net's default (v2's ``get_training_transforms``), written here before any run of the
experiment; nothing was tuned on the experiment's data. (*) nnU-Net v2 leaves elastic warps off; the
course keeps a gentle one, as its earlier augmentation arm had. nnU-Net's noise variance applies to
z-normalised intensities; here intensities are in [0, 1], so the same variance is a stronger noise.

``histogram_match`` maps an image's intensities onto another image's quantiles: the classical baseline that
uses unlabelled target-vendor images without a generator.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genlib.data.cardiac import elastic_deform
from genlib.data.cardiac.render import bias_field, gaussian_blur

NNUNET = {
    "rotation": (0.2, (-math.pi, math.pi)),
    "scale": (0.2, (0.7, 1.4)),
    "elastic": (0.2, (2.0, 5.0)),
    "noise": (0.1, (0.0, 0.1)),
    "blur": (0.2, (0.5, 1.0)),
    "brightness": (0.15, (0.75, 1.25)),
    "contrast": (0.15, (0.75, 1.25)),
    "low_resolution": (0.25, (1.0, 2.0)),
    "gamma": (0.3, (0.7, 1.5)),
    "inverted_gamma": (0.1, (0.7, 1.5)),
    "bias": (0.3, (0.0, 0.4)),
    "mirror": (0.5, None),
}


def _chosen(p: float, n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) < p


def _uniform(low: float, high: float, n: int, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _check_batch(images, labels) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must be a torch.Tensor of shape (B, 1, H, W), got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}.")
    if not isinstance(labels, torch.Tensor) or labels.shape != images.shape[:1] + images.shape[2:]:
        raise ValueError(f"labels must be a torch.Tensor of shape (B, H, W) = {(images.shape[0], *images.shape[2:])}, "
                         f"got {tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__}.")


def _spatial(images, labels, generator):
    """Rotation and scaling (one affine map per image; labels by nearest neighbour), then mirroring."""
    b = len(images)
    p_rot, (lo, hi) = NNUNET["rotation"]
    angle = torch.where(_chosen(p_rot, b, generator), _uniform(lo, hi, b, generator), torch.zeros(b))
    p_scale, (lo, hi) = NNUNET["scale"]
    scale = torch.where(_chosen(p_scale, b, generator), _uniform(lo, hi, b, generator), torch.ones(b))
    moved = (angle != 0) | (scale != 1)
    if moved.any():
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale  # output -> input coordinates
        theta = torch.stack([torch.stack([cos, -sin, torch.zeros(b)], 1), torch.stack([sin, cos, torch.zeros(b)], 1)], 1)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        images = torch.where(moved[:, None, None, None],
                             F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False),
                             images)
        warped = F.grid_sample(labels[:, None].float(), grid, mode="nearest", padding_mode="zeros",
                               align_corners=False)[:, 0].long()
        labels = torch.where(moved[:, None, None], warped, labels)
    for axis in (-1, -2):
        flip = _chosen(NNUNET["mirror"][0], b, generator)
        images = torch.where(flip[:, None, None, None], images.flip(axis), images)
        labels = torch.where(flip[:, None, None], labels.flip(axis), labels)
    p_el, (alpha, sigma) = NNUNET["elastic"]
    rows = _chosen(p_el, b, generator).nonzero().flatten()
    if len(rows):
        seed = int(torch.randint(2**31 - 1, (), generator=generator))
        warped_labels, warped_images = elastic_deform(labels[rows], alpha=alpha, sigma=sigma, seed=seed,
                                                      images=images[rows], keep_ring=False)
        images, labels = images.clone(), labels.clone()
        images[rows], labels[rows] = warped_images, warped_labels
    return images, labels


def _intensity(images, generator):
    """Noise, blur, brightness, contrast, low resolution, gamma and bias field, each per image with nnU-Net's p."""
    b, _, h, w = images.shape
    x = images.clone()
    p, (lo, hi) = NNUNET["noise"]
    noisy = _chosen(p, b, generator)
    std = _uniform(lo, hi, b, generator).sqrt() * noisy
    x = x + std.view(b, 1, 1, 1) * torch.randn(x.shape, generator=generator)
    p, (lo, hi) = NNUNET["blur"]
    blurred = _chosen(p, b, generator)
    if blurred.any():
        x[blurred] = gaussian_blur(x[blurred], _uniform(lo, hi, int(blurred.sum()), generator))
    p, (lo, hi) = NNUNET["brightness"]
    x = x * torch.where(_chosen(p, b, generator), _uniform(lo, hi, b, generator), torch.ones(b)).view(b, 1, 1, 1)
    p, (lo, hi) = NNUNET["contrast"]
    factor = torch.where(_chosen(p, b, generator), _uniform(lo, hi, b, generator), torch.ones(b)).view(b, 1, 1, 1)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = ((x - mean) * factor + mean).clamp(x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True))
    p, (lo, hi) = NNUNET["low_resolution"]
    for row in _chosen(p, b, generator).nonzero().flatten().tolist():
        f = float(_uniform(lo, hi, 1, generator))
        small = F.interpolate(x[row:row + 1], size=(max(4, round(h / f)), max(4, round(w / f))), mode="nearest")
        x[row:row + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    x = x.clamp(0, 1)
    for key, inverted in (("gamma", False), ("inverted_gamma", True)):
        p, (lo, hi) = NNUNET[key]
        gamma = torch.where(_chosen(p, b, generator), _uniform(lo, hi, b, generator), torch.ones(b)).view(b, 1, 1, 1)
        x = 1 - (1 - x) ** gamma if inverted else x ** gamma
    p, (lo, hi) = NNUNET["bias"]
    strength = torch.where(_chosen(p, b, generator), _uniform(lo, hi, b, generator), torch.zeros(b))
    x = x * bias_field(b, h, w, strength, generator)
    return x.clamp(0, 1)


def nnunet_augment(images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator):
    """nnU-Net's default 2-D augmentation plus a bias field (the module's table), per image.

    Parameters
    ----------
    images : torch.Tensor, shape (B, 1, H, W), in [0, 1]
    labels : torch.Tensor of int, shape (B, H, W)
    generator : torch.Generator
        Every random draw comes from it: the same generator state gives the same batch.

    Returns
    -------
    images : torch.Tensor, shape (B, 1, H, W), in [0, 1]; labels : torch.Tensor, int64, shape (B, H, W)
    """
    _check_batch(images, labels)
    images, labels = _spatial(images.float(), labels.long(), generator)
    return _intensity(images, generator), labels


def histogram_match(images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Map each image's intensities onto its reference's: x -> F_ref^{-1}(F_x(x)) (quantile mapping).

    Parameters
    ----------
    images : torch.Tensor, shape (B, 1, H, W)
    references : torch.Tensor, shape (B, 1, H, W)
        One unlabelled reference image per image (e.g. a random target-vendor image); no labels needed.

    Returns
    -------
    torch.Tensor, shape (B, 1, H, W): each image with the reference's intensity distribution, its ranks kept.
    """
    if not isinstance(images, torch.Tensor) or not isinstance(references, torch.Tensor) or images.ndim != 4 \
            or references.shape != images.shape:
        raise ValueError("images and references must be torch.Tensors of the same shape (B, 1, H, W), got "
                         f"{getattr(images, 'shape', type(images).__name__)} and "
                         f"{getattr(references, 'shape', type(references).__name__)}.")
    b = len(images)
    flat, ref = images.reshape(b, -1), references.reshape(b, -1).sort(1).values
    ranks = flat.argsort(1).argsort(1)  # (B, P): the rank of each pixel in its own image
    return ref.gather(1, ranks).view_as(images)
