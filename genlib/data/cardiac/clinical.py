"""Clinical measures of a heart from its label maps: volumes, mass, ejection fraction, ACDC's groups.

A short-axis cine exam is a stack of S parallel slices, base to apex, each an (H, W) label map in the
ACDC convention (0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity), at end-diastole (ED) and
end-systole (ES). From the stacks and the voxel spacing (mm) the usual clinical indices follow:

- volumes by **disc summation** (Simpson's method): V = sum over slices of (pixel count x dy x dx) x dz,
  with dz the distance between slice centres (slice thickness plus gap), in mL (1 mL = 1000 mm^3);
- LV mass = 1.05 g/mL (myocardial density) x the ED myocardium volume;
- ejection fraction EF = (EDV - ESV) / EDV, a fraction (0.4 is 40 %);
- indices per body surface area (BSA, Mosteller's formula), in mL/m^2 and g/m^2;
- per-segment wall thickness and systolic wall thickening, from the label map (``segment_thickness_mm``).

``acdc_criteria`` checks the ACDC group definitions on these measures. ``ACDC_DEFINITIONS`` quotes
them as the challenge states them (Bernard et al., IEEE TMI 2018, and the challenge's page); where a
definition is not a number ("several segments", "normal ejection fraction", "abnormal contraction"),
``COURSE_READING`` says how the course turns it into one. ``phantom_stack`` builds the 3-D stacks of
the course's phantoms, so that the phantoms can be measured against the same definitions.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from genlib.data.cardiac.labels import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY, check_label_map

MYOCARDIAL_DENSITY_G_PER_ML = 1.05
N_SECTORS = 6  # per slice, 60 degrees each, like the AHA model's basal and mid rings
N_BANDS = 3  # basal, mid and apical thirds of the LV: 3 x 6 = 18 segments (AHA: 16 + the apex)

# ACDC's group definitions, word for word from the challenge's description (Bernard et al. 2018 give the
# same groups); only the page's typos are corrected ("high than" -> "higher than", "ejecetion", "rigth").
ACDC_DEFINITIONS = {
    "NOR": "normal subjects",
    "MINF": "patients with previous myocardial infarction (ejection fraction of the left ventricle lower than "
            "40% and several myocardial segments with abnormal contraction)",
    "DCM": "patients with dilated cardiomyopathy (diastolic left ventricular volume >100 mL/m2 and an "
           "ejection fraction of the left ventricle lower than 40%)",
    "HCM": "patients with hypertrophic cardiomyopathy (left ventricular cardiac mass higher than 110 g/m2, "
           "several myocardial segments with a thickness higher than 15 mm in diastole and a normal "
           "ejection fraction)",
    "ARV": "patients with abnormal right ventricle (volume of the right ventricular cavity higher than "
           "110 mL/m2 or ejection fraction of the right ventricle lower than 40%); ACDC's Info.cfg says RV",
}

# Where ACDC gives no number, the course's reading (not ACDC's words).
SEVERAL = 2  # "several segments": at least two of the 18
NORMAL_LVEF = 0.55  # "a normal ejection fraction": LVEF above 55 %
THICK_MM = 15.0
ABNORMAL_THICKENING = 0.30  # "abnormal contraction": systolic wall thickening below 30 % (hypokinetic or worse)
AKINETIC_THICKENING = 0.10  # below 10 %: akinetic (reported, not part of a definition)
COURSE_READING = {
    "NOR": "none of the four pathological definitions below holds (ACDC gives no numbers for NOR)",
    "MINF": f"LVEF < 0.40 and at least {SEVERAL} of the 18 segments thicken by less than "
            f"{ABNORMAL_THICKENING:.0%} from ED to ES (wall-motion grading: >= 30 % normal, 10-30 % hypokinetic, "
            "< 10 % akinetic). Any heart with LVEF < 0.40 has such segments, DCM's too, so this reading carries no "
            "regional information: the course reads the infarct's regional pattern separately, as the inward "
            "motion of the least-moving mid-ventricular sector against the most-moving one "
            "(mid_sector_motion_mm; a scar barely moves while the remote wall does, a DCM wall moves little "
            "everywhere)",
    "DCM": "LV EDV index > 100 mL/m2 and LVEF < 0.40",
    "HCM": f"LV mass index > 110 g/m2, at least {SEVERAL} of the 18 segments thicker than {THICK_MM:g} mm at ED, "
           f"and LVEF > {NORMAL_LVEF:.2f}",
    "ARV": "RV EDV index > 110 mL/m2 or RVEF < 0.40",
}
GROUPS = ("NOR", "DCM", "HCM", "MINF", "ARV")
# ACDC left borderline cases out of its groups; the one band it names: an RV ejection fraction of 40-45 %.
# With a normal RV size (index <= 110 mL/m2) such an RV is neither abnormal by ACDC's definition nor clearly
# normal, so the course leaves it out of NOR and ARV, the two groups the RV decides between (it lies outside
# ARV's definition, so only NOR loses subjects to it). ACDC names no band for the other thresholds, so the
# course adds none: a DCM, HCM or MINF heart that meets its definition is in its group whatever its RV.
BORDERLINE_RVEF = (0.40, 0.45)
BORDERLINE_READING = (f"RVEF in [{BORDERLINE_RVEF[0]:.2f}, {BORDERLINE_RVEF[1]:.2f}) with an RV EDV index <= 110 "
                      "mL/m2: left out of NOR and ARV (ACDC's example of a borderline case); no band elsewhere")


# ----------------------------------------------------------------------------- small measures


def _positive_array(name: str, value, unit: str, typical: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or an array of numbers in {unit}, got {value!r}.") from None
    if not (np.isfinite(array).all() and (array > 0).all()):
        raise ValueError(f"{name} must be positive and finite, in {unit} (typical adult: {typical}), got {value!r}.")
    return array


def _out(array: np.ndarray):
    """A 0-d array as a Python number (int for counts, float otherwise), anything else as it is."""
    return np.asarray(array).item() if np.ndim(array) == 0 else array


def body_surface_area(height_cm, weight_kg):
    """Body surface area by Mosteller's formula, BSA = sqrt(height x weight / 3600), in m^2.

    Parameters
    ----------
    height_cm : float or array, cm (not m: 175, not 1.75)
    weight_kg : float or array, kg

    Returns
    -------
    float, or array of the broadcast shape, in m^2 (about 1.9 for 175 cm and 75 kg).

    Examples
    --------
    >>> round(body_surface_area(180, 80), 3)
    2.0
    """
    height = _positive_array("height_cm", height_cm, "cm", "150-200 cm")
    weight = _positive_array("weight_kg", weight_kg, "kg", "50-120 kg")
    if (height < 3).any():
        raise ValueError(f"height_cm must be in centimetres, got {height_cm!r}: that looks like metres; "
                         f"multiply by 100.")
    return _out(np.sqrt(height * weight / 3600.0))


def _check_spacing(spacing_mm) -> tuple[float, float, float]:
    try:
        spacing = tuple(float(s) for s in spacing_mm)
    except (TypeError, ValueError):
        spacing = ()
    if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(
            f"spacing_mm must be three positive numbers (dz, dy, dx) in mm: dz the distance between slice "
            f"centres (slice thickness plus gap, e.g. 10 for ACDC's 5 mm slices with a 5 mm gap), dy and dx the "
            f"pixel size (e.g. 1.5); got {spacing_mm!r}."
        )
    return spacing


def _check_stack(name: str, labels) -> torch.Tensor:
    labels = check_label_map(labels, name=name)
    if labels.ndim < 3:
        raise ValueError(
            f"{name} must be a stack of label maps, shape (S, H, W) or (N, S, H, W), got shape "
            f"{tuple(labels.shape)}. For a single slice, add the slice dimension: {name}[None]."
        )
    return labels


def volumes_ml(labels, spacing_mm) -> dict:
    """LV blood, RV blood and LV myocardium volumes of a stack of label maps, by disc summation.

    V = (number of voxels of the label) x dz x dy x dx / 1000, i.e. each slice's area times the distance
    between slice centres (Simpson's method). Papillary muscles count as LV blood (ACDC's convention).

    Parameters
    ----------
    labels : int tensor or array, shape (S, H, W), or (N, S, H, W) for N subjects
        ACDC labels: 0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity.
    spacing_mm : (dz, dy, dx), mm
        dz the distance between slice centres (slice thickness plus gap), dy, dx the pixel size.

    Returns
    -------
    dict with "lv", "rv", "myo": mL; floats for one stack, float64 arrays of shape (N,) for N.
    """
    labels = _check_stack("labels", labels)
    dz, dy, dx = _check_spacing(spacing_mm)
    voxel_ml = dz * dy * dx / 1000.0
    dims = (-3, -2, -1)
    return {name: _out((labels == k).sum(dims).double().numpy() * voxel_ml)
            for name, k in (("lv", LV_CAVITY), ("rv", RV_CAVITY), ("myo", LV_MYOCARDIUM))}


def lv_mass_g(myo_volume_ml):
    """LV mass in g: 1.05 g/mL (myocardial density) x the end-diastolic myocardium volume in mL."""
    volume = np.asarray(myo_volume_ml, dtype=float)
    if not (np.isfinite(volume).all() and (volume >= 0).all()):
        raise ValueError(f"myo_volume_ml must be a non-negative volume in mL, got {myo_volume_ml!r}.")
    return _out(MYOCARDIAL_DENSITY_G_PER_ML * volume)


def ejection_fraction(edv, esv):
    """Ejection fraction (EDV - ESV) / EDV, as a fraction (0.6 is 60 %).

    Parameters
    ----------
    edv, esv : float or array, mL (any one unit for both)
        End-diastolic and end-systolic volumes. An ESV above the EDV gives a negative EF (a sign that the
        phases or the labels are swapped); it is returned, not hidden.

    Raises
    ------
    ValueError
        If an EDV is not positive or an ESV is negative.
    """
    edv_a = np.asarray(edv, dtype=float)
    esv_a = np.asarray(esv, dtype=float)
    if not (np.isfinite(edv_a).all() and (edv_a > 0).all()):
        raise ValueError(f"edv must be a positive volume (end-diastole, mL), got {edv!r}: an empty cavity at ED "
                         f"has no ejection fraction; check the labels and which frame is ED.")
    if not (np.isfinite(esv_a).all() and (esv_a >= 0).all()):
        raise ValueError(f"esv must be a non-negative volume (end-systole, mL), got {esv!r}.")
    return _out((edv_a - esv_a) / edv_a)


# ----------------------------------------------------------------------------- wall thickness


def _slice_geometry(labels: torch.Tensor, dy: float, dx: float, reference_angle=None, centre=None):
    """Per-slice sector areas of LV cavity and myocardium around the LV cavity's centroid.

    labels (N, S, H, W) -> cavity, myo (N, S, 6) areas in mm^2, the reference angle (N,) radians (the
    direction from the LV to the RV centroid, the middle of the septum, a border between sectors) and the
    centre (cy, cx), each (N, S) mm: the cavity's centroid unless ``centre`` gives it.
    """
    n, s, h, w = labels.shape
    y = (torch.arange(h, dtype=torch.float64) * dy).view(1, 1, h, 1)
    x = (torch.arange(w, dtype=torch.float64) * dx).view(1, 1, 1, w)
    cav = (labels == LV_CAVITY).double()
    rv = (labels == RV_CAVITY).double()
    n_cav = cav.sum((2, 3))  # (N, S)
    cy = (cav * y).sum((2, 3)) / n_cav.clamp(min=1)
    cx = (cav * x).sum((2, 3)) / n_cav.clamp(min=1)
    if centre is not None:
        cy, cx = centre
    if reference_angle is None:
        n_rv = rv.sum((2, 3))
        ry = (rv * y).sum((2, 3)) / n_rv.clamp(min=1)
        rx = (rv * x).sum((2, 3)) / n_rv.clamp(min=1)
        both = ((n_rv > 0) & (n_cav > 0)).double()
        # circular mean over slices of the LV -> RV direction (y down, so -dy is "up")
        c = (both * (rx - cx)).sum(1)
        si = (both * -(ry - cy)).sum(1)
        reference_angle = torch.atan2(si, c)  # (N,); 0 when no slice has both
    if not isinstance(reference_angle, torch.Tensor):
        reference_angle = torch.as_tensor(np.array(reference_angle, dtype=float))
    reference_angle = reference_angle.to(torch.float64).reshape(n)
    theta = torch.atan2(-(y - cy[..., None, None]), x - cx[..., None, None])  # (N, S, H, W)
    rel = torch.remainder(theta - reference_angle.view(n, 1, 1, 1), 2 * math.pi)
    sector = (rel / (2 * math.pi / N_SECTORS)).long().clamp(max=N_SECTORS - 1)
    index = (torch.arange(n * s).view(n, s, 1, 1) * N_SECTORS + sector).reshape(-1)  # slice x sector
    pixel = dy * dx
    count = lambda mask: torch.bincount(index, weights=mask.reshape(-1), minlength=n * s * N_SECTORS)  # noqa: E731
    cavity = count(cav).view(n, s, N_SECTORS) * pixel
    myo = count((labels == LV_MYOCARDIUM).double()).view(n, s, N_SECTORS) * pixel
    return cavity, myo, reference_angle, (cy, cx)


def segment_thickness_mm(labels, spacing_mm, reference_angle=None):
    """Mean LV wall thickness in 6 sectors of every slice, from the label map.

    Around the LV cavity's centroid, each slice is cut into 6 sectors of 60 degrees; the borders start at
    the direction of the RV centroid (the middle of the septum), so the sectors follow the anatomy as the
    AHA segments do. In a sector of angle Delta with cavity area A_c and myocardium area A_m, the radii of
    the circular sector of the same areas are R = sqrt(2 A_c / Delta) and E = sqrt(2 (A_c + A_m) / Delta),
    and the thickness is E - R (exact for a ring of constant thickness, an average otherwise).

    Parameters
    ----------
    labels : int tensor, shape (S, H, W) or (N, S, H, W)
    spacing_mm : (dz, dy, dx), mm
    reference_angle : None, float or (N,) array, radians
        The septum direction; None measures it from the RV (pass the ED one when measuring ES, so that the
        sectors are the same).

    Returns
    -------
    thickness : float64 array, shape (S, 6) or (N, S, 6), mm; NaN where a slice has no cavity or no
        myocardium in a sector (above the base, beyond the apex).
    reference_angle : float or (N,) array, radians
    """
    labels = _check_stack("labels", labels)
    _, dy, dx = _check_spacing(spacing_mm)
    single = labels.ndim == 3
    stacks = labels[None] if single else labels
    if stacks.ndim != 4:
        raise ValueError(f"labels must have shape (S, H, W) or (N, S, H, W), got {tuple(labels.shape)}.")
    n = stacks.shape[0]
    if reference_angle is not None:
        reference_angle = np.broadcast_to(np.asarray(reference_angle, dtype=float), (n,))
    parts = [_slice_geometry(stacks[i:i + 8], dy, dx, None if reference_angle is None else reference_angle[i:i + 8])
             for i in range(0, n, 8)]  # 8 subjects at a time: small intermediates
    cavity, myo, angle = (torch.cat(t) for t in list(zip(*parts))[:3])
    delta = 2 * math.pi / N_SECTORS
    r = torch.sqrt(2 * cavity / delta)
    e = torch.sqrt(2 * (cavity + myo) / delta)
    thickness = torch.where((cavity > 0) & (myo > 0), e - r, torch.full_like(r, float("nan"))).numpy()
    angle = angle.numpy()
    return (thickness[0], float(angle[0])) if single else (thickness, angle)


def endocardial_motion_mm(ed_stack, es_stack, spacing_mm):
    """Inward motion of the LV endocardium from ED to ES in 6 sectors of every slice, in mm.

    Wall motion is read in a fixed frame: both phases are cut into the sectors of
    ``segment_thickness_mm`` around the ED cavity's centroid, starting at the ED septum direction. In a
    sector of angle Delta the endocardial radius is that of the circular sector of the same cavity area,
    R = sqrt(2 A_c / Delta), and the inward motion is R_ED - R_ES (positive: the wall moved in; about 0:
    akinetic; negative: it bulged out, dyskinetic).

    Parameters
    ----------
    ed_stack, es_stack : int tensors, shape (S, H, W) or (N, S, H, W), the same slices at ED and ES
    spacing_mm : (dz, dy, dx), mm

    Returns
    -------
    motion : float64 array, shape (S, 6) or (N, S, 6), mm; NaN where a slice has no cavity at ED
    reference_angle : float or (N,) array, radians (sector k spans [k, k + 1) x 60 degrees
        counter-clockwise on screen from it)
    """
    ed = _check_stack("ed_stack", ed_stack)
    es = _check_stack("es_stack", es_stack)
    if ed.shape != es.shape:
        raise ValueError(f"ed_stack and es_stack must have the same shape, got {tuple(ed.shape)} and "
                         f"{tuple(es.shape)}.")
    _, dy, dx = _check_spacing(spacing_mm)
    single = ed.ndim == 3
    if single:
        ed, es = ed[None], es[None]
    if ed.ndim != 4:
        raise ValueError(f"ed_stack must have shape (S, H, W) or (N, S, H, W), got {tuple(ed.shape)}.")
    cav_ed, cav_es, angle = [], [], []
    for i in range(0, ed.shape[0], 8):  # 8 subjects at a time: small intermediates
        c_ed, _, a, centre = _slice_geometry(ed[i:i + 8], dy, dx)
        c_es, _, _, _ = _slice_geometry(es[i:i + 8], dy, dx, reference_angle=a, centre=centre)
        cav_ed.append(c_ed), cav_es.append(c_es), angle.append(a)
    cav_ed, cav_es, angle = torch.cat(cav_ed), torch.cat(cav_es), torch.cat(angle)
    delta = 2 * math.pi / N_SECTORS
    motion = (torch.sqrt(2 * cav_ed / delta) - torch.sqrt(2 * cav_es / delta)).numpy()
    has_cavity = (ed == LV_CAVITY).flatten(2).any(2).numpy()  # (N, S)
    motion = np.where(has_cavity[..., None], motion, np.nan)
    angle = angle.numpy()
    return (motion[0], float(angle[0])) if single else (motion, angle)


def mid_slices(n_slices: int) -> slice:
    """The mid-ventricular slices of a stack of ``n_slices``, base to apex: its middle 60 %."""
    return slice(round(0.2 * n_slices), round(0.8 * n_slices))


def sector_of_angle(angle_rad, reference_angle) -> np.ndarray:
    """The sector (0-5, as in ``endocardial_motion_mm``) holding an image angle, given each stack's reference.

    Parameters
    ----------
    angle_rad : float or (N,) array, radians, counter-clockwise on screen from the image right (for a
        phantom: its heart-frame angle plus ``rotation_deg``, in radians)
    reference_angle : float or (N,) array, radians (what ``endocardial_motion_mm`` returns)

    Returns
    -------
    int array of the broadcast shape, values 0-5
    """
    delta = np.remainder(np.asarray(angle_rad, dtype=float) - np.asarray(reference_angle, dtype=float), 2 * np.pi)
    return np.floor(delta / (2 * np.pi / N_SECTORS)).astype(int) % N_SECTORS


def mid_sector_motion_mm(ed_stack, es_stack, spacing_mm) -> np.ndarray:
    """Inward endocardial motion ED -> ES of each of the 6 sectors, averaged over the mid-ventricular slices.

    ``endocardial_motion_mm`` averaged over ``mid_slices``; the smallest of the 6 is the least-moving sector
    (an infarct scar's), the largest the most-moving one (the course's regional reading of MINF).

    Returns
    -------
    motion : float64 array, shape (6,) or (N, 6), mm
    reference_angle : float or (N,) array, radians
    """
    motion, reference = endocardial_motion_mm(ed_stack, es_stack, spacing_mm)
    with np.errstate(invalid="ignore"):
        per_sector = np.nanmean(motion[..., mid_slices(motion.shape[-2]), :], axis=-2)
    return per_sector, reference


def _bands(valid: np.ndarray) -> list[np.ndarray]:
    """Indices of the measurable slices, cut into N_BANDS contiguous thirds (basal, mid, apical)."""
    index = np.flatnonzero(valid)
    return [part for part in np.array_split(index, N_BANDS) if len(part)]


def _segments(per_slice: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(S, 6) per-slice values -> (18,) segment values (mean over each band's slices); NaN where absent."""
    out = np.full(N_BANDS * N_SECTORS, np.nan)
    for b, rows in enumerate(_bands(valid)):
        values = per_slice[rows]
        counts = np.isfinite(values).sum(0)
        sums = np.where(np.isfinite(values), values, 0.0).sum(0)
        out[b * N_SECTORS:(b + 1) * N_SECTORS] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return out


