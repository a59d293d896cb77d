"""The data of unit 07's experiment, each set with its provenance: who labelled what, from which vendor.

The scenario (a single-site hospital that wants a segmenter for other scanners):

- **site labelled**: the hospital's labelled set, ONE vendor (A): ``n_subjects`` subjects (mostly NOR),
  ``slices_per_subject`` short-axis slices each; fixed (subject seed 100), the same for every arm and seed;
- **site validation**: labelled vendor-A slices of other site subjects (seed 150): the only data any
  choice is made on (every arm keeps the checkpoint that scores best here);
- **unlabelled target**: images of vendors B and C with no labels (seeds 8000+): what a site can get from
  other scanners without annotating;
- **test**: other subjects (seeds 9000+) in all three vendors and all five ACDC groups; never used to train
  or to choose anything;
- **reference** (arm e only): a large labelled pool in all three vendors (seeds 500+): a ceiling the
  hospital does not have, marked as such.

Every generative model an arm uses (the SPADE generator and style encoder, the label VAE, the CycleGAN;
``tools/weights_synthesis.py``) learns from ``site_labelled`` and ``unlabelled_target`` only, and records
that in its weights file. ``check_no_leak`` asserts it, and that no test image or test label map
equals any training image or label map.

Synthetic label maps come from what the site has: elastic and morphological deformations of its maps, the
label VAE trained on them, and **disease edits** of its maps whose sizes are set from ACDC's published
definitions (not from the parametric sampler that draws the test subjects): ``disease_edits``.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from genlib.data.cardiac import make_slices, render, sample_subjects
from genlib.data.cardiac.labels import PATHOLOGIES
from genlib.data.cardiac.morphology import dilate_cavity, edit_lv
from genlib.data.cardiac.pathology import SubjectBatch
from genlib.data.cardiac.topology import is_one_ring
from genlib.models import conditional_pretrained as cp

VENDOR_STYLES = {"A": "cine_vendor_a", "B": "cine_vendor_b", "C": "cine_vendor_c"}
SITE_VENDOR = "A"
TARGET_VENDORS = ("B", "C")
OTHER_GROUPS = ("DCM", "HCM", "MINF", "ARV")
SITE_SEED, VALIDATION_SEED, UNLABELLED_SEED, TEST_SEED, REFERENCE_SEED = 100, 150, 8000, 9000, 500


@dataclass(frozen=True)
class Provenance:
    """Where a set of images came from.

    Attributes
    ----------
    name : str
        The set, e.g. "site labelled", "unlabelled target", "synthetic".
    vendors : tuple of str
        Vendors of its images ("A", "B", "C"; "synthetic" for generated images).
    labelled : bool
        Whether its label maps are ground truth from that vendor's images (synthetic pairs are not).
    seeds : tuple of int
        The data seeds it was drawn with (subjects, slices, rendering).
    fair : bool
        False for the reference pool, which holds labelled data the scenario does not have.
    """

    name: str
    vendors: tuple
    labelled: bool
    seeds: tuple
    fair: bool = True


@dataclass(frozen=True)
class ScenarioConfig:
    """The sizes of the scenario's data (the experiment's ``ExperimentConfig`` holds one)."""

    n_subjects: int = 20
    n_normal: int = 16
    slices_per_subject: int = 4
    n_validation_subjects: int = 6
    test_per_group: int = 60
    n_unlabelled: int = 200
    n_reference: int = 1500

    def __post_init__(self):
        for name in ("n_subjects", "slices_per_subject", "n_validation_subjects", "test_per_group", "n_unlabelled",
                     "n_reference"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if not 0 <= self.n_normal <= self.n_subjects:
            raise ValueError(f"n_normal must be in 0..n_subjects={self.n_subjects}, got {self.n_normal}.")


def _site_subjects(n_subjects: int, n_normal: int, rng: np.random.Generator) -> tuple[SubjectBatch, list[str]]:
    groups = ["NOR"] * n_normal + [OTHER_GROUPS[k % 4] for k in range(n_subjects - n_normal)]
    return SubjectBatch.from_params([sample_subjects(1, g, rng)[0] for g in groups]), groups


def _slices(params: SubjectBatch, rng: np.random.Generator, per_subject: int):
    """``per_subject`` slices (random level in [0.1, 0.85], random phase) of every subject: labels, tissues."""
    rows = np.repeat(np.arange(len(params)), per_subject)
    level, phase = rng.uniform(0.1, 0.85, len(rows)), rng.uniform(0.0, 1.0, len(rows))
    return make_slices(params.take(rows), phase=phase, slice_level=level, size=cp.SIZE, field_of_view_mm=cp.FOV_MM)


def _site_set(config: ScenarioConfig, seed: int, n_subjects: int, n_normal: int, name: str) -> dict:
    rng = np.random.default_rng(seed)
    params, groups = _site_subjects(n_subjects, n_normal, rng)
    labels, tissues = _slices(params, rng, config.slices_per_subject)
    return {"images": render(tissues, VENDOR_STYLES[SITE_VENDOR], seed=seed), "labels": labels, "tissues": tissues,
            "groups": [g for g in groups for _ in range(config.slices_per_subject)],
            "provenance": (Provenance(name, (SITE_VENDOR,), True, (seed,)),)}


def site_labelled(config: ScenarioConfig = ScenarioConfig()) -> dict:
    """The hospital's labelled set: "images" (N, 1, SIZE, SIZE), "labels" (N, SIZE, SIZE), "tissues" (N, SIZE, SIZE),
    "groups", "provenance"; N = n_subjects * slices_per_subject, vendor A only."""
    return _site_set(config, SITE_SEED, config.n_subjects, config.n_normal, "site labelled")


def site_validation(config: ScenarioConfig = ScenarioConfig()) -> dict:
    """Labelled vendor-A slices of ``n_validation_subjects`` other site subjects (same group mix): for choices."""
    n = config.n_validation_subjects
    n_normal = round(n * config.n_normal / config.n_subjects)
    return _site_set(config, VALIDATION_SEED, n, n_normal, "site validation")


def unlabelled_target(config: ScenarioConfig = ScenarioConfig()) -> dict:
    """``n_unlabelled`` images of each target vendor (B, C), their labels thrown away: "images" (2n, 1, SIZE, SIZE),
    "vendors", "provenance"."""
    images, vendors, seeds = [], [], []
    for k, vendor in enumerate(TARGET_VENDORS):
        seed = UNLABELLED_SEED + k
        images.append(render(cp.sample_crops(config.n_unlabelled, seed=seed, phase=None).tissues,
                             VENDOR_STYLES[vendor], seed=seed))
        vendors += [vendor] * config.n_unlabelled
        seeds.append(seed)
    return {"images": torch.cat(images), "vendors": vendors,
            "provenance": (Provenance("unlabelled target", TARGET_VENDORS, False, tuple(seeds)),)}


def test_set(config: ScenarioConfig = ScenarioConfig()) -> dict:
    """Every vendor x every ACDC group, ``test_per_group`` subjects each, one slice per subject (seeds 9000+).

    Returns
    -------
    dict
        "images" (N, 1, SIZE, SIZE), "labels" (N, SIZE, SIZE), "vendors" (N,) of "A", "B", "C", "groups" (N,),
        "provenance"; N = 3 * 5 * test_per_group.
    """
    images, labels, vendors, groups, seeds = [], [], [], [], []
    for v, vendor in enumerate(VENDOR_STYLES):
        for g, group in enumerate(PATHOLOGIES):
            seed = TEST_SEED + 10 * v + g
            batch = cp.sample_crops(config.test_per_group, seed=seed, pathology=group, phase=None)
            images.append(render(batch.tissues, VENDOR_STYLES[vendor], seed=seed))
            labels.append(batch.labels)
            vendors += [vendor] * config.test_per_group
            groups += [group] * config.test_per_group
            seeds.append(seed)
    return {"images": torch.cat(images), "labels": torch.cat(labels), "vendors": vendors, "groups": groups,
            "provenance": (Provenance("test", tuple(VENDOR_STYLES), True, tuple(seeds)),)}


def reference_set(config: ScenarioConfig, seed: int) -> dict:
    """Arm (e)'s pool: ``n_reference`` labelled crops in the three vendors (seeds 500+); NOT a fair competitor."""
    labels, images, _ = cp.styled_crops(config.n_reference, seed=REFERENCE_SEED + seed)
    return {"images": images, "labels": labels,
            "provenance": (Provenance("reference", tuple(VENDOR_STYLES), True, (REFERENCE_SEED + seed,), fair=False),)}


