"""Clinical measures from label maps (genlib.data.cardiac.clinical) and the phantoms against ACDC's definitions."""
import math

import numpy as np
import pytest
import torch

from genlib import results
from genlib.data.cardiac import acdc_criteria, acdc_measures, body_surface_area, ejection_fraction, lv_mass_g
from genlib.data.cardiac import phantom_stack, sample_subjects, volumes_ml
from genlib.data.cardiac.clinical import segment_thickness_mm

SPACING = (8.0, 0.5, 0.5)  # fine pixels: a disc's pixel area is within 0.5 % of pi r^2


def disc(size, radius_mm, pixel_mm, centre=(0.0, 0.0)):
    """(size, size) bool: pixel centres within radius_mm of the centre (+ offset, mm)."""
    ticks = (torch.arange(size, dtype=torch.float64) + 0.5 - size / 2) * pixel_mm
    y, x = ticks.view(-1, 1) - centre[1], ticks.view(1, -1) - centre[0]
    return x**2 + y**2 <= radius_mm**2


def heart(n_slices=5, cavity_mm=20.0, wall_mm=8.0, size=200, pixel=0.5, rv_offset=40.0):
    """A cylinder: LV cavity of radius cavity_mm in a ring wall_mm thick, an RV disc to the image left."""
    lv = disc(size, cavity_mm, pixel)
    ring = disc(size, cavity_mm + wall_mm, pixel) & ~lv
    rv = disc(size, 8.0, pixel, centre=(-rv_offset, 0.0)) & ~ring & ~lv
    one = torch.zeros(size, size, dtype=torch.int64)
    one[rv], one[ring], one[lv] = 1, 2, 3
    return one.expand(n_slices, size, size).clone()


def test_a_cylinder_has_the_volumes_of_its_discs():
    stack = heart(n_slices=5)
    v = volumes_ml(stack, SPACING)
    lv = math.pi * 20.0**2 * 8.0 * 5 / 1000
    myo = math.pi * (28.0**2 - 20.0**2) * 8.0 * 5 / 1000
    assert v["lv"] == pytest.approx(lv, rel=0.01), (v["lv"], lv)
    assert v["myo"] == pytest.approx(myo, rel=0.01), (v["myo"], myo)
    assert v["rv"] == pytest.approx(math.pi * 64 * 8.0 * 5 / 1000, rel=0.02)
    batched = volumes_ml(torch.stack([stack, stack[:, :, :]]), SPACING)
    assert batched["lv"].shape == (2,) and batched["lv"][1] == pytest.approx(v["lv"])


def test_volume_counts_voxels_times_spacing():
    labels = torch.zeros(3, 4, 4, dtype=torch.int64)
    labels[:, :2, :2] = 3  # 12 voxels of LV
    assert volumes_ml(labels, (10.0, 2.0, 1.5))["lv"] == pytest.approx(12 * 30.0 / 1000)


def test_segment_thickness_of_a_ring_is_its_wall():
    thickness, angle = segment_thickness_mm(heart(n_slices=2, wall_mm=8.0), SPACING)
    assert thickness.shape == (2, 6)
    assert np.allclose(thickness, 8.0, atol=0.2), thickness
    assert angle == pytest.approx(math.pi, abs=0.01)  # the RV lies on the image left: the septum direction


def test_body_surface_area_by_mosteller():
    assert body_surface_area(180, 80) == pytest.approx(2.0)
    assert body_surface_area(175, 75) == pytest.approx(math.sqrt(175 * 75 / 3600))
    expected = [math.sqrt(160 * 50 / 3600), math.sqrt(190 * 100 / 3600)]
    assert np.allclose(body_surface_area([160, 190], [50, 100]), expected)


def test_mass_and_ejection_fraction():
    assert lv_mass_g(100.0) == pytest.approx(105.0)
    assert ejection_fraction(150.0, 60.0) == pytest.approx(0.6)
    assert np.allclose(ejection_fraction([100.0, 200.0], [50.0, 180.0]), [0.5, 0.1])


def measures(**changes):
    m = dict(lv_ef=0.6, rv_ef=0.55, lv_edv_index=70.0, rv_edv_index=70.0, lv_mass_index=60.0, n_thick_segments=0,
             n_abnormal_segments=0)
    m.update(changes)
    return m


