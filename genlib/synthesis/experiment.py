"""The augmentation experiment of unit 07: does synthetic data help a segmenter trained on little real data?

Scenario. A hospital has a small labelled set: ``n_subjects`` subjects (16 normal + 4 with a
pathology), a few short-axis slices each, all from ONE scanner vendor (``cine_vendor_a``). The
test set is large, from other subjects (disjoint seeds), in all three cine vendor styles
(B and C are *unseen* in the real set) and all five ACDC groups. The SPADE generator and style
encoder are unit 03's (``load_conditional("spade")``), trained on a separate multi-vendor
labelled pool of phantoms; styles of the unseen vendors come from the style encoder applied to
**unlabelled** images of those vendors (and from the prior).

Arms, the same ``UNet(base_channels=8)``, the same number of steps and batch size, per seed:

(a) real only;
(b) real + classical augmentation (flips, 90-degree rotations, intensity scale/shift and gamma,
    elastic warps of image and labels together);
(c) real + synthetic: a fixed share of every batch (``mix_batches``) is SPADE images of deformed
    real labels, label-VAE samples and pathology phantoms' labels, in new styles;
(d) synthetic only;
(e) optional reference: trained on the generator's own kind of labelled multi-vendor pool (a ceiling).

Scores on the test set: per-class Dice (pooled over a group's images) and HD95 (mean over
images, mm), per vendor and per pathology group; per arm, mean +- std over seeds.

``run_experiment(config)`` runs it; ``FULL`` is the benchmark's configuration
(``bench/unit07_synthesis.py``), ``SMALL`` the lecture's (one seed, arms a and c, fewer steps).
"""
from __future__ import annotations

from dataclasses import dataclass, field

ARMS = {
    "a": "real only",
    "b": "real + classical augmentation",
    "c": "real + synthetic",
    "d": "synthetic only",
    "e": "reference: large multi-vendor labelled pool",
}


@dataclass(frozen=True)
class ExperimentConfig:
    """Every size and setting of the experiment (see the module docstring)."""

    n_subjects: int = 20
    n_normal: int = 16
    slices_per_subject: int = 4
    real_style: str = "cine_vendor_a"
    test_per_group: int = 60
    steps: int = 600
    batch_size: int = 16
    lr: float = 3e-3
    synthetic_fraction: float = 0.5
    n_synthetic: int = 1200
    seeds: tuple = (0, 1, 2)
    arms: tuple = ("a", "b", "c", "d")
    extra: dict = field(default_factory=dict)


FULL = ExperimentConfig()
SMALL = ExperimentConfig(seeds=(0,), arms=("a", "c"), steps=200, test_per_group=20, n_synthetic=400)


def run_experiment(config: ExperimentConfig = SMALL, *, progress: bool = True) -> list[dict]:
    """Train every arm for every seed, score it on the test set; one dict per (arm, seed, vendor, group, class).

    Not implemented yet (unit 07 in progress): the signature and the rows' fields are final.
    """
    raise NotImplementedError("run_experiment lands with unit 07's experiment (helper A, by 09:25).")


def summarise(rows: list[dict]) -> list[dict]:
    """Mean +- std over seeds of each (arm, vendor or group, class, metric); see ``run_experiment``."""
    raise NotImplementedError("summarise lands with unit 07's experiment (helper A, by 09:25).")
