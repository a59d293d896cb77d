"""Preprocessing of short-axis cine stacks, the same for phantoms and real data (ACDC, M&Ms).

A stack goes through four steps, each a small function:

1. **reorientation** to the course's convention (``to_course_axes``): axes (slices, rows, columns), rows
   running towards the patient's back (posterior) and columns towards the patient's left, so that the RV
   lies on the image left of the LV as in the phantoms (radiological view); slices ordered from the base
   to the apex (the phantoms' slice level 0 base .. 1 apex). Read from the NIfTI affine alone, which
   nibabel gives in RAS+ world coordinates (x to the patient's right, y anterior, z superior): the two
   in-plane axes are permuted and flipped to the combination closest to (posterior, left), and the slice
   axis is flipped when it points away from the apex (anterior, left, inferior). No label is read.
2. **resampling** in-plane to one pixel size ``pixel_mm`` (``resample``): bilinear with antialiasing for
   images, nearest for labels (label values stay exactly 0..3).
3. a **label-free region of interest** (``roi_centre``): the heart is what moves. The per-pixel standard
   deviation over the frames of the cine (or over ED and ES when only those two frames exist), averaged
   over the slices and smoothed (Gaussian, ``ROI_SMOOTHING_MM``), peaks on the heart; the crop of
   ``size x size`` pixels is centred on the middle of the bounding box of the region around that peak (above half of
   it: both ventricles) for every slice and both phases of the subject.
4. **intensity normalisation** (``normalise``): clip each slice to its 0.5th-99.5th percentile and scale
   to [0, 1], the range of the phantoms' rendered images.

``crop_stack`` runs 2-4 on a reoriented stack; ``roi="labels"`` centres the crop on the labels' centroid
instead (it reads the labels: for training sets only, never for a test set).
"""
from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

CLIP_PERCENTILES = (0.5, 99.5)
ROI_SMOOTHING_MM = 15.0  # std of the Gaussian that smooths the motion map: about the LV's radius
ROI_REGION_FRACTION = 0.5  # the moving region: where the smoothed motion is above this fraction of its peak
ROI_METHODS = ("motion", "labels")
_POSTERIOR, _LEFT = np.array([0.0, -1.0, 0.0]), np.array([-1.0, 0.0, 0.0])  # in RAS+
_TOWARDS_APEX = np.array([-1.0, 1.0, -1.0]) / np.sqrt(3.0)  # left, anterior, inferior (RAS+)


def course_orientation(affine) -> dict:
    """How to turn an (x, y, slices) NIfTI stack with ``affine`` into the course's axes.

    Parameters
    ----------
    affine : array-like, shape (4, 4)
        The NIfTI affine (voxel -> RAS+ mm).

    Returns
    -------
    dict
        "transpose" (bool: rows come from the file's second axis), "flip_rows", "flip_cols",
        "flip_slices" (bool), and "spacing" (slice, row, column) in mm.
    """
    affine = np.asarray(affine, dtype=float)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise ValueError(f"affine must be a finite 4 x 4 matrix, got shape {affine.shape}.")
    axes = affine[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)  # (3,)
    if np.any(spacing <= 0):
        raise ValueError(f"affine has a zero-length voxel axis (spacing {spacing.tolist()} mm).")
    direction = axes / spacing  # (3, 3), columns: unit vectors of the voxel axes
    best = None
    for transpose, s_row, s_col in itertools.product((False, True), (1, -1), (1, -1)):
        row_axis, col_axis = (1, 0) if transpose else (0, 1)
        score = s_row * direction[:, row_axis] @ _POSTERIOR + s_col * direction[:, col_axis] @ _LEFT
        if best is None or score > best[0] + 1e-9:
            best = (score, transpose, s_row < 0, s_col < 0)
    _, transpose, flip_rows, flip_cols = best
    row_axis, col_axis = (1, 0) if transpose else (0, 1)
    return {"transpose": transpose, "flip_rows": flip_rows, "flip_cols": flip_cols,
            "flip_slices": bool(direction[:, 2] @ _TOWARDS_APEX < 0),
            "spacing": (float(spacing[2]), float(spacing[row_axis]), float(spacing[col_axis]))}


