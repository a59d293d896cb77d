"""Label maps with a scar class (label 4), and painting a scar sector into any myocardium.

Scar synthesis for late gadolinium enhancement (LGE) needs labels that say where the scar
is. The ACDC convention has no scar label (scar is part of the LV myocardium, label 2), so
unit 07 extends it by one class:

    0 background, 1 RV cavity, 2 LV myocardium (healthy), 3 LV cavity, 4 scar (inside the myocardium)

Two sources of such maps:

* ``scar_labels(labels, tissues)``: from the data engine's phantoms, whose tissue maps
  mark scar (MINF subjects: a sector in one coronary territory, from the endocardium out).
* ``add_scar(labels, territory, ...)``: a scar sector painted into **any** LV myocardium,
  e.g. an original label map, a rotated or elastically deformed one, or one decoded by the
  label VAE. For every myocardium pixel it measures

      the angle theta around the LV centre, in the heart frame (0 lateral, 90 anterior,
      180 septal towards the RV, 270 inferior; the data engine's convention), and
      the depth from the endocardium, d_in = distance to the LV cavity and
      d_out = distance to the tissue outside the wall,

  and labels it scar when |theta - centre| <= width / 2 and
  d_in - 1 < transmurality * (d_in + d_out - 1): the innermost layer always, the whole wall
  at transmurality 1 (infarcts grow from the endocardium outwards). Only myocardium pixels
  change, so the scar always lies inside the myocardium.

  The heart frame is found from the RV: the septum (180 degrees) points from the LV centre to
  the RV cavity's centroid, so a rotated label map carries its territories with it. With no
  RV in the map (an apical slice) the image axes are used (no rotation), unless
  ``rotation_deg`` is given.

``to_acdc(labels5)`` folds the scar back into the myocardium (4 -> 2).
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from scipy import ndimage

from genlib._validation import as_seed
from genlib.data.cardiac.labels import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY, SCAR as SCAR_TISSUE, check_label_map
from genlib.data.cardiac.pathology import TERRITORIES

SCAR = 4
N_SCAR_LABELS = 5
SCAR_LABEL_NAMES = {0: "background", 1: "RV cavity", 2: "LV myocardium", 3: "LV cavity", 4: "scar"}


def _as_maps(labels, name: str = "labels") -> tuple[torch.Tensor, bool]:
    labels = check_label_map(labels, name=name, n_values=N_SCAR_LABELS)
    if labels.ndim == 2:
        return labels[None], True
    if labels.ndim != 3:
        raise ValueError(f"{name} must have shape (N, H, W) or (H, W), got shape {tuple(labels.shape)}.")
    return labels, False


def scar_labels(labels, tissues) -> torch.Tensor:
    """ACDC labels + the phantom's tissue map -> 5-class labels: myocardium pixels of scar tissue become 4.

    Parameters
    ----------
    labels : torch.Tensor of int, shape (N, H, W)
        ACDC label maps (0..3), e.g. ``sample_crops(...).labels``.
    tissues : torch.Tensor of int, shape (N, H, W)
        The data engine's tissue maps (scar is tissue 3).

    Returns
    -------
    torch.Tensor, int64, shape (N, H, W), values 0..4
    """
    labels = check_label_map(labels, name="labels")
    tissues = torch.as_tensor(tissues)
    if tissues.shape != labels.shape:
        raise ValueError(f"tissues must have the shape of labels {tuple(labels.shape)}, got {tuple(tissues.shape)}.")
    out = labels.clone()
    out[(tissues == SCAR_TISSUE) & (labels == LV_MYOCARDIUM)] = SCAR
    return out


def to_acdc(labels) -> torch.Tensor:
    """5-class labels -> ACDC labels: scar (4) folded back into the myocardium (2). Any shape."""
    labels = check_label_map(labels, name="labels", n_values=N_SCAR_LABELS)
    return torch.where(labels == SCAR, LV_MYOCARDIUM, labels)


def _centroid(mask: np.ndarray) -> tuple[float, float] | None:
    rows, cols = np.nonzero(mask)
    return (float(rows.mean()), float(cols.mean())) if len(rows) else None


def _heart_angles(labels: np.ndarray, rotation_deg: float | None) -> np.ndarray | None:
    """Heart-frame angle (degrees, [0, 360)) of every pixel around the LV centre, (H, W); None without an LV."""
    centre = _centroid(labels == LV_CAVITY) or _centroid((labels == LV_MYOCARDIUM) | (labels == SCAR))
    if centre is None:
        return None
    rows, cols = np.indices(labels.shape, dtype=np.float64)
    image_angle = np.degrees(np.arctan2(-(rows - centre[0]), cols - centre[1]))  # counter-clockwise on screen
    if rotation_deg is None:
        rv = _centroid(labels == RV_CAVITY)
        rotation_deg = 0.0 if rv is None else math.degrees(math.atan2(-(rv[0] - centre[0]), rv[1] - centre[1])) - 180.0
    return np.remainder(image_angle - rotation_deg, 360.0)


def _depth_ok(wall: np.ndarray, labels: np.ndarray, transmurality: float) -> np.ndarray:
    """Wall pixels within ``transmurality`` of the wall's depth from the endocardium, (H, W) bool."""
    cavity = labels == LV_CAVITY
    outside = ~((labels == LV_MYOCARDIUM) | (labels == SCAR) | cavity)
    if not cavity.any():  # no cavity (an apical cap): the whole wall counts as endocardial
        return wall.copy()
    d_in = ndimage.distance_transform_edt(~cavity)  # distance to the nearest cavity pixel
    d_out = ndimage.distance_transform_edt(~outside) if outside.any() else np.full(wall.shape, np.inf)
    return wall & (d_in - 1 < transmurality * (d_in + d_out - 1))


