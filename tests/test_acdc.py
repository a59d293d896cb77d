"""Tests of the ACDC loader on small fake ACDC folders written with nibabel.

Each fake patient has an LV cavity (disk), an LV myocardium (ring) and an RV cavity
(crescent) drawn in physical millimetres, so that patients with different pixel sizes
hold the same anatomy; the image follows the labels plus noise and a few hot pixels.
"""
import re
import shutil

import nibabel as nib
import numpy as np
import pytest
import torch
from scipy import ndimage

from genlib.data.cardiac.acdc import (
    FIELD_OF_VIEW_MM, ACDCSlices, list_patients, load_acdc, mnms_to_acdc, read_info,
)

LV_CENTRE_MM = (50.0, 64.0)  # off the volume's centre, so the crop has to move
R_CAVITY, R_MYO, R_RV = 15.0, 22.0, 20.0  # mm
RV_OFFSET_MM = (0.0, -24.0)
INTENSITY = {0: 150.0, 1: 850.0, 2: 350.0, 3: 900.0}  # arbitrary MR units


def draw_labels(shape, spacing, *, scale=1.0, empty_slices=(0,)):
    """ACDC labels (X, Y, Z) of a ring + crescent heart drawn at voxel centres, in mm."""
    x = (np.arange(shape[0]) + 0.5) * spacing[0]
    y = (np.arange(shape[1]) + 0.5) * spacing[1]
    xx, yy = np.meshgrid(x, y, indexing="ij")  # (X, Y)
    d_lv = np.hypot(xx - LV_CENTRE_MM[0], yy - LV_CENTRE_MM[1])
    d_rv = np.hypot(xx - LV_CENTRE_MM[0] - RV_OFFSET_MM[0], yy - LV_CENTRE_MM[1] - RV_OFFSET_MM[1])
    sl = np.zeros(shape[:2], dtype=np.uint8)
    sl[(d_rv < R_RV * scale) & (d_lv >= R_MYO * scale)] = 1
    sl[(d_lv >= R_CAVITY * scale) & (d_lv < R_MYO * scale)] = 2
    sl[d_lv < R_CAVITY * scale] = 3
    labels = np.repeat(sl[:, :, None], shape[2], axis=2)
    labels[:, :, list(empty_slices)] = 0
    return labels


def draw_image(labels, seed):
    rng = np.random.default_rng(seed)
    image = np.vectorize(INTENSITY.get)(labels).astype(np.float32)
    image += rng.normal(0.0, 30.0, labels.shape).astype(np.float32)
    hot = rng.integers(0, labels.size, 5)
    image.flat[hot] = 5000.0  # a few bright outliers that the percentile clip removes
    return image


def save(array, spacing, path):
    affine = np.diag([spacing[0], spacing[1], spacing[2], 1.0])
    nib.save(nib.Nifti1Image(array, affine), str(path))


def write_info(folder, *, ed=1, es=12, group="NOR", n_frames=30, drop=()):
    lines = {"ED": ed, "ES": es, "Group": group, "Height": 184.0, "NbFrame": n_frames, "Weight": 95.0}
    text = "".join(f"{k}: {v}\n" for k, v in lines.items() if k not in drop)
    (folder / "Info.cfg").write_text(text)


def make_patient(root, number, *, group="NOR", spacing=(1.5, 1.5, 8.0), shape=(72, 72, 3),
                 ed=1, es=12, seed=0):
    """Write patientNNN with an ED frame and a smaller (contracted) ES frame."""
    folder = root / f"patient{number:03d}"
    folder.mkdir(parents=True)
    write_info(folder, ed=ed, es=es, group=group)
    for frame, scale in ((ed, 1.0), (es, 0.8)):
        labels = draw_labels(shape, spacing, scale=scale)
        save(draw_image(labels, seed + frame), spacing, folder / f"{folder.name}_frame{frame:02d}.nii.gz")
        save(labels, spacing, folder / f"{folder.name}_frame{frame:02d}_gt.nii.gz")
    save(np.zeros((*shape, 2), np.float32), spacing, folder / f"{folder.name}_4d.nii.gz")
    return folder


