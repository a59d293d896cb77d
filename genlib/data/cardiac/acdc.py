"""The ACDC cine-MR data set as 2-D short-axis slices shaped like the course's phantoms.

ACDC (Automated Cardiac Diagnosis Challenge, MICCAI 2017) holds 150 cine short-axis
exams, 30 in each of five groups (NOR, MINF, DCM, HCM, RV), with expert labels at
end-diastole (ED) and end-systole (ES). It is **not shipped with the course**: register
on the ACDC challenge website of the University of Lyon (CREATIS), download the data,
and pass the folder that holds the ``patientNNN`` folders as ``root=``.

The layout the loader reads (the training and the testing set look the same)::

    <root>/patient001/Info.cfg                     ED: 1, ES: 12, Group: DCM, Height, NbFrame, Weight
    <root>/patient001/patient001_frame01.nii.gz    3-D image (x, y, slices) of the ED frame
    <root>/patient001/patient001_frame01_gt.nii.gz its labels, same shape
    <root>/patient001/patient001_frame12.nii.gz    the ES frame, and its _gt file
    <root>/patient001/patient001_4d.nii.gz         the whole cine (ignored)

What ``load_acdc`` does to every labelled slice, in order:

1. normalise like the phantoms: clip to the 0.5th-99.5th percentile of the slice and
   scale to [0, 1];
2. resample in-plane to one common pixel size, ``pixel_mm`` (bilinear with antialiasing
   for the image, nearest for the labels, so label values stay exactly 0..3);
3. crop (or zero-pad) to ``size x size`` around the heart centre, the centroid of the
   pixels with a label > 0.

Slices with no heart label (fewer than ``min_foreground_pixels`` labelled pixels, by
default none at all) are skipped: the apex and base of most stacks, and the slices
above the valve plane.

Field of view: by default the crop covers ``FIELD_OF_VIEW_MM`` = 200 mm (the phantoms'
``DEFAULT_FOV_MM``) whatever the size, so ``size=64`` gives 3.125 mm pixels. 200 mm holds the LV, the
RV and a rim of lung and chest wall in most exams, as the phantoms do; the widest
dilated hearts may touch the edge of the crop (pass a larger ``pixel_mm`` then).

Array axes are kept as stored: row i, column j of a slice is voxel (i, j) of the NIfTI
volume (first axis = rows). Rotate for display if you want the radiological view.

Labels follow the ACDC convention of ``genlib.data.cardiac.labels``: 0 background,
1 RV cavity, 2 LV myocardium, 3 LV cavity. The RV group is read as ``RV`` from
Info.cfg and reported as ``ARV``, the course's name for it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genlib._validation import check_choice, check_positive
from genlib.data.cardiac.labels import N_LABELS, check_label_map
from genlib.data.cardiac.phantom import DEFAULT_FOV_MM

FIELD_OF_VIEW_MM = DEFAULT_FOV_MM  # side of the square crop in mm when pixel_mm is None: the phantoms' field of view
PHASES = ("ED", "ES")
ACDC_GROUPS = {"NOR": "NOR", "MINF": "MINF", "DCM": "DCM", "HCM": "HCM", "RV": "ARV"}  # Info.cfg -> course
_CLIP_PERCENTILES = (0.5, 99.5)
_INFO_KEYS = {"ED": "ed", "ES": "es", "Group": "group", "Height": "height", "NbFrame": "n_frames", "Weight": "weight"}
_PATIENT_DIR = re.compile(r"patient(\d{3})")
_DATASET_NAME = "ACDC (Automated Cardiac Diagnosis Challenge, MICCAI 2017)"
_LAYOUT = (
    "<root>/patientNNN/Info.cfg (ED, ES, Group, Height, NbFrame, Weight), "
    "<root>/patientNNN/patientNNN_frameNN.nii.gz and patientNNN_frameNN_gt.nii.gz "
    "for the ED and ES frame numbers NN"
)


@dataclass
class ACDCSlices:
    """Labelled 2-D short-axis slices from ACDC, cropped and resampled like the phantoms.

    Attributes
    ----------
    images : torch.Tensor, float32, shape (N, 1, size, size)
        Intensities in [0, 1].
    labels : torch.Tensor, int64, shape (N, size, size)
        0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity.
    patient : list of str, length N
        Patient folder name of each slice, e.g. "patient001".
    group : list of str, length N
        Course group name of each slice: "NOR", "MINF", "DCM", "HCM" or "ARV".
    phase : list of str, length N
        "ED" or "ES".
    slice_index : torch.Tensor, int64, shape (N,)
        Index of the slice in its 3-D stack (0 = first slice of the file).
    pixel_mm : float
        The common in-plane pixel size of every slice, in mm.
    """

    images: torch.Tensor
    labels: torch.Tensor
    patient: list[str]
    group: list[str]
    phase: list[str]
    slice_index: torch.Tensor
    pixel_mm: float

    def __len__(self) -> int:
        return self.images.shape[0]


def read_info(patient_dir) -> dict:
    """Read a patient's ``Info.cfg``.

    Parameters
    ----------
    patient_dir : str or Path
        A ``patientNNN`` folder of ACDC.

    Returns
    -------
    info : dict
        ``ed``, ``es`` (int, frame numbers as in the file names), ``n_frames`` (int),
        ``group`` (course name: "NOR", "MINF", "DCM", "HCM" or "ARV"), ``group_raw``
        (as written in the file, e.g. "RV"), ``height`` (cm) and ``weight`` (kg) (float).

    Raises
    ------
    ValueError
        If Info.cfg is missing, lacks a key, or holds a value that does not parse;
        the message names the file and the key.
    """
    path = Path(patient_dir) / "Info.cfg"
    if not path.is_file():
        raise ValueError(
            f"{path} not found: every ACDC patient folder holds an Info.cfg. Expected the "
            f"layout {_LAYOUT}; found {_listing(Path(patient_dir))} in {patient_dir}."
        )
    raw = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            raw[key.strip()] = value.strip()
    missing = [key for key in _INFO_KEYS if key not in raw]
    if missing:
        raise ValueError(
            f"{path} lacks the key(s) {', '.join(missing)}; an ACDC Info.cfg has lines "
            f"'ED: 1', 'ES: 12', 'Group: DCM', 'Height: 184.0', 'NbFrame: 30', 'Weight: 95.0'."
        )
    info = {}
    for key, name in _INFO_KEYS.items():
        convert = {"group": str, "height": float, "weight": float}.get(name, int)
        try:
            info[name] = convert(raw[key])
        except ValueError:
            kind = "an integer" if convert is int else "a number"
            raise ValueError(f"{path}: {key} must be {kind}, got {raw[key]!r}.") from None
    if info["group"] not in ACDC_GROUPS:
        raise ValueError(
            f"{path}: Group must be one of {', '.join(ACDC_GROUPS)}; got {info['group']!r}."
        )
    for key in ("ED", "ES"):
        if not 1 <= info[key.lower()] <= info["n_frames"]:
            raise ValueError(
                f"{path}: {key} must be a frame number in 1..NbFrame = {info['n_frames']}, "
                f"got {info[key.lower()]}."
            )
    info["group_raw"] = info["group"]
    info["group"] = ACDC_GROUPS[info["group_raw"]]
    return info


def list_patients(root) -> list[Path]:
    """List the ``patientNNN`` folders of an ACDC folder, sorted by name.

    Parameters
    ----------
    root : str or Path
        The folder that holds ``patient001``, ``patient002``, ... (ACDC's ``training``
        or ``testing`` folder).

    Returns
    -------
    patients : list of Path, length n_patients (100 for ACDC training, 50 for testing)

    Raises
    ------
    FileNotFoundError
        If ``root`` is not an existing folder (ACDC is not shipped with the course).
    ValueError
        If ``root`` holds no ``patientNNN`` folder.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"No ACDC folder at {root.resolve()}. {_DATASET_NAME} is not shipped with the "
            "course: register on the ACDC challenge website of the University of Lyon "
            "(CREATIS), download the data set, unpack it, and pass the folder that holds "
            "the patientNNN folders as root=, e.g. load_acdc(root='.../ACDC/database/training')."
        )
    patients = sorted(p for p in root.iterdir() if p.is_dir() and _PATIENT_DIR.fullmatch(p.name))
    if not patients:
        hint = ""
        nested = sorted({p.parent for pattern in ("*/patient[0-9][0-9][0-9]", "*/*/patient[0-9][0-9][0-9]")
                         for p in root.glob(pattern) if p.is_dir()})  # e.g. ACDC/database/training
        if nested:
            hint = f" Patient folders were found in {nested[0]}: pass that as root=."
        raise ValueError(
            f"{root} holds no ACDC patient folder (patient001, patient002, ...). Expected the "
            f"layout {_LAYOUT}; found {_listing(root)}.{hint}"
        )
    return patients