# ----------------------------------------------------------------------------- disease edits

# Sizes in mm, derived from ACDC's definitions and the phantom's adult sizes (pathology.py): NOR's LV cavity
# radius is 22.5-28 mm at the base, its wall 7-10 mm, its RV 28-36 mm deep. ``edit_lv`` first moves the
# wall's outer border ("wall" outwards), then grows the cavity into the wall ("cavity").
# - DCM, LV EDV index > 100 mL/m2: in the phantom's geometry (90 mm long axis, BSA 1.9 m2) that is a basal
#   cavity radius above DCM_MIN_RADIUS_MM = 30.7 mm, so the smallest normal LV (22.5 mm) must grow by at
#   least 8.2 mm; the whole LV grows by 8.2-13 mm, the wall as thick as before.
# - HCM, walls > 15 mm: 15 mm minus NOR's thinnest wall (7 mm) is 8 mm; the wall grows 8-11 mm thicker.
# - ARV, RV EDV index > 110 mL/m2 (NOR's about 70): the RV is 40-55 mm deep in ARV against 28-36 mm, so its
#   cavity grows by 8-16 mm.
# - MINF, a remodelled LV (median EDV index about 125 mL/m2 against NOR's 66: a radius 1.35 times larger, about
#   +9 mm) with a thinned wall: the wall's outer border 3 mm out and the cavity 6-9 mm into the wall.
# Lower bounds are rounded up to whole pixels of the crops (``cp.PIXEL_MM`` = 2.67 mm), upper bounds to the
# nearest pixel: DCM 4-5 px (10.7-13.3 mm), HCM 3-4 px (8.0-10.7 mm), ARV 3-6 px (8.0-16.0 mm), MINF wall 2 px,
# cavity 3 px (the wall 2.7 mm thinner, the cavity 8.0 mm larger).
DCM_MIN_RADIUS_MM = 30.7
DISEASE_EDITS_MM = {
    "DCM": {"wall": (8.2, 13.0), "cavity": "same", "rv": (0.0, 0.0)},
    "HCM": {"wall": (8.0, 11.0), "cavity": (0.0, 0.0), "rv": (0.0, 0.0)},
    "ARV": {"wall": (0.0, 0.0), "cavity": (0.0, 0.0), "rv": (8.0, 16.0)},
    "MINF": {"wall": (3.0, 3.0), "cavity": (6.0, 9.0), "rv": (0.0, 0.0)},
}


