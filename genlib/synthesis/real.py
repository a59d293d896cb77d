"""Unit 07's experiment on real data (ACDC, M&Ms-1, M&Ms-2): the scenario's sets built from NIfTI folders.

The phantom scenario (``genlib.synthesis.scenario``) has a labelled site of one vendor, unlabelled images of
other vendors, a validation set of other site subjects and a test set of other subjects. On real data the
same roles are filled **by subject** (``genlib.data.cardiac.splits``; no subject in two roles):

- M&Ms (several vendors), ``domain_split``: labels from the ``source`` vendor only ("site"), its other
  subjects for "validation" and "test"; the other vendors' subjects split into "unlabelled" (images only,
  the ED/ES slices in the middle of the stack, no label read) and "test";
- ACDC (one vendor), ``split_subjects``: the same roles at random by subject; "unseen vendors" is then empty
  and the experiment measures only what synthetic data adds on the same scanner.

Every slice is preprocessed alike (``genlib.data.cardiac.preprocess``): course orientation, label-free
heart ROI from the cine's motion, percentile normalisation to [0, 1], 2.67 mm pixels, 48 x 48 crops (``cp.PIXEL_MM``, ``cp.SIZE``: the
size and pixel of the scenario models and of ``experiment.evaluate``'s HD95).

The generative models (SPADE + style encoder, label VAE, CycleGAN) are retrained on "site" and
"unlabelled" only, with the recipes of ``tools/weights_synthesis.py`` (``train_models``); their provenance
is written beside them and checked before every arm (``scenario.check_no_leak`` with the real target
vendors, and for test images and label maps). Arms are those of ``experiment.ARMS``
except (r), which renders the phantoms' tissue maps (lung, liver, fat...) that real data do not have;
arm (e)'s reference pool is the labelled slices of the site and the unlabelled subjects (labels the
scenario does not have: unfair, marked so). Scores are per test **subject**: the mean over its slices
(ED and ES) of each class's Dice and HD95.
"""
from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from genlib.data.cardiac.acdc import add_clinical_measures, acdc_subjects, exams_to_slices, load_exam
from genlib.data.cardiac.splits import check_disjoint, domain_split, split_subjects
from genlib.models import conditional_pretrained as cp
from genlib.synthesis import experiment as ex
from genlib.synthesis import pretrained as sp
from genlib.synthesis import scenario
from genlib.synthesis.scenario import Provenance

LAYOUTS = ("acdc", "mnms", "mnms2")
REAL_ARMS = tuple(arm for arm in ex.ARMS if arm != "r")
ROLE_FRACTIONS = (0.4, 0.15, 0.15, 0.3)  # one-vendor data: site, validation, unlabelled, test, by subject
FULL = ex.ExperimentConfig(arms=REAL_ARMS)
SMALL = dataclasses.replace(ex.SMALL)
SMOKE = ex.ExperimentConfig(seeds=(0,), arms=("a", "c"), steps=4, n_synthetic=16, eval_every=2, batch_size=4)


def load_subjects(folder, layout: str) -> list:
    """The per-subject table (``SubjectInfo`` rows) of a data folder in one of ``LAYOUTS``; M&Ms-1: its
    labelled training subjects."""
    from genlib.data.cardiac import mnms

    if layout == "acdc":
        return acdc_subjects(folder)
    if layout == "mnms":
        return mnms.mnms_subjects(folder, splits=("Training/Labeled",))
    if layout == "mnms2":
        return mnms.mnms2_subjects(folder)
    raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}.")


def make_roles(rows, *, source=None, seed: int = 0) -> dict:
    """Assign subjects to the roles "site", "validation", "unlabelled", "test" (no subject in two).

    ``source`` None: one-vendor data, roles at random by subject (``ROLE_FRACTIONS``); otherwise a vendor
    name whose labels the site has (``splits.domain_split``)."""
    rows = [r for r in rows if r.labelled]
    vendors = sorted({r.vendor for r in rows})
    if source is None:
        roles = split_subjects(rows, ROLE_FRACTIONS, names=("site", "validation", "unlabelled", "test"), seed=seed)
        return {**roles, "source": tuple(vendors), "targets": ()}
    return domain_split(rows, key="vendor", source=source, seed=seed)


