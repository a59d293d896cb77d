"""Unit 00 benchmark: the course's cardiac phantoms measured against ACDC's group definitions.

For each ACDC group, 200 subjects are drawn with ``sample_subjects(200, group, seed=SEEDS[group])``: from the
group's physiological ranges, kept where ACDC's inclusion rule (the group's definition, no borderline RV for NOR
and ARV) admits them, as estimated from the parameters (``clinical.estimate_measures``, no pixels). Each
subject becomes a 3-D short-axis stack at ED and at ES (``genlib.data.cardiac.clinical.phantom_stack``:
10 slices over a 90 mm base-to-apex length, 128 pixels over 200 mm, i.e. 9 mm x 1.56 mm x 1.56 mm
voxels), indexed by a body surface area of 1.9 m^2 (the phantom has no long axis and no body size; the
assumptions are written and justified in ``phantom_stack``'s docstring). ``acdc_measures`` gives the
volumes (disc summation), LV mass (1.05 g/mL), ejection fractions, indices and the 18 segments' ED
thickness and systolic thickening; ``acdc_criteria`` checks each ACDC definition as the course reads it
(``clinical.COURSE_READING``).

The same seed also gives the physiological draw itself (``acdc_rule=False``, 200 subjects, measured in full):
how many of those patients ACDC's rule admits (the acceptance rate, from the full measurement, with a Wilson
interval, and from the estimate on 20,000 more draws), and how often the estimate's verdict agrees with the full
measurement's on both sides of the rule. The own-definition fraction of the admitted subjects checks the same
estimate once more (target >= 90 %).

Reported per group: the fraction meeting its own definition (with a Wilson 95 % interval), the fraction
meeting each of the other definitions, the fraction meeting each part of its own definition, and the
medians of the measures; for NOR also the RV/LV end-diastolic volume ratio (real hearts: about 1.0-1.1); for
MINF the inward endocardial motion from ED to ES of the scar's sector and of the remote (opposite) one, in mm
(a transmural scar is akinetic, a partial one moves (1 - transmurality) times the remote wall); the LV/RV
stroke volume ratio of every group (1 without a shunt or regurgitation); for every group the inward motion of each subject's least- and most-moving
of the 6 sectors (a regional defect moves one sector much less than the others, a global one all about alike),
the share of subjects with at least 2 akinetic segments, and the 5th and 95th percentiles of every measure.
Target (issue 20): every group meets its own definition in at least 90 % of its subjects. Nothing here
is tuned: the phantom's generator is measured as it is, with the definitions fixed before the run.

Writes genlib/tables/unit00_phantoms_table.json (lecture 00 reads it with ``genlib.results.load``).
Run: ``python bench/run.py unit00_phantoms`` (a few minutes on 2 cores: 400 stacks per group);
``python -m bench.unit00_phantoms --check`` redraws one group and checks that its fractions equal the table's.
"""
from __future__ import annotations

import json
import math
import os
import platform
import time

import numpy as np
import torch

from bench import machine
from genlib import results

TABLE_PATH = results.path("unit00_phantoms_table")
N_PER_GROUP = 200
GROUPS = ("NOR", "DCM", "HCM", "MINF", "ARV")
SEEDS = {group: 1000 + i for i, group in enumerate(GROUPS)}  # one seed per group, fixed before the run
TARGET = 0.90
N_ACCEPTANCE = 20_000  # physiological draws per group whose acceptance is estimated from the parameters
CHUNK = 50  # subjects measured at a time (memory)
MEASURES = ("lv_edv_ml", "lv_esv_ml", "lv_ef", "rv_edv_ml", "rv_esv_ml", "rv_ef", "lv_mass_g", "lv_edv_index",
            "rv_edv_index", "lv_mass_index", "rv_lv_edv_ratio", "max_thickness_mm", "n_thick_segments",
            "n_abnormal_segments", "n_akinetic_segments", "min_thickening")
MOTION = ("scar_inward_motion_mm", "remote_inward_motion_mm", "scar_transmurality")  # MINF only
SECTOR_MOTION = ("least_moving_sector_mm", "most_moving_sector_mm", "least_over_most_moving")  # every group
STROKE = ("lv_stroke_ml", "rv_stroke_ml", "lv_rv_stroke_ratio", "lv_stroke_index")  # every group