@pytest.fixture(scope="module")
def acdc_root(tmp_path_factory):
    """Three patients: NOR at 1.5 mm, RV (-> ARV) at 3 mm (same anatomy), DCM at 1.5 mm."""
    root = tmp_path_factory.mktemp("acdc") / "training"
    make_patient(root, 1, group="NOR", seed=1)
    make_patient(root, 2, group="RV", spacing=(3.0, 3.0, 10.0), shape=(36, 36, 3), es=9, seed=2)
    make_patient(root, 3, group="DCM", seed=3)
    (root / "notes.txt").write_text("not a patient")
    return root


@pytest.fixture
def one_patient(tmp_path):
    root = tmp_path / "training"
    make_patient(root, 1)
    return root


# --- reading ------------------------------------------------------------------------


def test_read_info_parses_every_key_and_maps_rv_to_arv(acdc_root):
    info = read_info(acdc_root / "patient002")
    assert info == {"ed": 1, "es": 9, "group": "ARV", "group_raw": "RV", "height": 184.0,
                    "weight": 95.0, "n_frames": 30}
    assert read_info(acdc_root / "patient001")["group"] == "NOR"


def test_list_patients_finds_only_patient_folders_sorted(acdc_root):
    assert [p.name for p in list_patients(acdc_root)] == ["patient001", "patient002", "patient003"]


# --- the loaded slices --------------------------------------------------------------


def test_shapes_dtypes_and_metadata(acdc_root):
    data = load_acdc(acdc_root, size=64)
    assert isinstance(data, ACDCSlices)
    n = len(data)
    assert n == 3 * 2 * 2  # 3 patients, ED + ES, 2 of 3 slices labelled
    assert data.images.shape == (n, 1, 64, 64) and data.images.dtype == torch.float32
    assert data.labels.shape == (n, 64, 64) and data.labels.dtype == torch.int64
    assert data.slice_index.shape == (n,) and data.slice_index.dtype == torch.int64
    assert len(data.patient) == len(data.group) == len(data.phase) == n
    assert data.patient[:4] == ["patient001"] * 4
    assert data.phase[:4] == ["ED", "ED", "ES", "ES"]
    assert data.pixel_mm == pytest.approx(FIELD_OF_VIEW_MM / 64)


def test_slices_without_labels_are_skipped(acdc_root):
    data = load_acdc(acdc_root, patients=[1])
    assert sorted(set(data.slice_index.tolist())) == [1, 2]  # slice 0 holds no label
    assert all((data.labels[i] > 0).any() for i in range(len(data)))


def test_min_foreground_pixels_drops_small_slices(acdc_root):
    data = load_acdc(acdc_root, patients=[1], pixel_mm=2.0)
    es_heart = int((data.labels[2] > 0).sum())
    ed_heart = int((data.labels[0] > 0).sum())
    assert es_heart < ed_heart
    kept = load_acdc(acdc_root, patients=[1], pixel_mm=2.0, min_foreground_pixels=es_heart + 1)
    assert kept.phase == ["ED", "ED"]


def test_images_are_in_unit_interval_and_clipped_like_the_phantoms(acdc_root):
    data = load_acdc(acdc_root)
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    # The hot pixels are clipped away: the blood pool is bright, not squashed near 0.
    lv = data.images[:, 0][data.labels == 3]
    myo = data.images[:, 0][data.labels == 2]
    assert lv.mean() > 0.7
    assert lv.mean() > myo.mean() + 0.3  # image and labels stay aligned through the crop


def test_label_values_are_preserved_and_the_ring_remains(acdc_root):
    data = load_acdc(acdc_root, pixel_mm=2.3)  # a non-integer scale for both spacings
    assert set(torch.unique(data.labels).tolist()) == {0, 1, 2, 3}
    for lab in data.labels.numpy():
        assert set(np.unique(lab)) == {0, 1, 2, 3}
        enclosed = ndimage.binary_fill_holes(lab == 2)
        assert enclosed[lab == 3].all(), "the myocardium ring should enclose the LV cavity"
        assert ndimage.label(lab == 3)[1] == 1


def test_heart_is_centred_in_the_crop_with_labels_and_near_it_without(acdc_root):
    """roi="labels" (reads the labels) centres the heart to a pixel; the default, label-free ROI (the motion
    between ED and ES: the fake cines do not move) lands within 2 pixels (8.3 mm) of it."""
    for roi, tolerance in (("labels", 1.0), ("motion", 2.0)):
        data = load_acdc(acdc_root, size=48, roi=roi)
        for lab in data.labels:
            centre = torch.nonzero(lab > 0).float().mean(dim=0)
            assert torch.all((centre - 24).abs() <= tolerance), (roi, centre)


