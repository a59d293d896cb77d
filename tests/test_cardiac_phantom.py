"""Tests of the cardiac phantom: subject parameters per ACDC group, and their label and tissue maps."""
from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest
import torch

from genlib.data.cardiac.labels import (
    AIR, BLOOD, CHEST_WALL, FAT, LIVER, LUNG, LV_CAVITY, LV_MYOCARDIUM, MYOCARDIUM, PATHOLOGIES, RV_CAVITY,
    SCAR,
)
from genlib.data.cardiac.pathology import (
    SubjectBatch, SubjectParams, sample_subject, sample_subjects,
)
from genlib.data.cardiac.phantom import DEFAULT_FOV_MM, make_slices, sample_phantoms

LEVELS = (0.1, 0.4, 0.7)  # base, mid, towards the apex


def pixel_area_mm2(size: int, fov: float = DEFAULT_FOV_MM) -> float:
    return (fov / size) ** 2


def area(labels: torch.Tensor, value: int) -> torch.Tensor:
    """Pixel count of one label per slice, (N,) float."""
    return (labels == value).flatten(1).sum(1).double()


def ejection_fraction(stack: torch.Tensor, label: int) -> np.ndarray:
    """EF = 1 - V_ES / V_ED per subject, volumes as cavity areas summed over LEVELS (Simpson's method).

    ``stack`` holds labels of shape (2 phases ED/ES, len(LEVELS), N, H, W).
    """
    volume = (stack == label).flatten(3).sum(3).double().sum(1)  # (2, N)
    return (1 - volume[1] / volume[0]).numpy()


def equivalent_wall_thickness(labels: torch.Tensor) -> torch.Tensor:
    """sqrt((cavity + myocardium) / pi) - sqrt(cavity / pi), in pixels: the thickness of a circular ring."""
    cavity, myocardium = area(labels, LV_CAVITY), area(labels, LV_MYOCARDIUM)
    return torch.sqrt((cavity + myocardium) / math.pi) - torch.sqrt(cavity / math.pi)


def centroid_x(labels: torch.Tensor, value: int) -> torch.Tensor:
    """Mean column of a label in each slice, (N,)."""
    mask = (labels == value).double()
    columns = torch.arange(labels.shape[-1], dtype=torch.float64)
    return (mask.sum(1) * columns).sum(1) / mask.sum((1, 2))


@pytest.fixture(scope="module")
def groups():
    """24 subjects of each ACDC group."""
    return {g: sample_subjects(24, g, seed=i) for i, g in enumerate(PATHOLOGIES)}


@pytest.fixture(scope="module")
def stacks(groups):
    """Labels of every group's subjects at ED and ES and every level: (2, len(LEVELS), N, 96, 96).

    One make_slices call per group, with a phase and a level per slice.
    """
    out = {}
    for group, subjects in groups.items():
        n, copies = len(subjects), 2 * len(LEVELS)
        phase = np.repeat([0.0, 1.0], len(LEVELS) * n)
        level = np.tile(np.repeat(LEVELS, n), 2)
        labels, _ = make_slices(subjects.take(np.tile(np.arange(n), copies)), phase=phase, slice_level=level, size=96)
        out[group] = labels.view(2, len(LEVELS), n, 96, 96)
    return out


# ----------------------------------------------------------------------------- label maps


def test_label_and_tissue_values_and_types():
    batch = sample_phantoms(64, phase=None, seed=0)
    assert batch.labels.shape == batch.tissues.shape == (64, 64, 64)
    assert batch.labels.dtype == batch.tissues.dtype == torch.int64
    assert set(torch.unique(batch.labels).tolist()) == {0, 1, 2, 3}
    assert set(torch.unique(batch.tissues).tolist()) <= set(range(8))
    assert len(batch) == 64 and set(batch.pathologies) == set(PATHOLOGIES)
    assert batch.phase.shape == batch.slice_level.shape == (64,)
    # Every slice shows an LV: a cavity inside a myocardial ring.
    assert (area(batch.labels, LV_CAVITY) > 0).all() and (area(batch.labels, LV_MYOCARDIUM) > 0).all()