def parts_of(group: str, m: dict) -> dict:
    """The parts of ``group``'s definition (as the course reads it), each a boolean array over subjects."""
    from genlib.data.cardiac import clinical as c

    return {
        "NOR": {"no pathological definition holds": None},
        "DCM": {"LV EDV index > 100 mL/m2": m["lv_edv_index"] > 100, "LVEF < 0.40": m["lv_ef"] < 0.40},
        "HCM": {"LV mass index > 110 g/m2": m["lv_mass_index"] > 110,
                f">= {c.SEVERAL} segments > {c.THICK_MM:g} mm at ED": m["n_thick_segments"] >= c.SEVERAL,
                f"LVEF > {c.NORMAL_LVEF:.2f}": m["lv_ef"] > c.NORMAL_LVEF},
        "MINF": {"LVEF < 0.40": m["lv_ef"] < 0.40,
                 f">= {c.SEVERAL} segments thickening < {c.ABNORMAL_THICKENING:.0%}": m["n_abnormal_segments"] >= c.SEVERAL,
                 f"(not in the definition) >= {c.SEVERAL} akinetic segments, thickening < {c.AKINETIC_THICKENING:.0%}":
                     m["n_akinetic_segments"] >= c.SEVERAL},
        "ARV": {"RV EDV index > 110 mL/m2": m["rv_edv_index"] > 110, "RVEF < 0.40": m["rv_ef"] < 0.40},
    }[group]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score 95 % interval of a proportion k / n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def scar_and_remote_motion_mm(subjects, ed, es, spacing) -> tuple[np.ndarray, np.ndarray]:
    """Inward endocardial motion ED -> ES (mm) of the sector holding the scar's centre and of the opposite one.

    Measured on the label stacks (``clinical.mid_sector_motion_mm``: 6 sectors around the ED cavity centroid,
    from the ED septum direction, averaged over the mid-ventricular slices); the scar's sector is found from
    the subject's scar angle and rotation (``clinical.sector_of_angle``). Returns two (N,) arrays.
    """
    from genlib.data.cardiac.clinical import mid_sector_motion_mm, sector_of_angle

    per_sector, reference = mid_sector_motion_mm(ed, es, spacing)  # (N, 6)
    sector = sector_of_angle(np.deg2rad(np.asarray(subjects.scar_centre_deg) + np.asarray(subjects.rotation_deg)),
                             reference)
    rows = np.arange(len(sector))
    return per_sector[rows, sector], per_sector[rows, (sector + 3) % 6]


def sector_motion_mm(ed, es, spacing) -> tuple[np.ndarray, np.ndarray]:
    """Inward endocardial motion ED -> ES (mm) of each subject's least- and most-moving mid sector.

    ``clinical.mid_sector_motion_mm``, then the smallest and the largest of the 6. Returns two (N,) arrays.
    """
    from genlib.data.cardiac.clinical import mid_sector_motion_mm

    per_sector, _ = mid_sector_motion_mm(ed, es, spacing)
    return per_sector.min(axis=1), per_sector.max(axis=1)


def measure_group(group: str, n: int = N_PER_GROUP, seed: int | None = None, acdc_rule: bool = True) -> dict:
    """Draw ``n`` subjects of ``group`` and return their measures and criteria, (n,) arrays each.

    ``acdc_rule``: as ``sample_subjects`` (False: the physiological draw, before ACDC's rule). The result also
    holds ``admitted`` (ACDC's rule on the full measures) and ``estimated`` (the rule on the estimate).

    The measures also hold ``least_moving_sector_mm`` and ``most_moving_sector_mm`` (``sector_motion_mm``),
    for MINF also ``scar_inward_motion_mm`` and ``remote_inward_motion_mm`` (``scar_and_remote_motion_mm``).
    """
    from genlib.data.cardiac import acdc_criteria, acdc_measures, phantom_stack, sample_subjects
    from genlib.data.cardiac.clinical import DEFAULT_BSA_M2, acdc_inclusion
    from genlib.data.cardiac.pathology import meets_acdc_inclusion

    subjects = sample_subjects(n, group, seed=SEEDS[group] if seed is None else seed, acdc_rule=acdc_rule)
    names = MEASURES + SECTOR_MOTION + STROKE + (MOTION if group == "MINF" else ())
    measures = {k: [] for k in names}
    for start in range(0, n, CHUNK):
        part = subjects.take(np.arange(start, min(start + CHUNK, n)))
        ed, spacing = phantom_stack(part, "ED")
        es, _ = phantom_stack(part, "ES")
        m = acdc_measures(ed, es, spacing, DEFAULT_BSA_M2)
        m["least_moving_sector_mm"], m["most_moving_sector_mm"] = sector_motion_mm(ed, es, spacing)
        m["least_over_most_moving"] = m["least_moving_sector_mm"] / m["most_moving_sector_mm"]
        m["lv_stroke_ml"] = m["lv_edv_ml"] - m["lv_esv_ml"]
        m["rv_stroke_ml"] = m["rv_edv_ml"] - m["rv_esv_ml"]
        m["lv_rv_stroke_ratio"] = m["lv_stroke_ml"] / m["rv_stroke_ml"]
        m["lv_stroke_index"] = m["lv_stroke_ml"] / DEFAULT_BSA_M2
        if group == "MINF":
            m["scar_inward_motion_mm"], m["remote_inward_motion_mm"] = scar_and_remote_motion_mm(part, ed, es, spacing)
            m["scar_transmurality"] = part.scar_transmurality
        for k in names:
            measures[k].append(np.asarray(m[k], dtype=float))
    measures = {k: np.concatenate(v) for k, v in measures.items()}
    return {"measures": measures, "criteria": acdc_criteria(measures), "spacing_mm": spacing,
            "admitted": acdc_inclusion(measures, group), "estimated": meets_acdc_inclusion(subjects)}


