"""The M&Ms-1 and M&Ms-2 cardiac MR data sets: per-subject tables and exams in the course's conventions.

Neither is shipped with the course: register on the challenges' pages at the University of Barcelona
(www.ub.edu/mnms and www.ub.edu/mnms-2), download, unpack, and pass the folder described below as ``root=``.

**M&Ms-1** (Multi-Centre, Multi-Vendor & Multi-Disease, MICCAI 2020), the ``OpenDataset`` folder::

    <root>/211230_M&Ms_Dataset_information_diagnosis_opendataset.csv   (any *.csv with an "External code" column)
    <root>/Training/Labeled/A0S9V9/A0S9V9_sa.nii.gz       4-D cine (x, y, slices, frames)
    <root>/Training/Labeled/A0S9V9/A0S9V9_sa_gt.nii.gz    4-D labels, non-zero at the ED and ES frames only
    <root>/Training/Unlabeled/<code>/<code>_sa.nii.gz     (vendor C in training: no labels)
    <root>/Validation/<code>/..., <root>/Testing/<code>/...

Verified against public code (nnU-Net's ``Dataset114_MNMs.py`` conversion and other loaders): the
folders and file names above; the CSV columns "External code", "Vendor" (A Siemens, B Philips, C GE,
D Canon), "VendorName", "Centre", "ED", "ES" and "Pathology"; ED and ES are 0-based indices into the cine's
last axis (nnU-Net takes ``dataobj[..., ED]``); labels 1 LV cavity, 2 LV myocardium, 3 RV cavity. Read when
present but NOT verified: "Height" and "Weight" columns (NaN when absent).

**M&Ms-2** (MICCAI 2021, right-ventricle segmentation), the ``MnM2`` folder::

    <root>/dataset_information.csv
    <root>/dataset/001/001_SA_ED.nii.gz, 001_SA_ED_gt.nii.gz, 001_SA_ES.nii.gz, 001_SA_ES_gt.nii.gz
    <root>/dataset/001/001_SA_CINE.nii.gz                 4-D cine; 001_LA_* long-axis files (not read)

Verified against public code: the folders and file names above, 3-D ED/ES stacks, the same label values as
M&Ms-1. NOT verified: the CSV's column names; the loader reads the subject from the first of
"SUBJECT_CODE", "Subject", "ID", the group from "DISEASE" or "Pathology", the vendor from "VENDOR" or
"VendorName", the centre from "CENTRE" or "Centre" (case-insensitive), and "HEIGHT", "WEIGHT" when present.

Labels are relabelled to the ACDC convention (``mnms_to_acdc``): 1 RV cavity, 2 LV myocardium, 3 LV cavity.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from genlib.data.cardiac.acdc import PHASES, Exam, SubjectInfo, assemble_exam, mnms_to_acdc
from genlib.data.cardiac.nifti import course_spacing, find_nifti, folder_listing, has_nifti, read_volume

MNMS_SPLITS = ("Training/Labeled", "Training/Unlabeled", "Validation", "Testing")
MNMS_VENDORS = {"A": "Siemens", "B": "Philips", "C": "GE", "D": "Canon"}
_MNMS_LAYOUT = ("<root>/<metadata>.csv (columns External code, Vendor, VendorName, Centre, ED, ES, Pathology) and "
                "<root>/Training/Labeled/<code>/<code>_sa.nii.gz with <code>_sa_gt.nii.gz (also Training/Unlabeled, "
                "Validation, Testing)")
_MNMS2_LAYOUT = ("<root>/dataset_information.csv and <root>/dataset/NNN/NNN_SA_ED.nii.gz, NNN_SA_ED_gt.nii.gz, "
                 "NNN_SA_ES.nii.gz, NNN_SA_ES_gt.nii.gz, NNN_SA_CINE.nii.gz")
_NOT_SHIPPED = ("{name} is not shipped with the course: register on the challenge's page at the University of "
                "Barcelona ({url}), download and unpack it, and pass the folder that holds {what} as root=.")


def _root(root, name: str, url: str, what: str) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"No {name} folder at {root.resolve()}. "
                                + _NOT_SHIPPED.format(name=name, url=url, what=what))
    return root


def _column(header: list[str], names, path: Path, layout: str, required: bool = True):
    lower = {h.strip().lower(): h for h in header}
    for name in names:
        if name.lower() in lower:
            return lower[name.lower()]
    if required:
        raise ValueError(f"{path} has no column {' or '.join(repr(n) for n in names)}; its columns are "
                         f"{header}. Expected the layout {layout}.")
    return None


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_mnms_csv(path) -> dict[str, dict]:
    """Read M&Ms-1's metadata table: {external code: {"vendor", "vendor_code", "centre", "ed", "es", "group",
    "height_cm", "weight_kg"}}."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        col = {key: _column(header, names, path, _MNMS_LAYOUT, required) for key, names, required in (
            ("code", ("External code",), True), ("vendor_code", ("Vendor",), True),
            ("vendor", ("VendorName",), False), ("centre", ("Centre", "Center"), True), ("ed", ("ED",), True),
            ("es", ("ES",), True), ("group", ("Pathology",), False), ("height", ("Height",), False),
            ("weight", ("Weight",), False))}
        table = {}
        for line, row in enumerate(reader, start=2):
            code = row[col["code"]].strip()
            try:
                ed, es = int(float(row[col["ed"]])), int(float(row[col["es"]]))
            except (TypeError, ValueError):
                raise ValueError(f"{path}, line {line}: ED and ES must be frame indices, got "
                                 f"{row[col['ed']]!r} and {row[col['es']]!r}.") from None
            vendor_code = row[col["vendor_code"]].strip()
            table[code] = {
                "vendor_code": vendor_code,
                "vendor": row[col["vendor"]].strip() if col["vendor"] else MNMS_VENDORS.get(vendor_code, vendor_code),
                "centre": str(row[col["centre"]]).strip(), "ed": ed, "es": es,
                "group": row[col["group"]].strip() if col["group"] else "",
                "height_cm": _number(row[col["height"]]) if col["height"] else math.nan,
                "weight_kg": _number(row[col["weight"]]) if col["weight"] else math.nan,
            }
    return table