def test_labels_and_tissues_agree():
    labels, tissues = make_slices(sample_subjects(32, seed=1), phase=0.3, slice_level=0.3, size=64)
    assert set(tissues[labels == RV_CAVITY].tolist()) == {BLOOD}
    assert set(tissues[labels == LV_MYOCARDIUM].tolist()) <= {MYOCARDIUM, SCAR}
    assert set(tissues[labels == LV_CAVITY].tolist()) <= {BLOOD, MYOCARDIUM}  # papillary muscles
    assert SCAR not in tissues[labels == 0].tolist()


@pytest.mark.parametrize("elongation", [1.0, 1.2])
def test_cavity_area_is_pi_r_squared(elongation):
    r, t, size = 25.0, 8.0, 128
    subject = SubjectParams(lv_radius_mm=r, wall_thickness_mm=t, lv_elongation=elongation, papillary_radius_mm=0)
    labels, _ = make_slices(subject, phase="ED", slice_level=0.0, size=size)
    expected_cavity = math.pi * r**2 / pixel_area_mm2(size)
    expected_wall = math.pi * ((r + t) ** 2 - r**2) / pixel_area_mm2(size)
    assert area(labels, LV_CAVITY).item() == pytest.approx(expected_cavity, rel=0.02)
    if elongation == 1.0:  # a ring of constant thickness around a circle
        assert area(labels, LV_MYOCARDIUM).item() == pytest.approx(expected_wall, rel=0.05)


def test_areas_scale_with_radius_squared():
    radii = [15.0, 25.0, 35.0]
    subjects = [SubjectParams(lv_radius_mm=r, lv_elongation=1.0, papillary_radius_mm=0) for r in radii]
    cavity = area(make_slices(subjects, slice_level=0.0, size=128)[0], LV_CAVITY)
    np.testing.assert_allclose((cavity / cavity[1]).numpy(), [(r / radii[1]) ** 2 for r in radii], rtol=0.03)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_sizes_work_and_areas_scale_with_size_squared(size):
    subjects = sample_subjects(8, "NOR", seed=3)
    labels, tissues = make_slices(subjects, size=size)
    assert labels.shape == tissues.shape == (8, size, size)
    reference, _ = make_slices(subjects, size=128)
    ratio = area(labels, LV_CAVITY).sum() / area(reference, LV_CAVITY).sum()
    assert ratio.item() == pytest.approx((size / 128) ** 2, rel=0.05)


def test_field_of_view_zooms():
    subject = SubjectParams(papillary_radius_mm=0)
    wide, _ = make_slices(subject, size=64, field_of_view_mm=200)
    zoomed, _ = make_slices(subject, size=64, field_of_view_mm=100)
    assert (area(zoomed, LV_CAVITY) / area(wide, LV_CAVITY)).item() == pytest.approx(4.0, rel=0.05)


def test_same_seed_same_phantoms():
    a, b = sample_phantoms(16, seed=7, phase=None), sample_phantoms(16, seed=7, phase=None)
    assert torch.equal(a.labels, b.labels) and torch.equal(a.tissues, b.tissues)
    assert torch.equal(a.slice_level, b.slice_level) and a.pathologies == b.pathologies
    c = sample_phantoms(16, seed=8, phase=None)
    assert not torch.equal(a.labels, c.labels)
    assert sample_subject("HCM", seed=5) == sample_subject("HCM", seed=np.random.default_rng(5))


def test_batch_list_and_single_subject_agree():
    batch = sample_subjects(6, seed=11)
    as_list = list(batch)
    assert list(batch.take([2, 2, 0])) == [as_list[2], as_list[2], as_list[0]]
    assert all(isinstance(p, SubjectParams) for p in as_list)
    from_batch, _ = make_slices(batch, phase="ES", slice_level=0.5)
    from_list, _ = make_slices(as_list, phase="ES", slice_level=0.5)
    one, _ = make_slices(as_list[2], phase="ES", slice_level=0.5)
    assert torch.equal(from_batch, from_list) and torch.equal(one[0], from_list[2])
    assert torch.equal(make_slices(SubjectBatch.from_params(as_list), phase="ES", slice_level=0.5)[0], from_list)


