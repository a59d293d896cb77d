"""The augmentation experiment of unit 07: does synthetic data help a segmenter trained on one site's labels?

The scenario and its data are ``genlib.synthesis.scenario``'s: one labelled vendor-A set, unlabelled
vendor B and C images, a validation set of other vendor-A subjects, and a test set of other subjects in
all three vendors. Every generative model an arm uses was trained on the first two only
(``load_synthesis("scenario_*")``).

Arms: the same ``UNet(base_channels=8)``, steps, batch size and learning rate; every arm keeps the checkpoint
(every ``eval_every`` steps) with the best mean foreground Dice on the site's validation set:

- (a) real only;
- (b) real + nnU-Net's default augmentation and a bias field (``augment.nnunet_augment``);
- (r) real + domain randomisation: the site's *tissue maps* rendered with random contrast, noise, blur,
  resolution and bias (SynthSeg's idea; the engine's ``style="random"``). It uses the phantoms' tissue maps
  (lung, liver, fat, chest wall as well as the heart), which a real site would have to segment first;
- (u-hist) real, half of every batch's images histogram-matched to a random unlabelled B/C image;
- (u-cycle) real + the site's images translated to B/C by a CycleGAN trained on the site's and the
  unlabelled images (labels unchanged);
- (c) real + synthetic: SPADE images of new label maps (deformed site maps, label-VAE samples, disease edits
  of site maps; ``source_shares``) in new styles (codes of site images, of unlabelled B/C images, the prior;
  ``style_shares``);
- (c+b) arm (c) with arm (b)'s augmentation on every batch;
- (d) synthetic only;
- (e) reference: a large labelled pool of all three vendors. Not a fair competitor: the site has no such data.

Arms (r), (u-cycle), (c), (c+b) mix their extra pool into every batch at ``synthetic_fraction``.

Scores (``evaluate``): Dice and HD95 (mm) per test image (= per subject) and class (RV, myocardium, LV).
Seed s fixes the network's initialisation, the batches, the augmentations and the synthetic, randomised
and translated pools; the site's data and the test set are the same for every seed and arm.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from genlib.data.cardiac import render
from genlib.metrics.segmentation import dice_per_image
from genlib.metrics.surface import hausdorff_distance
from genlib.models import conditional_pretrained as cp
from genlib.models.unet import UNet, predict_labels, segmentation_loss
from genlib.synthesis import scenario
from genlib.synthesis.augment import histogram_match, nnunet_augment
from genlib.synthesis.generate import deform_labels, encode_styles, prior_styles, synthesise
from genlib.synthesis.mixing import mix_batches
from genlib.synthesis.scenario import OTHER_GROUPS, Provenance, ScenarioConfig

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
PIXEL_MM = cp.FOV_MM / cp.SIZE  # 3.125 mm
_EXTRA_POOL = {"r": "randomised", "u-cycle": "translated", "c": "synthetic", "c+b": "synthetic", "d": "synthetic"}


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


# ----------------------------------------------------------------------------- pools


def _split(n: int, shares) -> list[int]:
    """n split by shares into integers that sum to n (largest remainders)."""
    raw = np.asarray(shares) * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw)[: n - counts.sum()]] += 1
    return counts.tolist()


def synthetic_set(config: ExperimentConfig, site: dict, unlabelled: dict, seed: int, *, generator, encoder,
                  label_vae) -> dict:
    """The synthetic pool of arms (c), (c+b), (d): SPADE images of new label maps in new styles.

    Label maps (``source_shares``): ``deform_labels`` of random site maps, label-VAE samples, and
    ``scenario.disease_edits`` of random site maps (DCM, HCM, ARV, MINF in turn). Styles (``style_shares``):
    the encoder's code of a random site image, of a random unlabelled B/C image, or z ~ N(0, I).

    Returns
    -------
    dict
        "images" (n_synthetic, 1, 32, 32), "labels" (n_synthetic, 32, 32), "sources", "provenance".
    """
    n_def, n_vae, n_edit = _split(config.n_synthetic, config.source_shares)
    pick = torch.Generator().manual_seed(200 + seed)
    parts, sources = [], []
    if n_def:
        rows = torch.randint(len(site["labels"]), (n_def,), generator=pick)
        parts.append(deform_labels(site["labels"][rows], seed=200 + seed))
        sources += ["deformed"] * n_def
    if n_vae:
        parts.append(label_vae.sample(n_vae, seed=200 + seed))
        sources += ["vae"] * n_vae
    for g, (group, k) in enumerate(zip(OTHER_GROUPS, _split(n_edit, [0.25] * 4))):
        if k:
            rows = torch.randint(len(site["labels"]), (k,), generator=pick)
            parts.append(scenario.disease_edits(site["labels"][rows], group, seed=300 + 10 * seed + g))
            sources += [f"edit {group}"] * k
    labels = torch.cat(parts)
    n_site, n_target, n_prior = _split(len(labels), config.style_shares)
    with torch.no_grad():
        styles = torch.cat([
            encode_styles(encoder, site["images"][torch.randint(len(site["images"]), (n_site,), generator=pick)]),
            encode_styles(encoder, unlabelled["images"][torch.randint(len(unlabelled["images"]), (n_target,),
                                                                      generator=pick)]),
            prior_styles(n_prior, seed=400 + seed),
        ])
    styles = styles[torch.randperm(len(styles), generator=pick)]
    return {"images": synthesise(generator, labels, styles), "labels": labels, "sources": sources,
            "provenance": (Provenance("synthetic", ("synthetic",), False, (200 + seed,)),)}


def randomised_set(config: ExperimentConfig, site: dict, seed: int) -> dict:
    """Arm (r)'s pool: each site tissue map rendered ``n_randomised_per_map`` times with ``style="random"``."""
    k = config.n_randomised_per_map
    tissues = site["tissues"].repeat(k, 1, 1)
    return {"images": render(tissues, "random", seed=600 + seed), "labels": site["labels"].repeat(k, 1, 1),
            "provenance": (Provenance("randomised", ("synthetic",), False, (600 + seed,)),)}


