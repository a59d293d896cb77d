"""The real-data path of issue 26 on small fake data sets in the ACDC, M&Ms-1 and M&Ms-2 layouts.

Each fake subject is a beating heart drawn in **world** millimetres (RAS+): an LV ring and an RV
crescent on the patient's right and in front of it, tapering towards the apex (inferior), at a position
off the image centre; its NIfTI files get affines that permute and flip the voxel axes, so that
reorientation has work to do. Cines have 6 frames (ED 0, ES 3); the vendors differ in contrast.
Nothing is downloaded: every file is written here with nibabel.
"""
import csv
import math
import json
import re

import nibabel as nib
import numpy as np
import pytest
import torch

from genlib.data.cardiac import mnms as mn
from genlib.data.cardiac.acdc import acdc_subjects, add_clinical_measures, exams_to_slices, load_exam
from genlib.data.cardiac.preprocess import course_orientation, crop_stack, resample, to_course_axes
from genlib.data.cardiac.splits import check_disjoint, domain_split, split_subjects

SHAPE, PIXEL, SLICE_MM, N_FRAMES, ES = (40, 40, 4), 2.5, 10.0, 6, 3
HEART_MM = np.array([12.0, 8.0, 0.0])  # LV centre in world mm (RAS+), off the image centre
RV_OFFSET_MM = np.array([22.0, 9.0])  # patient right (+x) and anterior (+y) of the LV
R_CAVITY, WALL, R_RV = 14.0, 7.0, 17.0
CONTRAST = {"Siemens": (0.15, 0.9, 0.35), "Philips": (0.3, 0.7, 0.15), "GE": (0.5, 0.95, 0.6)}  # bg, blood, myo
# voxel axes -> world: (permutation matrix with signs) x spacing; the slice axis runs along z (up or down)
AFFINES = [np.diag([1, 1, 1]), np.array([[0, -1, 0], [1, 0, 0], [0, 0, -1]]),
           np.array([[-1, 0, 0], [0, -1, 0], [0, 0, 1]]), np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]])]


def affine_of(k):
    rotation = AFFINES[k % len(AFFINES)].astype(float)
    affine = np.eye(4)
    affine[:3, :3] = rotation * np.array([PIXEL, PIXEL, SLICE_MM])
    centre = np.array([(SHAPE[0] - 1) / 2, (SHAPE[1] - 1) / 2, (SHAPE[2] - 1) / 2])
    affine[:3, 3] = -affine[:3, :3] @ centre  # the volume's centre at the world origin
    return affine


def draw(affine, t, *, scale=1.0):
    """ACDC labels (X, Y, Z) of frame t: the cavity contracts to 75 % of its radius at ES."""
    i, j, k = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    world = np.einsum("ab,bxyz->axyz", affine[:3, :3], np.stack([i, j, k]).astype(float)) + affine[:3, 3, None, None, None]
    taper = np.clip(1.0 - 0.18 * (HEART_MM[2] + 1.5 * SLICE_MM - world[2]) / SLICE_MM, 0.3, 1.0)  # apex inferior
    squeeze = 1.0 - 0.25 * np.sin(np.pi * t / (2 * ES)) ** 2
    d_lv = np.hypot(world[0] - HEART_MM[0], world[1] - HEART_MM[1])
    d_rv = np.hypot(world[0] - HEART_MM[0] - RV_OFFSET_MM[0], world[1] - HEART_MM[1] - RV_OFFSET_MM[1])
    labels = np.zeros(SHAPE, np.uint8)
    labels[(d_rv < R_RV * taper * squeeze * scale) & (d_lv >= (R_CAVITY + WALL) * taper * scale)] = 1
    labels[(d_lv >= R_CAVITY * taper * squeeze * scale) & (d_lv < (R_CAVITY * squeeze + WALL) * taper * scale)] = 2
    labels[d_lv < R_CAVITY * taper * squeeze * scale] = 3
    return labels