def test_the_default_crop_does_not_read_the_labels(acdc_root, tmp_path):
    """Moving the labels of a patient's files moves nothing in its cropped images."""
    copy = tmp_path / "training"
    shutil.copytree(acdc_root / "patient001", copy / "patient001")
    for frame in (1, 12):
        path = copy / "patient001" / f"patient001_frame{frame:02d}_gt.nii.gz"
        labels = np.asarray(nib.load(str(path)).dataobj)
        save(np.roll(labels, 9, axis=0), (1.5, 1.5, 8.0), path)
    original, moved = load_acdc(acdc_root, patients=[1]), load_acdc(copy)
    assert torch.equal(original.images[:2], moved.images[:2])
    assert not torch.equal(original.labels[:2], moved.labels[:2])


@pytest.mark.parametrize("pixel_mm", [2.0, 2.5])
def test_resampling_keeps_the_physical_area(acdc_root, pixel_mm):
    """A 3 mm patient and a 1.5 mm patient with the same anatomy give the same areas."""
    data = load_acdc(acdc_root, patients=[1, 2], phases="ED", pixel_mm=pixel_mm, size=64)
    assert data.patient == ["patient001"] * 2 + ["patient002"] * 2
    expected = {3: np.pi * R_CAVITY**2, 2: np.pi * (R_MYO**2 - R_CAVITY**2)}  # mm^2
    for lab in data.labels:
        for value, area_mm2 in expected.items():
            pixels = int((lab == value).sum())
            assert pixels == pytest.approx(area_mm2 / pixel_mm**2, rel=0.08), (value, pixels)
    fine, coarse = (data.labels[0] > 0).sum().item(), (data.labels[2] > 0).sum().item()
    assert coarse == pytest.approx(fine, rel=0.05)


def test_default_pixel_size_follows_the_field_of_view(acdc_root):
    small = load_acdc(acdc_root, patients=[1], size=32)
    assert small.pixel_mm == pytest.approx(FIELD_OF_VIEW_MM / 32)
    assert small.images.shape[-2:] == (32, 32)


def test_phase_selection(acdc_root):
    ed = load_acdc(acdc_root, phases=("ED",))
    es = load_acdc(acdc_root, phases="ES")
    assert set(ed.phase) == {"ED"} and set(es.phase) == {"ES"}
    assert len(ed) + len(es) == len(load_acdc(acdc_root))
    # ES hearts are drawn smaller: fewer heart pixels at the same pixel size.
    assert (es.labels > 0).sum() < (ed.labels > 0).sum()


def test_groups_and_patients_selection(acdc_root):
    arv = load_acdc(acdc_root, groups=["ARV"])
    assert set(arv.group) == {"ARV"} and set(arv.patient) == {"patient002"}
    assert load_acdc(acdc_root, groups="RV").patient == arv.patient  # the Info.cfg name works too
    chosen = load_acdc(acdc_root, patients=["patient003", 1])
    assert chosen.patient[0] == "patient003" and chosen.patient[-1] == "patient001"
    assert chosen.group[0] == "DCM"


# --- M&Ms ---------------------------------------------------------------------------


def test_mnms_to_acdc_relabels_lv_and_rv():
    mnms = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0]])  # 1 LV, 2 MYO, 3 RV
    acdc = mnms_to_acdc(mnms)
    assert acdc.dtype == torch.int64
    assert torch.equal(acdc, torch.tensor([[0, 3, 2, 1], [1, 2, 3, 0]]))
    assert torch.equal(mnms_to_acdc(np.array([1, 3], dtype=np.uint8)), torch.tensor([3, 1]))
    assert torch.equal(mnms_to_acdc(mnms_to_acdc(mnms)), mnms)  # swapping LV and RV twice


def test_mnms_to_acdc_rejects_other_values():
    with pytest.raises(ValueError, match=r"unexpected values \[4\].*M&Ms"):
        mnms_to_acdc(torch.tensor([0, 4]))


# --- errors -------------------------------------------------------------------------