def test_per_subject_phase_and_level():
    subjects = [SubjectParams()] * 3
    labels, _ = make_slices(subjects, phase=[0.0, 0.5, 1.0], slice_level=[0.2, 0.2, 0.2], size=128)
    cavity = area(labels, LV_CAVITY)
    assert cavity[0] > cavity[1] > cavity[2]
    # The cavity area falls linearly with the phase.
    assert cavity[1].item() == pytest.approx(0.5 * (cavity[0] + cavity[2]).item(), rel=0.03)


# ----------------------------------------------------------------------------- physiology


def test_systole_shrinks_the_cavity_and_thickens_the_wall(stacks):
    for group, stack in stacks.items():
        for level in range(len(LEVELS)):
            ed, es = stack[0, level], stack[1, level]
            assert (area(es, LV_CAVITY) < area(ed, LV_CAVITY)).all(), group
            assert (equivalent_wall_thickness(es) > equivalent_wall_thickness(ed)).all(), group


def test_myocardial_area_is_roughly_conserved(stacks):
    ed, es = stacks["NOR"][0, 1], stacks["NOR"][1, 1]
    ratio = area(es, LV_MYOCARDIUM) / area(ed, LV_MYOCARDIUM)
    assert ((ratio > 0.9) & (ratio < 1.15)).all(), ratio


@pytest.mark.parametrize("group, low, high", [
    ("NOR", 0.55, 0.70), ("DCM", 0.0, 0.40), ("HCM", 0.55, 1.0), ("MINF", 0.0, 0.40), ("ARV", 0.55, 0.70),
])
def test_lv_ejection_fraction_in_the_group_range(groups, stacks, group, low, high):
    subjects = groups[group]
    measured = ejection_fraction(stacks[group], LV_CAVITY)
    assert ((measured > low) & (measured < high)).all(), f"{group} LVEF out of range: {np.round(measured, 3)}"
    # The measured EF is the parameter, up to pixelisation.
    np.testing.assert_allclose(measured, subjects.lv_ef, atol=0.015)


def test_rv_ejection_fraction_low_only_for_arv(groups, stacks):
    arv = ejection_fraction(stacks["ARV"], RV_CAVITY)
    # a dilated RV ejecting the LV's stroke volume has a low EF; a volume-overloaded one ejects more, its EF higher
    assert np.median(arv) < 0.40, np.round(arv, 3)
    np.testing.assert_allclose(arv, groups["ARV"].rv_ef, atol=0.03)
    normal = ejection_fraction(stacks["NOR"], RV_CAVITY)
    assert (normal > 0.42).all(), np.round(normal, 3)
    np.testing.assert_allclose(normal, groups["NOR"].rv_ef, atol=0.03)


def test_group_anatomy(groups, stacks):
    def ed(group):
        return stacks[group][0, 1]  # end-diastole, mid level

    nor = ed("NOR")
    # DCM: dilated LV; HCM: thick walls, segments > 15 mm in diastole; ARV: dilated RV, normal LV.
    assert area(ed("DCM"), LV_CAVITY).mean() > 1.5 * area(nor, LV_CAVITY).mean()
    assert equivalent_wall_thickness(ed("HCM")).mean() > 1.4 * equivalent_wall_thickness(nor).mean()
    hcm = groups["HCM"]
    assert (hcm.wall_thickness_mm * hcm.wall_profile.max(1) > 15).all()
    assert area(ed("ARV"), RV_CAVITY).mean() > 1.5 * area(nor, RV_CAVITY).mean()
    assert area(ed("ARV"), LV_CAVITY).mean() < 1.2 * area(nor, LV_CAVITY).mean()