def _pixel_range(low_mm: float, high_mm: float) -> tuple[int, int]:
    """(low, high) mm as whole crop pixels: the low bound rounded up (an edit is never smaller than derived)."""
    low = math.ceil(low_mm / cp.PIXEL_MM - 1e-9)
    return low, max(low, cp.mm_to_pixels(high_mm))


# The same in whole pixels of the crops (ranges inclusive).
DISEASE_EDITS = {group: {key: value if value == "same" else _pixel_range(*value)
                         for key, value in edits.items()}
                 for group, edits in DISEASE_EDITS_MM.items()}


def disease_edits(labels: torch.Tensor, group: str, *, seed: int = 0) -> torch.Tensor:
    """Label maps of one ACDC group made from site maps by the morphological edits of ``DISEASE_EDITS``.

    Parameters
    ----------
    labels : torch.Tensor of int, shape (N, SIZE, SIZE)
        Site label maps (usually NOR).
    group : {"DCM", "HCM", "ARV", "MINF"}
    seed : int
        Seeds each map's edit sizes (uniform within the group's ranges).

    Returns
    -------
    torch.Tensor, int64, shape (N, SIZE, SIZE)
        Edited maps; a map whose LV stops being one ring is left unedited (it counts once as NOR anatomy).
    """
    if group not in DISEASE_EDITS:
        raise ValueError(f"group must be one of {tuple(DISEASE_EDITS)}, got {group!r}.")
    rng = np.random.default_rng(seed)
    sizes = DISEASE_EDITS[group]
    out = []
    for m in labels:
        wall, rv = (int(rng.integers(lo, hi + 1)) for lo, hi in (sizes["wall"], sizes["rv"]))
        cavity = wall if sizes["cavity"] == "same" else int(rng.integers(sizes["cavity"][0], sizes["cavity"][1] + 1))
        edited = edit_lv(m, wall=wall, cavity=cavity)
        if rv:
            edited = dilate_cavity(edited, 1, rv)
        out.append(edited if is_one_ring(edited) else m)
    return torch.stack(out).long()


# ----------------------------------------------------------------------------- the leak check


def _digests(tensors) -> set[str]:
    return {hashlib.sha1(np.ascontiguousarray(t.numpy()).tobytes()).hexdigest() for t in tensors}


def check_no_leak(training_sets: dict, test: dict, models_provenance: dict, target_vendors=TARGET_VENDORS) -> None:
    """Raise ``AssertionError`` if labelled target-vendor data or test data reaches training.

    Parameters
    ----------
    training_sets : dict of str -> dict
        The sets one arm trains on (each with "images", optional "labels", "provenance").
    test : dict
        ``test_set(...)``.
    models_provenance : dict of str -> tuple of Provenance
        What each generative model the arm uses was trained on.
    target_vendors : collection of str
        The vendors whose labels the scenario does not have: the phantoms' "B" and "C", or real vendor
        names (``genlib.synthesis.real``).
    """
    test_seeds = {s for p in test["provenance"] for s in p.seeds}
    for where, provenance in [(f"training set {k!r}", v["provenance"]) for k, v in training_sets.items()] + \
                             [(f"model {k!r}", v) for k, v in models_provenance.items()]:
        for p in provenance:
            if not p.fair:
                continue
            bad = [v for v in p.vendors if v in target_vendors]
            if p.labelled and bad:
                raise AssertionError(f"{where} holds labelled data of target vendor(s) {bad} ({p}).")
            if test_seeds & set(p.seeds):
                raise AssertionError(f"{where} was drawn with test seeds {sorted(test_seeds & set(p.seeds))} ({p}).")
    test_images, test_labels = _digests(test["images"]), _digests(test["labels"])
    for name, data in training_sets.items():
        if _digests(data["images"]) & test_images:
            raise AssertionError(f"training set {name!r} holds a test image.")
        if "labels" in data and _digests(data["labels"]) & test_labels:
            raise AssertionError(f"training set {name!r} holds a test label map.")