# ----------------------------------------------------------------------------- ACDC


def acdc_measures(ed_stack, es_stack, spacing_mm, bsa_m2) -> dict:
    """The clinical measures ACDC's group definitions use, from the ED and ES label stacks.

    Parameters
    ----------
    ed_stack, es_stack : int tensors, shape (S, H, W), or (N, S, H, W) for N subjects
        ACDC label maps at end-diastole and end-systole, the same slices in the same order (base to apex).
    spacing_mm : (dz, dy, dx), mm
    bsa_m2 : float or (N,) array, m^2
        Body surface area (``body_surface_area``).

    Returns
    -------
    dict of floats (one subject) or (N,) arrays:
        lv_edv_ml, lv_esv_ml, lv_ef, rv_edv_ml, rv_esv_ml, rv_ef (fractions), lv_mass_g (ED myocardium),
        lv_edv_index (mL/m^2), rv_edv_index (mL/m^2), lv_mass_index (g/m^2), rv_lv_edv_ratio,
        bsa_m2, max_thickness_mm (thickest of the 18 ED segments), n_thick_segments (> 15 mm at ED),
        n_abnormal_segments (systolic thickening < 30 %), n_akinetic_segments (< 10 %),
        min_thickening (the least-thickening segment, a fraction).
    """
    ed = _check_stack("ed_stack", ed_stack)
    es = _check_stack("es_stack", es_stack)
    if ed.shape != es.shape:
        raise ValueError(f"ed_stack and es_stack must have the same shape (the same slices at two phases), got "
                         f"{tuple(ed.shape)} and {tuple(es.shape)}.")
    single = ed.ndim == 3
    if not single and ed.ndim != 4:
        raise ValueError(f"ed_stack must have shape (S, H, W) or (N, S, H, W), got {tuple(ed.shape)}.")
    if single:
        ed, es = ed[None], es[None]
    n = ed.shape[0]
    bsa = _positive_array("bsa_m2", bsa_m2, "m^2", "1.6-2.2 m^2")
    if bsa.ndim and bsa.shape != (n,):
        raise ValueError(f"bsa_m2 must be one number or one per subject, shape ({n},), got shape {bsa.shape}.")
    if (bsa > 4).any():
        raise ValueError(f"bsa_m2 must be in m^2 (an adult is about 1.9), got {bsa_m2!r}; compute it with "
                         f"body_surface_area(height_cm, weight_kg).")
    v_ed, v_es = volumes_ml(ed, spacing_mm), volumes_ml(es, spacing_mm)
    v_ed = {k: np.atleast_1d(v) for k, v in v_ed.items()}
    v_es = {k: np.atleast_1d(v) for k, v in v_es.items()}
    for side in ("lv", "rv"):
        if (v_ed[side] <= 0).any():
            i = int(np.flatnonzero(v_ed[side] <= 0)[0])
            raise ValueError(f"the {side.upper()} cavity is empty at ED (subject {i}): acdc_measures needs both "
                             f"cavities labelled (1 RV cavity, 3 LV cavity) in ed_stack.")
    thick_ed, angle = segment_thickness_mm(ed, spacing_mm)
    thick_es, _ = segment_thickness_mm(es, spacing_mm, reference_angle=angle)
    valid = np.isfinite(thick_ed).all(2)  # (N, S): slices where the ring is complete at ED
    seg_ed = np.stack([_segments(thick_ed[i], valid[i]) for i in range(n)])  # (N, 18)
    seg_es = np.stack([_segments(thick_es[i], valid[i]) for i in range(n)])
    with np.errstate(invalid="ignore", divide="ignore"):
        thickening = (seg_es - seg_ed) / seg_ed
    mass = np.asarray(lv_mass_g(v_ed["myo"]))
    out = {
        "lv_edv_ml": v_ed["lv"], "lv_esv_ml": v_es["lv"],
        "lv_ef": np.asarray(ejection_fraction(v_ed["lv"], v_es["lv"])),
        "rv_edv_ml": v_ed["rv"], "rv_esv_ml": v_es["rv"],
        "rv_ef": np.asarray(ejection_fraction(v_ed["rv"], v_es["rv"])),
        "lv_mass_g": mass, "bsa_m2": np.broadcast_to(bsa, (n,)).astype(float),
        "lv_edv_index": v_ed["lv"] / bsa, "rv_edv_index": v_ed["rv"] / bsa, "lv_mass_index": mass / bsa,
        "rv_lv_edv_ratio": v_ed["rv"] / v_ed["lv"],
        "max_thickness_mm": _nan_if_inf(np.max(np.where(np.isfinite(seg_ed), seg_ed, -np.inf), axis=1)),
        "n_thick_segments": (np.nan_to_num(seg_ed, nan=0.0) > THICK_MM).sum(1),
        "n_abnormal_segments": (np.nan_to_num(thickening, nan=np.inf) < ABNORMAL_THICKENING).sum(1),
        "n_akinetic_segments": (np.nan_to_num(thickening, nan=np.inf) < AKINETIC_THICKENING).sum(1),
        "min_thickening": _nan_if_inf(np.min(np.nan_to_num(thickening, nan=np.inf), axis=1)),
    }
    return {k: _out(v[0]) for k, v in out.items()} if single else out