@pytest.mark.parametrize("changes, group, expected", [
    ({}, "NOR", True),
    (dict(lv_ef=0.35, lv_edv_index=100.5), "DCM", True),
    (dict(lv_ef=0.35, lv_edv_index=100.0), "DCM", False),  # "> 100 mL/m2": 100 itself is not
    (dict(lv_ef=0.40, lv_edv_index=120.0), "DCM", False),  # "lower than 40 %"
    (dict(lv_mass_index=110.5, n_thick_segments=2), "HCM", True),
    (dict(lv_mass_index=110.0, n_thick_segments=2), "HCM", False),
    (dict(lv_mass_index=120.0, n_thick_segments=1), "HCM", False),  # "several" segments
    (dict(lv_mass_index=120.0, n_thick_segments=3, lv_ef=0.50), "HCM", False),  # not a normal EF
    (dict(lv_ef=0.39, n_abnormal_segments=2), "MINF", True),
    (dict(lv_ef=0.39, n_abnormal_segments=1), "MINF", False),
    (dict(rv_edv_index=110.5), "ARV", True),
    (dict(rv_edv_index=110.0), "ARV", False),
    (dict(rv_ef=0.39), "ARV", True),
    (dict(rv_ef=0.39), "NOR", False),
])
def test_criteria_at_their_boundaries(changes, group, expected):
    assert acdc_criteria(measures(**changes))[group] is expected


def test_criteria_work_on_arrays():
    m = {k: np.asarray([v, v]) for k, v in measures().items()}
    m["rv_ef"] = np.asarray([0.55, 0.30])
    crit = acdc_criteria(m)
    assert crit["ARV"].tolist() == [False, True] and crit["NOR"].tolist() == [True, False]