def to_course_axes(volume, affine) -> tuple[np.ndarray, tuple, np.ndarray]:
    """Reorient an (x, y, slices[, frames]) NIfTI array to (slices, rows, columns[, frames]).

    Parameters
    ----------
    volume : array, shape (X, Y, Z) or (X, Y, Z, T)
    affine : array, shape (4, 4)

    Returns
    -------
    stack : np.ndarray, shape (Z, H, W) or (Z, H, W, T)
        Rows towards posterior, columns towards the patient's left, slices base to apex.
    spacing : tuple of 3 floats
        (slice, row, column) spacing in mm.
    slice_order : np.ndarray of int, shape (Z,)
        The file's slice index of each output slice.
    """
    volume = np.asarray(volume)
    if volume.ndim not in (3, 4):
        raise ValueError(f"volume must be (X, Y, Z) or (X, Y, Z, T), got shape {volume.shape}.")
    o = course_orientation(affine)
    stack = np.moveaxis(volume, 2, 0)  # (Z, X, Y[, T])
    if o["transpose"]:
        stack = np.swapaxes(stack, 1, 2)
    order = np.arange(stack.shape[0])
    if o["flip_rows"]:
        stack = stack[:, ::-1]
    if o["flip_cols"]:
        stack = stack[:, :, ::-1]
    if o["flip_slices"]:
        stack, order = stack[::-1], order[::-1]
    return np.ascontiguousarray(stack), o["spacing"], order


def normalise(images) -> torch.Tensor:
    """Clip every slice to its 0.5th-99.5th intensity percentile and scale it to [0, 1].

    Parameters
    ----------
    images : array or tensor, shape (N, H, W)

    Returns
    -------
    torch.Tensor, float32, shape (N, H, W), values in [0, 1] (a constant slice gives zeros)
    """
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))  # (N, H, W)
    lo = torch.quantile(x.flatten(1), CLIP_PERCENTILES[0] / 100, dim=1)[:, None, None]
    hi = torch.quantile(x.flatten(1), CLIP_PERCENTILES[1] / 100, dim=1)[:, None, None]
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return torch.where(hi > lo, (x.clamp(min=lo, max=hi) - lo) / span, torch.zeros_like(x))


def resample(stack, spacing_hw, pixel_mm: float, *, labels: bool = False) -> torch.Tensor:
    """Resample (N, H, W) slices of in-plane spacing ``spacing_hw`` (mm) to ``pixel_mm`` pixels.

    Images: bilinear with antialiasing, float32. Labels: nearest, int64 (values kept exactly).
    """
    factors = (float(spacing_hw[0]) / pixel_mm, float(spacing_hw[1]) / pixel_mm)
    x = torch.as_tensor(np.asarray(stack, dtype=np.float32))[:, None]  # (N, 1, H, W)
    if labels:
        out = F.interpolate(x, scale_factor=factors, mode="nearest-exact", recompute_scale_factor=False)
        return out[:, 0].round().long()
    out = F.interpolate(x, scale_factor=factors, mode="bilinear", align_corners=False, antialias=True,
                        recompute_scale_factor=False)
    return out[:, 0]