def _nan_if_inf(values: np.ndarray) -> np.ndarray:
    """NaN where no segment could be measured (the max or min of nothing)."""
    return np.where(np.isfinite(values), values, np.nan)


_NEEDED = ("lv_ef", "rv_ef", "lv_edv_index", "rv_edv_index", "lv_mass_index", "n_thick_segments",
           "n_abnormal_segments")


def acdc_criteria(measures: dict) -> dict:
    """Which ACDC group definitions the measures meet (the course's reading of them: ``COURSE_READING``).

    Parameters
    ----------
    measures : dict
        What ``acdc_measures`` returns (floats, or (N,) arrays).

    Returns
    -------
    dict of group -> bool (or (N,) bool array), for "NOR", "DCM", "HCM", "MINF", "ARV". A subject may meet
    several definitions (ACDC's experts left borderline cases out of the groups) or none.
    """
    if not isinstance(measures, dict):
        raise TypeError(f"measures must be the dict acdc_measures returns, got {type(measures).__name__}.")
    missing = [k for k in _NEEDED if k not in measures]
    if missing:
        raise ValueError(f"measures is missing {missing}; pass the dict that acdc_measures returns.")
    m = {k: np.asarray(measures[k], dtype=float) for k in _NEEDED}
    out = {
        "DCM": (m["lv_edv_index"] > 100) & (m["lv_ef"] < 0.40),
        "HCM": (m["lv_mass_index"] > 110) & (m["n_thick_segments"] >= SEVERAL) & (m["lv_ef"] > NORMAL_LVEF),
        "MINF": (m["lv_ef"] < 0.40) & (m["n_abnormal_segments"] >= SEVERAL),
        "ARV": (m["rv_edv_index"] > 110) | (m["rv_ef"] < 0.40),
    }
    out["NOR"] = ~(out["DCM"] | out["HCM"] | out["MINF"] | out["ARV"])
    single = np.ndim(m["lv_ef"]) == 0
    return {g: (bool(out[g]) if single else out[g]) for g in GROUPS}