def load_acdc(
    root,
    *,
    patients=None,
    phases=PHASES,
    size: int = 64,
    pixel_mm: float | None = None,
    min_foreground_pixels: int = 1,
    groups=None,
) -> ACDCSlices:
    """Load ACDC's labelled short-axis slices, resampled and cropped like the phantoms.

    Every slice of the chosen ED/ES stacks with at least ``min_foreground_pixels`` heart
    pixels (label > 0, counted after resampling) is clipped to its 0.5th-99.5th
    intensity percentile and scaled to [0, 1], resampled in-plane to ``pixel_mm``
    (bilinear for the image, nearest for the labels), and cropped or zero-padded to
    ``size x size`` around the centroid of its heart labels. Other slices are skipped.

    Parameters
    ----------
    root : str or Path
        The folder holding the ``patientNNN`` folders (ACDC's training or testing set).
    patients : None or list of str or int
        None: every patient; otherwise ids such as ``"patient001"`` or ``1``.
    phases : sequence of {"ED", "ES"}, or one of them as a string
    size : int
        Side of the square output images, in pixels.
    pixel_mm : float or None
        Output pixel size in mm. None: ``FIELD_OF_VIEW_MM / size`` (3.125 mm for size 64),
        so the crop covers 200 mm as the phantoms do.
    min_foreground_pixels : int
        Slices with fewer heart pixels (at the output pixel size) are skipped. 1 keeps
        every slice with any label; raise it to drop the small slivers at apex and base.
    groups : None or list of str
        Keep only these groups ("NOR", "MINF", "DCM", "HCM", and "ARV" or "RV").

    Returns
    -------
    ACDCSlices
        ``images`` (N, 1, size, size) float32 in [0, 1], ``labels`` (N, size, size) int64
        in 0..3, and per-slice ``patient``, ``group``, ``phase``, ``slice_index``.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist (ACDC is not shipped with the course).
    ValueError
        If the folder does not have the ACDC layout, a label file holds values outside
        0..3, an image and its labels differ in shape, or no slice is left.
    """
    phases = (phases,) if isinstance(phases, str) else tuple(phases)
    if not phases:
        raise ValueError("phases must name at least one of 'ED', 'ES'; got an empty sequence.")
    for phase in phases:
        check_choice("phases", phase, PHASES)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer (pixels), got {size!r}.")
    if pixel_mm is None:
        pixel_mm = FIELD_OF_VIEW_MM / size
    check_positive("pixel_mm", pixel_mm)
    if isinstance(min_foreground_pixels, bool) or not isinstance(min_foreground_pixels, int) \
            or min_foreground_pixels < 1:
        raise ValueError(
            f"min_foreground_pixels must be an integer >= 1, got {min_foreground_pixels!r}."
        )
    wanted_groups = None
    if groups is not None:
        groups = (groups,) if isinstance(groups, str) else tuple(groups)
        for group in groups:
            check_choice("groups", group, tuple(ACDC_GROUPS) + ("ARV",))
        wanted_groups = {ACDC_GROUPS.get(g, g) for g in groups}

    patient_dirs = _select_patients(list_patients(root), patients)
    images, labels, meta = [], [], []
    for patient_dir in patient_dirs:
        info = read_info(patient_dir)
        if wanted_groups is not None and info["group"] not in wanted_groups:
            continue
        for phase in phases:
            frame = info[phase.lower()]
            image, label, spacing = _load_frame(patient_dir, frame, phase)
            for k in range(image.shape[2]):
                if not (label[:, :, k] > 0).any():
                    continue
                x, y = _slice_to_crop(image[:, :, k], label[:, :, k], spacing, pixel_mm, size,
                                      min_foreground_pixels)
                if x is None:
                    continue
                images.append(x)
                labels.append(y)
                meta.append((patient_dir.name, info["group"], phase, k))
    if not images:
        raise ValueError(
            f"No slice left in {root} with patients={patients!r}, groups={groups!r}, "
            f"phases={phases!r}, min_foreground_pixels={min_foreground_pixels}: every "
            "selected slice had too few heart pixels, or no patient matched the groups."
        )
    patient, group, phase, index = (list(column) for column in zip(*meta))
    return ACDCSlices(
        images=torch.stack(images).unsqueeze(1),  # (N, 1, size, size)
        labels=torch.stack(labels),  # (N, size, size)
        patient=patient,
        group=group,
        phase=phase,
        slice_index=torch.tensor(index, dtype=torch.int64),  # (N,)
        pixel_mm=float(pixel_mm),
    )


