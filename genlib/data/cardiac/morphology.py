"""Morphology of cardiac label maps: grow or shrink the LV wall and the cavities by whole pixels.

Every operation has the same shape: the pixels of some labels (``take``) that lie within
``pixels`` of some other labels (``sources``, Euclidean distance between pixel centres) take the
label of the nearest source. Distances come from dilations by a disc, computed as a convolution
with a disc kernel (a pixel is in the dilated set when the disc around it covers at least one
pixel of the set). ``edit_lv`` is the explorers' sliders: signed pixel counts for wall and cavity.

Label maps follow the ACDC convention of ``genlib.data.cardiac.labels``:
0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity.
"""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from genlib.data.cardiac.labels import BACKGROUND, LABEL_NAMES, LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY
from genlib.data.cardiac.topology import as_label_batch

# The label each cavity trades pixels with: the LV cavity grows into (and gives back to)
# the myocardium around it; the RV cavity grows into (and gives back to) the background,
# never the septum.
_CAVITY_PARTNER = {LV_CAVITY: LV_MYOCARDIUM, RV_CAVITY: BACKGROUND}


def _check_pixels(pixels, height: int, width: int) -> int:
    """Return ``pixels`` as an int, or raise naming the valid range 0 .. min(H, W) // 2."""
    largest = min(height, width) // 2
    if (isinstance(pixels, bool) or not isinstance(pixels, numbers.Integral)
            or not 0 <= pixels <= largest):
        raise ValueError(
            f"pixels must be a whole number of pixels in 0..{largest} (half the smaller side "
            f"of the {height}x{width} map), got {pixels!r}. Use a small integer such as 1, 2 or 3."
        )
    return int(pixels)


def _check_side(side: str) -> None:
    if side not in ("outer", "inner"):
        raise ValueError(
            f"side must be 'outer' (towards the background and RV) or 'inner' (towards the "
            f"LV cavity), got {side!r}."
        )


def _check_cavity(label) -> int:
    if isinstance(label, bool) or label not in _CAVITY_PARTNER:
        name = LABEL_NAMES.get(label, "not a label") if isinstance(label, numbers.Integral) else "not a label"
        raise ValueError(
            f"label must be {RV_CAVITY} (RV cavity) or {LV_CAVITY} (LV cavity), got {label!r} "
            f"({name}). To change the myocardium, use thicken_wall or thin_wall."
        )
    return int(label)


