"""Subject parameters of the cardiac phantom, and their distributions per ACDC group.

A subject is a handful of numbers in millimetres, degrees and fractions
(:class:`SubjectParams`); :func:`sample_subject` draws them so that the five
ACDC groups look like themselves:

- **NOR** normal: LV cavity radius 22.5-28 mm at the base, wall 7-10 mm, LVEF
  57-68 %, RV crescent about 28-36 mm deep, solved so that the RV EDV is 1.0-1.2
  times the LV's.
- **DCM** dilated cardiomyopathy (ACDC: LV EDV > 100 mL/m2, LVEF < 40 %): large
  cavity (32-40 mm), thin wall (5-7.5 mm), a stroke volume index of 28-45 mL/m2
  (the LVEF follows from it, clipped to 10-39 %).
- **HCM** hypertrophic cardiomyopathy (ACDC: LV mass > 110 g/m2, segments > 15 mm
  in diastole, LVEF > 55 %): small cavity (18-24 mm), LVEF 60-80 %; septal type
  (70 %: septum 20-28 mm, the free wall normal, 9-12 mm) or concentric type
  (30 %: 16-21 mm everywhere); a normal RV (EF 50-65 %, sized from the stroke
  volume).
- **MINF** myocardial infarction (ACDC: LVEF < 40 %, abnormal segments): LVEF
  22-38 % and a stroke volume index of 30-45 mL/m2, so the LV is as large as the
  two make it (remodelled, often dilated); a scar in one coronary territory
  (LAD 50 %, RCA 30 %, LCX 20 %), half of them transmural and thinned. A scar's
  endocardium moves in by (1 - transmurality) times the remote wall's motion.
- **ARV** abnormal right ventricle (ACDC's "RV": RV cavity > 110 mL/m2 or
  RVEF < 40 %): RV crescent 40-55 mm deep (NOR 28-36), wrapping further round;
  the LV is normal. Half of them have RV volume overload (shunt or pulmonary
  regurgitation: the RV ejects 1.2-1.8 times the LV's forward stroke volume).

These are the groups' physiological ranges, the patients of each kind. ACDC formed its groups by their
definitions and left borderline cases out, so :func:`sample_subjects` keeps only the subjects that ACDC's rule
admits to their group (:func:`meets_acdc_inclusion`: ``clinical.acdc_inclusion`` on measures estimated from the
parameters), drawing more until it has enough; ``acdc_rule=False`` gives the physiological draw. The rule admits
about half of the HCM draw (the septal type often stays below an LV mass index of 110 g/m2) and most of the ARV
draw (unit 00's benchmark reports each group's share).

One stroke volume per subject: without a shunt or regurgitation both ventricles
eject the same volume per beat, so the RV ejection fraction is not drawn but set
to the LV's stroke volume over the RV's end-diastolic volume (``rv_ef = SV / RV
EDV``, clipped to 10-80 %; :func:`ed_cavity_volumes_ml` gives the volumes).
Volumes are indexed by ``BSA_M2`` = 1.9 m^2 and measured on the stack of
:func:`genlib.data.cardiac.clinical.phantom_stack` (10 slices over 90 mm).

The body is an adult chest, 300-340 mm wide and 200-240 mm deep (at least
200 mm deep: the layout behind the heart, the spine and the back muscles, needs it).

Angles live in the **heart frame**, seen as in the image (radiological
convention, short axis from the apex): 0 deg lateral (patient left, image
right), 90 deg anterior (image up), 180 deg septal (towards the RV, image left),
270 deg inferior (image down). ``rotation_deg`` turns the whole heart
counter-clockwise in the image.

Ejection fraction is defined on cavity **areas**. At every slice level the
end-systolic cavity area is ``(1 - EF)`` times the end-diastolic one: the LV
cavity radius scales by ``sqrt(1 - lv_ef)``, and the RV crescent depth is solved
so that its area does the same with ``rv_ef``. So the EF measured from rendered
cavity areas summed over slices (Simpson's method, EF = 1 - V_ES / V_ED) equals
the parameter up to pixelisation; the tests measure it that way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from genlib._validation import as_rng, check_choice
from genlib.data.cardiac.labels import PATHOLOGIES

# The six AHA-like segments of a basal or mid short-axis ring, and their centre angles
# in the heart frame (each segment spans 60 degrees).
SEGMENTS = ("anterior", "anteroseptal", "inferoseptal", "inferior", "inferolateral", "anterolateral")
SEGMENT_CENTRES_DEG = (90.0, 150.0, 210.0, 270.0, 330.0, 30.0)

# Coronary territories and the centre angle of the sector each one supplies.
# LAD: anterior and anteroseptal; LCX: lateral; RCA: inferior and inferoseptal.
TERRITORIES = {"LAD": 120.0, "LCX": 0.0, "RCA": 240.0}

# Valid range of every numeric field: (low, high, unit, meaning). Tuples are checked
# element-wise. The ejection fractions are open intervals, the rest closed.
PARAM_RANGES = {
    "lv_radius_mm": (8.0, 45.0, "mm", "LV end-diastolic cavity radius at the base"),
    "lv_elongation": (1.0, 1.4, "", "ratio of the LV cavity's long to short semi-axis"),
    "wall_thickness_mm": (2.0, 30.0, "mm", "LV end-diastolic wall thickness at the base"),
    "wall_profile": (0.3, 3.5, "", "thickness factor of each of the 6 segments"),
    "lv_ef": (0.0, 1.0, "", "LV ejection fraction, open interval"),
    "rv_depth_mm": (0.0, 70.0, "mm", "RV end-diastolic cavity depth, septum to free wall"),
    "rv_span_deg": (20.0, 120.0, "deg", "half-angle of the RV crescent around the LV"),
    "rv_tilt_deg": (-45.0, 45.0, "deg", "RV centre angle from the septum, + towards anterior"),
    "rv_wall_mm": (1.0, 8.0, "mm", "RV free wall thickness"),
    "rv_ef": (0.0, 1.0, "", "RV ejection fraction, open interval"),
    "centre_offset_mm": (-40.0, 40.0, "mm", "(x, y) offset of the LV centre from the image centre"),
    "rotation_deg": (-90.0, 90.0, "deg", "counter-clockwise rotation of the heart in the image"),
    "scar_centre_deg": (-360.0, 360.0, "deg", "centre angle of the scar sector"),
    "scar_width_deg": (0.0, 240.0, "deg", "full angular width of the scar sector"),
    "scar_transmurality": (0.0, 1.0, "", "scar depth as a fraction of the wall, from the endocardium"),
    "scar_thinning": (0.2, 1.0, "", "wall thickness factor inside the scar sector"),
    "papillary_radius_mm": (0.0, 8.0, "mm", "radius of each papillary muscle"),
    "fat_mm": (0.0, 10.0, "mm", "epicardial fat thickness"),
    "body_radii_mm": (60.0, 200.0, "mm", "(left-right, front-back) semi-axes of the body outline"),
}
_OPEN = {"lv_ef", "rv_ef"}
MAX_WALL_TO_RADIUS = 2.0  # the thickest segment may be at most twice the cavity radius
MAX_EPICARDIAL_RADIUS_MM = 65.0
MIN_BODY_DEPTH_MM = 100.0  # front-back semi-axis: skin, chest wall, heart, spine and back muscles must fit
MIN_REMOTE_RADIUS = 0.3  # at ES the remote LV wall keeps at least 0.3 of its ED radius (validation of scars)
SCAR_TAPER_DEG = 20.0  # a scar's sector is tapered over about 10 degrees at either edge (phantom.py)
BSA_M2 = 1.9  # the body surface area the phantom's volumes are indexed by (175 cm, 75 kg)


@dataclass(frozen=True)
class SubjectParams:
    """Anatomy of one subject; the defaults are a typical normal heart.

    Every length is in millimetres, every angle in degrees (heart frame, see the
    module docstring). Lengths are end-diastolic (ED) values at the base
    (slice level 0); :func:`genlib.data.cardiac.make_slices` tapers them towards
    the apex and derives end-systole (ES) from the ejection fractions.

    Parameters
    ----------
    pathology : str
        ACDC group, one of ``PATHOLOGIES`` (a label: it changes no geometry).
    lv_radius_mm : float, [8, 45]
        LV end-diastolic cavity radius r; the cavity area is pi r^2.
    lv_elongation : float, [1, 1.4]
        Long over short semi-axis of the (area-preserving) elliptical cavity; its
        long axis runs anterior-inferior.
    wall_thickness_mm : float, [2, 30]
        LV end-diastolic wall thickness t (before ``wall_profile``).
    wall_profile : tuple of 6 floats, each in [0.3, 3.5]
        Thickness factor of each segment in ``SEGMENTS`` order (anterior,
        anteroseptal, inferoseptal, inferior, inferolateral, anterolateral),
        interpolated smoothly around the ring. The thickest segment,
        t * max(wall_profile), must be at most 2 r, and r plus it at most 65 mm.
    lv_ef : float, (0, 1)
        LV ejection fraction: ES cavity area = (1 - lv_ef) * ED cavity area. With a
        scar, at most what the scar leaves: ``1 - lv_ef`` must be at least the ES area
        of a heart whose remote wall moves in to 0.3 of its radius (a scar of 120
        degrees allows about 0.6).
    rv_depth_mm : float, [0, 70]
        RV end-diastolic cavity depth at the middle of the crescent (0: no RV).
    rv_span_deg : float, [20, 120]
        Half-angle the RV crescent wraps around the LV, seen from the LV centre.
    rv_tilt_deg : float, [-45, 45]
        Angle of the crescent's middle from the septum (180 deg), + towards anterior.
    rv_wall_mm : float, [1, 8]
        RV free wall thickness (tissue myocardium, label background as in ACDC).
    rv_ef : float, (0, 1)
        RV ejection fraction: ES crescent area = (1 - rv_ef) * ED crescent area.
    centre_offset_mm : (float, float), each in [-40, 40]
        (x right, y down) position of the LV centre relative to the image centre.
    rotation_deg : float, [-90, 90]
        Counter-clockwise rotation of the heart in the image.
    scar_territory : {None, "LAD", "LCX", "RCA"}
        Coronary territory of an infarct scar; None means no scar.
    scar_centre_deg : float or None, [-360, 360]
        Centre angle of the scar sector; None means the territory's centre
        (``TERRITORIES``).
    scar_width_deg : float, [0, 240]
        Full angular width of the scar sector.
    scar_transmurality : float, [0, 1]
        Scar depth as a fraction of the wall, grown from the endocardium
        (1: transmural). Must be 0 without a territory. The scar's endocardium
        moves in by (1 - transmurality) times the remote wall's motion: a
        transmural scar is akinetic, a subendocardial one hypokinetic.
    scar_thinning : float, [0.2, 1]
        Wall thickness factor inside the scar sector (1: no thinning).
    papillary_radius_mm : float, [0, 8]
        End-diastolic radius of the two papillary muscles (dark spots in the
        cavity; label LV cavity, as in ACDC). 0: none.
    fat_mm : float, [0, 10]
        Epicardial fat thickness (thicker in the grooves at the RV insertions).
    body_radii_mm : (float, float), each in [60, 200], the second at least 100
        Left-right and front-back semi-axes of the body outline. The body's front
        is placed just ahead of the heart; 100 mm is the smallest front-back
        semi-axis that holds the heart, the spine and the back muscles behind it.

    Raises
    ------
    ValueError
        If a field is outside its range, naming the field and its range.
    """

    pathology: str = "NOR"
    lv_radius_mm: float = 25.0
    lv_elongation: float = 1.05
    wall_thickness_mm: float = 8.5
    wall_profile: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    lv_ef: float = 0.62
    rv_depth_mm: float = 32.0
    rv_span_deg: float = 79.0
    rv_tilt_deg: float = 15.0
    rv_wall_mm: float = 3.0
    rv_ef: float = 0.55
    centre_offset_mm: tuple[float, float] = (13.0, 4.0)
    rotation_deg: float = 0.0
    scar_territory: str | None = None
    scar_centre_deg: float | None = None
    scar_width_deg: float = 0.0
    scar_transmurality: float = 0.0
    scar_thinning: float = 1.0
    papillary_radius_mm: float = 3.5
    fat_mm: float = 2.5
    body_radii_mm: tuple[float, float] = (160.0, 110.0)

    def __post_init__(self):
        check_choice("pathology", self.pathology, PATHOLOGIES)
        check_choice("scar_territory", self.scar_territory, (None, *TERRITORIES))
        for name, length in _VECTOR_FIELDS.items():
            object.__setattr__(self, name, _float_tuple(name, getattr(self, name), length))
        arrays = {}
        for name in (*_NUMERIC_FIELDS, "scar_centre_deg"):
            value = getattr(self, name)
            if value is None and name == "scar_centre_deg":
                continue
            try:
                arrays[name] = np.asarray([value], dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number, got {value!r}.") from None
        _validate(arrays, np.asarray([self.scar_territory is not None]), single=True)

    @property
    def max_wall_thickness_mm(self) -> float:
        """End-diastolic thickness of the thickest segment at the base, in mm."""
        return self.wall_thickness_mm * max(self.wall_profile)

    @property
    def scar_angle_deg(self) -> float:
        """Centre angle of the scar sector (the territory's centre unless set)."""
        if self.scar_centre_deg is not None:
            return self.scar_centre_deg
        return TERRITORIES.get(self.scar_territory, 0.0)

    @property
    def has_scar(self) -> bool:
        """True when the subject has a scar of nonzero width and depth."""
        return self.scar_territory is not None and self.scar_transmurality > 0 and self.scar_width_deg > 0


_VECTOR_FIELDS = {"wall_profile": 6, "centre_offset_mm": 2, "body_radii_mm": 2}
FIELD_NAMES = tuple(f.name for f in fields(SubjectParams))
_NUMERIC_FIELDS = tuple(n for n in FIELD_NAMES if n not in ("pathology", "scar_territory", "scar_centre_deg"))


def _float_tuple(name: str, value, length: int) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        out = ()
    if len(out) != length:
        raise ValueError(f"{name} must be a sequence of {length} numbers, got {value!r}.")
    return out


def _validate(arrays: dict[str, np.ndarray], has_territory: np.ndarray, *, single: bool) -> None:
    """Check every field of N subjects at once; raise naming the field, its range and the subject.

    ``arrays`` maps each numeric field to an (N,) or (N, k) float array (``scar_centre_deg``
    resolved to a number).
    """
    def where(bad: np.ndarray) -> tuple[int, str]:
        i = int(np.flatnonzero(bad.reshape(len(bad), -1).any(1))[0])
        return i, "" if single else f" (subject {i})"

    for name, (low, high, unit, meaning) in PARAM_RANGES.items():
        if name not in arrays:
            continue
        value = arrays[name]
        ok = (low < value) & (value < high) if name in _OPEN else (low <= value) & (value <= high)
        if not ok.all():
            i, subject = where(~ok)
            interval = f"({low:g}, {high:g})" if name in _OPEN else f"[{low:g}, {high:g}]"
            shown = float(value[i]) if value.ndim == 1 else tuple(float(v) for v in value[i])
            hint = " Give a fraction, e.g. 0.6 for 60 %." if name in _OPEN and np.any(value[i] >= 1) else ""
            raise ValueError(
                f"{name} must be in {interval}{' ' + unit if unit else ''} ({meaning}), "
                f"got {shown!r}{subject}.{hint}"
            )
    r = arrays["lv_radius_mm"]
    t_max = arrays["wall_thickness_mm"] * arrays["wall_profile"].max(1)
    if (t_max > MAX_WALL_TO_RADIUS * r).any():
        i, subject = where(t_max > MAX_WALL_TO_RADIUS * r)
        raise ValueError(
            f"wall_thickness_mm * max(wall_profile) = {t_max[i]:.1f} mm is thicker than the cavity "
            f"allows{subject}: it must be at most {MAX_WALL_TO_RADIUS:g} * lv_radius_mm = "
            f"{MAX_WALL_TO_RADIUS * r[i]:.1f} mm. Thin the wall or enlarge lv_radius_mm."
        )
    if (r + t_max > MAX_EPICARDIAL_RADIUS_MM).any():
        i, subject = where(r + t_max > MAX_EPICARDIAL_RADIUS_MM)
        raise ValueError(
            f"lv_radius_mm + wall_thickness_mm * max(wall_profile) = {r[i] + t_max[i]:.1f} mm must be "
            f"at most {MAX_EPICARDIAL_RADIUS_MM:g} mm (the LV epicardial radius){subject}. Shrink one of them."
        )
    depth = arrays["body_radii_mm"][:, 1]
    if (depth < MIN_BODY_DEPTH_MM).any():
        i, subject = where(depth < MIN_BODY_DEPTH_MM)
        raise ValueError(
            f"body_radii_mm[1] (the body's front-back semi-axis) is {depth[i]:g} mm{subject}, but the chest "
            f"needs at least {MIN_BODY_DEPTH_MM:g} mm: the body's front sits just ahead of the heart, and the "
            f"spine (up to 88 mm behind the LV centre) and the back muscles must fit inside it. An adult's is "
            f"100-120 mm: give body_radii_mm=(160, 110), for example."
        )
    # A scar moves in by (1 - transmurality) times the remote wall, so the ES cavity cannot be smaller than
    # the one whose remote wall has moved in to MIN_REMOTE_RADIUS of its radius (angular share of the scar,
    # its taper included).
    scarred = has_territory & (arrays["scar_transmurality"] > 0) & (arrays["scar_width_deg"] > 0)
    share = np.clip((arrays["scar_width_deg"] + SCAR_TAPER_DEG) / 360.0, 0.0, 1.0) * scarred
    a = arrays["scar_transmurality"] * scarred
    k = MIN_REMOTE_RADIUS
    smallest = share * (a + (1 - a) * k) ** 2 + (1 - share) * k**2  # ES/ED cavity area at the limit
    if (1 - arrays["lv_ef"] < smallest).any():
        i, subject = where(1 - arrays["lv_ef"] < smallest)
        raise ValueError(
            f"lv_ef = {arrays['lv_ef'][i]:.2f} is more than the scar allows{subject}: a scar of "
            f"scar_width_deg = {arrays['scar_width_deg'][i]:g} and scar_transmurality = "
            f"{arrays['scar_transmurality'][i]:g} barely moves, so the LV can eject at most "
            f"{1 - smallest[i]:.2f} of its volume. Lower lv_ef, or narrow the scar or make it less transmural."
        )
    orphan = (~has_territory) & (arrays["scar_transmurality"] > 0)
    if orphan.any():
        i, subject = where(orphan)
        raise ValueError(
            f"scar_transmurality is {arrays['scar_transmurality'][i]} but scar_territory is None{subject}: "
            f"set scar_territory to one of {tuple(TERRITORIES)}, or scar_transmurality to 0."
        )


class SubjectBatch:
    """N subjects as arrays: what :func:`sample_subjects` returns and ``make_slices`` reads.

    Each field of :class:`SubjectParams` is an attribute holding an array of
    shape (N,) (or (N, 6) for ``wall_profile``, (N, 2) for ``centre_offset_mm``
    and ``body_radii_mm``); ``scar_centre_deg`` is resolved to a number.
    ``batch[i]`` is the i-th subject as a ``SubjectParams``; ``len(batch)`` is N.

    Parameters
    ----------
    arrays : dict of str to array-like
        One entry per field of ``SubjectParams``; checked like ``SubjectParams``.
    """

    def __init__(self, arrays: dict):
        missing = set(FIELD_NAMES) - set(arrays)
        if missing:
            raise ValueError(
                f"arrays is missing the field(s) {sorted(missing)}; give one array per SubjectParams field."
            )
        n = len(arrays["pathology"])
        data = {"pathology": np.asarray(arrays["pathology"], dtype=object),
                "scar_territory": np.asarray(arrays["scar_territory"], dtype=object)}
        for name in (*_NUMERIC_FIELDS, "scar_centre_deg"):
            shape = (n, _VECTOR_FIELDS[name]) if name in _VECTOR_FIELDS else (n,)
            value = arrays[name]
            if name == "scar_centre_deg":
                value = [TERRITORIES.get(t, 0.0) if c is None else c for c, t in zip(value, data["scar_territory"])]
            try:
                data[name] = np.asarray(value, dtype=float).reshape(shape)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must hold {shape} numbers, one per subject.") from None
        for name, choices in (("pathology", PATHOLOGIES), ("scar_territory", (None, *TERRITORIES))):
            unknown = set(data[name].tolist()) - set(choices)
            if unknown:
                check_choice(name, sorted(unknown, key=str)[0], choices)
        has_territory = np.asarray([t is not None for t in data["scar_territory"]])
        _validate(data, has_territory, single=False)
        self.__dict__.update(data)
        self.has_scar = has_territory & (data["scar_transmurality"] > 0) & (data["scar_width_deg"] > 0)

    @classmethod
    def from_params(cls, params) -> "SubjectBatch":
        """Stack a sequence of ``SubjectParams`` into a batch."""
        params = list(params)
        if not params or not all(isinstance(p, SubjectParams) for p in params):
            raise TypeError(
                "params must be a non-empty sequence of SubjectParams. Draw some with "
                "sample_subject or sample_subjects."
            )
        arrays = {name: [getattr(p, name) for p in params] for name in FIELD_NAMES}
        arrays["scar_centre_deg"] = [p.scar_angle_deg for p in params]
        return cls(arrays)

    def __len__(self) -> int:
        return len(self.pathology)

    def take(self, indices) -> "SubjectBatch":
        """The subjects at ``indices`` (repeats allowed), as a new batch: like ``numpy.take``."""
        indices = np.asarray(indices, dtype=np.int64)
        return SubjectBatch({name: getattr(self, name)[indices] for name in FIELD_NAMES})

    def __getitem__(self, i: int) -> SubjectParams:
        values = {}
        for name in FIELD_NAMES:
            v = getattr(self, name)[i]
            values[name] = tuple(float(x) for x in v) if name in _VECTOR_FIELDS else (
                v if name in ("pathology", "scar_territory") else float(v))
        return SubjectParams(**values)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        counts = {g: int((self.pathology == g).sum()) for g in PATHOLOGIES}
        return f"SubjectBatch(n={len(self)}; " + ", ".join(f"{g}: {c}" for g, c in counts.items() if c) + ")"


# ----------------------------------------------------------------------------- sampling


def _draw(groups: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Parameters of len(groups) subjects: shared habits first, then each group's own.

    Every draw is made for all N subjects and kept where the group matches, so the
    sampling is vectorised and a seed fixes the whole batch.
    """
    n = len(groups)
    u = lambda low, high: rng.uniform(low, high, n)  # noqa: E731  (N,)
    is_ = {g: groups == g for g in PATHOLOGIES}

    def put(group: str, **values):
        for name, value in values.items():
            mask = is_[group] if np.ndim(p[name]) == 1 else is_[group][:, None]
            p[name] = np.where(mask, value, p[name])

    # Normal adult heart (NOR's RV depth is then solved for its RV/LV volume ratio, below). The LV's internal end-diastolic diameter at the base is 45-56 mm (echo LVIDd,
    # normal 42-58 mm); with the phantom's base-to-apex taper and a 90 mm long axis this gives an LV EDV
    # index of about 55-85 mL/m2 at BSA 1.9 (normal 55-95). Walls 7-10 mm (normal 6-11 mm). The RV
    # holds as much blood as the LV (RV/LV EDV about 1.0-1.1): its crescent is 28-36 mm deep from the
    # septum to the free wall at the base (echo basal RV diameter, normal 25-41 mm) and wraps 74-88
    # degrees either side of the septum, to the anterior and inferior insertion points.
    p = dict(
        lv_radius_mm=u(22.5, 28.0),
        lv_elongation=u(1.0, 1.15),
        wall_thickness_mm=u(7.0, 10.0),
        wall_profile=np.clip(1.0 + 0.06 * rng.standard_normal((n, 6)), 0.8, 1.2),
        lv_ef=u(0.57, 0.68),
        rv_depth_mm=u(28.0, 36.0),
        rv_span_deg=u(74.0, 88.0),
        rv_tilt_deg=u(5.0, 25.0),
        rv_wall_mm=u(2.5, 4.0),
        # The image is centred on the heart, as the course's crops of real exams are (preprocess.roi_centre
        # centres them on the moving heart): the centre of both ventricles together lies about 13 mm right
        # of the LV's centre (towards the RV) and 4 mm anterior of it, plus a few mm of centring error.
        centre_offset_mm=np.array([13.0, 4.0]) + np.clip(4.0 * rng.standard_normal((n, 2)), -10.0, 10.0),
        rotation_deg=u(-20.0, 20.0),
        papillary_radius_mm=u(3.0, 4.5),
        fat_mm=u(1.5, 4.0),
        body_radii_mm=np.stack([u(150.0, 170.0), u(100.0, 120.0)], axis=1),
    )
    # DCM: a big round thin-walled LV. Dilated cardiomyopathy is diagnosed from an LVIDd above about 60 mm;
    # the base here is 64-80 mm across, an LV EDV index of about 105-170 mL/m2. The stroke volume is what a
    # compensated failing heart still ejects, an index of 28-45 mL/m2 (normal 35-65; below about 25 is
    # cardiogenic shock), so the LVEF follows from it (about 17-39 %). The RV is of normal size; its EF
    # follows from the same stroke volume (``_couple_stroke_volumes``), so it is lower than a normal RV's.
    put("DCM", lv_radius_mm=u(32.0, 40.0), lv_elongation=u(1.0, 1.08), wall_thickness_mm=u(5.0, 7.5))
    stroke_index = np.where(is_["DCM"], u(28.0, 45.0), np.nan)  # mL/m2, NaN: the LV's size and EF set it
    # HCM, two types (Maron, Lancet 2013; 2014 ESC guidelines: wall >= 15 mm in any segment). Septal
    # (asymmetric, about 70 %): the septum is 20-28 mm at the base (typical maximal walls of referred
    # patients) and the free wall is normal or at its upper limit (9-12 mm; normal 6-11). Concentric
    # (about 30 %): 16-21 mm everywhere. The cavity is small (18-24 mm) and hyperdynamic (LVEF 60-80 %).
    # The LV mass index comes out of this geometry as it is (ACDC's HCM group: above 110 g/m2).
    # The RV is normal (its size is solved from the stroke volume below).
    septal = rng.uniform(size=n) < 0.7
    profile = np.clip(1.0 + 0.05 * rng.standard_normal((n, 6)), 0.9, 1.1)
    free_wall = u(9.0, 12.0)
    septal_profile = profile.copy()
    septal_profile[:, 1:3] = rng.uniform(20.0, 28.0, (n, 2)) / free_wall[:, None]  # anteroseptal, inferoseptal
    septal_profile[:, 0] = u(1.0, 1.3)  # the anterior wall next to the septum often joins in a little
    put("HCM", lv_radius_mm=u(18.0, 24.0), lv_ef=u(0.60, 0.80), rv_depth_mm=u(22.0, 30.0),  # depth: solved below
        wall_thickness_mm=np.where(septal, free_wall, u(16.0, 21.0)),
        wall_profile=np.where(septal[:, None], septal_profile, np.clip(profile, 1.0, 1.1)))
    # MINF: a scar in one coronary territory, thinned where transmural, and an LV remodelled by it. The
    # chronic post-infarct LVs of ACDC's group have LVEF < 40 % (22-38 % here) and still eject a stroke
    # volume index of 30-45 mL/m2, so their EDV index is SVi / EF, about 80-205 mL/m2: most are dilated,
    # and many meet DCM's numeric definition too (ACDC tells the two apart by history and regional wall
    # motion, not by these numbers). The LV radius is set from that volume (``_couple_stroke_volumes``).
    territory = np.asarray(list(TERRITORIES), dtype=object)[rng.choice(3, size=n, p=[0.5, 0.2, 0.3])]
    transmural = rng.uniform(size=n) < 0.5
    centre = np.asarray([TERRITORIES[t] for t in territory]) + np.clip(12.0 * rng.standard_normal(n), -25, 25)
    p.update(scar_territory=np.full(n, None, dtype=object), scar_centre_deg=np.zeros(n),
             scar_width_deg=np.zeros(n), scar_transmurality=np.zeros(n), scar_thinning=np.ones(n))
    put("MINF", lv_ef=u(0.22, 0.38), scar_territory=territory,
        scar_centre_deg=centre, scar_width_deg=u(60.0, 120.0),
        scar_transmurality=np.where(transmural, 1.0, u(0.5, 0.9)),
        scar_thinning=np.where(transmural, u(0.45, 0.8), u(0.8, 1.0)))
    stroke_index = np.where(is_["MINF"], u(30.0, 45.0), stroke_index)
    # ARV: a dilated RV wrapping further round a normal LV (ACDC's RV group: volume overload, pulmonary
    # hypertension, arrhythmogenic cardiomyopathy). The crescent is 40-55 mm deep at the base (a dilated RV's
    # basal diameter is above about 42 mm). Without a shunt the RV ejects the LV's stroke volume, so its EF
    # is low because its volume is large. Half have volume overload (an atrial shunt or pulmonary
    # regurgitation after tetralogy repair): the RV's total stroke volume is 1.2-1.8 times the LV's
    # (Qp/Qs of a significant shunt, or regurgitant fractions of 20-45 %).
    put("ARV", lv_radius_mm=u(21.0, 26.0), lv_ef=u(0.57, 0.68), rv_depth_mm=u(40.0, 55.0),
        rv_span_deg=u(80.0, 98.0), rv_wall_mm=u(2.0, 3.5))
    rv_to_lv_stroke = np.where(is_["ARV"] & (rng.uniform(size=n) < 0.5), u(1.2, 1.8), 1.0)
    p["rv_ef"] = np.full(n, 0.5)  # set from the stroke volume in _couple_stroke_volumes
    p["stroke_index"] = stroke_index
    p["rv_to_lv_stroke"] = rv_to_lv_stroke
    # A normal RV holds a little more blood than the LV: RV/LV EDV 1.0-1.2 (Kawel-Boehm et al., JCMR 2020:
    # RVEDVi 61-121 against LVEDVi 57-105 mL/m2 in men), so with one stroke volume its EF is a little lower
    # (RVEF = LVEF / ratio, 48-68 %; normal 47-65 %). NOR's RV depth is solved for the ratio.
    p["rv_to_lv_edv"] = np.where(is_["NOR"], u(1.0, 1.2), np.nan)
    # HCM: the RV is normal: it ejects the LV's stroke volume with a normal EF (50-65 %), so its EDV is SV / RVEF
    # and the RV/LV EDV ratio LVEF / RVEF (the hyperdynamic LV's cavity is the smaller one).
    p["rv_to_lv_edv"] = np.where(is_["HCM"], p["lv_ef"] / u(0.50, 0.65), p["rv_to_lv_edv"])
    p["pathology"] = groups.astype(object)
    return p


RV_EF_LIMITS = (0.10, 0.80)  # the RV ejection fraction set from the stroke volume is clipped to these
LV_EF_LIMITS = (0.10, 0.39)  # DCM's LVEF set from its stroke volume (ACDC's group: below 40 %)


def _couple_stroke_volumes(p: dict[str, np.ndarray], *, estimate: bool = False):
    """One stroke volume per subject: size MINF's LV and set DCM's LVEF from it, then every RV's EF.

    ``p["stroke_index"]`` (mL/m2, NaN where the LV's size and EF set it) and ``p["rv_to_lv_stroke"]`` (RV over
    LV stroke volume: 1 without a shunt or regurgitation) and ``p["rv_to_lv_edv"]`` (NaN, or the RV/LV EDV ratio
    that the RV's depth is solved for: NOR, HCM) are used and removed. Returns the batch, and with ``estimate``
    also ``clinical.estimate_measures`` of it (as ``meets_acdc_inclusion`` computes it), whose end-diastolic pass
    gives the RV EDV here too (the same integral as ``ed_cavity_volumes_ml``'s).
    """
    from genlib.data.cardiac.phantom import ed_cavity_volumes_ml, lv_edv_ml  # the geometry layer, loaded on use

    stroke_index, ratio = p.pop("stroke_index"), p.pop("rv_to_lv_stroke")
    rv_to_lv_edv = p.pop("rv_to_lv_edv")
    given = np.isfinite(stroke_index)
    minf = given & (p["pathology"] == "MINF")
    per_mm2 = lv_edv_ml(1.0)  # the LV EDV goes with r^2
    target = stroke_index * BSA_M2 / p["lv_ef"]  # MINF: EDV = SV / EF
    p["lv_radius_mm"] = np.where(minf, np.sqrt(np.where(minf, target, 1.0) / per_mm2), p["lv_radius_mm"])
    lv_edv = lv_edv_ml(p["lv_radius_mm"])
    dcm = given & ~minf  # DCM: EF = SV / EDV
    p["lv_ef"] = np.where(dcm, np.clip(stroke_index * BSA_M2 / lv_edv, *LV_EF_LIMITS), p["lv_ef"])
    # Where an RV/LV EDV ratio is given (NOR, HCM), the RV's depth is solved for it: the crescent's volume is
    # A d + B d^2 in its depth d (evaluations at d and 1.5 d give A and B).
    wanted = np.flatnonzero(np.isfinite(rv_to_lv_edv))
    if len(wanted):
        part = {k: v[wanted] for k, v in p.items()}
        depth = part["rv_depth_mm"].copy()
        _, rv_edv = ed_cavity_volumes_ml(SubjectBatch(part))
        part["rv_depth_mm"] = 1.5 * depth
        _, rv_more = ed_cavity_volumes_ml(SubjectBatch(part))
        b = (rv_more - 1.5 * rv_edv) / (0.75 * depth**2)  # V(1.5 d) - 1.5 V(d) = 0.75 B d^2
        a = (rv_edv - b * depth**2) / depth
        target = rv_to_lv_edv[wanted] * lv_edv[wanted]
        p["rv_depth_mm"] = p["rv_depth_mm"].copy()
        p["rv_depth_mm"][wanted] = (np.sqrt(a**2 + 4 * b * target) - a) / (2 * b)
    if estimate:
        from genlib.data.cardiac.clinical import estimate_measures

        measures = estimate_measures(SubjectBatch(p), thickening=_needs_thickening(p["lv_ef"], p["pathology"]))
        rv_edv = measures["rv_edv_ml"]  # the RV's ED volume does not depend on rv_ef
    else:
        _, rv_edv = ed_cavity_volumes_ml(SubjectBatch(p))
    stroke = p["lv_ef"] * lv_edv
    p["rv_ef"] = np.clip(ratio * stroke / rv_edv, *RV_EF_LIMITS)
    if not estimate:
        return SubjectBatch(p)
    measures["rv_ef"] = np.asarray(p["rv_ef"], dtype=float)
    return SubjectBatch(p), measures


MIN_ACCEPTANCE = 0.01  # a group whose inclusion rule admits less of its physiological draw than this raises
_MIN_TRIED = 2000  # ... once this many of its subjects have been drawn


def meets_acdc_inclusion(batch: SubjectBatch) -> np.ndarray:
    """Whether each subject would have been admitted to its own ACDC group, estimated from its parameters.

    ``clinical.acdc_inclusion`` (the group's definition as ``clinical.COURSE_READING`` reads it, and no
    borderline RV for NOR and ARV) on ``clinical.estimate_measures`` (the measures computed from the phantom's
    borders, not from its pixels).

    Returns
    -------
    (N,) bool array
    """
    from genlib.data.cardiac.clinical import acdc_inclusion, estimate_measures  # the measuring layer, on use

    thickening = _needs_thickening(batch.lv_ef, batch.pathology)
    return acdc_inclusion(estimate_measures(batch, thickening=thickening), batch.pathology)


def _needs_thickening(lv_ef, groups) -> np.ndarray:
    """The systolic thickening enters only MINF's definition, which needs LVEF < 0.40: NOR's and MINF's rules."""
    return (np.asarray(lv_ef) < 0.40) & np.isin(np.asarray(groups, dtype=object), ("NOR", "MINF"))


def _concat(batches: list[SubjectBatch]) -> SubjectBatch:
    """One batch holding the subjects of several, in order."""
    return SubjectBatch({name: np.concatenate([getattr(b, name) for b in batches]) for name in FIELD_NAMES})


def _draw_admitted(groups: np.ndarray, rng: np.random.Generator) -> SubjectBatch:
    """Subjects of the given groups drawn from their physiological ranges, kept where ACDC's rule admits them.

    Rounds of vectorised draws: each round draws, per group still short, the missing count divided by the
    acceptance seen so far (plus 10 % and 8), and keeps the admitted ones in the order drawn. The i-th
    subject of a group goes where that group's i-th label is in ``groups``.
    """
    wanted = {g: int((groups == g).sum()) for g in PATHOLOGIES}
    kept = {g: [] for g in PATHOLOGIES}  # (round, index) of the admitted subjects
    tried, admitted = dict.fromkeys(PATHOLOGIES, 0), dict.fromkeys(PATHOLOGIES, 0)
    rounds = []
    while any(len(kept[g]) < wanted[g] for g in PATHOLOGIES):
        sizes = {}
        for g in PATHOLOGIES:
            missing = wanted[g] - len(kept[g])
            if missing <= 0:
                continue
            rate = admitted[g] / tried[g] if tried[g] else 1.0
            if tried[g] >= _MIN_TRIED and rate < MIN_ACCEPTANCE:
                raise ValueError(
                    f"ACDC's rule for {g} ({_rule_words(g)}) admits {admitted[g]} of the {tried[g]} subjects drawn "
                    f"from {g}'s physiological ranges (below {MIN_ACCEPTANCE:.0%}): the ranges in _draw and the rule "
                    f"no longer fit. Check the group's ranges (module docstring) against clinical.COURSE_READING."
                )
            sizes[g] = min(int(math.ceil(1.1 * missing / max(rate, MIN_ACCEPTANCE))) + 8, 50_000)
        round_groups = np.concatenate([np.full(k, g, dtype=object) for g, k in sizes.items()])
        batch, measures = _couple_stroke_volumes(_draw(round_groups, rng), estimate=True)
        from genlib.data.cardiac.clinical import acdc_inclusion

        ok = acdc_inclusion(measures, batch.pathology)  # = meets_acdc_inclusion(batch), one pass fewer
        for g in sizes:
            mine = round_groups == g
            tried[g] += int(mine.sum())
            admitted[g] += int((ok & mine).sum())
            room = wanted[g] - len(kept[g])
            kept[g] += [(len(rounds), int(i)) for i in np.flatnonzero(ok & mine)[:room]]
        rounds.append(batch)
    offsets = np.cumsum([0] + [len(b) for b in rounds])
    order = np.empty(len(groups), dtype=np.int64)
    for g in PATHOLOGIES:
        order[groups == g] = [offsets[r] + i for r, i in kept[g]]
    return (rounds[0] if len(rounds) == 1 else _concat(rounds)).take(order)


def _rule_words(group: str) -> str:
    from genlib.data.cardiac.clinical import COURSE_READING

    return COURSE_READING[group].split(". ")[0]


def sample_subjects(n: int, pathology: str | None = None, seed=None, *, acdc_rule: bool = True) -> SubjectBatch:
    """Draw ``n`` subjects, all of one ACDC group or (``pathology=None``) of random groups.

    ACDC formed its groups by their definitions: of the patients of each kind, those who met the group's
    definition were kept and borderline cases left out. So does this sampler: each group's subjects are drawn
    from the group's physiological ranges (the module docstring) and kept where ACDC's rule admits them
    (``meets_acdc_inclusion``, estimated from the parameters), drawing more until ``n`` are kept.
    ``acdc_rule=False`` gives the physiological draw itself, the patients before ACDC's selection.

    Parameters
    ----------
    n : int
        Number of subjects, >= 1.
    pathology : str or None
        One of ``PATHOLOGIES`` ("NOR", "DCM", "HCM", "MINF", "ARV"), or None to
        draw each subject's group uniformly.
    seed : int, torch.Generator, numpy.random.Generator or None
        A seed (same seed, same subjects), a torch Generator (one int is drawn from it), or a NumPy
        Generator whose stream the draw continues; None: fresh entropy.
    acdc_rule : bool
        True (default): keep only the subjects ACDC's rule admits to their group; False: keep every draw.

    Returns
    -------
    SubjectBatch
        Arrays of shape (N,) per field; ``batch[i]`` is a ``SubjectParams``.
        The groups' ranges are listed in the module docstring.

    Raises
    ------
    ValueError
        If ACDC's rule admits less than ``MIN_ACCEPTANCE`` of a group's physiological draw.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer (the number of subjects), got {n!r}.")
    if pathology is not None:
        check_choice("pathology", pathology, PATHOLOGIES)
    rng = as_rng(seed, "seed")
    groups = np.full(n, pathology, dtype=object) if pathology is not None else \
        np.asarray(PATHOLOGIES, dtype=object)[rng.integers(len(PATHOLOGIES), size=n)]
    if not acdc_rule:
        return _couple_stroke_volumes(_draw(groups, rng))
    return _draw_admitted(groups, rng)


def sample_subject(pathology: str, seed=None) -> SubjectParams:
    """Draw one subject of an ACDC group.

    Parameters
    ----------
    pathology : str
        One of ``PATHOLOGIES``: "NOR", "DCM", "HCM", "MINF", "ARV".
    seed : int, torch.Generator, numpy.random.Generator or None
        As in ``sample_subjects``.

    Returns
    -------
    SubjectParams
        ED anatomy and the ejection fractions that set ES (see the module
        docstring for each group's ranges).

    Examples
    --------
    >>> sample_subject("DCM", seed=0).lv_ef < 0.4
    True
    """
    return sample_subjects(1, pathology, seed)[0]