def mnms_to_acdc(labels) -> torch.Tensor:
    """Relabel an M&Ms label map (1 LV, 2 MYO, 3 RV) to the ACDC convention.

    Parameters
    ----------
    labels : tensor or array of integers in 0..3, any shape
        M&Ms labels: 0 background, 1 LV cavity, 2 LV myocardium, 3 RV cavity.

    Returns
    -------
    torch.Tensor, int64, same shape
        ACDC labels: 0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity.
    """
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() and not torch.equal(labels, labels.round()):
        raise ValueError("labels must hold integer M&Ms label values, got non-integer floats.")
    labels = labels.long()
    unexpected = [int(v) for v in torch.unique(labels) if not 0 <= v < N_LABELS]
    if unexpected:
        raise ValueError(
            f"labels holds unexpected values {unexpected}; M&Ms label maps hold 0 background, "
            "1 LV cavity, 2 LV myocardium, 3 RV cavity."
        )
    mapping = torch.tensor([0, 3, 2, 1])  # M&Ms value -> ACDC value
    return mapping[labels]


# --- helpers -------------------------------------------------------------------------


def _listing(folder: Path, limit: int = 8) -> str:
    """Describe what a folder holds, for error messages."""
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    except OSError:
        return "nothing readable"
    if not names:
        return "an empty folder"
    more = f", ... ({len(names)} entries)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _select_patients(available: list[Path], patients) -> list[Path]:
    """Pick the requested patient folders (ids like "patient001" or 1), in request order."""
    if patients is None:
        return available
    if isinstance(patients, (str, int)):
        patients = [patients]
    by_name = {p.name: p for p in available}
    chosen, unknown = [], []
    for pid in patients:
        if isinstance(pid, str) and pid.isdigit():
            pid = int(pid)
        name = f"patient{pid:03d}" if isinstance(pid, int) and not isinstance(pid, bool) else str(pid)
        if name in by_name:
            chosen.append(by_name[name])
        else:
            unknown.append(name)
    if unknown:
        raise ValueError(
            f"patients {unknown} are not in {available[0].parent}; it holds "
            f"{available[0].name} .. {available[-1].name} ({len(available)} patients)."
        )
    return chosen


