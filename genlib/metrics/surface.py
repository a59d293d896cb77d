"""The Hausdorff distance between label maps: how far a segmentation's borders stray, in mm.

Dice counts overlapping pixels, so a stray blob far from the heart costs it little; a
surface distance measures *where* the errors are. For one class c, let dP and dT be the
boundary pixels of the predicted and the reference region (the pixels of the region with
at least one 4-neighbour outside it; pixels on the image edge count as boundary), and

    d(p, dT) = min_{t in dT} |p - t|        (Euclidean, in mm: pixel steps times ``pixel_mm``)

the distance from a boundary pixel p of the prediction to the reference boundary. The
*directed* percentile Hausdorff distance is the q-th percentile of {d(p, dT) : p in dP};
the symmetric one takes the larger of the two directions:

    HD_q(P, T) = max( perc_q {d(p, dT) : p in dP},  perc_q {d(t, dP) : t in dT} )

q = 100 is the classic Hausdorff distance (the worst boundary pixel); q = 95 (HD95, the
default) ignores the worst 5 % of boundary pixels, so a single outlier pixel does not
decide the score. This is the convention of MedPy's ``hd95`` and MONAI's
``compute_hausdorff_distance(percentile=95)``; percentiles use numpy's linear
interpolation. The distances come from an exact Euclidean distance transform
(``scipy.ndimage.distance_transform_edt``) of each boundary's complement.

Conventions for an empty class (per image and class):

* absent from **both** maps: NaN (nothing to score; ``mean_hausdorff`` skips it, as
  ``mean_dice`` skips 0 / 0);
* absent from **exactly one** map (a structure missed, or one invented): a finite
  penalty, the image diagonal ``sqrt(H^2 + W^2) * pixel_mm``, the largest distance two
  pixels of the image can have. A finite value keeps means over a test set usable (an
  infinity would swamp every mean); it is at least as large as any HD between two
  non-empty regions of the same image, so a missed structure never scores better than a
  badly placed one. ``MISSING`` names the rule.

Public: ``hausdorff_distance`` (N, C') per image and class, ``mean_hausdorff`` (C') the
NaN-ignoring mean over images, ``boundary`` the boundary masks.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

from genlib.data.cardiac.labels import N_LABELS
from genlib.metrics.segmentation import check_label_maps, check_n_classes

MISSING = "diagonal"  # the penalty for a class present in only one map: the image diagonal, in mm
_CROSS = ndimage.generate_binary_structure(2, 1)  # 4-connectivity


def boundary(mask) -> torch.Tensor:
    """The boundary pixels of binary masks: in the mask, with a 4-neighbour (or the image edge) outside it.

    Parameters
    ----------
    mask : torch.Tensor or array of bool, shape (H, W) or (N, H, W)

    Returns
    -------
    torch.Tensor, bool, same shape as ``mask``
    """
    array = np.asarray(torch.as_tensor(mask).cpu(), dtype=bool)
    if array.ndim not in (2, 3):
        raise ValueError(f"mask must have shape (H, W) or (N, H, W), got shape {array.shape}.")
    if array.ndim == 2:
        return torch.from_numpy(array & ~ndimage.binary_erosion(array, _CROSS, border_value=0))
    return torch.from_numpy(np.stack([m & ~ndimage.binary_erosion(m, _CROSS, border_value=0) for m in array]))


def _directed(from_edge: np.ndarray, to_edge: np.ndarray, percentile: float, pixel_mm: float) -> float:
    """perc_q of the distances (mm) from the pixels of ``from_edge`` to the nearest pixel of ``to_edge``."""
    distance = ndimage.distance_transform_edt(~to_edge, sampling=pixel_mm)  # (H, W), 0 on to_edge
    return float(np.percentile(distance[from_edge], percentile))


def _check_number(name: str, value, low: float, high: float, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a number, got {value!r}. {hint}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low:g}, {high:g}], got {value!r}. {hint}")
    return float(value)


def hausdorff_distance(pred, target, *, n_classes: int = N_LABELS, percentile: float = 95.0,
                       pixel_mm: float = 1.0, include_background: bool = False) -> torch.Tensor:
    """The symmetric percentile Hausdorff distance (HD95 by default) per image and class, in mm.

    HD_q(P_c, T_c) = max(perc_q d(dP_c -> dT_c), perc_q d(dT_c -> dP_c)), with dP_c, dT_c the
    boundaries of class c in ``pred`` and ``target`` (see the module docstring).

    Parameters
    ----------
    pred : torch.Tensor or array of int, shape (N, H, W)
        Predicted label maps, values in 0 .. n_classes - 1 (for a network, ``logits.argmax(1)``).
    target : torch.Tensor or array of int, shape (N, H, W)
        Reference label maps, same convention.
    n_classes : int
        Number of labels, background included (4 for ACDC).
    percentile : float in (0, 100]
        q: 95 for HD95, 100 for the classic (maximum) Hausdorff distance.
    pixel_mm : float > 0
        Pixel size in mm (the course's 48 x 48 crops of 128 mm: ``128 / 48 = 2.67``, ``conditional_pretrained.PIXEL_MM``).
    include_background : bool
        Also score class 0 (off by default, as for Dice).

    Returns
    -------
    hd : torch.Tensor, float64, shape (N, n_classes) or (N, n_classes - 1) without the background
        In mm. NaN where the class is absent from both maps; the image diagonal
        ``sqrt(H^2 + W^2) * pixel_mm`` where it is absent from exactly one.
    """
    check_n_classes(n_classes, include_background)
    percentile = _check_number("percentile", percentile, 1e-9, 100.0,
                               "Use 95 for HD95 or 100 for the maximum Hausdorff distance.")
    pixel_mm = _check_number("pixel_mm", pixel_mm, 1e-9, 1e9, "Give the pixel size in mm, e.g. 128 / 48 = 2.67.")
    pred, target = check_label_maps(pred, target, n_classes)
    pred, target = pred.cpu().numpy(), target.cpu().numpy()
    n, height, width = pred.shape
    penalty = math.hypot(height, width) * pixel_mm
    classes = range(0 if include_background else 1, n_classes)
    hd = np.full((n, len(classes)), np.nan)
    for i in range(n):
        for k, c in enumerate(classes):
            p, t = pred[i] == c, target[i] == c
            has_p, has_t = bool(p.any()), bool(t.any())
            if not (has_p or has_t):
                continue
            if has_p != has_t:
                hd[i, k] = penalty
                continue
            edge_p = p & ~ndimage.binary_erosion(p, _CROSS, border_value=0)
            edge_t = t & ~ndimage.binary_erosion(t, _CROSS, border_value=0)
            hd[i, k] = max(_directed(edge_p, edge_t, percentile, pixel_mm),
                           _directed(edge_t, edge_p, percentile, pixel_mm))
    return torch.from_numpy(hd)


def mean_hausdorff(pred, target, *, n_classes: int = N_LABELS, percentile: float = 95.0, pixel_mm: float = 1.0,
                   include_background: bool = False) -> torch.Tensor:
    """The mean over images of ``hausdorff_distance``, per class, ignoring NaN (class absent from both maps).

    Parameters
    ----------
    pred, target, n_classes, percentile, pixel_mm, include_background
        As in ``hausdorff_distance``.

    Returns
    -------
    torch.Tensor, float64, shape (n_classes,) or (n_classes - 1,) without the background
        In mm; NaN for a class absent from every image of both ``pred`` and ``target``.
    """
    hd = hausdorff_distance(pred, target, n_classes=n_classes, percentile=percentile, pixel_mm=pixel_mm,
                            include_background=include_background)
    return hd.nanmean(dim=0)
