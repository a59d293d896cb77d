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

What ``load_acdc`` does (``genlib.data.cardiac.preprocess``, the same steps as for M&Ms and the phantoms):

1. reorient every stack to the course's axes from its NIfTI affine: (slices, rows, columns), rows towards
   posterior, columns towards the patient's left (the RV on the image left of the LV), slices base to apex;
2. find the heart **without labels**: the peak of the smoothed temporal standard deviation of the cine
   (``patientNNN_4d.nii.gz``; the ED and ES frames when the cine is missing or does not move), one centre
   per patient for every slice and both phases;
3. normalise like the phantoms: clip to the 0.5th-99.5th percentile of the slice and scale to [0, 1];
4. resample in-plane to one common pixel size, ``pixel_mm`` (bilinear with antialiasing for the image,
   nearest for the labels, so label values stay exactly 0..3), and crop (or zero-pad) ``size x size``.

``roi="labels"`` centres the crop on the patient's heart labels instead (the old behaviour, per patient):
it reads the labels, so use it for training data only, never for a test set.

Slices with no heart label in the crop (fewer than ``min_foreground_pixels`` labelled pixels, by
default none at all) are skipped: the apex and base of most stacks, and the slices above the valve plane.

Field of view: by default the crop covers ``FIELD_OF_VIEW_MM`` = 200 mm (the phantoms'
``DEFAULT_FOV_MM``) whatever the size, so ``size=64`` gives 3.125 mm pixels. 200 mm holds the LV, the
RV and a rim of lung and chest wall in most exams, as the phantoms do; the widest
dilated hearts may touch the edge of the crop (pass a larger ``pixel_mm`` then).

Per-subject metadata of every layout (ACDC here, M&Ms-1 and M&Ms-2 in ``genlib.data.cardiac.mnms``) is one
table, a list of ``SubjectInfo`` rows (``acdc_subjects``); ``load_exam`` reads one subject's stacks and
``exams_to_slices`` turns exams into 2-D slices with the steps above.

Labels follow the ACDC convention of ``genlib.data.cardiac.labels``: 0 background,
1 RV cavity, 2 LV myocardium, 3 LV cavity. The RV group is read as ``RV`` from
Info.cfg and reported as ``ARV``, the course's name for it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from genlib._validation import check_choice, check_positive
from genlib.data.cardiac.labels import N_LABELS, check_label_map
from genlib.data.cardiac.nifti import course_spacing, find_nifti, folder_listing, has_nifti, read_volume
from genlib.data.cardiac.phantom import DEFAULT_FOV_MM
from genlib.data.cardiac.preprocess import ROI_METHODS, crop_stack, to_course_axes

FIELD_OF_VIEW_MM = DEFAULT_FOV_MM  # side of the square crop in mm when pixel_mm is None: the phantoms' field of view
PHASES = ("ED", "ES")
ACDC_GROUPS = {"NOR": "NOR", "MINF": "MINF", "DCM": "DCM", "HCM": "HCM", "RV": "ARV"}  # Info.cfg -> course
ACDC_VENDOR, ACDC_CENTRE = "Siemens", "Dijon"  # the challenge's description (Bernard et al., 2018), not the files
UNLABELLED_SLICES = (0.2, 0.8)  # the relative slice positions (base 0 .. apex 1) kept from an unlabelled stack
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