@pytest.mark.parametrize("call, error, message", [
    (lambda: body_surface_area(1.75, 75), ValueError, "centimetres"),
    (lambda: body_surface_area(-175, 75), ValueError, "height_cm must be positive"),
    (lambda: body_surface_area(175, "heavy"), TypeError, "weight_kg must be a number"),
    (lambda: volumes_ml(torch.zeros(4, 4, dtype=torch.int64), (1, 1, 1)), ValueError, r"\(S, H, W\)"),
    (lambda: volumes_ml(torch.zeros(2, 4, 4, dtype=torch.int64), (1, 1)), ValueError, r"\(dz, dy, dx\)"),
    (lambda: volumes_ml(torch.full((2, 4, 4), 5), (1, 1, 1)), ValueError, "unexpected values"),
    (lambda: ejection_fraction(0.0, 0.0), ValueError, "edv must be a positive volume"),
    (lambda: ejection_fraction(100.0, -1.0), ValueError, "esv must be a non-negative"),
    (lambda: lv_mass_g(-1.0), ValueError, "myo_volume_ml"),
    (lambda: acdc_measures(heart(3), heart(4), SPACING, 1.9), ValueError, "same shape"),
    (lambda: acdc_measures(heart(3), heart(3), SPACING, 190), ValueError, "m\\^2"),
    (lambda: acdc_measures(torch.zeros(3, 8, 8, dtype=torch.int64), torch.zeros(3, 8, 8, dtype=torch.int64),
                           SPACING, 1.9), ValueError, "cavity is empty at ED"),
    (lambda: acdc_criteria({"lv_ef": 0.5}), ValueError, "missing"),
    (lambda: phantom_stack(sample_subjects(1, "NOR", seed=0), n_slices=2), ValueError, "n_slices"),
    (lambda: phantom_stack(sample_subjects(1, "NOR", seed=0), long_axis_mm=0.9), ValueError, "long_axis_mm"),
])
def test_bad_input_errors_name_the_fix(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_thick_still_ring_meets_hcm_and_a_still_one_minf():
    ed = heart(n_slices=6, cavity_mm=20.0, wall_mm=18.0)
    es_thick = heart(n_slices=6, cavity_mm=12.0, wall_mm=24.0)  # thickens by a third, EF high
    m = acdc_measures(ed, es_thick, (9.0, 0.5, 0.5), 1.0)
    assert m["n_thick_segments"] == 18 and m["lv_ef"] > 0.55 and m["n_abnormal_segments"] == 0
    assert acdc_criteria(m)["HCM"] and not acdc_criteria(m)["MINF"]
    es_still = heart(n_slices=6, cavity_mm=17.0, wall_mm=18.5)  # the wall hardly thickens, EF < 40 %
    m = acdc_measures(ed, es_still, (9.0, 0.5, 0.5), 1.0)
    assert m["lv_ef"] < 0.40 and m["n_abnormal_segments"] == 18 and acdc_criteria(m)["MINF"]


def test_phantom_stack_shape_spacing_and_ef():
    subjects = sample_subjects(2, "NOR", seed=0)
    ed, spacing = phantom_stack(subjects, "ED", n_slices=8, long_axis_mm=80.0, size=64)
    es, _ = phantom_stack(subjects, "ES", n_slices=8, long_axis_mm=80.0, size=64)
    assert ed.shape == (2, 8, 64, 64) and ed.dtype == torch.uint8
    assert spacing == pytest.approx((10.0, 200 / 64, 200 / 64))
    m = acdc_measures(ed, es, spacing, 1.9)
    assert np.allclose(m["lv_ef"], subjects.lv_ef, atol=0.05), (m["lv_ef"], subjects.lv_ef)


N_CHECK = 30  # subjects per group: a fresh seed, not the table's


@pytest.mark.parametrize("group", ["NOR", "DCM", "HCM", "MINF", "ARV"])
def test_phantoms_meet_acdc_definitions_as_the_committed_table_says(group):
    """A fresh sample's fraction meeting its own definition agrees with unit 00's table within sampling error."""
    from bench.unit00_phantoms import SEEDS, measure_group

    table = results.load("unit00_phantoms_table")["groups"][group]
    seed = SEEDS[group] + 500
    fraction = float(measure_group(group, n=N_CHECK, seed=seed)["criteria"][group].mean())
    p = table["own_definition"]
    # binomial sampling error of the fresh sample, plus that of the table's 200; at least one subject's worth
    tolerance = max(3 * math.sqrt(p * (1 - p) * (1 / N_CHECK + 1 / table["n"])), 1.5 / N_CHECK)
    assert abs(fraction - p) <= tolerance, (
        f"{group}: {fraction:.2f} of a fresh sample meet the definition, the table says {p:.2f} "
        f"(tolerance {tolerance:.2f}); rerun python bench/run.py unit00_phantoms after changing the phantoms")


def test_a_borderline_rv_is_left_out_of_nor_and_arv_only():
    """ACDC left borderline cases out of its groups: RVEF 40-45 % with a normal RV size is neither NOR nor ARV;
    a large RV or RVEF below 40 % is ARV; a DCM heart with a borderline RV is still DCM."""
    from genlib.data.cardiac.clinical import acdc_inclusion, borderline_rv

    normal = measures()
    assert acdc_inclusion(normal, "NOR") and not borderline_rv(normal)
    border = measures(rv_ef=0.42)
    assert borderline_rv(border) and not acdc_inclusion(border, "NOR") and not acdc_inclusion(border, "ARV")
    assert acdc_criteria(border)["NOR"]  # it meets no definition: only the borderline rule leaves it out
    assert acdc_inclusion(measures(rv_ef=0.45), "NOR") and acdc_inclusion(measures(rv_ef=0.39), "ARV")
    assert acdc_inclusion(measures(rv_ef=0.42, rv_edv_index=115.0), "ARV")
    assert acdc_inclusion(measures(rv_ef=0.42, lv_edv_index=120.0, lv_ef=0.30), "DCM")
    many = {k: np.asarray([v, v]) for k, v in measures(rv_ef=0.42).items()}
    assert acdc_inclusion(many, np.asarray(["NOR", "HCM"], dtype=object)).tolist() == [False, False]
    with pytest.raises(ValueError, match="group must be one of"):
        acdc_inclusion(normal, "RV")


def test_the_sampler_keeps_what_acdcs_rule_admits():
    """sample_subjects keeps only admitted subjects (the estimate says so for each), is deterministic for a
    seed, keeps each subject's drawn group in place, and acdc_rule=False gives the physiological draw."""
    from genlib.data.cardiac.pathology import meets_acdc_inclusion

    admitted = sample_subjects(60, "HCM", seed=31)
    assert meets_acdc_inclusion(admitted).all()
    assert list(admitted) == list(sample_subjects(60, "HCM", seed=31))
    raw = sample_subjects(400, "HCM", seed=31, acdc_rule=False)
    assert 0.2 < meets_acdc_inclusion(raw).mean() < 0.8  # the rule does select
    mixed = sample_subjects(50, seed=32)
    assert meets_acdc_inclusion(mixed).all() and len(set(mixed.pathology)) == 5
    assert list(mixed.pathology) == list(sample_subjects(50, seed=32, acdc_rule=False).pathology)


def test_a_rule_that_admits_nobody_raises(monkeypatch):
    from genlib.data.cardiac import clinical

    monkeypatch.setattr(clinical, "acdc_inclusion", lambda measures, group: np.zeros(len(group), dtype=bool))
    with pytest.raises(ValueError, match="ACDC's rule for HCM .* admits 0 of the 2"):
        sample_subjects(5, "HCM", seed=0)