def translated_set(site: dict, g_ab) -> dict:
    """Arm (u-cycle)'s pool: every site image translated towards B/C by the scenario CycleGAN, labels kept."""
    with torch.no_grad():
        images = g_ab(site["images"]).clamp(0, 1)
    return {"images": images, "labels": site["labels"],
            "provenance": (Provenance("translated", ("synthetic",), False, ()),)}


def load_models() -> dict:
    """The scenario's trained models (``genlib/weights/synthesis_scenario_*.pt``) and what they were trained on."""
    from genlib.synthesis.pretrained import load_synthesis, scenario_provenance

    generator, encoder = load_synthesis("scenario_spade")
    g_ab, _ = load_synthesis("scenario_cyclegan")
    return {"generator": generator, "encoder": encoder, "label_vae": load_synthesis("scenario_label_vae"),
            "g_ab": g_ab, "provenance": scenario_provenance()}


def pools_of(arm: str) -> tuple[str, ...]:
    """The labelled pools ``arm`` trains on (keys of ``prepare_pools``'s dict); (u-hist) also reads the
    unlabelled target images, which carry no labels."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {tuple(ARMS)}, got {arm!r}.")
    if arm == "e":
        return ("reference",)
    return ("synthetic",) if arm == "d" else ("real",) + ((_EXTRA_POOL[arm],) if arm in _EXTRA_POOL else ())


def models_used(arm: str, models: dict) -> dict:
    """{model name: provenance} of the scenario models ``arm`` uses (for ``scenario.check_no_leak``)."""
    names = {"u-cycle": ("scenario_cyclegan",), "c": ("scenario_spade", "scenario_label_vae"),
             "c+b": ("scenario_spade", "scenario_label_vae"), "d": ("scenario_spade", "scenario_label_vae")}
    return {name: models["provenance"][name] for name in names.get(arm, ())}


def prepare_pools(config: ExperimentConfig, seed: int, arms, *, data: dict, models: dict | None = None,
                  cache: dict | None = None) -> dict:
    """The training pools ``arms`` need for one seed: "real", and "synthetic", "randomised", "translated",
    "reference", "unlabelled" as the arms require. ``data`` holds "site" and "unlabelled" (``scenario_data``).
    ``cache`` (a dict kept by the caller) keeps the synthetic pool of each seed for the next arm that needs it:
    arms (c), (c+b) and (d) of one seed train on the same pool, and building it takes most of a run's set-up."""
    arms = set(arms)
    pools = {"real": data["site"]}
    if arms & {"u-hist"}:
        pools["unlabelled"] = data["unlabelled"]
    if arms & {"c", "c+b", "d", "u-cycle"} and models is None:
        models = load_models()
    if arms & {"c", "c+b", "d"}:
        cache = {} if cache is None else cache
        if ("synthetic", seed) not in cache:
            cache[("synthetic", seed)] = synthetic_set(config, data["site"], data["unlabelled"], seed,
                                                       generator=models["generator"], encoder=models["encoder"],
                                                       label_vae=models["label_vae"])
        pools["synthetic"] = cache[("synthetic", seed)]
    if "r" in arms:
        pools["randomised"] = randomised_set(config, data["site"], seed)
    if "u-cycle" in arms:
        pools["translated"] = translated_set(data["site"], models["g_ab"])
    if "e" in arms:
        pools["reference"] = scenario.reference_set(config.data, seed)
    return pools