@dataclass
class SubjectInfo:
    """One row of the per-subject table of ACDC, M&Ms-1 or M&Ms-2.

    Attributes
    ----------
    subject : str
        The folder name: "patient001" (ACDC), "A0S9V9" (M&Ms-1), "001" (M&Ms-2).
    dataset : str
        "ACDC", "M&Ms" or "M&Ms-2".
    path : str
        The subject's folder.
    group : str
        Diagnosis: the course's ACDC names ("NOR", "MINF", "DCM", "HCM", "ARV") for ACDC, as written in the
        metadata table for M&Ms ("" when not given).
    vendor, centre : str
        Scanner vendor (a name such as "Siemens") and centre ("" when not given).
    ed, es : int
        ED and ES frame: ACDC's 1-based frame numbers; M&Ms-1's 0-based indices into the cine's frames;
        -1 for M&Ms-2, whose ED and ES are separate files.
    n_frames : int
        Frames of the cine (-1 if unknown).
    spacing_mm : tuple of 3 floats
        (slice, row, column) spacing of the short-axis stack in mm, in the course's axes.
    height_cm, weight_kg : float
        NaN when not given.
    labelled : bool
        Whether ED and ES label files exist.
    measures : dict
        Clinical measures added by ``add_clinical_measures`` (empty until then).
    """

    subject: str
    dataset: str
    path: str
    group: str
    vendor: str
    centre: str
    ed: int
    es: int
    n_frames: int
    spacing_mm: tuple
    height_cm: float = math.nan
    weight_kg: float = math.nan
    labelled: bool = True
    measures: dict = field(default_factory=dict)


@dataclass
class Exam:
    """One subject's short-axis stacks in the course's axes (``preprocess.to_course_axes``).

    Attributes
    ----------
    info : SubjectInfo
    images : dict "ED"/"ES" -> np.ndarray float32 (Z, H, W)
    labels : dict "ED"/"ES" -> np.ndarray int64 (Z, H, W) in the ACDC convention, or None
    cine : np.ndarray float32 (T, Z, H, W) or None
    spacing_mm : tuple (slice, row, column)
    slice_order : np.ndarray int (Z,)
        The file's slice index of each slice (the stack is ordered base to apex).
    """

    info: SubjectInfo
    images: dict
    labels: dict | None
    cine: np.ndarray | None
    spacing_mm: tuple
    slice_order: np.ndarray