def _find_nifti(folder: Path, stem: str) -> Path:
    """Return ``folder/stem.nii.gz`` (or ``.nii``), or raise naming what was expected."""
    for suffix in (".nii.gz", ".nii"):
        path = folder / (stem + suffix)
        if path.is_file():
            return path
    raise ValueError(
        f"{folder / (stem + '.nii.gz')} not found. Expected the layout {_LAYOUT}; "
        f"found {_listing(folder)} in {folder}."
    )


def _load_frame(patient_dir: Path, frame: int, phase: str):
    """Load one frame's image and labels as (x, y, slices) arrays, and its in-plane spacing."""
    import nibabel as nib  # imported here so that genlib imports without it

    stem = f"{patient_dir.name}_frame{frame:02d}"
    image_path = _find_nifti(patient_dir, stem)
    label_path = _find_nifti(patient_dir, stem + "_gt")
    image_nii = nib.load(str(image_path))
    label_nii = nib.load(str(label_path))
    image = _as_stack(np.asarray(image_nii.get_fdata(dtype=np.float32)), image_path)  # (X, Y, Z)
    label = _as_stack(np.asarray(label_nii.get_fdata(dtype=np.float32)), label_path)  # (X, Y, Z)
    if image.shape != label.shape:
        raise ValueError(
            f"{image_path.name} has shape {image.shape} but its labels {label_path.name} have "
            f"shape {label.shape} (in {patient_dir}); an ACDC image and its _gt file match voxel "
            "for voxel."
        )
    label = check_label_map(label, name=f"labels of {label_path}").numpy()  # (X, Y, Z) int64
    spacing = tuple(float(z) for z in image_nii.header.get_zooms()[:2])
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"{image_path} has pixel spacing {spacing} mm in its header; expected > 0.")
    return image, label, spacing


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