def image_of(labels, vendor, rng):
    bg, blood, myo = CONTRAST[vendor]
    image = np.choose(labels, [bg, blood, myo, blood]).astype(np.float32) * 1000
    return image + rng.normal(0, 20, labels.shape).astype(np.float32)


def save(array, affine, path):
    nib.save(nib.Nifti1Image(array, affine), str(path))


def cine_of(affine, vendor, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    labels = np.stack([draw(affine, t, scale=scale) for t in range(N_FRAMES)], axis=-1)  # (X, Y, Z, T)
    return np.stack([image_of(labels[..., t], vendor, rng) for t in range(N_FRAMES)], axis=-1), labels


TO_MNMS = np.array([0, 3, 2, 1], np.uint8)  # ACDC value -> M&Ms value (1 LV, 2 MYO, 3 RV)


def write_acdc(root, n=6):
    for s in range(n):
        folder = root / f"patient{s + 1:03d}"
        folder.mkdir(parents=True)
        affine = affine_of(s)
        images, labels = cine_of(affine, "Siemens", s, scale=1.0 + 0.05 * s)
        (folder / "Info.cfg").write_text(f"ED: 1\nES: {ES + 1}\nGroup: {['NOR', 'DCM', 'HCM'][s % 3]}\n"
                                         f"Height: {170 + s}\nNbFrame: {N_FRAMES}\nWeight: {70 + s}\n")
        for frame, t in ((1, 0), (ES + 1, ES)):
            save(images[..., t], affine, folder / f"{folder.name}_frame{frame:02d}.nii.gz")
            save(labels[..., t], affine, folder / f"{folder.name}_frame{frame:02d}_gt.nii.gz")
        save(images, affine, folder / f"{folder.name}_4d.nii.gz")
    return root


def write_mnms(root, vendors=("Siemens", "Philips", "GE"), per_vendor=4):
    codes = {"Siemens": "A", "Philips": "B", "GE": "C"}
    rows = []
    for v, vendor in enumerate(vendors):
        for s in range(per_vendor):
            code = f"{codes[vendor]}{s}X{v}Y{s}"
            folder = root / "Training" / "Labeled" / code
            folder.mkdir(parents=True)
            affine = affine_of(v + s)
            images, labels = cine_of(affine, vendor, 10 * v + s, scale=1.0 + 0.04 * (per_vendor * v + s))
            gt = np.zeros_like(labels)
            gt[..., 0], gt[..., ES] = TO_MNMS[labels[..., 0]], TO_MNMS[labels[..., ES]]  # labelled at ED, ES only
            save(images, affine, folder / f"{code}_sa.nii.gz")
            save(gt, affine, folder / f"{code}_sa_gt.nii.gz")
            rows.append([code, vendor, codes[vendor], str(v + 1), "0", str(ES), ["NOR", "HCM"][s % 2], "", ""])
    with (root / "211230_M&Ms_Dataset_information_diagnosis_opendataset.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["External code", "VendorName", "Vendor", "Centre", "ED", "ES", "Pathology", "Height",
                         "Weight"])
        writer.writerows(rows)
    return root


def write_mnms2(root, n=3):
    for s in range(n):
        code = f"{s + 1:03d}"
        folder = root / "dataset" / code
        folder.mkdir(parents=True)
        affine = affine_of(s + 1)
        images, labels = cine_of(affine, "Philips", 50 + s, scale=1.0 + 0.05 * s)
        for phase, t in (("ED", 0), ("ES", ES)):
            save(images[..., t], affine, folder / f"{code}_SA_{phase}.nii.gz")
            save(TO_MNMS[labels[..., t]], affine, folder / f"{code}_SA_{phase}_gt.nii.gz")
        save(images, affine, folder / f"{code}_SA_CINE.nii.gz")
    (root / "dataset_information.csv").write_text(
        "SUBJECT_CODE,DISEASE,VENDOR,SCANNER,FIELD\n" + "".join(f"{s + 1},NOR,Philips,Achieva,1.5\n" for s in range(n)))
    return root


@pytest.fixture(scope="module")
def acdc_root(tmp_path_factory):
    return write_acdc(tmp_path_factory.mktemp("real") / "ACDC" / "training")