def real_data(rows, roles: dict, *, measures: bool = True) -> dict:
    """Load and preprocess every role's slices: "site", "validation", "unlabelled", "test", "reference".

    Returns the experiment's data dict (``experiment.scenario_data``'s keys plus "reference", "source",
    "targets"), each set with its provenance; the test set also holds per-slice "subjects", "vendors",
    "groups" and per-subject "subject_ids", "subject_vendors", "subject_groups". ``measures``: add each
    labelled subject's clinical measures (``acdc.add_clinical_measures``) to its row.
    """
    check_disjoint({k: roles[k] for k in ("site", "validation", "unlabelled", "test")})
    by_id = {r.subject: r for r in rows}

    def exams_of(role):  # one exam in memory at a time (a cine can take 100 MB); the reference set reloads
        for subject in roles[role]:
            exam = load_exam(by_id[subject])
            if measures and exam.labels is not None and not exam.info.measures:
                add_clinical_measures(exam)
            yield exam

    def labelled(role, provenance):
        s = exams_to_slices(exams_of(role), size=cp.SIZE, pixel_mm=ex.PIXEL_MM)
        return {"images": s.images, "labels": s.labels, "groups": s.group, "vendors": s.vendor,
                "subjects": s.subject, "provenance": (provenance,)}

    source, targets = tuple(roles["source"]), tuple(roles["targets"])
    data = {"source": source, "targets": targets}
    data["site"] = labelled("site", Provenance("site labelled", source, True, ()))
    data["validation"] = labelled("validation", Provenance("site validation", source, True, ()))
    images = exams_to_slices(exams_of("unlabelled"), size=cp.SIZE, pixel_mm=ex.PIXEL_MM, labelled=False)
    data["unlabelled"] = {"images": images.images, "vendors": images.vendor, "subjects": images.subject,
                          "provenance": (Provenance("unlabelled target", targets or source, False, ()),)}
    test = labelled("test", Provenance("test", tuple(sorted(set(source) | set(targets))), True, ()))
    ids = list(dict.fromkeys(test["subjects"]))
    test.update(subject_ids=ids, subject_vendors=[by_id[i].vendor for i in ids],
                subject_groups=[by_id[i].group for i in ids])
    data["test"] = test
    reference = exams_to_slices(exams_of("site"), size=cp.SIZE, pixel_mm=ex.PIXEL_MM)
    extra = exams_to_slices(exams_of("unlabelled"), size=cp.SIZE, pixel_mm=ex.PIXEL_MM) if roles["unlabelled"] else None
    data["reference"] = {
        "images": reference.images if extra is None else torch.cat([reference.images, extra.images]),
        "labels": reference.labels if extra is None else torch.cat([reference.labels, extra.labels]),
        "provenance": (Provenance("reference", tuple(sorted(set(source) | set(targets))), True, (), fair=False),)}
    return data


# ----------------------------------------------------------------------------- models


