"""Is a label map still a heart? Connected components and the LV ring, for deformed maps.

``count_components`` counts the connected pieces of a mask; ``is_one_ring`` says whether a map's
LV is one myocardial ring around one LV cavity, the check that every deformation of
``genlib.data.cardiac.deform`` (elastic) and ``genlib.data.cardiac.morphology`` is judged by.
``as_label_batch`` is the shape check the deformations share.

Label maps follow the ACDC convention of ``genlib.data.cardiac.labels``:
0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity.
"""
from __future__ import annotations

import numpy as np
import torch

from genlib.data.cardiac.labels import LV_CAVITY, LV_MYOCARDIUM, check_label_map


def as_label_batch(labels) -> tuple[torch.Tensor, bool]:
    """One label map or a batch of them, as a batch.

    Parameters
    ----------
    labels : torch.Tensor or array of int, shape (N, H, W) or (H, W)
        ACDC label maps (checked by ``check_label_map``).

    Returns
    -------
    batch : torch.Tensor of int64, shape (N, H, W)
    single : bool
        Whether one (H, W) map was given (then N = 1).
    """
    labels = check_label_map(labels)
    if labels.ndim == 2:
        return labels.unsqueeze(0), True
    if labels.ndim != 3:
        raise ValueError(
            f"labels must have shape (N, H, W) or (H, W), got shape {tuple(labels.shape)}. "
            "Stack several maps with torch.stack(maps) or pass one map at a time."
        )
    return labels, False


def _as_single_map(labels) -> np.ndarray:
    """Return one (H, W) label map as a numpy int64 array (for scipy's component labelling)."""
    labels = check_label_map(labels)
    if labels.ndim != 2:
        raise ValueError(
            f"labels must be one map of shape (H, W), got shape {tuple(labels.shape)}. "
            "For a batch, loop over it: [is_one_ring(m) for m in labels]."
        )
    return labels.cpu().numpy()


def _structure(connectivity: int) -> np.ndarray:
    if isinstance(connectivity, bool) or connectivity not in (4, 8):
        raise ValueError(
            f"connectivity must be 4 (edge neighbours) or 8 (edge and corner neighbours), "
            f"got {connectivity!r}."
        )
    from scipy import ndimage  # imported here: scipy.ndimage costs 0.4 s at import, and few callers need it

    return ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)


def count_components(mask, connectivity: int = 4) -> int:
    """Number of connected components of a binary mask.

    Parameters
    ----------
    mask : torch.Tensor or array of bool (or 0/1), shape (H, W)
        For example ``labels == 2`` for the myocardium.
    connectivity : {4, 8}
        4: pixels sharing an edge are connected; 8: sharing an edge or a corner.

    Returns
    -------
    int
        0 for an empty mask.
    """
    structure = _structure(connectivity)
    mask = torch.as_tensor(mask)
    if mask.ndim != 2:
        raise ValueError(
            f"mask must have shape (H, W), got shape {tuple(mask.shape)}. "
            "For a batch, loop over it: [count_components(m) for m in masks]."
        )
    if mask.dtype != torch.bool:
        if not torch.all((mask == 0) | (mask == 1)):
            raise ValueError(
                f"mask must be boolean (True inside), got dtype {mask.dtype} with values other "
                "than 0 and 1. Build one with a comparison, such as labels == 2."
            )
        mask = mask != 0
    from scipy import ndimage

    _, count = ndimage.label(mask.cpu().numpy(), structure=structure)
    return int(count)


def is_one_ring(labels) -> bool:
    """Whether the LV myocardium is one ring whose only hole is the LV cavity.

    A map passes when all three hold:

    1. the myocardium (label 2) is one 4-connected component;
    2. the LV cavity (label 3) is one 4-connected component;
    3. the non-myocardium pixels, split into 8-connected components, have exactly one
       component that does not touch the image border (the hole of the ring), and that
       component is exactly the LV cavity.

    The connectivities are the strict pair of digital topology: the wall must hold
    together through edges (4), while a leak counts even through a corner (8). So a gap
    in the wall, a cavity pixel touching background or RV (even diagonally), a second
    hole, a background island inside the cavity, or a second ring all fail.

    Parameters
    ----------
    labels : torch.Tensor or array of int, shape (H, W)
        One ACDC label map.

    Returns
    -------
    bool
    """
    labels = _as_single_map(labels)
    myocardium, cavity = labels == LV_MYOCARDIUM, labels == LV_CAVITY
    if count_components(myocardium, 4) != 1 or count_components(cavity, 4) != 1:
        return False
    from scipy import ndimage

    outside, _ = ndimage.label(~myocardium, structure=_structure(8))  # (H, W) component ids
    border = np.unique(np.concatenate([outside[0], outside[-1], outside[:, 0], outside[:, -1]]))
    holes = np.setdiff1d(np.unique(outside[outside > 0]), border)
    return len(holes) == 1 and np.array_equal(outside == holes[0], cavity)