def _slice_to_crop(image, label, spacing, pixel_mm, size, min_foreground_pixels):
    """Normalise, resample and crop one slice; None, None if too few heart pixels remain.

    image (X, Y) float, label (X, Y) int -> (size, size) float32 in [0, 1], (size, size) int64.
    """
    lo, hi = np.percentile(image, _CLIP_PERCENTILES)
    scaled = (np.clip(image, lo, hi) - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    factors = (spacing[0] / pixel_mm, spacing[1] / pixel_mm)
    x = torch.as_tensor(scaled, dtype=torch.float32)[None, None]  # (1, 1, X, Y)
    x = F.interpolate(x, scale_factor=factors, mode="bilinear", align_corners=False,
                      antialias=True, recompute_scale_factor=False)[0, 0].clamp(0.0, 1.0)  # (H, W)
    y = torch.as_tensor(label, dtype=torch.float32)[None, None]  # (1, 1, X, Y)
    y = F.interpolate(y, scale_factor=factors, mode="nearest-exact",
                      recompute_scale_factor=False)[0, 0].long()  # (H, W)
    heart = torch.nonzero(y > 0).float()  # (n_heart, 2)
    if heart.shape[0] < min_foreground_pixels:
        return None, None
    centre = heart.mean(dim=0).round().long().tolist()
    return _crop(x, centre, size), _crop(y, centre, size)


def _crop(array: torch.Tensor, centre, size: int) -> torch.Tensor:
    """Cut a (size, size) window centred on ``centre`` from a 2-D array, zero-padding outside."""
    out = torch.zeros((size, size), dtype=array.dtype)
    starts = [c - size // 2 for c in centre]
    src = [slice(max(s, 0), min(s + size, n)) for s, n in zip(starts, array.shape)]
    dst = [slice(r.start - s, r.stop - s) for r, s in zip(src, starts)]
    if all(r.stop > r.start for r in src):
        out[dst[0], dst[1]] = array[src[0], src[1]]
    return out