def borderline_rv(measures: dict):
    """Whether the RV is borderline (``BORDERLINE_READING``): RVEF in [0.40, 0.45) and RV EDV index <= 110.

    Parameters
    ----------
    measures : dict with "rv_ef" and "rv_edv_index", floats or (N,) arrays (``acdc_measures`` or
        ``estimate_measures``)

    Returns
    -------
    bool, or (N,) bool array
    """
    rv_ef = np.asarray(measures["rv_ef"], dtype=float)
    out = (rv_ef >= BORDERLINE_RVEF[0]) & (rv_ef < BORDERLINE_RVEF[1]) & (np.asarray(measures["rv_edv_index"]) <= 110)
    return bool(out) if np.ndim(out) == 0 else out


def acdc_inclusion(measures: dict, group):
    """Whether each subject would have been admitted to ACDC's ``group``: it meets the group's definition (as
    ``COURSE_READING`` reads it) and, for NOR and ARV, its RV is not borderline (``borderline_rv``).

    This is how the challenge formed its groups: patients of each kind, kept where they met the definition and
    were not borderline. A subject may be admitted to several groups (MINF hearts often meet DCM's numbers).

    Parameters
    ----------
    measures : dict
        What ``acdc_measures`` (or ``estimate_measures``) returns: floats, or (N,) arrays.
    group : str or (N,) array of str
        One of ``GROUPS`` (the same for every subject) or one per subject.

    Returns
    -------
    bool, or (N,) bool array
    """
    criteria = acdc_criteria(measures)
    n = np.shape(np.asarray(measures["lv_ef"]))
    groups = np.broadcast_to(np.asarray(group, dtype=object), n)
    unknown = set(np.unique(groups).tolist()) - set(GROUPS)
    if unknown:
        raise ValueError(f"group must be one of {GROUPS}, got {sorted(unknown)[0]!r}.")
    out = np.zeros(n, dtype=bool)
    for g in GROUPS:
        out = np.where(groups == g, criteria[g], out)
    out = out & ~(np.isin(groups, ("NOR", "ARV")) & borderline_rv(measures))
    return bool(out) if np.ndim(out) == 0 else out


