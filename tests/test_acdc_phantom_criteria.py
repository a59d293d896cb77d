"""The phantoms against ACDC's group definitions (issue 20): each group meets its own, NOR's RV matches its
LV, an infarct scar does not move, basal and apical slices look like them, vendor C is a bSSFP vendor and a
resolution factor is honoured as given.

Fresh seeds (2000 + i), not the benchmark's (1000 + i) nor the ones the generator was tuned on (0-4).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from scipy.stats import binom

from genlib.data.cardiac import phantom_stack, render, sample_subjects
from genlib.data.cardiac.clinical import DEFAULT_BSA_M2, acdc_criteria, acdc_measures, endocardial_motion_mm
from genlib.data.cardiac.labels import BLOOD, LV_CAVITY, LV_MYOCARDIUM, MYOCARDIUM, RV_CAVITY
from genlib.data.cardiac.pathology import SubjectParams
from genlib.data.cardiac.phantom import make_slices, sample_phantoms
from genlib.data.cardiac.render import STYLES, _lose_resolution

GROUPS = ("NOR", "DCM", "HCM", "MINF", "ARV")
N = 40  # subjects per group
TARGET = 0.90
ALPHA = 0.01


def _measures(group: str, n: int, seed: int, **stack) -> tuple[dict, object]:
    subjects = sample_subjects(n, group, rng=seed)
    ed, spacing = phantom_stack(subjects, "ED", **stack)
    es, _ = phantom_stack(subjects, "ES", **stack)
    return acdc_measures(ed, es, spacing, DEFAULT_BSA_M2), subjects


def test_binomial_margin_rejects_a_group_below_the_target():
    """The margin is one-sided at 1 %: a group meeting its definition in 72 % (DCM before issue 20) or 32 %
    (HCM) of 40 subjects fails, one at 90 % passes."""
    least = int(binom.ppf(ALPHA, N, TARGET))  # smallest count not rejected
    assert binom.cdf(least - 1, N, TARGET) < ALPHA
    assert round(0.725 * N) < least and round(0.32 * N) < least and round(0.90 * N) >= least


@pytest.mark.parametrize("i, group", list(enumerate(GROUPS)))
def test_each_group_meets_its_own_acdc_definition(i, group):
    """At least 90 % of a group's subjects meet its definition (as clinical.COURSE_READING reads it): the count
    among 40 must not be so low that a true 90 % would give it with probability under 1 %."""
    m, _ = _measures(group, N, 2000 + i)
    k = int(acdc_criteria(m)[group].sum())
    least = int(binom.ppf(ALPHA, N, TARGET))
    assert k >= least, f"{group}: {k} of {N} meet its definition; at least {least} expected for 90 %"


def test_normal_rv_holds_as_much_blood_as_the_lv():
    m, _ = _measures("NOR", N, 2100)
    ratio = np.asarray(m["rv_lv_edv_ratio"])
    assert 0.9 <= np.median(ratio) <= 1.2, np.quantile(ratio, [0.25, 0.5, 0.75])
    for key, (low, high) in {"lv_edv_index": (55, 95), "rv_edv_index": (55, 100), "lv_mass_index": (45, 90),
                             "lv_ef": (0.55, 0.70), "rv_ef": (0.45, 0.65)}.items():
        assert low <= np.median(m[key]) <= high, (key, np.median(m[key]))


def _scar_sector(subjects, reference):
    angle = np.deg2rad(np.asarray(subjects.scar_centre_deg) + np.asarray(subjects.rotation_deg))
    return np.floor(np.remainder(angle - reference, 2 * np.pi) / (np.pi / 3)).astype(int) % 6


def test_an_infarct_scar_does_not_move_in():
    """The scar's endocardium stays put from ED to ES (akinetic), the remote wall moves in; EF still holds."""
    subjects = sample_subjects(16, "MINF", rng=2200)
    ed, spacing = phantom_stack(subjects, "ED")
    es, _ = phantom_stack(subjects, "ES")
    motion, reference = endocardial_motion_mm(ed, es, spacing)
    sector = _scar_sector(subjects, reference)
    rows = np.arange(len(sector))
    mid = motion[:, 2:8]
    scar = np.nanmean(mid[rows, :, sector], axis=1)
    remote = np.nanmean(mid[rows, :, (sector + 3) % 6], axis=1)
    assert np.median(scar) < 0.5 and np.median(remote) > 2.5, (scar, remote)
    assert (scar < remote - 1.0).all(), (scar, remote)
    m = acdc_measures(ed, es, spacing, DEFAULT_BSA_M2)
    assert np.allclose(m["lv_ef"], subjects.lv_ef, atol=0.04), (m["lv_ef"], subjects.lv_ef)