def acceptance(group: str, physiological: dict) -> dict:
    """How much of ``group``'s physiological draw ACDC's rule admits, and how well the estimate tells it.

    ``physiological``: ``measure_group(group, acdc_rule=False)``. The full measurement gives the rate on its
    subjects (Wilson interval); the estimate gives it on ``N_ACCEPTANCE`` more draws (seed + 10,000), and its
    verdicts are compared with the full measurement's on the same subjects.
    """
    from genlib.data.cardiac import sample_subjects
    from genlib.data.cardiac.pathology import meets_acdc_inclusion

    full, est = physiological["admitted"], physiological["estimated"]
    n, k = len(full), int(full.sum())
    many = meets_acdc_inclusion(sample_subjects(N_ACCEPTANCE, group, seed=SEEDS[group] + 10_000, acdc_rule=False))
    return {"n": n, "rate_full": k / n, "rate_full_ci95": list(wilson(k, n)),
            "own_definition_full": float(physiological["criteria"][group].mean()),
            "n_estimate": N_ACCEPTANCE, "rate_estimate": float(many.mean()),
            "estimate_agrees": float((full == est).mean()),
            "estimate_admits_full_rejects": int((est & ~full).sum()), "estimate_rejects_full_admits": int((~est & full).sum())}


def summarise(group: str, drawn: dict) -> dict:
    from genlib.data.cardiac import clinical as c

    m, crit = drawn["measures"], drawn["criteria"]
    n = len(m["lv_ef"])
    k = int(crit[group].sum())
    low, high = wilson(k, n)
    row = {
        "n": n, "seed": SEEDS[group], "own_definition": k / n, "own_definition_ci95": [low, high],
        "meets": {g: float(crit[g].mean()) for g in GROUPS},
        "parts": {name: (float(v.mean()) if v is not None else float(crit["NOR"].mean()))
                  for name, v in parts_of(group, m).items()},
        "median": {key: float(np.median(v)) for key, v in m.items()},
        "quartiles": {key: [float(np.quantile(v, 0.25)), float(np.quantile(v, 0.75))] for key, v in m.items()},
        "p05_p95": {key: [float(np.quantile(v, 0.05)), float(np.quantile(v, 0.95))] for key, v in m.items()},
        "share_at_least_2_akinetic": float((m["n_akinetic_segments"] >= c.SEVERAL).mean()),
        "within_target": k / n >= TARGET,
        "admitted_full": float(drawn["admitted"].mean()),
    }
    if "scar_transmurality" in m:  # MINF: a transmural scar is akinetic, a partial one moves (1 - transmurality)
        transmural = m["scar_transmurality"] >= 0.999
        row["transmural_scar_motion_mm"] = {
            "n": int(transmural.sum()), "median": float(np.median(m["scar_inward_motion_mm"][transmural])),
            "partial_median": float(np.median(m["scar_inward_motion_mm"][~transmural]))}
    return row