@pytest.fixture(scope="module")
def mnms_root(tmp_path_factory):
    return write_mnms(tmp_path_factory.mktemp("real") / "OpenDataset")


# --- reorientation, ROI, preprocessing ---------------------------------------------------------------------------


@pytest.mark.parametrize("k", range(len(AFFINES)))
def test_every_affine_gives_the_course_view(k):
    """RV on the image left of the LV and in front of it (up), slices base to apex, whatever the voxel axes."""
    affine = affine_of(k)
    stack, spacing, order = to_course_axes(draw(affine, 0), affine)  # (Z, H, W)
    assert spacing == (SLICE_MM, PIXEL, PIXEL)
    rv, lv = np.argwhere(stack == 1), np.argwhere(stack == 3)
    assert rv[:, 2].mean() < lv[:, 2].mean() - 4, "the RV must lie on the image left (patient right)"
    assert rv[:, 1].mean() < lv[:, 1].mean(), "the RV must lie above the LV (anterior)"
    areas = (stack > 0).sum(axis=(1, 2))
    assert areas[0] > areas[-1], "slices run from the base (large) to the apex (small)"
    assert sorted(order.tolist()) == list(range(SHAPE[2]))


def test_course_orientation_of_the_identity_flips_both_in_plane_axes():
    o = course_orientation(np.eye(4))
    assert (o["transpose"], o["flip_rows"], o["flip_cols"], o["flip_slices"]) == (True, True, True, True)


def test_label_free_roi_finds_the_moving_heart_and_ignores_the_labels():
    affine = affine_of(1)
    images, labels = cine_of(affine, "GE", 0)
    cine = np.moveaxis(to_course_axes(images, affine)[0], 3, 0)  # (T, Z, H, W)
    stacks = {p: to_course_axes(images[..., t], affine)[0] for p, t in (("ED", 0), ("ES", ES))}
    maps = {p: to_course_axes(labels[..., t], affine)[0] for p, t in (("ED", 0), ("ES", ES))}
    out = crop_stack(stacks, (PIXEL, PIXEL), size=32, pixel_mm=3.125, labels=maps, cine=cine)
    assert out["roi_source"] == "motion"
    lv = torch.nonzero(out["labels"]["ED"] == 3).float().mean(dim=0)[1:]  # (row, col)
    assert torch.all((lv - 15.5).abs() < 6), f"the LV should be near the crop's centre, is at {lv.tolist()}"
    scrambled = {p: np.roll(m, 7, axis=2) for p, m in maps.items()}
    again = crop_stack(stacks, (PIXEL, PIXEL), size=32, pixel_mm=3.125, labels=scrambled, cine=cine)
    assert torch.equal(out["images"]["ED"], again["images"]["ED"])
    assert out["images"]["ED"].min() >= 0 and out["images"]["ED"].max() <= 1
    by_labels = crop_stack(stacks, (PIXEL, PIXEL), size=32, pixel_mm=3.125, labels=maps, roi="labels")
    assert by_labels["roi_source"] == "labels"


def test_the_same_preprocessing_runs_on_a_phantom_stack():
    """Phantom ED/ES stacks (already in the course's axes) go through crop_stack like real ones."""
    from genlib.data.cardiac import sample_subjects
    from genlib.data.cardiac.clinical import phantom_stack

    params = sample_subjects(1, "NOR", np.random.default_rng(0))
    stacks, maps = {}, {}
    for phase in ("ED", "ES"):
        labels, spacing = phantom_stack(params, phase, n_slices=5, size=64)
        maps[phase] = labels[0].long().numpy()
        stacks[phase] = (maps[phase] > 0) * 0.6 + (maps[phase] == 3) * 0.3 + 0.1  # a plain rendering
    out = crop_stack(stacks, spacing[1:], size=32, pixel_mm=3.125, labels=maps)
    assert out["roi_source"] == "ED/ES difference"
    whole = resample(maps["ED"], spacing[1:], 3.125, labels=True)
    kept = int((out["labels"]["ED"] > 0).sum())
    oracle = crop_stack(stacks, spacing[1:], size=32, pixel_mm=3.125, labels=maps, roi="labels")
    # at 100 mm the crop is about as wide as the phantom's LV + RV: the label-free crop keeps at least 95 % of the
    # heart, and nearly as much as a crop centred on the labels themselves
    assert kept >= 0.95 * int((whole > 0).sum())
    assert kept >= 0.97 * int((oracle["labels"]["ED"] > 0).sum())