# ----------------------------------------------------------------------------- phantoms in 3-D

DEFAULT_LONG_AXIS_MM = 90.0
DEFAULT_BSA_M2 = 1.9
DEFAULT_N_SLICES = 10
DEFAULT_SIZE = 128
DEFAULT_STACK_FOV_MM = 200.0


def phantom_stack(params, phase="ED", *, n_slices: int = DEFAULT_N_SLICES,
                  long_axis_mm: float = DEFAULT_LONG_AXIS_MM, size: int = DEFAULT_SIZE,
                  field_of_view_mm: float = DEFAULT_STACK_FOV_MM, chunk: int = 2048):
    """A short-axis stack of the course's phantom, base to apex, and its voxel spacing.

    The phantom (``make_slices``) draws one slice at a level s in [0, 1] (0 base, 1 apex). A stack takes
    ``n_slices`` levels at the centres of equal parts, s_i = (i + 0.5) / n_slices, and spaces them by
    dz = long_axis_mm / n_slices, so disc summation integrates the LV from base to apex.

    Assumptions (the phantom has no long axis of its own):

    - ``long_axis_mm`` = 90: an adult LV is about 8-10 cm from the mitral plane to the apex at ED; the same
      length is used at ES (the phantom does not model the base's descent in systole, so ES volumes are
      slightly high and EFs are the area-based ones of ``make_slices``);
    - 10 slices, dz = 9 mm: ACDC's slices are 5 mm (sometimes 8 mm) thick, sometimes with a 5 mm gap, one every
      5 or 10 mm from base to apex (the challenge's description);
    - 128 pixels over 200 mm: 1.56 mm pixels, inside ACDC's in-plane range (1.37-1.68 mm per pixel side);
    - no body size either: ``DEFAULT_BSA_M2`` = 1.9 m^2 (175 cm, 75 kg by Mosteller) is the one to index by.

    Parameters
    ----------
    params : SubjectParams, list of them, or SubjectBatch (N subjects)
    phase : "ED", "ES" or float in [0, 1]
    n_slices : int >= 3
    long_axis_mm : float > 0, mm
    size, field_of_view_mm : pixels per side and image width in mm (``make_slices``)
    chunk : int
        Slices drawn at a time (memory only).

    Returns
    -------
    labels : torch.Tensor, uint8, shape (N, n_slices, size, size)
    spacing_mm : (dz, dy, dx), mm
    """
    from genlib.data.cardiac.phantom import as_subject_batch, make_slices

    if not isinstance(n_slices, (int, np.integer)) or isinstance(n_slices, bool) or n_slices < 3:
        raise ValueError(f"n_slices must be an integer >= 3 (slices from base to apex, ACDC has about 10), "
                         f"got {n_slices!r}.")
    if not (isinstance(long_axis_mm, (int, float)) and math.isfinite(long_axis_mm) and 20 <= long_axis_mm <= 200):
        raise ValueError(f"long_axis_mm must be the LV's base-to-apex length in mm, 20-200 (an adult: 80-100), "
                         f"got {long_axis_mm!r}.")
    batch = as_subject_batch(params)
    n = len(batch)
    levels = (np.arange(n_slices) + 0.5) / n_slices
    subject = np.repeat(np.arange(n), n_slices)
    level = np.tile(levels, n)
    labels = torch.empty(n * n_slices, size, size, dtype=torch.uint8)
    for start in range(0, n * n_slices, chunk):
        rows = slice(start, start + chunk)
        drawn, _ = make_slices(batch.take(subject[rows]), phase=phase, slice_level=level[rows], size=size,
                               field_of_view_mm=field_of_view_mm)
        labels[rows] = drawn.to(torch.uint8)
    pixel = float(field_of_view_mm) / size
    return labels.view(n, n_slices, size, size), (float(long_axis_mm) / n_slices, pixel, pixel)