def roi_centre(frames, spacing_hw) -> tuple[tuple[float, float], str]:
    """The heart's centre, in pixels of the input grid, from motion alone (no label is read).

    Parameters
    ----------
    frames : array, shape (T, Z, H, W), T >= 2
        The cine's frames of every slice (or just ED and ES), in the course's axes.
    spacing_hw : (float, float)
        Row and column spacing in mm.

    Returns
    -------
    centre : (row, col), floats
        The middle of the bounding box of the moving region (the smoothed map of the temporal standard
        deviation, averaged over slices, above half its peak, around the peak): both ventricles, not the LV alone.
    source : str
        "motion", or "image centre" when nothing moves (a constant cine).
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 4 or frames.shape[0] < 2:
        raise ValueError(f"frames must be (T, Z, H, W) with T >= 2, got shape {frames.shape}.")
    scale = np.percentile(frames, 99.5) or 1.0
    motion = (frames / scale).std(axis=0).mean(axis=0)  # (H, W)
    sigma = (ROI_SMOOTHING_MM / spacing_hw[0], ROI_SMOOTHING_MM / spacing_hw[1])
    smooth = ndimage.gaussian_filter(motion, sigma, mode="constant")
    if not np.isfinite(smooth).all() or smooth.max() <= 0:
        h, w = motion.shape
        return ((h - 1) / 2, (w - 1) / 2), "image centre"
    # The peak sits on the LV, whose blood pool changes most; the crop should hold both ventricles, so the
    # centre is the middle of the bounding box of the moving region around the peak (above half the peak's
    # motion). A motion-weighted centroid leans towards the LV: in dilated hearts, whose LV dominates the
    # motion, it sat 16-22 mm from the heart's centre and a 128 mm crop lost up to 8 % of the heart.
    peak = np.unravel_index(np.argmax(smooth), smooth.shape)
    regions, _ = ndimage.label(smooth >= ROI_REGION_FRACTION * smooth.max())
    inside = np.argwhere(regions == regions[peak])  # (n, 2)
    return tuple(float(v) for v in (inside.min(axis=0) + inside.max(axis=0)) / 2), "motion"


def label_centre(labels) -> tuple[float, float] | None:
    """Centroid (row, col) of the heart labels (> 0) of a (Z, H, W) stack; None if there are none.

    It reads the labels: use it on training data only (``roi="labels"``)."""
    heart = np.argwhere(np.asarray(labels) > 0)  # (n, 3)
    return None if len(heart) == 0 else (float(heart[:, 1].mean()), float(heart[:, 2].mean()))


def crop(array: torch.Tensor, centre, size: int) -> torch.Tensor:
    """Cut (..., size, size) windows centred on ``centre`` (row, col) from (..., H, W), zero outside."""
    out = torch.zeros((*array.shape[:-2], size, size), dtype=array.dtype)
    starts = [int(round(c)) - size // 2 for c in centre]
    src = [slice(max(s, 0), min(s + size, n)) for s, n in zip(starts, array.shape[-2:])]
    dst = [slice(r.start - s, r.stop - s) for r, s in zip(src, starts)]
    if all(r.stop > r.start for r in src):
        out[..., dst[0], dst[1]] = array[..., src[0], src[1]]
    return out


def crop_stack(images: dict, spacing_hw, *, size: int, pixel_mm: float, labels: dict | None = None,
               cine=None, roi: str = "motion") -> dict:
    """Normalise, resample and crop one subject's reoriented stacks around one heart centre.

    Parameters
    ----------
    images : dict phase -> array (Z, H, W)
        E.g. {"ED": ..., "ES": ...}, in the course's axes (``to_course_axes``).
    spacing_hw : (float, float)
        Row and column spacing in mm.
    size : int
        Side of the output crops in pixels.
    pixel_mm : float
        Output pixel size in mm.
    labels : dict phase -> int array (Z, H, W), or None
        Cropped with the images; read for the ROI only when ``roi="labels"``.
    cine : array (T, Z, H, W) or None
        The whole cine for the motion ROI; None or a motionless cine falls back to the phases' images.
    roi : {"motion", "labels"}
        "motion" (default): ``roi_centre`` of the cine (label-free). "labels": the centroid of the labels
        of every phase (uses the labels: training data only).

    Returns
    -------
    dict
        "images": phase -> float32 tensor (Z, 1, size, size) in [0, 1]; "labels": phase -> int64 tensor
        (Z, size, size) (absent without labels); "centre": (row, col) in output pixels before the crop;
        "roi_source": "motion", "ED/ES difference", "labels" or "image centre".
    """
    if roi not in ROI_METHODS:
        raise ValueError(f"roi must be one of {ROI_METHODS}, got {roi!r}.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer (pixels), got {size!r}.")
    phases = list(images)
    shapes = {phase: np.shape(images[phase]) for phase in phases}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"the phases' stacks must share one shape, got {shapes}.")
    if roi == "labels":
        if not labels:
            raise ValueError("roi='labels' needs labels; pass roi='motion' for unlabelled images.")
        centre = label_centre(np.concatenate([np.asarray(labels[p]) for p in phases]))
        source = "labels" if centre is not None else "image centre"
        if centre is None:
            h, w = shapes[phases[0]][1:]
            centre = ((h - 1) / 2, (w - 1) / 2)
    else:
        centre, source = (0.0, 0.0), "image centre"
        if cine is not None and np.shape(cine)[1:] == shapes[phases[0]] and np.shape(cine)[0] >= 2:
            centre, source = roi_centre(cine, spacing_hw)
        if source != "motion" and len(phases) >= 2:
            centre, source = roi_centre(np.stack([np.asarray(images[p]) for p in phases]), spacing_hw)
            source = "ED/ES difference" if source == "motion" else source
        elif source != "motion":
            h, w = shapes[phases[0]][1:]
            centre = ((h - 1) / 2, (w - 1) / 2)
    factors = (spacing_hw[0] / pixel_mm, spacing_hw[1] / pixel_mm)
    centre_out = tuple((c + 0.5) * f - 0.5 for c, f in zip(centre, factors))
    out = {"images": {}, "centre": centre_out, "roi_source": source}
    for phase in phases:
        x = resample(normalise(images[phase]), spacing_hw, pixel_mm).clamp(0.0, 1.0)  # (Z, H', W')
        out["images"][phase] = crop(x, centre_out, size)[:, None]  # (Z, 1, size, size)
    if labels:
        out["labels"] = {phase: crop(resample(labels[phase], spacing_hw, pixel_mm, labels=True), centre_out, size)
                         for phase in phases if phase in labels}
    return out