def _find_csv(root: Path, column: str, layout: str) -> Path:
    for path in sorted(root.glob("*.csv")):
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
        if column.lower() in {h.strip().lower() for h in header}:
            return path
    raise ValueError(f"No metadata table (*.csv with a column {column!r}) in {root}; found {folder_listing(root)}. "
                     f"Expected the layout {layout}.")


def mnms_subjects(root, *, splits=("Training/Labeled",)) -> list[SubjectInfo]:
    """The per-subject table of M&Ms-1 for the subjects in ``splits`` (sub-folders of ``root``).

    Parameters
    ----------
    root : str or Path
        The ``OpenDataset`` folder (it holds the CSV and ``Training/``).
    splits : sequence of str
        Among ``MNMS_SPLITS``; a missing split folder is an error.

    Returns
    -------
    list of SubjectInfo
        ``labelled`` when ``<code>_sa_gt.nii.gz`` exists; vendor the CSV's VendorName (e.g. "Siemens").
    """
    import nibabel as nib

    root = _root(root, "M&Ms-1 (Multi-Centre, Multi-Vendor & Multi-Disease, MICCAI 2020)", "www.ub.edu/mnms",
                 "Training/, Validation/, Testing/ and the metadata CSV")
    csv_path = _find_csv(root, "External code", _MNMS_LAYOUT)
    table = read_mnms_csv(csv_path)
    rows = []
    for split in splits:
        folder = root / split
        if not folder.is_dir():
            raise ValueError(f"{folder} not found. Expected the layout {_MNMS_LAYOUT}; found {folder_listing(root)} "
                             f"in {root}.")
        for subject in sorted(p for p in folder.iterdir() if p.is_dir()):
            code = subject.name
            if code not in table:
                raise ValueError(f"{subject} has no row in {csv_path.name} (column 'External code').")
            image = find_nifti(subject, f"{code}_sa", _MNMS_LAYOUT)
            meta = table[code]
            header = nib.load(str(image))
            rows.append(SubjectInfo(
                subject=code, dataset="M&Ms", path=str(subject), group=meta["group"], vendor=meta["vendor"],
                centre=meta["centre"], ed=meta["ed"], es=meta["es"],
                n_frames=int(header.shape[3]) if len(header.shape) > 3 else 1,
                spacing_mm=course_spacing(header.affine, image), height_cm=meta["height_cm"],
                weight_kg=meta["weight_kg"], labelled=has_nifti(subject, f"{code}_sa_gt")))
    return rows


def _read_mnms2_csv(path: Path) -> dict[str, dict]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        col = {key: _column(header, names, path, _MNMS2_LAYOUT, required) for key, names, required in (
            ("code", ("SUBJECT_CODE", "Subject", "ID"), True), ("group", ("DISEASE", "Pathology"), False),
            ("vendor", ("VENDOR", "VendorName"), True), ("centre", ("CENTRE", "Centre", "Center"), False),
            ("height", ("HEIGHT",), False), ("weight", ("WEIGHT",), False))}
        table = {}
        for row in reader:
            code = row[col["code"]].strip()
            table[code.zfill(3) if code.isdigit() else code] = {
                "group": row[col["group"]].strip() if col["group"] else "", "vendor": row[col["vendor"]].strip(),
                "centre": row[col["centre"]].strip() if col["centre"] else "",
                "height_cm": _number(row[col["height"]]) if col["height"] else math.nan,
                "weight_kg": _number(row[col["weight"]]) if col["weight"] else math.nan}
    return table