def test_a_scar_free_heart_moves_in_everywhere():
    """The same measure on a normal heart: every sector moves in (no spurious akinesia)."""
    subjects = sample_subjects(4, "NOR", rng=2300)
    ed, spacing = phantom_stack(subjects, "ED")
    motion, _ = endocardial_motion_mm(ed, phantom_stack(subjects, "ES")[0], spacing)
    assert (np.nanmean(motion[:, 2:8], axis=1) > 1.5).all(), motion[:, 2:8].mean(1)


def test_the_stack_runs_from_a_basal_to_an_apical_slice():
    """First slice: the largest RV; last slice: a small LV cavity and no RV (the RV ends short of the apex)."""
    labels, _ = phantom_stack(sample_subjects(6, "NOR", rng=2400), "ED")
    lv = (labels == LV_CAVITY).flatten(2).sum(2).double()  # (N, S)
    rv = (labels == RV_CAVITY).flatten(2).sum(2).double()
    assert (rv.argmax(1) <= 1).all() and (rv[:, -1] == 0).all(), rv
    assert (lv[:, -1] < 0.35 * lv[:, 0]).all() and (lv[:, -1] > 0).all(), lv


def _blood_and_myocardium(images, labels, tissues):
    ratio, cnr = [], []
    for i in range(len(images)):
        blood = ndimage.binary_erosion(((labels[i] == LV_CAVITY) & (tissues[i] == BLOOD)).numpy(), iterations=2)
        myo = ndimage.binary_erosion(((labels[i] == LV_MYOCARDIUM) & (tissues[i] == MYOCARDIUM)).numpy())
        air = ndimage.binary_erosion((tissues[i] == 0).numpy(), iterations=3)
        b, m = images[i][blood].mean(), images[i][myo].mean()
        ratio.append(b / m)
        cnr.append((b - m) / (images[i][air].mean() / math.sqrt(math.pi / 2)))  # Rician noise std from air
    return np.median(ratio), np.median(cnr)


def test_vendor_c_is_a_bssfp_vendor():
    """Blood / myocardium of vendor C within bSSFP's 2.5-4, like vendor A's; C noisier (lower CNR) than A."""
    batch = sample_phantoms(24, size=128, phase="ED", slice_level=0.4, seed=2500, field_of_view_mm=200.0)
    out = {}
    for style in ("cine_vendor_a", "cine_vendor_c"):
        images = render(batch.tissues, style, seed=1)[:, 0].numpy()
        out[style] = _blood_and_myocardium(images, batch.labels, batch.tissues)
    ratio_c, cnr_c = out["cine_vendor_c"]
    assert 2.5 <= ratio_c <= 4.0 and 2.5 <= out["cine_vendor_a"][0] <= 4.0, out
    assert 10 <= cnr_c < out["cine_vendor_a"][1], out


def test_a_resolution_factor_is_honoured_as_given():
    """1.35 is not 1.25: the kept k-space bandwidth is n / factor bins on each axis, for any real factor."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1, 32, 32, generator=gen)
    factors = torch.tensor([1.0, 1.25, 1.35])
    y = _lose_resolution(x, factors)
    assert torch.equal(y[0], x[0]), "factor 1 leaves the image as it is"
    assert not torch.allclose(y[1], y[2], atol=1e-3), "1.35 was rounded to 1.25"
    # the transfer function of the operation, from an impulse: its weights sum to n / factor per axis
    impulse = torch.zeros(3, 1, 32, 32)
    impulse[:, :, 0, 0] = 1.0
    transfer = torch.fft.fft2(_lose_resolution(impulse, factors)).real[:, 0]  # (3, 32, 32), separable
    bandwidth = transfer[:, 0, :].sum(1)
    assert torch.allclose(bandwidth, 32 / factors, atol=1e-3), bandwidth
    # and a rendered vendor C image differs from the same one acquired at 1.25
    from dataclasses import replace

    _, tissues = make_slices(SubjectParams(), size=32, field_of_view_mm=100.0)
    c = STYLES["cine_vendor_c"]
    a = render(tissues, replace(c, snr=math.inf), seed=0)
    b = render(tissues, replace(c, snr=math.inf, resolution_factor=1.25), seed=0)
    assert (a - b).abs().max() > 1e-3