def scenario_data(config: ExperimentConfig) -> dict:
    """The fixed data of every arm and seed: "site", "validation", "unlabelled", "test"."""
    return {"site": scenario.site_labelled(config.data), "validation": scenario.site_validation(config.data),
            "unlabelled": scenario.unlabelled_target(config.data), "test": scenario.test_set(config.data)}


# ----------------------------------------------------------------------------- training


def _batch(arm: str, pools: dict, config: ExperimentConfig, generator: torch.Generator):
    real = pools["reference"] if arm == "e" else pools["real"]
    extra = pools.get(_EXTRA_POOL.get(arm, ""), None)
    fraction = 1.0 if arm == "d" else config.synthetic_fraction if extra is not None else 0.0
    empty = {"images": real["images"][:0], "labels": real["labels"][:0]}
    extra = extra or empty
    images, labels, _ = mix_batches(real["images"], real["labels"], extra["images"], extra["labels"],
                                    synthetic_fraction=fraction, batch_size=config.batch_size, generator=generator)
    if arm in ("b", "c+b"):
        images, labels = nnunet_augment(images, labels, generator)
    elif arm == "u-hist":
        chosen = (torch.rand(len(images), generator=generator) < config.match_fraction).nonzero().flatten()
        if len(chosen):
            pool = pools["unlabelled"]["images"]
            references = pool[torch.randint(len(pool), (len(chosen),), generator=generator)]
            images = images.clone()
            images[chosen] = histogram_match(images[chosen], references)
    return images, labels


def validation_dice(model, validation: dict) -> float:
    """Mean foreground Dice per image on the site's validation set (the checkpoint rule of every arm)."""
    dice = dice_per_image(predict_labels(model, validation["images"]), validation["labels"])
    return float(np.nanmean(dice.numpy()))


