"""The experiment's arms and its configuration: ``ARMS``, ``ExperimentConfig``, ``FULL`` and ``SMALL``.

``genlib.synthesis.experiment`` describes the arms; every size and setting is fixed here, before any run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from genlib.models import conditional_pretrained as cp
from genlib.synthesis import scenario
from genlib.synthesis.scenario import ScenarioConfig

ARMS = {
    "a": "real only",
    "b": "real + nnU-Net augmentation",
    "r": "real + random-contrast renders",
    "u-hist": "real + histogram matching to B/C",
    "u-cycle": "real + CycleGAN to B/C",
    "c": "real + synthetic",
    "c+b": "real + synthetic + nnU-Net augmentation",
    "d": "synthetic only",
    "e": "reference: labelled 3 vendors (unfair)",
}
NO_GENERATOR = ("a", "b", "r", "u-hist")  # the baselines that use no trained generative model
SYNTHETIC = ("c", "c+b")
CLASSES = ("RV", "myo", "LV")
UNSEEN = scenario.TARGET_VENDORS
PIXEL_MM = cp.PIXEL_MM  # 128 mm over 48 pixels: 2.67 mm
EXTRA_POOL = {"r": "randomised", "u-cycle": "translated", "c": "synthetic", "c+b": "synthetic", "d": "synthetic"}



@dataclass(frozen=True)
class ExperimentConfig:
    """Every size and setting of the experiment (see the module docstring); all fixed before any run.

    Attributes
    ----------
    data : ScenarioConfig
        The sizes of the site's, unlabelled, test and reference sets.
    n_synthetic : int
        Size of the synthetic pool of arms (c), (c+b), (d).
    source_shares : tuple of 3 floats
        Shares of the synthetic label maps: deformed site maps, label-VAE samples, disease edits.
    style_shares : tuple of 3 floats
        Shares of the synthetic styles: codes of site images, of unlabelled B/C images, the prior N(0, I).
    n_randomised_per_map : int
        Random-contrast renders of each site tissue map (arm r).
    steps, batch_size : int
    lr : float
    synthetic_fraction : float
        Share of the extra pool in every batch of arms (r), (u-cycle), (c), (c+b); (d) uses 1.
    match_fraction : float
        Share of the images of a batch that arm (u-hist) histogram-matches.
    eval_every : int
        Steps between validation checks (checkpoint selection).
    seeds : tuple of int
    arms : tuple of str
    """

    data: ScenarioConfig = field(default_factory=ScenarioConfig)
    n_synthetic: int = 1500
    source_shares: tuple = (0.5, 0.25, 0.25)
    style_shares: tuple = (0.2, 0.6, 0.2)
    n_randomised_per_map: int = 10
    steps: int = 1500
    batch_size: int = 16
    lr: float = 3e-3
    synthetic_fraction: float = 0.5
    match_fraction: float = 0.5
    eval_every: int = 250
    seeds: tuple = (0, 1, 2, 3, 4)
    arms: tuple = tuple(ARMS)

    def __post_init__(self):
        unknown = [arm for arm in self.arms if arm not in ARMS]
        if unknown:
            raise ValueError(f"arms must be among {tuple(ARMS)}, got {unknown}.")
        for name in ("source_shares", "style_shares"):
            shares = getattr(self, name)
            if len(shares) != 3 or min(shares) < 0 or not math.isclose(sum(shares), 1.0):
                raise ValueError(f"{name} must be three non-negative shares summing to 1, got {shares}.")
        for name in ("n_synthetic", "n_randomised_per_map", "steps", "batch_size", "eval_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}.")


FULL = ExperimentConfig()
SMALL = ExperimentConfig(data=ScenarioConfig(test_per_group=16), seeds=(0,), arms=("a", "c"), steps=500,
                         n_synthetic=500, eval_every=100)