def _per_map(name: str, value, n: int) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} must be one value or one per map ({n}), got {len(value)} values.")
        return list(value)
    return [value] * n


def add_scar(labels, territory="LAD", *, width_deg: float = 90.0, transmurality: float = 1.0,
             centre_deg: float | None = None, rotation_deg: float | None = None) -> torch.Tensor:
    """Paint a scar sector (label 4) into the LV myocardium of each label map.

    Parameters
    ----------
    labels : torch.Tensor or array of int, shape (N, H, W) or (H, W)
        ACDC (0..3) or 5-class (0..4) label maps; an existing scar is kept.
    territory : {"LAD", "LCX", "RCA"} or None, or a list of N of them
        The coronary territory whose centre angle (``TERRITORIES``: LAD 120, LCX 0, RCA 240
        degrees, heart frame) centres the sector; None needs ``centre_deg``.
    width_deg : float in (0, 360]
        Full angular width of the sector (MINF phantoms: 60 to 120).
    transmurality : float in (0, 1]
        Depth of the scar as a fraction of the wall, from the endocardium (1: transmural).
    centre_deg : float, optional
        The sector's centre in the heart frame, overriding the territory's.
    rotation_deg : float, optional
        The heart's counter-clockwise rotation in the image; None finds it from the RV
        (the septum points to the RV centroid), or takes 0 when the map has no RV.

    Returns
    -------
    torch.Tensor, int64, same shape as ``labels``, values 0..4
        Only LV myocardium pixels (label 2) may have become scar (4). A map without
        myocardium comes back unchanged.
    """
    batch, single = _as_maps(labels)
    n = len(batch)
    territories = _per_map("territory", territory, n)
    for t in territories:
        if t is not None and t not in TERRITORIES:
            raise ValueError(f"territory must be one of {tuple(TERRITORIES)} or None (then give centre_deg), got {t!r}.")
        if t is None and centre_deg is None:
            raise ValueError("territory is None: give the sector's centre with centre_deg (degrees, heart frame).")
    for name, value, low, high in (("width_deg", width_deg, 0.0, 360.0), ("transmurality", transmurality, 0.0, 1.0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low < value <= high:
            raise ValueError(f"{name} must be a number in ({low:g}, {high:g}], got {value!r}.")
    for name, value in (("centre_deg", centre_deg), ("rotation_deg", rotation_deg)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                  or not math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number of degrees or None, got {value!r}.")
    out = batch.clone()
    arrays = batch.cpu().numpy()
    for k in range(n):
        wall = arrays[k] == LV_MYOCARDIUM
        angles = _heart_angles(arrays[k], rotation_deg)
        if not wall.any() or angles is None:
            continue
        centre = centre_deg if centre_deg is not None else TERRITORIES[territories[k]]
        offset = np.abs(np.remainder(angles - centre + 180.0, 360.0) - 180.0)  # |theta - centre|, wrapped
        scar = _depth_ok(wall, arrays[k], float(transmurality)) & (offset <= width_deg / 2)
        out[k][torch.from_numpy(scar)] = SCAR
    return out[0] if single else out


def scar_crops(n: int, *, seed: int | torch.Generator = 0, minf_fraction: float = 0.5, style: str = "lge"):
    """``n`` phantom crops (48 x 48, 128 mm: ``cp.SIZE``, ``cp.FOV_MM``) with 5-class labels, rendered in ``style`` (LGE by default).

    A share ``minf_fraction`` of them are MINF subjects (a scar in one coronary territory), the rest
    of random ACDC groups (mostly without scar), each at a random phase and slice level. ``seed``: an int, or a
    torch.Generator that gives one (``as_seed``); the MINF crops, the others (``seed + 1``), their order and the
    rendering are seeded from it.

    Returns
    -------
    labels : torch.Tensor, int64, shape (n, SIZE, SIZE), values 0..4 (4: scar)
    images : torch.Tensor, float32, shape (n, 1, SIZE, SIZE), in [0, 1]
    """
    from genlib.data.cardiac import render
    from genlib.models import conditional_pretrained as cp

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if isinstance(minf_fraction, bool) or not isinstance(minf_fraction, numbers.Real) or not 0 <= minf_fraction <= 1:
        raise ValueError(f"minf_fraction must be a number in [0, 1], got {minf_fraction!r}.")
    seed = as_seed(seed)  # one int: the function derives several seeds from it
    n_minf = int(math.floor(minf_fraction * n + 0.5))
    parts = []
    if n_minf:
        parts.append(cp.sample_crops(n_minf, seed=seed, pathology="MINF", phase=None))
    if n - n_minf:
        parts.append(cp.sample_crops(n - n_minf, seed=seed + 1, phase=None))
    labels = torch.cat([scar_labels(p.labels, p.tissues) for p in parts])
    tissues = torch.cat([p.tissues for p in parts])
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return labels[order], render(tissues[order], style, seed=seed)