def run() -> list[dict]:
    from genlib.data.cardiac import clinical

    load_at_start = list(os.getloadavg())
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    groups, spacing = {}, None
    for group in GROUPS:
        drawn = measure_group(group)
        spacing = drawn["spacing_mm"]
        groups[group] = summarise(group, drawn)
        g = groups[group]
        g["acceptance"] = acceptance(group, measure_group(group, acdc_rule=False))
        a = g["acceptance"]
        print(f"  {group:<5} own definition {g['own_definition']:6.1%} "
              f"(95% CI {g['own_definition_ci95'][0]:.1%}-{g['own_definition_ci95'][1]:.1%}); parts: "
              + "; ".join(f"{name} {v:.0%}" for name, v in g["parts"].items())
              + f"; ACDC's rule admits {a['rate_full']:.1%} of the physiological draw (estimate {a['rate_estimate']:.1%}),"
              f" estimate agrees {a['estimate_agrees']:.1%}", flush=True)
    table = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "commit": machine.commit(), "cpu_model": machine.cpu_model(),
        "torch": torch.__version__, "python": platform.python_version(),
        "machine": {"cpu_cores": os.cpu_count(), "platform": platform.platform(), "threads": torch.get_num_threads(),
                    "load_average_at_start": load_at_start},
        "target": f"every group meets its own definition in >= {TARGET:.0%} of its subjects (issue 20)",
        "sampling": "each group drawn from its physiological ranges, kept where ACDC's inclusion rule admits it "
                    "(estimated from the parameters: clinical.estimate_measures); groups[g]['acceptance'] is the "
                    "share of the physiological draw the rule admits",
        "borderline": clinical.BORDERLINE_READING,
        "target_fraction": TARGET,
        "definitions_acdc": clinical.ACDC_DEFINITIONS, "definitions_course_reading": clinical.COURSE_READING,
        "assumptions": {"n_slices": clinical.DEFAULT_N_SLICES, "long_axis_mm": clinical.DEFAULT_LONG_AXIS_MM,
                        "bsa_m2": clinical.DEFAULT_BSA_M2, "size": clinical.DEFAULT_SIZE,
                        "field_of_view_mm": clinical.DEFAULT_STACK_FOV_MM, "spacing_mm": list(spacing),
                        "myocardial_density_g_per_ml": clinical.MYOCARDIAL_DENSITY_G_PER_ML},
        "groups": groups,
        "nor_rv_lv_edv_ratio": {"median": groups["NOR"]["median"]["rv_lv_edv_ratio"],
                                "quartiles": groups["NOR"]["quartiles"]["rv_lv_edv_ratio"],
                                "target": [0.9, 1.2]},
        "minf_inward_motion_mm": {key: {"median": groups["MINF"]["median"][key],
                                        "quartiles": groups["MINF"]["quartiles"][key]} for key in MOTION[:2]},
        "minf_transmural_scar_motion_mm": groups["MINF"]["transmural_scar_motion_mm"],
        "lv_rv_stroke_ratio": {g: {"median": groups[g]["median"]["lv_rv_stroke_ratio"],
                                   "p05_p95": groups[g]["p05_p95"]["lv_rv_stroke_ratio"]} for g in GROUPS},
        "acceptance": {g: {k: groups[g]["acceptance"][k] for k in ("rate_full", "rate_full_ci95", "rate_estimate",
                                                                     "estimate_agrees")} for g in GROUPS},
        "cross_table_note": "groups[g]['meets'][h]: fraction of group g's subjects meeting h's definition",
        "wall_seconds": time.perf_counter() - start_wall,
        "cpu_seconds": time.process_time() - start_cpu,
    }
    TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")
    print_table(table)
    return rows_of(table)