def _disc(radius: int, device) -> torch.Tensor:
    """The disc {(dy, dx): dy^2 + dx^2 <= radius^2} as a float kernel. Shape (1, 1, 2r + 1, 2r + 1)."""
    d = torch.arange(-radius, radius + 1, device=device)
    return ((d.view(-1, 1) ** 2 + d.view(1, -1) ** 2) <= radius ** 2).float().view(
        1, 1, 2 * radius + 1, 2 * radius + 1)


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary dilation by the disc of ``radius`` pixels: pixels within ``radius`` of ``mask``.

    mask (N, H, W) bool -> (N, H, W) bool. Outside the image counts as not in the mask.
    """
    hits = F.conv2d(mask.float().unsqueeze(1), _disc(radius, mask.device), padding=radius)
    return hits.squeeze(1) > 0.5  # (N, H, W)


def _relabel_near(labels, take: tuple[int, ...], sources: tuple[int, ...], pixels: int):
    """Pixels labelled ``take`` within ``pixels`` of a ``sources`` label get the nearest source label.

    labels (N, H, W) or (H, W) -> same shape. Nearness is found one pixel of radius at a
    time, so each pixel gets the label of its nearest source (ties go to the first source).
    """
    batch, single = as_label_batch(labels)
    pixels = _check_pixels(pixels, *batch.shape[-2:])
    out = batch.clone()
    todo = torch.isin(batch, torch.tensor(take, device=batch.device))  # (N, H, W)
    for radius in range(1, pixels + 1):
        for value in sources:
            reached = todo & _dilate(batch == value, radius)  # (N, H, W)
            out[reached] = value
            todo &= ~reached
    return out[0] if single else out


def thicken_wall(labels, pixels: int, *, side: str = "outer"):
    """Thicken the LV myocardium by ``pixels``.

    ``side='outer'``: background and RV pixels within ``pixels`` of the myocardium become
    myocardium (the wall grows outward; the septum grows into the RV).
    ``side='inner'``: LV-cavity pixels within ``pixels`` of the myocardium become myocardium
    (the wall grows inward; the cavity shrinks, like ``shrink_cavity(labels, 3, pixels)``).
    For a ring of radius R the myocardium gains about 2 pi R * pixels pixels.

    Parameters
    ----------
    labels : torch.Tensor or array of int, shape (N, H, W) or (H, W)
        ACDC label maps.
    pixels : int
        How far the wall grows, 0 <= pixels <= min(H, W) // 2 (0 is the identity).
    side : {'outer', 'inner'}

    Returns
    -------
    torch.Tensor of int64, same shape as ``labels``
    """
    _check_side(side)
    take = (BACKGROUND, RV_CAVITY) if side == "outer" else (LV_CAVITY,)
    return _relabel_near(labels, take, (LV_MYOCARDIUM,), pixels)


def thin_wall(labels, pixels: int, *, side: str = "outer"):
    """Thin the LV myocardium by ``pixels``.

    ``side='outer'``: myocardium within ``pixels`` of the background or the RV becomes
    whichever of the two is nearer (ties: background).
    ``side='inner'``: myocardium within ``pixels`` of the LV cavity becomes cavity (the
    cavity grows, like ``dilate_cavity(labels, 3, pixels)``).
    A wall thinner than ``pixels`` disappears there and the ring breaks: check with
    ``is_one_ring``.

    Parameters
    ----------
    labels : torch.Tensor or array of int, shape (N, H, W) or (H, W)
        ACDC label maps.
    pixels : int
        How far the wall recedes, 0 <= pixels <= min(H, W) // 2 (0 is the identity).
    side : {'outer', 'inner'}

    Returns
    -------
    torch.Tensor of int64, same shape as ``labels``
    """
    _check_side(side)
    sources = (BACKGROUND, RV_CAVITY) if side == "outer" else (LV_CAVITY,)
    return _relabel_near(labels, (LV_MYOCARDIUM,), sources, pixels)


def dilate_cavity(labels, label: int, pixels: int):
    """Grow a cavity by ``pixels`` into the tissue around it.

    ``label=3`` (LV cavity) takes myocardium within ``pixels`` of the cavity, so the wall
    thins from inside (the same as ``thin_wall(labels, pixels, side='inner')``).
    ``label=1`` (RV cavity) takes background within ``pixels`` of the RV; it never takes
    the septum or the LV.

    Parameters
    ----------
    labels : torch.Tensor or array of int, shape (N, H, W) or (H, W)
        ACDC label maps.
    label : {1, 3}
        The cavity: 1 RV, 3 LV.
    pixels : int
        0 <= pixels <= min(H, W) // 2 (0 is the identity).

    Returns
    -------
    torch.Tensor of int64, same shape as ``labels``
    """
    label = _check_cavity(label)
    return _relabel_near(labels, (_CAVITY_PARTNER[label],), (label,), pixels)


def shrink_cavity(labels, label: int, pixels: int):
    """Shrink a cavity by ``pixels``, giving the space back to the tissue around it.

    ``label=3`` (LV cavity): cavity pixels within ``pixels`` of the myocardium become
    myocardium, so the wall thickens inward (like ``thicken_wall(labels, pixels,
    side='inner')``). ``label=1`` (RV cavity): RV pixels within ``pixels`` of the background
    become background; the RV keeps its contact with the septum.

    Parameters
    ----------
    labels : torch.Tensor or array of int, shape (N, H, W) or (H, W)
        ACDC label maps.
    label : {1, 3}
        The cavity: 1 RV, 3 LV.
    pixels : int
        0 <= pixels <= min(H, W) // 2 (0 is the identity).

    Returns
    -------
    torch.Tensor of int64, same shape as ``labels``
    """
    label = _check_cavity(label)
    return _relabel_near(labels, (label,), (_CAVITY_PARTNER[label],), pixels)


def edit_lv(labels, *, wall: int = 0, cavity: int = 0):
    """Edit the LV by signed pixel counts: the wall first, then the cavity (the explorers' sliders).

    ``wall > 0`` thickens the LV wall outwards by ``wall`` pixels (``thicken_wall``), ``wall < 0``
    thins it (``thin_wall``); ``cavity > 0`` dilates the LV cavity (``dilate_cavity``), ``cavity < 0``
    shrinks it (``shrink_cavity``); 0 leaves that part alone.

    Parameters
    ----------
    labels : torch.Tensor or array of int, shape (N, H, W) or (H, W)
        ACDC label maps.
    wall, cavity : int
        Signed numbers of pixels.

    Returns
    -------
    torch.Tensor of int64, same shape as ``labels`` (``labels`` itself when both are 0)
    """
    if wall:
        labels = thicken_wall(labels, wall) if wall > 0 else thin_wall(labels, -wall)
    if cavity:
        labels = dilate_cavity(labels, LV_CAVITY, cavity) if cavity > 0 else shrink_cavity(labels, LV_CAVITY, -cavity)
    return labels
