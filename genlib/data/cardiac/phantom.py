"""Short-axis cardiac phantoms: subject parameters -> label map + tissue map.

The heart is drawn in polar coordinates (rho, phi) around the LV centre. Along
every ray phi the structures are radial bands between angular profiles:

    rho < R_c(phi)                      LV cavity        (label 3, blood; papillary muscles: myocardium)
    rho < R_c + tau(phi) T(phi)         scar             (label 2, scar; MINF only)
    rho < R_c + T(phi) = E(phi)         LV myocardium    (label 2, myocardium)
    rho < E + D(phi)                    RV cavity        (label 1, blood)
    rho < E + D + T_rv(phi)             RV free wall     (label 0, myocardium)
    rho < E + D + T_rv + F(phi)         epicardial fat   (label 0, fat)

so a pixel's region is the number of borders below its radius: one lookup of the
borders at its angle and a few comparisons, for the whole batch at once.
Everything further out is the chest of an adult (``body_radii_mm``, about
320 x 220 mm, wider than the default 200 mm field of view), placed relative to
the heart: the heart lies behind the sternum, left of the midline, with
mediastinal fat (no lung) between it and the anterior chest wall; lungs beside
and behind it, the liver, a vertebral body, the descending aorta, chest wall,
subcutaneous fat, and air outside the body ellipse. The image is centred on the
heart (``centre_offset_mm`` puts the LV centre right of and below the centre).

- ``R_c`` is an area-preserving ellipse of area pi r^2 scaled by
  ``sqrt(1 - phase * lv_ef)`` (outside a scar): the cavity area falls linearly from ED (phase 0)
  to ES (phase 1), and the ES/ED area ratio is exactly ``1 - lv_ef``.
- ``T`` is the wall thickness (6 segments, smoothly interpolated). In systole
  each angle keeps its myocardial area, E_ES^2 - R_ES^2 = E_ED^2 - R_ED^2, so the
  wall thickens as the cavity shrinks. A scar sector is thinned, and its endocardium moves in by
  (1 - transmurality) times the remote wall's motion (a transmural scar is akinetic); the remote wall
  moves further in, so the ES/ED area ratio is still ``1 - lv_ef``.
- ``D`` is the RV crescent, ``rv_depth_mm * cos(pi/2 * dphi / span)`` around the
  septum; its ES depth is solved so that the crescent area is
  ``1 - phase * rv_ef`` times its ED area.
- Two papillary muscles, disks of myocardium at the cavity's edge, are drawn in
  the same polar scheme as a band inside the cavity (label LV cavity, as in ACDC);
  they show in mid-ventricular slices, not at the base or the apex.
- The slice level s (0 base .. 1 apex) tapers the anatomy: the LV cavity by
  ``sqrt(1 - (0.93 s)^2)``, the wall by ``1 - 0.25 s``, the RV depth by
  ``sqrt(1 - (s / 0.9)^2)`` (no RV beyond s = 0.9: the RV's apex lies about 1 cm short of the
  LV's) and its span by ``1 - 0.35 s``.

Image axes: x to the image right (patient left), y down (posterior); the image
is displayed radiologically, so the RV lies on the image left of the LV.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from genlib._validation import as_rng, check_choice
from genlib.data.cardiac.labels import (
    AIR, BLOOD, CHEST_WALL, FAT, LIVER, LUNG, LV_CAVITY, LV_MYOCARDIUM, MYOCARDIUM, RV_CAVITY, SCAR,
)
from genlib.data.cardiac.pathology import (
    SEGMENT_CENTRES_DEG, SubjectBatch, SubjectParams, sample_subjects,
)

DEFAULT_FOV_MM = 200.0
PHASES = {"ED": 0.0, "ES": 1.0}
_CHUNK = 256  # subjects drawn at a time: intermediates stay small, few large ops

# Regions in radial order from the LV centre: (label, tissue) of each.
_REGIONS = (
    (LV_CAVITY, BLOOD),  # cavity inside the papillary muscle band
    (LV_CAVITY, MYOCARDIUM),  # papillary muscle
    (LV_CAVITY, BLOOD),  # cavity
    (LV_MYOCARDIUM, SCAR),
    (LV_MYOCARDIUM, MYOCARDIUM),
    (RV_CAVITY, BLOOD),
    (0, MYOCARDIUM),  # RV free wall
    (0, FAT),  # epicardial fat
    (0, AIR),  # outside the heart: replaced by the chest
)
_OUTSIDE = len(_REGIONS) - 1
# Lookup tables from region code to label and tissue; codes _OUTSIDE + t are chest tissue t.
_LABEL_LUT = torch.tensor([label for label, _ in _REGIONS[:-1]] + [0] * 8)
_TISSUE_LUT = torch.tensor([tissue for _, tissue in _REGIONS[:-1]] + list(range(8)))
_PAPILLARY_ANGLES_DEG = (45.0, 290.0)  # heart frame: anterolateral, inferomedial
RV_APEX_LEVEL = 0.9  # the RV ends about 1 cm (0.1 of the long axis) before the LV's apex
_RV_SHAPE_POWER = 1.0  # crescent depth ~ cos(pi/2 * dphi / span)^power: pointed horns

# The chest, placed relative to the heart (mm). The heart lies behind the sternum, left of the body's
# midline (image right): the LV centre is about 40 mm left of the midline. The anterior skin lies in front
# of the heart's front edge (its epicardial fat at the base, ED) by the pericardial and mediastinal fat,
# 12 mm of chest wall and the subcutaneous fat: a big heart pushes the chest wall forward, never into it.
_HEART_LEFT_OF_MIDLINE_MM = 40.0
_MEDIASTINAL_FAT_MM = 5.0
_SUBCUTANEOUS_FAT_MM = 6.0
_CHEST_WALL_MM = (12.0, 40.0)  # anterior (muscle, sternum and ribs), posterior (paraspinal muscles)
_HEART_TO_SPINE_MM = 88.0  # the vertebral body's centre behind the LV's centre (the LA and aorta between)


# ----------------------------------------------------------------------------- geometry


def _level_scales(s: torch.Tensor) -> dict[str, torch.Tensor]:
    """Base-to-apex taper factors at slice level ``s`` (N,), each (N, 1)."""
    s = s[:, None]
    rv = torch.clamp(1 - (s / RV_APEX_LEVEL) ** 2, min=0).sqrt()
    return dict(
        lv=torch.sqrt(1 - (0.93 * s) ** 2),
        wall=1 - 0.25 * s,
        rv=rv,
        rv_wall=torch.clamp(4 * rv, max=1.0),
        rv_span=1 - 0.35 * s,
        papillary=((s - 0.05) / 0.15).clamp(0, 1) * ((0.95 - s) / 0.3).clamp(0, 1),  # mid-ventricular
    )


def _wrap(angle: torch.Tensor) -> torch.Tensor:
    """Angle difference wrapped into [-pi, pi)."""
    return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi


def _smooth_step(x: torch.Tensor) -> torch.Tensor:
    """0 for x <= 0, 1 for x >= 1, a half cosine in between."""
    return 0.5 - 0.5 * torch.cos(math.pi * x.clamp(0, 1))


def _n_angles(size: int) -> int:
    """Angular bins of the border profiles: a power of 2 (the wrap is a bit mask), about 4 per
    pixel of the image width (256 at size 64: 1.4 degrees, under a pixel at the heart's edge)."""
    return max(64, 1 << math.ceil(math.log2(4 * size)))


@lru_cache(maxsize=8)
def bin_angles(n_angles: int) -> torch.Tensor:
    """Centres of the ``n_angles`` angular bins around the LV centre, (A,) radians: the polar grid on which
    the phantom draws its borders and ``clinical.estimate_measures`` integrates them."""
    return (torch.arange(n_angles, dtype=torch.float32) + 0.5) * (2 * math.pi / n_angles)


@lru_cache(maxsize=8)
def _segment_weights(n_angles: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Periodic cosine interpolation between the 6 segment centres: (i0, i1, w), each (A,)."""
    position = torch.remainder(torch.rad2deg(bin_angles(n_angles)) - SEGMENT_CENTRES_DEG[0], 360.0) / 60.0
    i0 = position.floor().long() % 6
    return i0, (i0 + 1) % 6, _smooth_step(position - position.floor())


@lru_cache(maxsize=16)
def _ticks(size: int, field_of_view_mm: float) -> torch.Tensor:
    """Pixel-centre coordinates along one axis, in mm from the image centre, (size,)."""
    return (torch.arange(size, dtype=torch.float32) + 0.5 - size / 2) * (field_of_view_mm / size)


def subject_tensors(batch: SubjectBatch) -> dict[str, torch.Tensor]:
    """The fields of a batch as float32 tensors, (N,) or (N, k); angles in radians, keys without ``_deg``;
    the scar's transmurality zero where there is no scar. What ``radial_borders`` reads."""
    out = {}
    for name in ("lv_radius_mm", "lv_elongation", "wall_thickness_mm", "wall_profile", "lv_ef",
                 "rv_depth_mm", "rv_wall_mm", "rv_ef", "centre_offset_mm", "scar_transmurality",
                 "scar_thinning", "papillary_radius_mm", "fat_mm", "body_radii_mm"):
        out[name] = torch.as_tensor(getattr(batch, name), dtype=torch.float32)
    for name in ("rv_span_deg", "rv_tilt_deg", "rotation_deg", "scar_width_deg", "scar_centre_deg"):
        out[name[: -len("_deg")]] = torch.deg2rad(torch.as_tensor(getattr(batch, name), dtype=torch.float32))
    out["scar_transmurality"] = out["scar_transmurality"] * torch.as_tensor(batch.has_scar, dtype=torch.float32)
    return out


def radial_borders(p: dict[str, torch.Tensor], level: torch.Tensor, phase: torch.Tensor, n_angles: int) -> torch.Tensor:
    """Radial borders of every region around the LV centre, in mm.

    Parameters
    ----------
    p : dict from ``subject_tensors``, one row per (subject, slice)
    level : (N,) slice level, 0 at the base to 1 at the apex
    phase : (N,) cardiac phase, 0 at end-diastole to 1 at end-systole
    n_angles : number of angular bins (``bin_angles``)

    Returns
    -------
    torch.Tensor, float32, shape (N, 8, A)
        For each of A = n_angles angles, in radial order: papillary band inner and
        outer border, R_c, scar outer border, E, E + D, RV wall outer border, fat
        outer border.
    """
    phi = bin_angles(n_angles)[None, :]  # (1, A)
    scale = _level_scales(level)
    col = lambda name: p[name][:, None]  # noqa: E731  (N, 1)
    phase = phase[:, None]

    # LV cavity: an area-preserving ellipse, long axis anterior-inferior.
    e = col("lv_elongation")
    ellipse = torch.rsqrt(torch.cos(phi - math.pi / 2) ** 2 / e + e * torch.sin(phi - math.pi / 2) ** 2)
    R_ed = col("lv_radius_mm") * scale["lv"] * ellipse  # (N, A)

    # Wall: the segment profile, thinned in the scar sector.
    i0, i1, w = _segment_weights(n_angles)
    profile = p["wall_profile"][:, i0] * (1 - w) + p["wall_profile"][:, i1] * w  # (N, A)
    dscar = _wrap(phi - col("scar_centre")).abs()
    half_width = col("scar_width").clamp(min=1e-6) / 2
    has_scar = (col("scar_transmurality") > 0).float()
    in_scar = has_scar * _smooth_step((half_width + 0.17 - dscar) / 0.35)  # ~10 degree taper
    T_ed = col("wall_thickness_mm") * scale["wall"] * profile * (1 - (1 - col("scar_thinning")) * in_scar)
    E_ed = R_ed + T_ed

    # Systole: the cavity area falls by phase * EF. A scar's endocardium moves in by (1 - transmurality)
    # times the remote wall's inward motion (contraction lives in the viable outer layer: Kim et al.,
    # NEJM 2000): a transmural scar is akinetic, a subendocardial one hypokinetic. With c = 1 - a
    # (a = in_scar * transmurality, 0 outside the scar) and q the remote wall's fractional inward motion,
    # R = R_ed (1 - c q), and q solves sum R_ed^2 (1 - c q)^2 = (1 - phase * EF) sum R_ed^2, a quadratic.
    # The remote wall moves further in than it would without the scar; whether that is hyperkinetic
    # depends on the EF (at a low EF it is still hypokinetic). Each angle keeps its myocardial area, so
    # the wall thickens as it moves in; the scarred fraction of it barely thickens.
    shrink = 1 - phase * col("lv_ef")  # (N, 1): ES/ED cavity area ratio at this phase
    akinesis = in_scar * col("scar_transmurality")  # (N, A): 1 in a transmural scar
    c = 1 - akinesis
    a0 = (R_ed**2).sum(1, keepdim=True)
    b1 = (c * R_ed**2).sum(1, keepdim=True)
    b2 = (c**2 * R_ed**2).sum(1, keepdim=True)
    disc = (b1**2 - b2 * (1 - shrink) * a0).clamp(min=0)
    q = ((b1 - torch.sqrt(disc)) / b2.clamp(min=1e-6)).clamp(max=1 - 0.224)  # SubjectParams forbids more
    q = torch.where(b1 < a0, q, 1 - torch.sqrt(shrink))  # without a scar, exactly the uniform contraction
    R = R_ed * (1 - c * q)
    T_kept = torch.sqrt(R**2 + E_ed**2 - R_ed**2) - R
    T = T_ed + (1 - 0.9 * akinesis) * (T_kept - T_ed)
    E = R + T
    tau = col("scar_transmurality") * torch.clamp(1 - (dscar / half_width) ** 4, min=0).sqrt()

    # RV crescent around the septum; its depth at this phase keeps the area ratio 1 - phase * rv_ef:
    # area(k) = sum (E k D + k^2 D^2 / 2) dphi, a quadratic in k.
    span = col("rv_span") * scale["rv_span"]
    rv_centre = math.pi - col("rv_tilt")
    shape = torch.cos(0.5 * math.pi * torch.clamp(_wrap(phi - rv_centre).abs() / span, max=1.0))
    shape = shape.clamp(min=0) ** _RV_SHAPE_POWER
    D_ed = col("rv_depth_mm") * scale["rv"] * shape  # (N, A)
    area_ed = (E_ed * D_ed + 0.5 * D_ed**2).sum(1, keepdim=True)  # (N, 1), in units of dphi
    a, b = (E * D_ed).sum(1, keepdim=True), (D_ed**2).sum(1, keepdim=True)
    target = (1 - phase * col("rv_ef")) * area_ed
    k = torch.where(b > 0, (torch.sqrt(a**2 + 2 * b * target) - a) / b.clamp(min=1e-12), torch.ones_like(b))
    D = k * D_ed
    T_rv = col("rv_wall_mm") * scale["rv_wall"] * torch.clamp(3 * shape, max=1.0) * (1 + 0.3 * phase)

    # Epicardial fat: thin over the LV, fuller over the RV, thickest in the grooves where they meet.
    groove = (torch.exp(-((_wrap(phi - rv_centre - span) / 0.25) ** 2))
              + torch.exp(-((_wrap(phi - rv_centre + span) / 0.25) ** 2)))
    F = col("fat_mm") * (0.4 + scale["rv_wall"] * (0.6 * torch.clamp(3 * shape, max=1.0) + 1.5 * groove))

    # Papillary muscles: disks of radius r at distance d from the centre, hanging from the wall.
    # Along a ray at angle delta from a disk's centre it spans d cos(delta) -+ sqrt(r^2 - d^2 sin^2(delta)).
    r_pm = col("papillary_radius_mm") * scale["papillary"] * (1 + 0.3 * phase)  # (N, 1)
    r_pm = torch.minimum(r_pm, 0.25 * R.mean(1, keepdim=True))  # never filling a small cavity
    pm_in = torch.zeros_like(R)
    pm_out = torch.zeros_like(R)
    for angle in _PAPILLARY_ANGLES_DEG:
        delta = _wrap(phi - math.radians(angle))
        d = (R[:, int(angle / 360.0 * n_angles), None] - 1.7 * r_pm).clamp(min=0)
        half_chord = torch.sqrt((r_pm**2 - (d * torch.sin(delta)) ** 2).clamp(min=0))
        hit = (half_chord > 0) & (delta.abs() < math.pi / 2)
        pm_in = torch.where(hit, d * torch.cos(delta) - half_chord, pm_in)
        pm_out = torch.where(hit, d * torch.cos(delta) + half_chord, pm_out)
    pm_out = torch.minimum(pm_out, R)
    pm_in = torch.minimum(pm_in.clamp(min=0), pm_out)

    fat_outer = E + D + T_rv + F
    return torch.stack([pm_in, pm_out, R, R + tau * T, E, E + D, E + D + T_rv, fat_outer], dim=1)


def heart_front_mm(p: dict[str, torch.Tensor], n_angles: int = 64) -> torch.Tensor:
    """How far the heart reaches anterior (image up) of the LV centre, in mm, (N,).

    The outer border of the epicardial fat at the base (s = 0, the widest level) at ED, rotated into the
    image: max over angles of fat_outer(phi) * sin(phi + rotation).
    """
    n = p["lv_radius_mm"].shape[0]
    outer = radial_borders(p, torch.zeros(n), torch.zeros(n), n_angles)[:, -1]  # (N, A)
    up = torch.sin(bin_angles(n_angles)[None, :] + p["rotation"][:, None])
    return (outer * up).amax(1)


def ed_cavity_volumes_ml(params, *, n_slices: int = 10, long_axis_mm: float = 90.0, n_angles: int = 64):
    """End-diastolic LV and RV cavity volumes of each subject, from the border profiles (no pixels), in mL.

    The volumes ``genlib.data.cardiac.clinical.phantom_stack`` measures by disc summation, up to
    pixelisation: ``n_slices`` levels s_i = (i + 0.5) / n_slices, each area times dz = long_axis_mm /
    n_slices. The LV cavity area at a level is (1/2) sum R^2 dphi (papillary muscles included, as ACDC
    labels them), the RV crescent's (1/2) sum ((E + D)^2 - E^2) dphi.

    Parameters
    ----------
    params : SubjectParams, list of them, or SubjectBatch (N subjects)
    n_slices, long_axis_mm : the stack's slices and length (mm)
    n_angles : angular bins of the RV's integral (64: within 0.03 % of 1024 bins; the LV's is exact)

    Returns
    -------
    lv, rv : float64 arrays, shape (N,), mL
    """
    batch = as_subject_batch(params)
    p = subject_tensors(batch)
    n = len(batch)
    levels = (torch.arange(n_slices, dtype=torch.float32) + 0.5) / n_slices
    p = {k: v.repeat_interleave(n_slices, 0) for k, v in p.items()}
    borders = radial_borders(p, levels.repeat(n), torch.zeros(n * n_slices), n_angles).double()  # (N S, 8, A)
    E, ED = borders[:, 4], borders[:, 5]
    dphi = 2 * math.pi / n_angles
    dz = long_axis_mm / n_slices
    rv = (0.5 * (ED**2 - E**2).sum(1) * dphi * dz / 1000.0).view(n, n_slices).sum(1)
    return lv_edv_ml(batch.lv_radius_mm, n_slices=n_slices, long_axis_mm=long_axis_mm), rv.numpy()


def lv_edv_ml(lv_radius_mm, *, n_slices: int = 10, long_axis_mm: float = 90.0) -> np.ndarray:
    """End-diastolic LV cavity volume in mL, exactly: the cavity (an ellipse of area pi r^2, papillary muscles
    included) tapered by ``_level_scales``, summed over the levels of ``ed_cavity_volumes_ml``, (N,)."""
    levels = (torch.arange(n_slices, dtype=torch.float64) + 0.5) / n_slices
    taper = float((_level_scales(levels)["lv"] ** 2).sum())
    return math.pi * np.asarray(lv_radius_mm, dtype=float) ** 2 * taper * (long_axis_mm / n_slices) / 1000.0


def _chest(p: dict[str, torch.Tensor], level: torch.Tensor, size: int, field_of_view_mm: float) -> torch.Tensor:
    """Tissue codes of the chest around the heart, (N, H, W) uint8, placed relative to each LV centre.

    An adult chest (``body_radii_mm``, about 320 x 220 mm; larger than the field of view, so the image shows
    its anterior part): air outside the body ellipse, subcutaneous fat, chest wall muscle (thin in front,
    thick paraspinal muscles at the back), and the thoracic cavity. The heart lies in the mediastinum
    against the anterior chest wall, left of the midline: pericardial and mediastinal fat fill the space
    between the heart and the sternum, so no lung lies in front of the heart; the lungs are lateral and
    posterior to it. A vertebral body and the descending aorta (with its fat) lie behind the heart, and the
    liver, a dome on the patient's right (image left), rises into apical slices.
    """
    n = level.shape[0]
    ticks = _ticks(size, field_of_view_mm)
    a = p["body_radii_mm"][:, 0].view(n, 1, 1)
    b = p["body_radii_mm"][:, 1].view(n, 1, 1)
    cx = p["centre_offset_mm"][:, 0].view(n, 1, 1)  # the LV centre
    cy = p["centre_offset_mm"][:, 1].view(n, 1, 1)
    x = ticks.view(1, 1, -1)  # (1, 1, W)
    y = ticks.view(1, -1, 1)  # (1, H, 1)
    midline = cx - _HEART_LEFT_OF_MIDLINE_MM
    front, back = _CHEST_WALL_MM
    heart_front = heart_front_mm(p).view(n, 1, 1)  # how far the heart reaches in front of the LV centre
    skin_y = cy - (heart_front + _MEDIASTINAL_FAT_MM + front + _SUBCUTANEOUS_FAT_MM)
    body_y = skin_y + b  # the body's centre: its front is just ahead of the heart

    def inside(x0, y0, half_x, half_y):
        return ((x - x0) / half_x) ** 2 + ((y - y0) / half_y) ** 2 < 1  # (N, H, W)

    wall = _SUBCUTANEOUS_FAT_MM + 0.5 * (front + back)
    shift = 0.5 * (back - front)  # the thoracic cavity sits anterior: thicker back muscles
    tissue = torch.full((n, size, size), AIR, dtype=torch.uint8)
    tissue.masked_fill_(inside(midline, body_y, a, b), FAT)
    tissue.masked_fill_(inside(midline, body_y, a - _SUBCUTANEOUS_FAT_MM, b - _SUBCUTANEOUS_FAT_MM), CHEST_WALL)
    tissue.masked_fill_(inside(midline, body_y - shift, a - wall, b - wall), LUNG)
    # The anterior mediastinum: fat between the heart and the sternum (where the heart does not fill it);
    # the lungs touch the heart only laterally and behind it.
    # An ellipse over the front of the heart, sized by it, reaching the chest wall: the mediastinal fat.
    mediastinum = inside(cx - 15.0, cy - 0.8 * heart_front, heart_front + 40.0, 0.6 * heart_front + 8.0)
    tissue.masked_fill_(mediastinum & (tissue == LUNG), FAT)
    # The vertebral body 88 mm behind the LV centre, or nearer where a big heart in a shallow chest leaves
    # less room: its back edge stays 30 mm of paraspinal muscle and the fat inside the back skin.
    spine_y = torch.minimum(cy + _HEART_TO_SPINE_MM, body_y + b - _SUBCUTANEOUS_FAT_MM - 30.0 - 16.0)
    tissue.masked_fill_(inside(midline, spine_y, 16.0, 16.0), CHEST_WALL)  # vertebral body
    tissue.masked_fill_(inside(midline + 24.0, spine_y - 26.0, 14.0, 14.0), FAT)
    tissue.masked_fill_(inside(midline + 24.0, spine_y - 26.0, 11.0, 11.0), BLOOD)  # descending aorta
    liver_top = cy + 42.0 - 22.0 * level.view(n, 1, 1)
    liver = inside(midline - 0.35 * a, liver_top + 0.55 * b, 0.6 * a, 0.55 * b)
    return tissue.masked_fill_(liver & (tissue == LUNG), LIVER)


def _draw(p: dict[str, torch.Tensor], level: torch.Tensor, phase: torch.Tensor, size: int,
          field_of_view_mm: float, labels: torch.Tensor, tissues: torch.Tensor) -> None:
    """Draw one chunk of subjects into ``labels`` and ``tissues`` (N, H, W) int64, in place."""
    n, n_angles = level.shape[0], _n_angles(size)
    borders = radial_borders(p, level, phase, n_angles) ** 2  # (N, 8, A), squared: compared with rho^2
    ticks = _ticks(size, field_of_view_mm)
    dx = ticks.view(1, 1, size) - p["centre_offset_mm"][:, 0].view(n, 1, 1)  # (N, 1, W)
    dy = ticks.view(1, size, 1) - p["centre_offset_mm"][:, 1].view(n, 1, 1)  # (N, H, 1)
    rho2 = (dx * dx + dy * dy).view(n, 1, -1)  # (N, 1, P)
    # Angular bin of each pixel in the heart frame: counter-clockwise on screen, minus the rotation.
    bins_per_radian = n_angles / (2 * math.pi)
    offset = ((4 * math.pi - p["rotation"]) * bins_per_radian).view(n, 1, 1)
    angle_bin = torch.add(offset, torch.atan2(-dy, dx), alpha=bins_per_radian).long()
    angle_bin.bitwise_and_(n_angles - 1)  # (N, H, W)

    at_pixel = borders.gather(2, angle_bin.view(n, 1, -1).expand(n, borders.shape[1], -1))  # (N, 8, P)
    region = (rho2 >= at_pixel).view(torch.uint8).sum(1, dtype=torch.uint8)  # (N, P): 0 .. _OUTSIDE
    # Outside the heart, the chest: codes _OUTSIDE + tissue, in the same lookup tables.
    chest = _chest(p, level, size, field_of_view_mm).view(n, -1)
    region = torch.where(region == _OUTSIDE, chest + _OUTSIDE, region).long()
    torch.index_select(_LABEL_LUT, 0, region.view(-1), out=labels.view(-1))
    torch.index_select(_TISSUE_LUT, 0, region.view(-1), out=tissues.view(-1))


# ----------------------------------------------------------------------------- public API


def _per_subject(name: str, value, n: int, choices: dict | None = None) -> torch.Tensor:
    """A number or (N,) sequence in [0, 1] (or a name in ``choices``) as an (N,) float32 tensor."""
    if isinstance(value, str):
        if choices is None:
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}.")
        check_choice(name, value, tuple(choices))
        value = choices[value]
    try:
        t = torch.as_tensor(np.asarray(value, dtype=np.float32))
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number in [0, 1] or a sequence of N of them, got {value!r}.") from None
    if t.ndim == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(f"{name} must be one number or one per subject, shape ({n},), got shape {tuple(t.shape)}.")
    if not (torch.isfinite(t).all() and (t >= 0).all() and (t <= 1).all()):
        what = " (0 ED .. 1 ES)" if choices else " (0 base .. 1 apex)"
        raise ValueError(f"{name} must be in [0, 1]{what}, got {value!r}.")
    return t.float().contiguous()


def as_subject_batch(params) -> SubjectBatch:
    """``params`` (one ``SubjectParams``, a list of them, or a ``SubjectBatch``) as a ``SubjectBatch``."""
    if isinstance(params, SubjectBatch):
        return params
    if isinstance(params, SubjectParams):
        return SubjectBatch.from_params([params])
    if isinstance(params, (list, tuple)) and params and all(isinstance(q, SubjectParams) for q in params):
        return SubjectBatch.from_params(params)
    raise TypeError(
        "params must be a SubjectParams, a non-empty list of them, or a SubjectBatch; got "
        f"{type(params).__name__}. Draw some with sample_subject or sample_subjects."
    )


def make_slices(params, *, phase="ED", slice_level=0.3, size: int = 64,
                field_of_view_mm: float = DEFAULT_FOV_MM) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one short-axis slice of each subject in a batch.

    Parameters
    ----------
    params : SubjectParams, sequence of N SubjectParams, or SubjectBatch
    phase : "ED", "ES", float in [0, 1], or sequence of N floats
        Systolic contraction: 0 ("ED") end-diastole, 1 ("ES") end-systole; the
        cavity areas fall linearly in between. For a beating heart use
        ``phase = (1 - cos(2 pi t)) / 2`` over the cycle t in [0, 1].
    slice_level : float in [0, 1], or sequence of N floats
        0 base .. 1 apex. The cavities shrink towards the apex; the RV is gone
        beyond 0.9.
    size : int
        Height and width in pixels (>= 8; 32, 64 and 128 are the usual ones).
    field_of_view_mm : float in [20, 1000]
        Width of the image in mm; the default 200 shows the heart and the chest
        around it. Smaller zooms in: at size 32, about 130 mm keeps the
        myocardium two pixels thick.

    Returns
    -------
    labels : torch.Tensor, int64, shape (N, size, size)
        0 background, 1 RV cavity, 2 LV myocardium (scar included), 3 LV cavity
        (papillary muscles included).
    tissues : torch.Tensor, int64, shape (N, size, size)
        ``TISSUE_NAMES`` codes: 0 air, 1 blood, 2 myocardium, 3 scar, 4 lung,
        5 liver, 6 fat, 7 chest wall.

    Examples
    --------
    >>> labels, tissues = make_slices(SubjectParams(), phase="ES", size=32)
    >>> labels.shape, labels.dtype
    (torch.Size([1, 32, 32]), torch.int64)
    """
    batch = as_subject_batch(params)
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 8:
        raise ValueError(f"size must be an integer >= 8 (pixels per side, e.g. 32, 64, 128), got {size!r}.")
    if not (isinstance(field_of_view_mm, (int, float)) and 20 <= field_of_view_mm <= 1000):
        raise ValueError(
            f"field_of_view_mm must be a number in [20, 1000] mm (the image width), got {field_of_view_mm!r}. "
            f"The default {DEFAULT_FOV_MM:g} mm shows the heart and the chest."
        )
    n = len(batch)
    phase = _per_subject("phase", phase, n, PHASES)
    level = _per_subject("slice_level", slice_level, n)
    p = subject_tensors(batch)

    size = int(size)
    labels = torch.empty(n, size, size, dtype=torch.int64)
    tissues = torch.empty(n, size, size, dtype=torch.int64)
    for start in range(0, n, _CHUNK):  # a loop over chunks of the batch, not over pixels
        rows = slice(start, start + _CHUNK)
        chunk = {name: value[rows] for name, value in p.items()}
        _draw(chunk, level[rows], phase[rows], size, float(field_of_view_mm), labels[rows], tissues[rows])
    return labels, tissues


@dataclass
class PhantomBatch:
    """A batch of phantom slices and the subjects behind them.

    Attributes
    ----------
    labels : torch.Tensor, int64, shape (N, H, W)
    tissues : torch.Tensor, int64, shape (N, H, W)
    params : SubjectBatch
        ``params[i]`` is the i-th subject as a ``SubjectParams``.
    phase : torch.Tensor, float32, shape (N,)
        0 ED .. 1 ES.
    slice_level : torch.Tensor, float32, shape (N,)
        0 base .. 1 apex.
    """

    labels: torch.Tensor
    tissues: torch.Tensor
    params: SubjectBatch
    phase: torch.Tensor
    slice_level: torch.Tensor

    @property
    def pathologies(self) -> list[str]:
        """The ACDC group of each slice."""
        return list(self.params.pathology)

    def __len__(self) -> int:
        return len(self.params)


def sample_phantoms(n: int, *, size: int = 64, pathology: str | None = None, phase="ED",
                    slice_level=None, seed=0, field_of_view_mm: float = DEFAULT_FOV_MM) -> PhantomBatch:
    """Draw ``n`` random subjects and one short-axis slice of each.

    Parameters
    ----------
    n : int
        Number of slices (one subject each).
    size : int
        Pixels per side.
    pathology : str or None
        One of ``PATHOLOGIES``, or None for a uniformly random group per subject.
    phase : "ED", "ES", float in [0, 1], or None
        None draws a contraction state uniformly in [0, 1] per slice.
    slice_level : float in [0, 1], or None
        None draws a level uniformly in [0.1, 0.85] per slice (base to near apex).
    seed : int or numpy.random.Generator
        Same seed, same phantoms.
    field_of_view_mm : float
        Width of the image in mm.

    Returns
    -------
    PhantomBatch
        ``labels`` and ``tissues`` (N, size, size) int64, ``params`` (a
        ``SubjectBatch``), ``phase`` and ``slice_level`` (N,).

    Examples
    --------
    >>> batch = sample_phantoms(8, pathology="HCM", phase="ES", seed=1)
    >>> batch.labels.shape
    torch.Size([8, 64, 64])
    """
    rng = as_rng(seed, "seed")
    params = sample_subjects(n, pathology, rng)
    if phase is None:
        phase = rng.uniform(0.0, 1.0, size=n)
    if slice_level is None:
        slice_level = rng.uniform(0.1, 0.85, size=n)
    labels, tissues = make_slices(params, phase=phase, slice_level=slice_level, size=size,
                                  field_of_view_mm=field_of_view_mm)
    return PhantomBatch(labels, tissues, params, _per_subject("phase", phase, n, PHASES),
                        _per_subject("slice_level", slice_level, n))