# --- loaders and the subject table -------------------------------------------------------------------------------


def test_acdc_table_and_clinical_measures(acdc_root):
    rows = acdc_subjects(acdc_root)
    assert [r.subject for r in rows][:2] == ["patient001", "patient002"]
    assert rows[0].spacing_mm == (SLICE_MM, PIXEL, PIXEL) and rows[0].vendor == "Siemens"
    exam = load_exam(rows[0])
    assert exam.cine.shape == (N_FRAMES, SHAPE[2], SHAPE[0], SHAPE[1])
    measures = add_clinical_measures(exam)
    assert rows[0].measures is exam.info.measures and "lv_edv_index" in measures
    lv_voxels = sum((exam.labels["ED"] == 3).sum() for _ in [0])
    assert measures["lv_edv_ml"] == pytest.approx(lv_voxels * PIXEL**2 * SLICE_MM / 1000, rel=0.01)
    assert 0 < measures["lv_ef"] < 1 and measures["lv_esv_ml"] < measures["lv_edv_ml"]


def test_mnms_table_reads_the_csv_and_relabels(mnms_root):
    rows = mn.mnms_subjects(mnms_root)
    assert len(rows) == 12 and {r.vendor for r in rows} == {"Siemens", "Philips", "GE"}
    row = rows[0]
    assert (row.ed, row.es, row.n_frames, row.labelled) == (0, ES, N_FRAMES, True)
    assert np.isnan(row.height_cm)  # an empty Height column reads as unknown
    exam = load_exam(row)
    rv, lv = np.argwhere(exam.labels["ED"] == 1), np.argwhere(exam.labels["ED"] == 3)
    assert rv[:, 2].mean() < lv[:, 2].mean(), "M&Ms labels (1 LV, 3 RV) are relabelled to ACDC's"
    assert "lv_edv_ml" in add_clinical_measures(exam) and "lv_edv_index" not in exam.info.measures
    columns = mn.as_columns(rows)
    assert columns["vendor"][0] == row.vendor and "measure:lv_edv_ml" in columns


def test_mnms2_table_and_exam(tmp_path):
    root = write_mnms2(tmp_path / "MnM2")
    rows = mn.mnms2_subjects(root)
    assert [r.subject for r in rows] == ["001", "002", "003"] and rows[0].vendor == "Philips"
    assert rows[0].n_frames == N_FRAMES and rows[0].group == "NOR"
    slices = exams_to_slices([load_exam(r) for r in rows], size=32, pixel_mm=3.125)
    assert slices.labels.shape[1:] == (32, 32) and set(slices.dataset) == {"M&Ms-2"}


def test_unlabelled_slices_never_read_labels(mnms_root):
    rows = mn.mnms_subjects(mnms_root)[:2]
    slices = exams_to_slices([load_exam(r) for r in rows], size=32, pixel_mm=3.125, labelled=False)
    assert slices.labels is None and len(slices) == 2 * 2 * 2  # middle 2 of 4 slices, ED and ES, 2 subjects


