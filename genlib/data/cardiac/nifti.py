"""Reading NIfTI stacks for the real-data loaders (ACDC, M&Ms-1, M&Ms-2): find a file, read a volume in
the course's axes convention, check its voxel spacing, and describe a folder in error messages.

``nibabel`` is imported inside ``read_volume`` only, so that genlib imports without it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from genlib.data.cardiac.preprocess import course_orientation


def folder_listing(folder: Path, limit: int = 8) -> str:
    """Describe what a folder holds, for error messages."""
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    except OSError:
        return "nothing readable"
    if not names:
        return "an empty folder"
    more = f", ... ({len(names)} entries)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def find_nifti(folder: Path, stem: str, layout: str) -> Path:
    """Return ``folder/stem.nii.gz`` (or ``.nii``), or raise naming ``layout`` (the dataset's expected layout)."""
    for suffix in (".nii.gz", ".nii"):
        path = folder / (stem + suffix)
        if path.is_file():
            return path
    raise ValueError(
        f"{folder / (stem + '.nii.gz')} not found. Expected the layout {layout}; "
        f"found {folder_listing(folder)} in {folder}."
    )


def has_nifti(folder: Path, stem: str) -> bool:
    """Whether ``folder`` holds ``stem.nii.gz`` or ``stem.nii``."""
    return any((folder / (stem + suffix)).is_file() for suffix in (".nii.gz", ".nii"))


def course_spacing(affine, path) -> tuple:
    """(slice, row, column) spacing in mm of a stack with ``affine``, in the course's axes."""
    spacing = course_orientation(affine)["spacing"]
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"{path} has voxel spacing {spacing} mm in its affine; expected > 0.")
    return spacing


def read_volume(path: Path, *, labels: bool = False, frames: bool = False):
    """(array, affine, path) of a NIfTI file: (X, Y, Z) float32 (labels: values as stored), or
    (X, Y, Z, T) when ``frames``."""
    import nibabel as nib  # imported here so that genlib imports without it

    nii = nib.load(str(path))
    array = np.asarray(nii.get_fdata(dtype=np.float32))
    if frames:
        if array.ndim != 4:
            raise ValueError(f"{path} holds an array of shape {array.shape}; expected a 4-D cine (x, y, slices, frames).")
    else:
        array = _as_stack(array, path)
    course_spacing(nii.affine, path)
    return array, nii.affine, path


def _as_stack(volume: np.ndarray, path: Path) -> np.ndarray:
    """Return a volume as (x, y, slices): drop trailing singleton axes, add one to a 2-D image."""
    while volume.ndim > 3 and volume.shape[-1] == 1:
        volume = volume[..., 0]
    if volume.ndim == 2:
        volume = volume[:, :, None]
    if volume.ndim != 3:
        raise ValueError(
            f"{path} holds an array of shape {volume.shape}; expected a 3-D short-axis stack "
            "(x, y, slices)."
        )
    return volume