def train_models(data: dict, out_dir, steps: dict) -> dict:
    """Retrain the scenario models on the real "site" and "unlabelled" sets, with the recipes of
    ``tools/weights_synthesis.py`` (``steps``: its FULL or SHORT dict); write them and their provenance
    (``synthesis_scenario.json``) into ``out_dir``; return ``load_models(out_dir)``."""
    from genlib.synthesis.scenario_training import fit_scenario_cyclegan, fit_scenario_label_vae, fit_scenario_spade

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    site, target = data["site"], data["unlabelled"]
    generator, encoder, _ = fit_scenario_spade(site, target, steps["scenario_spade_steps"])
    sp.save_synthesis("scenario_spade", {"generator": generator, "encoder": encoder}, out_dir)
    vae, _, _ = fit_scenario_label_vae(site, steps["scenario_vae_copies"], steps["scenario_vae_steps"])
    sp.save_synthesis("scenario_label_vae", {"model": vae}, out_dir)
    g_ab, g_ba, _ = fit_scenario_cyclegan(site, target, steps["scenario_cycle_steps"])
    sp.save_synthesis("scenario_cyclegan", {"g_ab": g_ab, "g_ba": g_ba}, out_dir)
    record = {name: [dataclasses.asdict(p) for s in sets for p in s["provenance"]] for name, sets in
              (("scenario_cyclegan", (site, target)), ("scenario_label_vae", (site,)),
               ("scenario_spade", (site, target)))}
    sp.provenance_path(out_dir).write_text(json.dumps(record, indent=1) + "\n")
    return load_models(out_dir)


def load_models(out_dir) -> dict:
    """The retrained models in ``out_dir`` and their provenance, in ``experiment.load_models``'s form."""
    generator, encoder = sp.load_synthesis("scenario_spade", out_dir)
    g_ab, _ = sp.load_synthesis("scenario_cyclegan", out_dir)
    return {"generator": generator, "encoder": encoder, "label_vae": sp.load_synthesis("scenario_label_vae", out_dir),
            "g_ab": g_ab, "provenance": sp.scenario_provenance(out_dir)}


# ----------------------------------------------------------------------------- arms


def per_subject(values: np.ndarray, subjects: list, ids: list) -> np.ndarray:
    """Mean over each subject's slices, NaN-aware: (N_slices, 3) -> (N_subjects, 3) in the order of ``ids``."""
    subjects = np.asarray(subjects)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a class absent from every slice of a subject: NaN
        return np.stack([np.nanmean(values[subjects == i], axis=0) for i in ids])


def run_arm(config: ex.ExperimentConfig, arm: str, seed: int, *, data: dict, models: dict | None,
            cache: dict | None = None) -> dict:
    """Train one arm for one seed on the real sets and score it per test subject (``experiment.run_arm``'s
    result: "arm", "seed", "dice", "hd95" (N_subjects, 3), "selection", "cpu_seconds")."""
    if arm not in REAL_ARMS:
        raise ValueError(f"arm must be one of {REAL_ARMS} on real data (arm 'r' needs the phantoms' tissue maps), "
                         f"got {arm!r}.")
    pools = ex.prepare_pools(config, seed, (arm,) if arm != "e" else (), data=data, models=models, cache=cache)
    if arm == "e":
        pools["reference"] = data["reference"]
    used = ex.models_used(arm, models) if models is not None else {}
    training = {k: pools[k] for k in ex.pools_of(arm)}
    scenario.check_no_leak(training, data["test"], used, target_vendors=data["targets"])
    start = time.process_time()
    net, selection = ex.train_arm(arm, pools, config, seed, validation=data["validation"])
    cpu = round(time.process_time() - start, 1)
    scores = ex.evaluate(net, data["test"])
    test = data["test"]
    return {"arm": arm, "seed": seed, "selection": selection, "cpu_seconds": cpu,
            **{k: per_subject(v, test["subjects"], test["subject_ids"]) for k, v in scores.items()}}


def subsets(data: dict) -> dict[str, np.ndarray]:
    """Boolean masks over the test subjects: "all", each vendor, "unseen vendors" (when there are targets),
    and each group."""
    test = data["test"]
    vendors, groups = np.asarray(test["subject_vendors"]), np.asarray(test["subject_groups"])
    masks = {"all": np.ones(len(vendors), dtype=bool)}
    masks.update({f"vendor {v}": vendors == v for v in sorted(set(vendors))})
    if data["targets"]:
        masks["unseen vendors"] = np.isin(vendors, data["targets"])
    masks.update({f"group {g}": groups == g for g in sorted(set(groups)) if g})
    return {name: mask for name, mask in masks.items() if mask.any()}