def test_missing_files_are_named(tmp_path, mnms_root):
    with pytest.raises(FileNotFoundError, match=r"No M&Ms-1 .*not shipped.*www\.ub\.edu/mnms"):
        mn.mnms_subjects(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"No metadata table \(\*\.csv with a column 'External code'\)"):
        mn.mnms_subjects(tmp_path / "empty")
    root = write_mnms(tmp_path / "OpenDataset", vendors=("GE",), per_vendor=1)
    code = next((root / "Training" / "Labeled").iterdir()).name
    (root / "Training" / "Labeled" / code / f"{code}_sa.nii.gz").unlink()
    with pytest.raises(ValueError, match=re.escape(f"{code}_sa.nii.gz not found") + r".*Expected the layout"):
        mn.mnms_subjects(root)
    two = write_mnms2(tmp_path / "MnM2", n=1)
    (two / "dataset" / "001" / "001_SA_ES_gt.nii.gz").unlink()
    row = mn.mnms2_subjects(two)[0]
    assert not row.labelled
    row.labelled = True
    with pytest.raises(ValueError, match=r"001_SA_ES_gt\.nii\.gz not found.*Expected the layout"):
        load_exam(row)
    (two / "dataset_information.csv").unlink()
    with pytest.raises(ValueError, match=r"dataset_information\.csv not found.*NNN_SA_ED\.nii\.gz"):
        mn.mnms2_subjects(two)


# --- splits ------------------------------------------------------------------------------------------------------


def test_splits_are_by_subject_and_disjoint(mnms_root):
    rows = mn.mnms_subjects(mnms_root)
    parts = split_subjects(rows, (0.5, 0.25, 0.25), seed=1, stratify="vendor")
    assert sorted(sum(parts.values(), [])) == sorted(r.subject for r in rows)
    domain = domain_split(rows, source="Philips", seed=0)
    vendor = {r.subject: r.vendor for r in rows}
    assert {vendor[s] for s in domain["site"] + domain["validation"]} == {"Philips"}
    assert {vendor[s] for s in domain["unlabelled"]} == {"GE", "Siemens"}
    assert domain["targets"] == ("GE", "Siemens")
    with pytest.raises(ValueError, match=r"subject 'x' is in two splits, 'a' and 'b'"):
        check_disjoint({"a": ["x", "y"], "b": ["x"]})
    with pytest.raises(ValueError, match=r"source \['Canon'\] is not a vendor"):
        domain_split(rows, source="Canon")


# --- the whole path ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["mnms", "acdc"])
def test_real_experiment_end_to_end(layout, mnms_root, acdc_root, tmp_path):
    """load -> preprocess -> split -> retrain the models -> arms (a) and (c) -> a unit-07-shaped table."""
    from genlib import results
    from tools import real_experiment

    root = mnms_root if layout == "mnms" else acdc_root
    out = tmp_path / "out"
    table = real_experiment.main(["--data", str(root), "--layout", layout, "--smoke", "--out", str(out)]
                                 + (["--source", "Siemens"] if layout == "mnms" else []))
    committed = results.load("unit07_synthesis_table")
    assert set(committed) <= set(table), set(committed) - set(table)
    written = json.loads((out / real_experiment.TABLE_NAME).read_text())
    assert {r["arm"] for r in written["runs"]} == {"a", "c"}
    n_test = len(written["test"]["subjects"])
    assert np.asarray(written["per_subject"][0]["dice"]).shape == (n_test, 3)
    roles = json.loads((out / "roles.json").read_text())
    check_disjoint({k: roles[k] for k in ("site", "validation", "unlabelled", "test")})
    provenance = json.loads((out / "weights" / "synthesis_scenario.json").read_text())
    if layout == "mnms":
        assert written["data"]["targets"] == ["GE", "Philips"]
        assert written["headline"] is not None and written["headline"]["subset"] == "unseen vendors"
        for sets in provenance.values():
            assert all(not p["labelled"] or p["vendors"] == ["Siemens"] for p in sets)
    else:
        assert written["headline"] is None  # one vendor: no unseen vendors
    subjects = json.loads((out / "subjects.json").read_text())
    assert any(v is not None for v in subjects["measure:lv_edv_ml"])
    # what lecture 07's "on real data" section prints, with this folder and table configured
    from genlib.synthesis import real

    report = real.status_report({real.DATA_ENV: str(root), real.LAYOUT_ENV: layout, real.OUT_ENV: str(out)})
    assert report.startswith(f"{len(subjects['subject'])} subjects in {root}"), report
    assert ("myocardium Dice" in report) == (layout == "mnms"), report
    assert real.status_report({}) == real.HOW_TO_GET_DATA