@dataclass
class CardiacSlices:
    """2-D short-axis slices of several subjects and data sets, cropped and resampled like the phantoms.

    Attributes
    ----------
    images : torch.Tensor, float32, shape (N, 1, size, size), in [0, 1]
    labels : torch.Tensor, int64, shape (N, size, size), or None for unlabelled slices
    subject, dataset, group, vendor, centre, phase : list of str, length N
    slice_index : torch.Tensor, int64, shape (N,)
        Index of the slice in its file's stack.
    pixel_mm : float
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    subject: list[str]
    dataset: list[str]
    group: list[str]
    vendor: list[str]
    centre: list[str]
    phase: list[str]
    slice_index: torch.Tensor
    pixel_mm: float

    def __len__(self) -> int:
        return self.images.shape[0]

    def take(self, rows) -> "CardiacSlices":
        """The slices at ``rows`` (a sequence of ints or a boolean mask)."""
        rows = torch.as_tensor(np.flatnonzero(rows) if np.asarray(rows).dtype == bool else rows, dtype=torch.long)
        pick = rows.tolist()
        return CardiacSlices(
            images=self.images[rows], labels=None if self.labels is None else self.labels[rows],
            **{name: [getattr(self, name)[i] for i in pick] for name in
               ("subject", "dataset", "group", "vendor", "centre", "phase")},
            slice_index=self.slice_index[rows], pixel_mm=self.pixel_mm)


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
            f"layout {_LAYOUT}; found {folder_listing(Path(patient_dir))} in {patient_dir}."
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
            f"layout {_LAYOUT}; found {folder_listing(root)}.{hint}"
        )
    return patients


def acdc_subjects(root, *, patients=None) -> list[SubjectInfo]:
    """The per-subject table of an ACDC folder: one ``SubjectInfo`` per patient (Info.cfg and headers only).

    Parameters
    ----------
    root : str or Path
        The folder holding the ``patientNNN`` folders.
    patients : None or list of str or int
        None: every patient; otherwise ids such as ``"patient001"`` or ``1``.

    Returns
    -------
    list of SubjectInfo
        vendor "Siemens" and centre "Dijon" for every patient (the challenge's description; the files do
        not say), spacing from the ED image's header.
    """
    import nibabel as nib

    rows = []
    for patient_dir in _select_patients(list_patients(root), patients):
        info = read_info(patient_dir)
        ed_path = find_nifti(patient_dir, f"{patient_dir.name}_frame{info['ed']:02d}", _LAYOUT)
        header = nib.load(str(ed_path))
        spacing = course_spacing(header.affine, ed_path)
        labelled = all(has_nifti(patient_dir, f"{patient_dir.name}_frame{info[k]:02d}_gt") for k in ("ed", "es"))
        rows.append(SubjectInfo(
            subject=patient_dir.name, dataset="ACDC", path=str(patient_dir), group=info["group"],
            vendor=ACDC_VENDOR, centre=ACDC_CENTRE, ed=info["ed"], es=info["es"], n_frames=info["n_frames"],
            spacing_mm=spacing, height_cm=info["height"], weight_kg=info["weight"], labelled=labelled))
    return rows


def load_exam(info: SubjectInfo, *, phases=PHASES, cine: bool = True) -> Exam:
    """Read one subject's ED/ES stacks (and cine) of any supported layout, reoriented to the course's axes.

    Parameters
    ----------
    info : SubjectInfo
        A row of ``acdc_subjects``, ``mnms.mnms_subjects`` or ``mnms.mnms2_subjects``.
    phases : sequence of {"ED", "ES"}
    cine : bool
        Also read the whole cine (for the label-free ROI); missing cine files are skipped silently.

    Returns
    -------
    Exam
        Labels in the ACDC convention (M&Ms labels are relabelled with ``mnms_to_acdc``).
    """
    if info.dataset == "ACDC":
        folder = Path(info.path)
        stems = {p: f"{folder.name}_frame{info.ed if p == 'ED' else info.es:02d}" for p in phases}
        volumes = {p: read_volume(find_nifti(folder, stems[p], _LAYOUT)) for p in phases}
        labels = {p: read_volume(find_nifti(folder, stems[p] + "_gt", _LAYOUT), labels=True) for p in phases} \
            if info.labelled else None
        cine_volume = read_volume(folder / f"{folder.name}_4d.nii.gz", frames=True) \
            if cine and has_nifti(folder, f"{folder.name}_4d") else None
        return assemble_exam(info, volumes, labels, cine_volume)
    from genlib.data.cardiac import mnms

    return mnms.load_mnms_exam(info, phases=phases, cine=cine)


def assemble_exam(info: SubjectInfo, volumes: dict, labels: dict | None, cine) -> Exam:
    """Reorient (x, y, slices) volumes (each a (array, affine, path) triple) into an ``Exam``.

    ``labels`` hold ACDC-convention values; ``cine`` is (array (X, Y, Z, T), affine, path) or None. Shapes
    are checked: a mismatch names both files.
    """
    first = next(iter(volumes.values()))
    images, label_maps, spacing, order = {}, {}, None, None
    for phase, (array, affine, path) in volumes.items():
        images[phase], spacing, order = to_course_axes(array.astype(np.float32), affine)
        if labels is not None:
            label, _, label_path = labels[phase]
            if label.shape != array.shape:
                raise ValueError(
                    f"{Path(path).name} has shape {array.shape} but its labels {Path(label_path).name} have "
                    f"shape {label.shape} (in {Path(path).parent}); an image and its _gt file match voxel for voxel."
                )
            label = check_label_map(label, name=f"labels of {label_path}").numpy()
            label_maps[phase] = to_course_axes(label, affine)[0]
    cine_stack = None
    if cine is not None:
        array, affine, _ = cine
        if array.ndim == 4 and array.shape[:3] == first[0].shape and array.shape[3] >= 2:
            cine_stack = np.moveaxis(to_course_axes(array.astype(np.float32), affine)[0], 3, 0)  # (T, Z, H, W)
    return Exam(info=info, images=images, labels=label_maps if labels is not None else None, cine=cine_stack,
                spacing_mm=spacing, slice_order=order)


def exams_to_slices(exams, *, size: int = 64, pixel_mm: float | None = None, phases=PHASES, roi: str = "motion",
                    labelled: bool = True, min_foreground_pixels: int = 1,
                    unlabelled_slices=UNLABELLED_SLICES) -> CardiacSlices:
    """Turn exams into 2-D slices: label-free ROI, normalisation, resampling, crop (``preprocess.crop_stack``).

    Parameters
    ----------
    exams : iterable of Exam
    size : int
    pixel_mm : float or None
        None: ``FIELD_OF_VIEW_MM / size``.
    phases : sequence of {"ED", "ES"}
    roi : {"motion", "labels"}
        "motion" (default) finds the heart without labels; "labels" reads them (training data only).
    labelled : bool
        True: keep the slices with at least ``min_foreground_pixels`` heart pixels in the crop, with their
        labels (the evaluation protocol: Dice needs a heart). False: ignore labels, keep the slices whose
        relative position in the stack (0 base .. 1 apex) lies in ``unlabelled_slices``; ``labels`` is None.
    min_foreground_pixels : int
    unlabelled_slices : (float, float)

    Returns
    -------
    CardiacSlices
    """
    phases = (phases,) if isinstance(phases, str) else tuple(phases)
    if not phases:
        raise ValueError("phases must name at least one of 'ED', 'ES'; got an empty sequence.")
    for phase in phases:
        check_choice("phases", phase, PHASES)
    check_choice("roi", roi, ROI_METHODS)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer (pixels), got {size!r}.")
    pixel_mm = FIELD_OF_VIEW_MM / size if pixel_mm is None else pixel_mm
    check_positive("pixel_mm", pixel_mm)
    if isinstance(min_foreground_pixels, bool) or not isinstance(min_foreground_pixels, int) \
            or min_foreground_pixels < 1:
        raise ValueError(f"min_foreground_pixels must be an integer >= 1, got {min_foreground_pixels!r}.")
    images, labels, meta = [], [], []
    for exam in exams:
        if labelled and exam.labels is None:
            raise ValueError(f"subject {exam.info.subject} ({exam.info.path}) has no labels; pass labelled=False "
                             "to take its images without labels.")
        if roi == "labels" and exam.labels is None:
            raise ValueError(f"roi='labels' needs labels, and subject {exam.info.subject} has none.")
        out = crop_stack({p: exam.images[p] for p in phases}, exam.spacing_mm[1:], size=size, pixel_mm=pixel_mm,
                         labels={p: exam.labels[p] for p in phases} if exam.labels is not None else None,
                         cine=exam.cine, roi=roi)
        n_slices = len(exam.slice_order)
        for phase in phases:
            for k in range(n_slices):
                if labelled:
                    y = out["labels"][phase][k]
                    if int((y > 0).sum()) < min_foreground_pixels:
                        continue
                    labels.append(y)
                else:
                    position = k / max(n_slices - 1, 1)
                    if not unlabelled_slices[0] <= position <= unlabelled_slices[1]:
                        continue
                images.append(out["images"][phase][k])
                info = exam.info
                meta.append((info.subject, info.dataset, info.group, info.vendor, info.centre, phase,
                             int(exam.slice_order[k])))
    if not images:
        raise ValueError(f"No slice left with phases={phases!r}, labelled={labelled}, min_foreground_pixels="
                         f"{min_foreground_pixels}: every selected slice had too few heart pixels in the crop.")
    subject, dataset, group, vendor, centre, phase, index = (list(c) for c in zip(*meta))
    return CardiacSlices(images=torch.stack(images), labels=torch.stack(labels) if labelled else None,
                         subject=subject, dataset=dataset, group=group, vendor=vendor, centre=centre, phase=phase,
                         slice_index=torch.tensor(index, dtype=torch.int64), pixel_mm=float(pixel_mm))


def load_acdc(
    root,
    *,
    patients=None,
    phases=PHASES,
    size: int = 64,
    pixel_mm: float | None = None,
    min_foreground_pixels: int = 1,
    groups=None,
    roi: str = "motion",
) -> ACDCSlices:
    """Load ACDC's labelled short-axis slices, reoriented, resampled and cropped like the phantoms.

    The steps of the module docstring: reorientation to the course's axes, a label-free heart centre per
    patient (``roi="motion"``), percentile clip to [0, 1], resampling to ``pixel_mm``, a ``size x size``
    crop. Slices with fewer than ``min_foreground_pixels`` heart pixels in the crop are skipped.

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
    roi : {"motion", "labels"}
        "motion" (default): the heart centre from the cine's motion, no label read. "labels": the centroid of
        the patient's heart labels (reads the labels: training data only, never a test set).

    Returns
    -------
    ACDCSlices
        ``images`` (N, 1, size, size) float32 in [0, 1], ``labels`` (N, size, size) int64
        in 0..3, and per-slice ``patient``, ``group``, ``phase``, ``slice_index`` (in the file's stack).

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
    check_choice("roi", roi, ROI_METHODS)
    wanted_groups = None
    if groups is not None:
        groups = (groups,) if isinstance(groups, str) else tuple(groups)
        for group in groups:
            check_choice("groups", group, tuple(ACDC_GROUPS) + ("ARV",))
        wanted_groups = {ACDC_GROUPS.get(g, g) for g in groups}
    rows = [row for row in acdc_subjects(root, patients=patients)
            if wanted_groups is None or row.group in wanted_groups]
    for row in rows:
        row.labelled = True  # a missing _gt file is an error here, named by load_exam
    try:
        slices = exams_to_slices((load_exam(row, phases=phases) for row in rows), size=size, pixel_mm=pixel_mm,
                                 phases=phases, roi=roi, min_foreground_pixels=min_foreground_pixels)
    except ValueError as error:
        if not str(error).startswith("No slice left"):
            raise
        raise ValueError(
            f"No slice left in {root} with patients={patients!r}, groups={groups!r}, "
            f"phases={phases!r}, min_foreground_pixels={min_foreground_pixels}: every "
            "selected slice had too few heart pixels, or no patient matched the groups."
        ) from None
    return ACDCSlices(images=slices.images, labels=slices.labels, patient=slices.subject, group=slices.group,
                      phase=slices.phase, slice_index=slices.slice_index, pixel_mm=slices.pixel_mm)


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


# --- helpers ---------------------------------------------------------------------------




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












def add_clinical_measures(exam: Exam) -> dict:
    """Compute the subject's clinical measures from its ED/ES label stacks and spacing; store them in
    ``exam.info.measures`` and return them.

    ``clinical.acdc_measures`` on the native-resolution stacks in the course's axes (base to apex), with the
    body surface area from height and weight (Mosteller); without height or weight the measures indexed by
    BSA (``*_index``, ``bsa_m2``) are left out. Nothing is computed for an unlabelled exam (returns {}).
    """
    from genlib.data.cardiac.clinical import acdc_measures, body_surface_area

    if exam.labels is None or not {"ED", "ES"} <= set(exam.labels):
        return {}
    info = exam.info
    known = all(np.isfinite(v) and v > 0 for v in (info.height_cm, info.weight_kg))
    bsa = float(body_surface_area(info.height_cm, info.weight_kg)) if known else 1.0
    measures = acdc_measures(torch.as_tensor(exam.labels["ED"]), torch.as_tensor(exam.labels["ES"]),
                             exam.spacing_mm, bsa)
    measures = {k: float(v) for k, v in measures.items()
                if known or not (k.endswith("_index") or k == "bsa_m2")}
    info.measures.update(measures)
    return measures