def test_missing_root_says_where_it_looked_and_how_to_get_acdc(tmp_path):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))) as info:
        load_acdc(missing)
    message = str(info.value)
    assert "ACDC (Automated Cardiac Diagnosis Challenge, MICCAI 2017)" in message
    assert "not shipped" in message and "Lyon" in message and "root=" in message


def test_folder_without_patients_says_what_was_expected(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"no ACDC patient folder.*patientNNN/Info\.cfg.*found images/, readme\.txt"):
        load_acdc(tmp_path)


def test_folder_one_level_too_high_points_to_the_patients(tmp_path):
    make_patient(tmp_path / "database" / "training", 1)
    with pytest.raises(ValueError, match=r"found in .*database.training: pass that as root="):
        list_patients(tmp_path)


def test_missing_info_cfg(one_patient):
    (one_patient / "patient001" / "Info.cfg").unlink()
    with pytest.raises(ValueError, match=r"patient001.Info\.cfg not found.*found patient001_4d"):
        load_acdc(one_patient)


def test_info_cfg_missing_key_names_file_and_key(one_patient):
    write_info(one_patient / "patient001", drop=("Group", "NbFrame"))
    with pytest.raises(ValueError, match=r"Info\.cfg lacks the key\(s\) Group, NbFrame"):
        read_info(one_patient / "patient001")


def test_info_cfg_bad_value(one_patient):
    write_info(one_patient / "patient001", ed="one")
    with pytest.raises(ValueError, match=r"Info\.cfg: ED must be an integer, got 'one'"):
        load_acdc(one_patient)


def test_missing_frame_file(one_patient):
    (one_patient / "patient001" / "patient001_frame12_gt.nii.gz").unlink()
    with pytest.raises(ValueError, match=r"patient001_frame12_gt\.nii\.gz not found.*Expected the layout"):
        load_acdc(one_patient)
    assert len(load_acdc(one_patient, phases="ED")) == 2  # the ED frame alone still loads


def test_bad_label_values_are_named(one_patient):
    path = one_patient / "patient001" / "patient001_frame01_gt.nii.gz"
    labels = np.asarray(nib.load(str(path)).dataobj).copy()
    labels[0, 0, 1], labels[1, 0, 1] = 5, 7
    save(labels, (1.5, 1.5, 8.0), path)
    with pytest.raises(ValueError, match=r"patient001_frame01_gt\.nii\.gz holds unexpected values \[5, 7\]"):
        load_acdc(one_patient)


def test_image_and_label_shape_mismatch_names_the_file(one_patient):
    path = one_patient / "patient001" / "patient001_frame12_gt.nii.gz"
    save(np.zeros((72, 70, 3), np.uint8), (1.5, 1.5, 8.0), path)
    with pytest.raises(ValueError, match=r"patient001_frame12\.nii\.gz has shape \(72, 72, 3\).*\(72, 70, 3\)"):
        load_acdc(one_patient)


def test_unknown_patient_and_bad_arguments(acdc_root):
    with pytest.raises(ValueError, match=r"patients \['patient042'\] are not in"):
        load_acdc(acdc_root, patients=[42])
    with pytest.raises(ValueError, match="phases must be one of 'ED', 'ES'; got 'MID'"):
        load_acdc(acdc_root, phases=("ED", "MID"))
    with pytest.raises(ValueError, match="groups must be one of"):
        load_acdc(acdc_root, groups=["XYZ"])
    with pytest.raises(ValueError, match="size must be a positive integer"):
        load_acdc(acdc_root, size=0)
    with pytest.raises(ValueError, match="pixel_mm must be a positive"):
        load_acdc(acdc_root, pixel_mm=-1.0)


def test_no_slice_left_is_an_error(tmp_path):
    root = tmp_path / "training"
    folder = make_patient(root, 1)
    for frame in (1, 12):
        save(np.zeros((72, 72, 3), np.uint8), (1.5, 1.5, 8.0), folder / f"patient001_frame{frame:02d}_gt.nii.gz")
    with pytest.raises(ValueError, match="No slice left"):
        load_acdc(root)


def test_copying_a_patient_keeps_it_loadable(acdc_root, tmp_path):
    """The loader depends on the folder layout only, not on where it lives."""
    shutil.copytree(acdc_root / "patient003", tmp_path / "patient003")
    data = load_acdc(tmp_path)
    assert set(data.patient) == {"patient003"} and set(data.group) == {"DCM"}