def train_arm(arm: str, pools: dict, config: ExperimentConfig, seed: int, *, validation: dict,
              progress: bool = False) -> tuple[UNet, dict]:
    """Train ``UNet(base_channels=8)`` for one arm; keep the checkpoint best on ``validation``.

    Returns
    -------
    model : UNet, in eval mode
    selection : dict
        "best_step", "validation_dice" (at the best step), "curve" (validation Dice every eval_every steps).
    """
    from tqdm.auto import tqdm

    if arm not in ARMS:
        raise ValueError(f"arm must be one of {tuple(ARMS)}, got {arm!r}.")
    torch.manual_seed(1000 + seed)
    net = UNet(base_channels=8)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(2000 + seed)
    best, curve = (-1.0, 0, None), []
    for step in tqdm(range(1, config.steps + 1), desc=f"arm ({arm}) seed {seed}", disable=not progress,
                     leave=False):
        net.train()
        images, labels = _batch(arm, pools, config, generator)
        loss = segmentation_loss(net(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % config.eval_every == 0 or step == config.steps:
            score = validation_dice(net, validation)
            curve.append((step, round(score, 4)))
            if score > best[0]:
                best = (score, step, copy.deepcopy(net.state_dict()))
    net.load_state_dict(best[2])
    net.eval()
    return net, {"best_step": best[1], "validation_dice": best[0], "curve": curve}


# ----------------------------------------------------------------------------- scoring


def evaluate(model, test: dict) -> dict:
    """Dice and HD95 (mm) per test image and class.

    Returns
    -------
    dict
        "dice", "hd95": float arrays (N, 3), classes RV, myo, LV; NaN where a class is absent from both the
        prediction and the reference (Dice) or undefined (HD95). HD95 moves in steps of about a pixel
        (3.1 mm); a structure missed or invented scores the image diagonal (141 mm).
    """
    pred = predict_labels(model, test["images"])
    return {"dice": dice_per_image(pred, test["labels"]).numpy(),
            "hd95": hausdorff_distance(pred, test["labels"], pixel_mm=PIXEL_MM).numpy()}


def subsets(test: dict) -> dict[str, np.ndarray]:
    """Boolean masks over the test images: each vendor, "unseen vendors" (B and C), and each ACDC group."""
    vendors, groups = np.asarray(test["vendors"]), np.asarray(test["groups"])
    masks = {f"vendor {v}": vendors == v for v in scenario.VENDOR_STYLES}
    masks["unseen vendors"] = np.isin(vendors, UNSEEN)
    masks.update({g: groups == g for g in sorted(set(test["groups"]), key=list(test["groups"]).index)})
    return masks


def run_arm(config: ExperimentConfig, arm: str, seed: int, *, data: dict, models: dict | None = None,
            progress: bool = False, cache: dict | None = None) -> dict:
    """Train one arm for one seed and score it: "arm", "seed", "dice" and "hd95" (N, 3), "selection", "cpu_seconds".

    Before training it checks (``scenario.check_no_leak``) that no labelled target-vendor image and no
    test image or map reaches the arm's pools or the models it uses (the reference arm's pool excepted).
    """
    pools = prepare_pools(config, seed, (arm,), data=data, models=models, cache=cache)
    if models is None and arm in ("c", "c+b", "d", "u-cycle"):
        models = load_models()
    used = models_used(arm, models) if models is not None and "provenance" in models else {}
    scenario.check_no_leak({k: pools[k] for k in pools_of(arm)}, data["test"], used)
    start = time.process_time()
    net, selection = train_arm(arm, pools, config, seed, validation=data["validation"], progress=progress)
    cpu = round(time.process_time() - start, 1)
    return {"arm": arm, "seed": seed, **evaluate(net, data["test"]), "selection": selection, "cpu_seconds": cpu}


def run_experiment(config: ExperimentConfig = SMALL, *, models: dict | None = None, progress: bool = True) -> list[dict]:
    """Every arm for every seed, on one thread (restored afterwards; these small networks train 2-3 times
    faster on one thread than on two). Returns ``run_arm``'s results."""
    data = scenario_data(config)
    models = models if models is not None else (load_models() if set(config.arms) & set(_EXTRA_POOL) - {"r"} else None)
    threads, cache = torch.get_num_threads(), {}
    torch.set_num_threads(1)
    try:
        return [run_arm(config, arm, seed, data=data, models=models, progress=progress, cache=cache)
                for seed in config.seeds for arm in config.arms]
    finally:
        torch.set_num_threads(threads)


def scores(runs: list[dict], arm: str, metric: str = "dice", name: str = "myo", mask=None) -> np.ndarray:
    """The per-subject scores of ``arm``, seed by seed: (n_seeds, n_subjects), seeds in increasing order."""
    k = CLASSES.index(name)
    chosen = sorted((r for r in runs if r["arm"] == arm), key=lambda r: r["seed"])
    if not chosen:
        raise ValueError(f"runs hold no run of arm {arm!r}; they have arms {sorted({r['arm'] for r in runs})}.")
    table = np.stack([np.asarray(r[metric], dtype=float)[:, k] for r in chosen])
    return table if mask is None else table[:, np.asarray(mask)]