def test_rv_lies_on_the_image_left_and_vanishes_at_the_apex():
    subjects = sample_subjects(60, seed=4)
    slices, _ = make_slices(subjects.take(np.tile(np.arange(60), 3)), slice_level=np.repeat([0.0, 0.3, 0.9], 60))
    base, labels, apex = slices.view(3, 60, 64, 64)
    assert (centroid_x(labels, RV_CAVITY) < centroid_x(labels, LV_CAVITY) - 3).all()
    assert (area(apex, RV_CAVITY) == 0).all()
    assert (area(apex, LV_MYOCARDIUM) > 0).all()
    # The cavities shrink from base to apex.
    assert (area(apex, LV_CAVITY) < area(base, LV_CAVITY)).all()
    assert (area(labels, RV_CAVITY) < area(base, RV_CAVITY)).all()


def test_scar_only_in_minf_and_only_in_the_myocardium():
    batch = sample_phantoms(100, phase=None, seed=2)
    has_scar = (batch.tissues == SCAR).flatten(1).any(1)
    is_minf = torch.tensor([g == "MINF" for g in batch.pathologies])
    assert not has_scar[~is_minf].any()
    assert has_scar[is_minf].all(), "every MINF slice should show its scar"
    assert set(batch.labels[batch.tissues == SCAR].tolist()) == {LV_MYOCARDIUM}
    assert set(batch.params.scar_territory[~is_minf.numpy()]) == {None}


@pytest.mark.parametrize("territory, side", [("LAD", "up"), ("RCA", "down"), ("LCX", "right")])
def test_scar_sits_in_its_coronary_territory(territory, side):
    subject = SubjectParams(pathology="MINF", scar_territory=territory, scar_width_deg=90,
                            scar_transmurality=1.0, scar_thinning=0.6)
    _, tissues = make_slices(subject, slice_level=0.3, size=128)
    rows, columns = torch.nonzero(tissues[0] == SCAR, as_tuple=True)
    dy, dx = rows.double().mean() - 63.5, columns.double().mean() - 63.5  # from the LV centre
    direction = {"up": -dy, "down": dy, "right": dx}[side]
    assert direction > 5, (territory, dx.item(), dy.item())


def test_scar_transmurality():
    def scar_fraction(transmurality):
        subject = SubjectParams(pathology="MINF", scar_territory="LAD", scar_width_deg=120,
                                scar_transmurality=transmurality, lv_ef=0.35)
        labels, tissues = make_slices(subject, slice_level=0.3, size=128)
        return ((tissues == SCAR).sum() / (labels == LV_MYOCARDIUM).sum()).item()

    assert 0 < scar_fraction(0.5) < scar_fraction(1.0) < 0.5


def test_papillary_muscles_in_the_cavity_but_not_at_the_base():
    labels, tissues = make_slices(SubjectParams(), slice_level=0.4, size=128)
    assert ((labels == LV_CAVITY) & (tissues == MYOCARDIUM)).sum() > 5
    labels, tissues = make_slices(SubjectParams(), slice_level=0.0, size=128)
    assert ((labels == LV_CAVITY) & (tissues == MYOCARDIUM)).sum() == 0


def test_surroundings():
    labels, tissues = make_slices(SubjectParams(), slice_level=0.5, size=64)
    t = tissues[0]
    px = 200.0 / 64
    lv_row, lv_col = (int(32 + c / px) for c in SubjectParams().centre_offset_mm[::-1])
    assert (t[0] == AIR).any() and t[-1, -1] != AIR, "air in front of the chest; the body fills the back"
    for tissue in (LUNG, LIVER, FAT, CHEST_WALL, BLOOD, MYOCARDIUM):
        assert (t == tissue).any(), tissue
    lung_columns = torch.nonzero(t == LUNG)[:, 1]
    assert (lung_columns < lv_col - 20).any() and (lung_columns > lv_col + 10).any(), "lungs on both sides"
    liver = torch.nonzero(t == LIVER).double().mean(0)
    assert liver[0] > lv_row and liver[1] < lv_col, "the liver lies below and on the image left"
    # In front of the heart (up the LV's column): heart, then fat and chest wall, then air; no lung.
    column = t[:lv_row, lv_col]
    assert not (column == LUNG).any(), "no lung between the heart and the anterior chest wall"
    assert (column == CHEST_WALL).any() and column[0] == AIR