def mnms2_subjects(root) -> list[SubjectInfo]:
    """The per-subject table of M&Ms-2 (``root`` holds ``dataset_information.csv`` and ``dataset/``)."""
    import nibabel as nib

    root = _root(root, "M&Ms-2 (MICCAI 2021)", "www.ub.edu/mnms-2", "dataset/ and dataset_information.csv")
    csv_path = root / "dataset_information.csv"
    if not csv_path.is_file():
        raise ValueError(f"{csv_path} not found. Expected the layout {_MNMS2_LAYOUT}; found {folder_listing(root)}.")
    table = _read_mnms2_csv(csv_path)
    folder = root / "dataset"
    if not folder.is_dir():
        raise ValueError(f"{folder} not found. Expected the layout {_MNMS2_LAYOUT}; found {folder_listing(root)}.")
    rows = []
    for subject in sorted(p for p in folder.iterdir() if p.is_dir()):
        code = subject.name
        if code not in table:
            raise ValueError(f"{subject} has no row in {csv_path.name}.")
        image = find_nifti(subject, f"{code}_SA_ED", _MNMS2_LAYOUT)
        header = nib.load(str(image))
        n_frames = nib.load(str(subject / f"{code}_SA_CINE.nii.gz")).shape[3] \
            if has_nifti(subject, f"{code}_SA_CINE") else -1
        meta = table[code]
        rows.append(SubjectInfo(
            subject=code, dataset="M&Ms-2", path=str(subject), group=meta["group"], vendor=meta["vendor"],
            centre=meta["centre"], ed=-1, es=-1, n_frames=int(n_frames),
            spacing_mm=course_spacing(header.affine, image), height_cm=meta["height_cm"],
            weight_kg=meta["weight_kg"],
            labelled=all(has_nifti(subject, f"{code}_SA_{p}_gt") for p in PHASES)))
    return rows


def _relabelled(volume):
    array, affine, path = volume
    return mnms_to_acdc(array).numpy(), affine, path


def load_mnms_exam(info: SubjectInfo, *, phases=PHASES, cine: bool = True) -> Exam:
    """Read an M&Ms-1 or M&Ms-2 subject (``acdc.load_exam`` dispatches here); labels in the ACDC convention."""
    folder, code = Path(info.path), info.subject
    if info.dataset == "M&Ms":
        array, affine, path = read_volume(find_nifti(folder, f"{code}_sa", _MNMS_LAYOUT), frames=True)  # (X, Y, Z, T)
        frame = {"ED": info.ed, "ES": info.es}
        for phase in phases:
            if not 0 <= frame[phase] < array.shape[3]:
                raise ValueError(f"{path}: the {phase} frame {frame[phase]} (from the metadata CSV) is outside the "
                                 f"cine's {array.shape[3]} frames.")
        volumes = {p: (array[..., frame[p]], affine, path) for p in phases}
        labels = None
        if info.labelled:
            gt, gt_affine, gt_path = read_volume(find_nifti(folder, f"{code}_sa_gt", _MNMS_LAYOUT), frames=True)
            if gt.shape != array.shape:
                raise ValueError(f"{path.name} has shape {array.shape} but its labels {gt_path.name} have shape "
                                 f"{gt.shape} (in {folder}); an image and its _gt file match voxel for voxel.")
            labels = {p: _relabelled((gt[..., frame[p]], gt_affine, gt_path)) for p in phases}
        return assemble_exam(info, volumes, labels, (array, affine, path) if cine else None)
    if info.dataset != "M&Ms-2":
        raise ValueError(f"info.dataset must be 'ACDC', 'M&Ms' or 'M&Ms-2', got {info.dataset!r}.")
    volumes = {p: read_volume(find_nifti(folder, f"{code}_SA_{p}", _MNMS2_LAYOUT)) for p in phases}
    labels = {p: _relabelled(read_volume(find_nifti(folder, f"{code}_SA_{p}_gt", _MNMS2_LAYOUT))) for p in phases} \
        if info.labelled else None
    cine_volume = read_volume(find_nifti(folder, f"{code}_SA_CINE", _MNMS2_LAYOUT), frames=True) \
        if cine and has_nifti(folder, f"{code}_SA_CINE") else None
    return assemble_exam(info, volumes, labels, cine_volume)


def as_columns(rows: list[SubjectInfo]) -> dict[str, list]:
    """The per-subject table as columns: {field: list of values}, measures flattened as "measure:<name>"."""
    import dataclasses

    columns = {f.name: [getattr(r, f.name) for r in rows] for f in dataclasses.fields(SubjectInfo)
               if f.name != "measures"}
    for name in sorted({k for r in rows for k in r.measures}):
        columns[f"measure:{name}"] = [r.measures.get(name, np.nan) for r in rows]
    return columns