def run_experiment(config: ex.ExperimentConfig, *, data: dict, models: dict | None, progress: bool = False) -> list:
    """Every arm for every seed, on one thread (restored afterwards)."""
    threads, cache, runs = torch.get_num_threads(), {}, []
    torch.set_num_threads(1)
    try:
        for seed in config.seeds:
            for arm in config.arms:
                runs.append(run_arm(config, arm, seed, data=data, models=models, cache=cache))
                if progress:
                    print(f"  ({arm}) seed {seed}: best step {runs[-1]['selection']['best_step']}, "
                          f"{runs[-1]['cpu_seconds']:.0f} s CPU", flush=True)
    finally:
        torch.set_num_threads(threads)
    return runs


DATA_ENV, LAYOUT_ENV, OUT_ENV = "GENLIB_CARDIAC_DATA", "GENLIB_CARDIAC_LAYOUT", "GENLIB_REAL_OUT"
HOW_TO_GET_DATA = f"""No real data configured (set {DATA_ENV} to a data folder and {LAYOUT_ENV} to acdc, mnms or mnms2).
To run this lecture's experiment on real images:
  1. register and download one of
     - ACDC (150 subjects, one site, 5 groups): https://www.creatis.insa-lyon.fr/Challenge/acdc/
     - M&Ms-1 (375 subjects, 4 vendors, 6 centres): https://www.ub.edu/mnms/
     - M&Ms-2 (360 subjects, 3 vendors, RV pathologies): https://www.ub.edu/mnms-2/
  2. python -m tools.real_experiment --data <folder> --layout acdc|mnms|mnms2 --out real_experiment_out
     (add --small first: arms (a) and (c), one seed; the full run retrains the synthesis models and
     every arm with 5 seeds, hours of CPU)
  3. export {DATA_ENV}=<folder> {LAYOUT_ENV}=<layout> {OUT_ENV}=real_experiment_out and rerun this cell.
For scar (LGE) data, EMIDEC and MyoPS 2020 use their own label values: genlib.data.cardiac.lge maps them."""


def status_report(environ=None) -> str:
    """What lecture 07's "on real data" section prints: how to get the data, or the configured folder's
    subjects (by group and vendor) and, once ``tools.real_experiment`` has written it, its headline."""
    import os
    from collections import Counter

    environ = os.environ if environ is None else environ
    folder = environ.get(DATA_ENV)
    if not folder:
        return HOW_TO_GET_DATA
    layout = environ.get(LAYOUT_ENV, "acdc")
    rows = load_subjects(folder, layout)
    lines = [f"{len(rows)} subjects in {folder} ({layout} layout), {sum(r.labelled for r in rows)} labelled.",
             "by group:  " + ", ".join(f"{g or '?'} {n}" for g, n in sorted(Counter(r.group for r in rows).items())),
             "by vendor: " + ", ".join(f"{v or '?'} {n}" for v, n in sorted(Counter(r.vendor for r in rows).items()))]
    table_path = Path(environ.get(OUT_ENV, "real_experiment_out")) / "real_synthesis_table.json"
    if not table_path.exists():
        lines.append(f"no experiment table at {table_path} yet: run python -m tools.real_experiment --data {folder} "
                     f"--layout {layout} --out {table_path.parent}")
        return "\n".join(lines)
    table = json.loads(table_path.read_text())
    head = table.get("headline")
    if head is None:
        lines.append(f"{table_path}: no unseen vendors in this data (one vendor), so no headline comparison; "
                     "its summary has every arm on the test subjects.")
    else:
        lines.append(f"{table_path}: ({head['synthetic_arm']}) - ({head['strongest_baseline']}) on unseen vendors, "
                     f"myocardium Dice: {100 * head['mean']:+.1f} [{100 * head['low']:+.1f}, {100 * head['high']:+.1f}] "
                     "points (paired bootstrap over seeds and subjects)")
    return "\n".join(lines)