def estimate_measures(params, *, n_slices: int = DEFAULT_N_SLICES, long_axis_mm: float = DEFAULT_LONG_AXIS_MM,
                      bsa_m2: float = DEFAULT_BSA_M2, n_angles: int = 64, thickening=None) -> dict:
    """ACDC's measures of phantoms estimated from their parameters, without drawing a pixel.

    What ``acdc_measures`` measures on ``phantom_stack``'s label maps, computed from the phantom's radial
    borders (``phantom.radial_borders``) at the stack's ``n_slices`` levels on ``n_angles`` angles:

    - LV and RV end-diastolic volumes and the LV myocardium's volume: (1/2) sum r^2 dphi of each region's
      borders per level, times dz (LV mass = 1.05 g/mL x the myocardium);
    - ejection fractions: the parameters ``lv_ef`` and ``rv_ef``, which the phantom keeps slice by slice;
    - the 18 segments' ED thickness and systolic thickening: per level, 6 sectors of 60 degrees around the LV
      centre starting at the RV's direction (its centroids over the levels, as ``segment_thickness_mm`` finds
      the septum), each sector's thickness E - R of the circular sector of the same cavity and myocardium
      areas; levels cut into three bands. At ES the sectors stay around the LV centre, whereas the measurement
      follows the ES cavity's centroid (a scar shifts it by a few mm). The thickening is computed only where
      ``thickening`` says (by default where lv_ef < 0.40, the only hearts whose definition, MINF's, uses it).

    The estimate misses the pixelisation (1.56 mm pixels in ``phantom_stack``): near a threshold it may
    disagree with the measurement (unit 00's benchmark reports how often).

    Parameters
    ----------
    params : SubjectParams, list of them, or SubjectBatch (N subjects)
    n_slices, long_axis_mm : the stack's slices and length (mm), as in ``phantom_stack``
    bsa_m2 : float, m^2
    n_angles : angular bins (a power of 2, >= 64; 64 puts the sectors' borders within 2.8 degrees)
    thickening : None or (N,) bool array
        Where to compute the systolic thickening (an ES pass); None: where lv_ef < 0.40.

    Returns
    -------
    dict of (N,) float arrays with the keys ``acdc_criteria`` needs (lv_ef, rv_ef, lv_edv_index,
    rv_edv_index, lv_mass_index, n_thick_segments, n_abnormal_segments) and lv_edv_ml, rv_edv_ml, lv_mass_g,
    max_thickness_mm, min_thickening (n_abnormal_segments and min_thickening NaN where not computed).
    """
    from genlib.data.cardiac.phantom import bin_angles, radial_borders, subject_tensors, as_subject_batch

    batch = as_subject_batch(params)
    n, s = len(batch), int(n_slices)
    p = {k: v.repeat_interleave(s, 0) for k, v in subject_tensors(batch).items()}
    levels = ((torch.arange(s, dtype=torch.float32) + 0.5) / s).repeat(n)
    dphi, dz = 2 * math.pi / n_angles, float(long_axis_mm) / s
    ed = radial_borders(p, levels, torch.zeros(n * s), n_angles)[:, [2, 4, 5]].double()  # (N S, 3, A)
    R, E, outer = ed[:, 0], ed[:, 1], ed[:, 2]  # cavity, epicardium, RV free wall (inner) at ED
    level_ml = lambda inner, out: (0.5 * (out**2 - inner**2).sum(1) * dphi * dz / 1000.0).view(n, s)  # noqa: E731
    lv_edv, myo, rv = (level_ml(torch.zeros_like(R), R).sum(1), level_ml(R, E).sum(1), level_ml(E, outer))
    # The septum's direction: the sum over levels of the RV crescent's centroid (heart frame).
    phi = bin_angles(n_angles).double()
    moment = ((outer**3 - E**3) / 3.0)  # (N S, A): r^2 dr integrated, times the centroid's direction
    has_rv = (rv > 0).view(-1, 1).double()
    area = (0.5 * (outer**2 - E**2)).sum(1, keepdim=True).clamp(min=1e-12)
    cx = (has_rv * (moment * torch.cos(phi)).sum(1, keepdim=True) / area).view(n, s).sum(1)
    cy = (has_rv * (moment * torch.sin(phi)).sum(1, keepdim=True) / area).view(n, s).sum(1)
    reference = torch.atan2(cy, cx)  # (N,)
    sector = (torch.remainder(phi[None] - reference[:, None], 2 * math.pi) / (2 * math.pi / N_SECTORS)).long()
    sector = sector.clamp(max=N_SECTORS - 1).repeat_interleave(s, 0)  # (N S, A)

    def segments(borders, sector):
        """(M S, >= 2, A) borders R, E, ..., (M S, A) sectors -> (M, 18): the thickness E - R of the circular
        sectors of the same cavity and myocardium areas, per level and sector, then its mean over each band."""
        r2, e2 = borders[:, 0] ** 2, borders[:, 1] ** 2
        sums = torch.zeros(len(r2), N_SECTORS, 3, dtype=torch.float64)
        sums.scatter_add_(1, sector[..., None].expand(-1, -1, 3), torch.stack([r2, e2, torch.ones_like(r2)], dim=2))
        per_level = (torch.sqrt(sums[..., 1] / sums[..., 2]) - torch.sqrt(sums[..., 0] / sums[..., 2])).view(-1, s, N_SECTORS)
        return torch.cat([per_level[:, rows].mean(1) for rows in np.array_split(np.arange(s), N_BANDS)], dim=1).numpy()

    seg_ed = segments(ed, sector)
    where = np.asarray(batch.lv_ef) < 0.40 if thickening is None else np.asarray(thickening, dtype=bool)
    if where.shape != (n,):
        raise ValueError(f"thickening must be None or one bool per subject, shape ({n},), got shape {where.shape}.")
    thickening = np.full_like(seg_ed, np.nan)  # (N, 18)
    low = np.flatnonzero(where)
    if len(low):  # the ES borders of these subjects only
        rows = torch.as_tensor(low).repeat_interleave(s) * s + torch.arange(s).repeat(len(low))
        es = radial_borders({k: v[rows] for k, v in p.items()}, levels[rows], torch.ones(len(rows)), n_angles)[:, [2, 4]].double()
        thickening[low] = segments(es, sector[rows]) / seg_ed[low] - 1
    bsa = float(bsa_m2)
    lv_edv, myo, rv_edv = lv_edv.numpy(), myo.numpy(), rv.sum(1).numpy()
    mass = MYOCARDIAL_DENSITY_G_PER_ML * myo
    return {
        "lv_ef": np.asarray(batch.lv_ef, dtype=float), "rv_ef": np.asarray(batch.rv_ef, dtype=float),
        "lv_edv_ml": lv_edv, "rv_edv_ml": rv_edv, "lv_mass_g": mass,
        "lv_edv_index": lv_edv / bsa, "rv_edv_index": rv_edv / bsa, "lv_mass_index": mass / bsa,
        "max_thickness_mm": seg_ed.max(1), "n_thick_segments": (seg_ed > THICK_MM).sum(1),
        "n_abnormal_segments": np.where(np.isnan(thickening[:, 0]), np.nan, (thickening < ABNORMAL_THICKENING).sum(1)),
        "min_thickening": thickening.min(1),
    }