def test_the_chest_is_an_adult_one():
    """With a field of view wide enough to hold it, the body is about 320 x 220 mm, the heart at its front."""
    params = SubjectParams(body_radii_mm=(160.0, 110.0))
    _, tissues = make_slices(params, slice_level=0.5, size=200, field_of_view_mm=400.0)
    body = tissues[0] != AIR
    rows, cols = torch.nonzero(body, as_tuple=True)
    width, depth = 2.0 * (cols.max() - cols.min() + 1).item(), 2.0 * (rows.max() - rows.min() + 1).item()
    assert 310 <= width <= 330 and 210 <= depth <= 230, (width, depth)
    heart_rows = torch.nonzero(tissues[0] == MYOCARDIUM)[:, 0]
    # the heart's front lies within 40 mm of the skin, its middle in the front half of the chest
    assert 2.0 * (heart_rows.min() - rows.min()).item() < 40
    assert heart_rows.double().mean() < rows.double().mean()


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("kwargs, match", [
    (dict(lv_radius_mm=-3.0), r"lv_radius_mm must be in \[8, 45\] mm"),
    (dict(lv_radius_mm=60.0), r"lv_radius_mm must be in \[8, 45\] mm"),
    (dict(lv_radius_mm=10.0, wall_thickness_mm=25.0), r"thicker than the cavity allows.*2 \* lv_radius_mm"),
    (dict(lv_radius_mm=45.0, wall_thickness_mm=25.0), r"at most 65 mm"),
    (dict(lv_ef=1.2), r"lv_ef must be in \(0, 1\).*got 1.2.*fraction"),
    (dict(lv_ef=0.0), r"lv_ef must be in \(0, 1\)"),
    (dict(rv_ef=float("nan")), r"rv_ef must be in \(0, 1\)"),
    (dict(wall_profile=(1.0, 1.0)), r"wall_profile must be a sequence of 6 numbers"),
    (dict(wall_profile=(1.0, 1.0, 1.0, 3.8, 1.0, 1.0)), r"wall_profile must be in \[0.3, 3.5\]"),
    (dict(body_radii_mm=(100.0, 70.0)), r"body_radii_mm\[1\].*is 70 mm, but the chest needs at least 100 mm"),
    (dict(scar_territory="LAD", scar_transmurality=1.0, scar_width_deg=200.0, lv_ef=0.7),
     r"lv_ef = 0.70 is more than the scar allows.*scar_width_deg = 200"),
    (dict(scar_territory="LAD", scar_transmurality=1.0, scar_width_deg=240.0, lv_ef=0.6),
     r"lv_ef = 0.60 is more than the scar allows"),
    (dict(centre_offset_mm=(0.0, 90.0)), r"centre_offset_mm must be in \[-40, 40\] mm"),
    (dict(pathology="RV"), r"pathology must be one of 'NOR', 'DCM', 'HCM', 'MINF', 'ARV'"),
    (dict(scar_territory="LMCA"), r"scar_territory must be one of None, 'LAD', 'LCX', 'RCA'"),
    (dict(scar_transmurality=0.5), r"scar_transmurality is 0.5 but scar_territory is None"),
    (dict(scar_territory="LAD", scar_transmurality=1.5), r"scar_transmurality must be in \[0, 1\]"),
    (dict(rv_depth_mm="deep"), r"rv_depth_mm must be a number"),
])
def test_bad_subject_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SubjectParams(**kwargs)