def print_table(table: dict) -> None:
    print(f"\n{'group':<6} {'own def.':>9} " + " ".join(f"{g:>6}" for g in GROUPS)
          + f" {'LVEDVi':>7} {'RVEDVi':>7} {'LVMi':>6} {'LVEF':>5} {'RVEF':>5} {'maxT mm':>7}")
    for group, g in table["groups"].items():
        med = g["median"]
        print(f"{group:<6} {g['own_definition']:>9.1%} " + " ".join(f"{g['meets'][h]:>6.0%}" for h in GROUPS)
              + f" {med['lv_edv_index']:>7.1f} {med['rv_edv_index']:>7.1f} {med['lv_mass_index']:>6.1f}"
              f" {med['lv_ef']:>5.2f} {med['rv_ef']:>5.2f} {med['max_thickness_mm']:>7.1f}")
    r = table["nor_rv_lv_edv_ratio"]
    print(f"NOR RV/LV EDV ratio: median {r['median']:.2f} (quartiles {r['quartiles'][0]:.2f}-{r['quartiles'][1]:.2f}); "
          f"target {r['target'][0]}-{r['target'][1]}")
    for key, v in table["minf_inward_motion_mm"].items():
        print(f"MINF {key}: median {v['median']:.2f} (quartiles {v['quartiles'][0]:.2f}-{v['quartiles'][1]:.2f})")
    for group, g in table["groups"].items():
        least, most = g["median"]["least_moving_sector_mm"], g["median"]["most_moving_sector_mm"]
        print(f"{group}: inward motion of the least / most moving sector, medians {least:.2f} / {most:.2f} mm; "
              f"at least 2 akinetic segments in {g['share_at_least_2_akinetic']:.0%}; LV/RV stroke volume "
              f"median {g['median']['lv_rv_stroke_ratio']:.2f} (5th-95th {g['p05_p95']['lv_rv_stroke_ratio'][0]:.2f}-"
              f"{g['p05_p95']['lv_rv_stroke_ratio'][1]:.2f}), LV SV index {g['median']['lv_stroke_index']:.0f} mL/m2")
    for group, a in table["acceptance"].items():
        print(f"{group}: ACDC's rule admits {a['rate_full']:.1%} (95% CI {a['rate_full_ci95'][0]:.1%}-"
              f"{a['rate_full_ci95'][1]:.1%}) of the physiological draw, measured; {a['rate_estimate']:.1%} estimated "
              f"on {N_ACCEPTANCE}; the estimate's verdict agrees with the measurement's in {a['estimate_agrees']:.1%}")
    t = table["minf_transmural_scar_motion_mm"]
    print(f"MINF scar sector motion: transmural median {t['median']:.2f} mm (n {t['n']}), partial {t['partial_median']:.2f}")


def rows_of(table: dict) -> list[dict]:
    """The bench rows (genlib/tables/results.json) of the table."""
    rows = []
    for group, g in table["groups"].items():
        rows.append({"item": f"{group} phantoms meeting ACDC's {group} definition ({g['n']} subjects)",
                     "measured": f"{g['own_definition']:.1%}", "target": f">= {TARGET:.0%}",
                     "within": g["own_definition"] >= TARGET, "fraction": g["own_definition"]})
    for group, g in table["groups"].items():
        a = g["acceptance"]
        rows.append({"item": f"{group}: share of the physiological draw ACDC's rule admits ({a['n']} subjects, "
                             f"measured; estimate on {a['n_estimate']}: {a['rate_estimate']:.1%})",
                     "measured": f"{a['rate_full']:.1%}", "target": "(reported)", "within": None,
                     "fraction": a["rate_full"]})
    r = table["nor_rv_lv_edv_ratio"]
    rows.append({"item": "NOR phantoms: median RV/LV end-diastolic volume ratio", "measured": f"{r['median']:.2f}",
                 "target": f"{r['target'][0]}-{r['target'][1]}", "within": r["target"][0] <= r["median"] <= r["target"][1],
                 "ratio": r["median"]})
    scar = table["minf_transmural_scar_motion_mm"]["median"]
    remote = table["minf_inward_motion_mm"]["remote_inward_motion_mm"]["median"]
    rows.append({"item": "MINF phantoms: median inward endocardial motion ED -> ES of a transmural scar's sector "
                         f"(remote sector {remote:.1f} mm)", "measured": f"{scar:.2f} mm", "target": "< 1 mm (akinetic)",
                 "within": scar < 1.0, "scar_mm": scar, "remote_mm": remote})
    return rows


def check(group: str = "HCM") -> None:
    """Redraw ``group`` with its seed; its fractions must equal the table's (the pipeline is deterministic)."""
    table = json.loads(TABLE_PATH.read_text())
    again = summarise(group, measure_group(group))
    stored = table["groups"][group]
    for name in ("own_definition",):
        print(f"{group} {name}: table {stored[name]:.4f}, now {again[name]:.4f}")
    if abs(again["own_definition"] - stored["own_definition"]) > 1e-9 or again["meets"] != stored["meets"]:
        raise SystemExit(f"{group} no longer reproduces the table")


if __name__ == "__main__":
    import sys

    torch.set_num_threads(1)
    if sys.argv[1:] == ["--check"]:
        check()
    else:
        for row in run():
            print(row["item"], "|", row["measured"])