def test_the_leak_check_refuses_labelled_target_data():
    """scenario.check_no_leak with real vendor names as the targets (what real.run_arm passes)."""
    from genlib.synthesis.scenario import Provenance, check_no_leak

    test = {"images": torch.zeros(1, 1, 4, 4), "labels": torch.zeros(1, 4, 4, dtype=torch.long),
            "provenance": (Provenance("test", ("GE",), True, ()),)}
    image = {"images": torch.ones(1, 1, 4, 4)}
    bad = {"real": {**image, "provenance": (Provenance("site labelled", ("GE",), True, ()),)}}
    with pytest.raises(AssertionError, match=r"labelled data of target vendor\(s\) \['GE'\]"):
        check_no_leak(bad, test, {}, target_vendors=("GE", "Philips"))
    check_no_leak({"real": {**image, "provenance": (Provenance("x", ("GE",), False, ()),)}}, test, {},
                  target_vendors=("GE",))  # unlabelled target images are allowed
    check_no_leak(bad, test, {}, target_vendors=("Philips",))  # GE is not a target here


@pytest.mark.parametrize("group", ["NOR", "DCM", "ARV"])
def test_the_label_free_centre_holds_the_heart_at_the_course_crops_even_beside_a_pulsing_aorta(group):
    """At the course's crops (cp.SIZE px of cp.PIXEL_MM) the motion-centred crop of a phantom stack keeps >= 95 % of
    the heart, also when the descending aorta behind the heart pulses (its radius 12 % larger at ED than at ES, as
    a great vessel's can be), which joins the moving region around the motion peak and pulls the centre by a
    few mm towards it. The centre is the middle of the moving region's bounding box, not a motion-weighted
    centroid: in a DCM heart the LV dominates the motion, and such a centroid sat 16-22 mm towards it (the crop
    then lost up to 8 % of the heart). No real ACDC stack is available offline: a phantom stands in."""
    from genlib.data.cardiac import sample_subjects
    from genlib.data.cardiac.clinical import phantom_stack
    from genlib.data.cardiac.preprocess import roi_centre
    from genlib.models import conditional_pretrained as cp

    for i, params in enumerate(sample_subjects(3, group, np.random.default_rng(40))):
        centres = {}
        for pulse in (False, True):
            stacks, maps = {}, {}
            for phase, aorta_mm in (("ED", 12.3 if pulse else 11.0), ("ES", 11.0)):
                labels, spacing = phantom_stack(params, phase, n_slices=8, size=128)
                maps[phase] = labels[0].long().numpy()
                h = maps[phase].shape[-1]
                rows, cols = np.mgrid[:h, :h] * spacing[1] - 100.0  # mm from the image centre
                x0, y0 = params.centre_offset_mm[0] - 16.0, params.centre_offset_mm[1] + 62.0  # behind the LV
                aorta = (cols - x0) ** 2 + (rows - y0) ** 2 < aorta_mm**2
                stacks[phase] = (maps[phase] > 0) * 0.6 + (maps[phase] == 3) * 0.3 + 0.1 + 0.9 * aorta[None]
            cine = np.stack([stacks["ED"], stacks["ES"]])
            centres[pulse], source = roi_centre(cine, spacing[1:])
            assert source == "motion"
        shift_mm = math.dist(centres[False], centres[True]) * spacing[1]  # measured: 1-12 mm (a bounding box grows when
        # the aorta joins the moving region: more than the 4 mm of a weighted centroid), yet every crop kept >= 99 %
        out = crop_stack(stacks, spacing[1:], size=cp.SIZE, pixel_mm=cp.PIXEL_MM, labels=maps, cine=cine)
        whole = resample(maps["ED"], spacing[1:], cp.PIXEL_MM, labels=True)
        kept = int((out["labels"]["ED"] > 0).sum()) / int((whole > 0).sum())
        assert kept >= 0.95, (group, i, kept, shift_mm)