def test_a_scar_keeps_the_ejection_fraction_it_allows():
    """The largest EF that validation lets through with a wide scar is drawn as given (no silent clamp): the ES/ED
    cavity area of the stack is 1 - lv_ef; 1 % more EF raises."""
    from genlib.data.cardiac.clinical import acdc_measures, phantom_stack

    scar = dict(pathology="MINF", scar_territory="LAD", scar_transmurality=1.0, scar_width_deg=200.0)
    share = (200.0 + 20.0) / 360.0
    allowed = 1 - (share + (1 - share) * 0.3**2)
    params = SubjectParams(**scar, lv_ef=allowed - 0.005)
    ed, spacing = phantom_stack(params, "ED")
    es, _ = phantom_stack(params, "ES")
    m = acdc_measures(ed[0], es[0], spacing, 1.9)
    assert abs(m["lv_ef"] - params.lv_ef) < 0.02, (m["lv_ef"], params.lv_ef)
    with pytest.raises(ValueError, match="more than the scar allows"):
        SubjectParams(**scar, lv_ef=allowed + 0.01)


def test_bad_sampling_arguments_raise():
    with pytest.raises(ValueError, match=r"pathology must be one of 'NOR', 'DCM', 'HCM', 'MINF', 'ARV'; got 'XYZ'"):
        sample_subject("XYZ", seed=0)
    with pytest.raises(ValueError, match=r"n must be a positive integer"):
        sample_subjects(0)
    with pytest.raises(TypeError, match=r"seed must be an int seed, a torch.Generator, a numpy Generator or None"):
        sample_subject("NOR", seed="seed")


def test_subjects_take_the_seed_convention():
    """seed: an int, a torch.Generator (the int it yields) or a NumPy Generator (its stream continues)."""
    from genlib._validation import as_seed

    def same(a, b):
        return all(np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
                   for x, y in zip(vars(a).values(), vars(b).values()))

    drawn = as_seed(torch.Generator().manual_seed(5))
    assert same(sample_subjects(4, "MINF", seed=torch.Generator().manual_seed(5)), sample_subjects(4, "MINF", seed=drawn)), \
        "a torch.Generator must seed like the int drawn from it"
    assert not same(sample_subjects(4, "MINF", seed=1), sample_subjects(4, "MINF", seed=2))
    stream = np.random.default_rng(7)
    first, second = sample_subjects(3, "NOR", seed=stream), sample_subjects(3, "NOR", seed=stream)
    assert not same(first, second), "a NumPy Generator's stream must continue between calls"


def test_bad_batch_names_the_subject():
    arrays = {name: list(values) for name, values in vars(sample_subjects(5, seed=0)).items() if name != "has_scar"}
    arrays["lv_ef"][3] = 1.5
    with pytest.raises(ValueError, match=r"lv_ef must be in \(0, 1\).*\(subject 3\)"):
        SubjectBatch(arrays)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(phase="MID"), ValueError, r"phase must be one of 'ED', 'ES'; got 'MID'"),
    (dict(phase=1.5), ValueError, r"phase must be in \[0, 1\] \(0 ED .. 1 ES\)"),
    (dict(slice_level=-0.1), ValueError, r"slice_level must be in \[0, 1\] \(0 base .. 1 apex\)"),
    (dict(slice_level=[0.1, 0.2, 0.3]), ValueError, r"slice_level must be one number or one per subject, shape \(2,\)"),
    (dict(size=4), ValueError, r"size must be an integer >= 8"),
    (dict(size=64.0), ValueError, r"size must be an integer >= 8"),
    (dict(field_of_view_mm=-1), ValueError, r"field_of_view_mm must be a number in \[20, 1000\] mm"),
])
def test_bad_slice_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_slices([SubjectParams(), SubjectParams()], **kwargs)


def test_bad_params_type_raises():
    with pytest.raises(TypeError, match=r"params must be a SubjectParams, a non-empty list of them, or a SubjectBatch"):
        make_slices({"lv_radius_mm": 20})
    with pytest.raises(TypeError, match=r"params must be a SubjectParams"):
        make_slices([])


def test_docstring_examples_run():
    for name in ("pathology", "phantom"):  # by module path: the package may export same-named functions
        module = importlib.import_module(f"genlib.data.cardiac.{name}")
        assert doctest.testmod(module).failed == 0, name
