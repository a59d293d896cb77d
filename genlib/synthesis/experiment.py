"""The augmentation experiment of unit 07: does synthetic data help a segmenter trained on little real data?

Scenario. A hospital has a small labelled set: ``n_subjects`` subjects (``n_normal`` normal, the
others one each of DCM, HCM, MINF, ARV in turn), ``slices_per_subject`` short-axis slices each
(random levels and phases), all from ONE scanner vendor (``cine_vendor_a``). The test set is
large, from other subjects (other seeds), in all three cine vendor styles (B and C are *unseen*
in the real set) and all five ACDC groups. The SPADE generator and style encoder are unit 03's
(``load_conditional("spade")``), trained on a separate labelled pool of phantoms in the three
vendor styles; styles of the unseen vendors come from the style encoder applied to
**unlabelled** images of those vendors (and from the prior N(0, I)).

Arms: the same ``UNet(base_channels=8)``, the same number of steps, batch size and learning
rate, per seed:

(a) real only;
(b) real + classical augmentation (``classical_augment``: flips, 90-degree rotations, intensity
    scale and shift, gamma, elastic warps of image and labels together);
(c) real + synthetic: ``synthetic_fraction`` of every batch (``mix_batches``) is synthetic, SPADE
    images of deformed real labels, label-VAE samples and pathology phantoms' label maps, in the
    styles of the real images, of unlabelled vendor B and C images and of the prior;
(d) synthetic only;
(e) reference (optional): a large labelled pool in all three vendor styles, like the one the
    generator was trained on (an honest ceiling, not a scenario the hospital has).

Scores on the test set (``evaluate``): per class (RV, myocardium, LV) the Dice pooled over a
subset's images and the HD95 (``hausdorff_distance``, mm) averaged over its images, for each
vendor, the unseen vendors together, and each pathology group (all vendors).

Seeds. Seed s fixes the real training set (subjects drawn with seed 100 + s), the network's
initialisation, the batches and the synthetic set; the test set (seeds 9000+) and the
unlabelled images (seeds 8000+) are the same for every seed and arm, and are never used to
choose a setting.

``run_experiment(config)`` runs it; ``FULL`` is the benchmark's configuration
(``bench/unit07_synthesis.py``), ``SMALL`` the lecture's (one seed, arms a and c, fewer steps,
a smaller test set). ``summarise(rows)`` gives mean and std over seeds; ``gain`` the (c) - (a)
difference on one score with its seed spread.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from genlib.data.cardiac import elastic_deform, make_slices, render, sample_subjects
from genlib.data.cardiac.labels import PATHOLOGIES
from genlib.data.cardiac.pathology import SubjectBatch
from genlib.metrics.segmentation import dice_per_class
from genlib.metrics.surface import hausdorff_distance
from genlib.models import conditional_pretrained as cp
from genlib.models.unet import UNet, predict_labels, segmentation_loss
from genlib.synthesis.generate import deform_labels, encode_styles, pathology_labels, prior_styles, synthesise
from genlib.synthesis.mixing import mix_batches

ARMS = {
    "a": "real only",
    "b": "real + classical augmentation",
    "c": "real + synthetic",
    "d": "synthetic only",
    "e": "reference: large labelled pool, three vendors",
}
CLASSES = ("RV", "myo", "LV")
VENDORS = {"cine_vendor_a": "A", "cine_vendor_b": "B", "cine_vendor_c": "C"}
UNSEEN = ("B", "C")
PIXEL_MM = cp.FOV_MM / cp.SIZE  # 3.125 mm
_OTHER_GROUPS = ("DCM", "HCM", "MINF", "ARV")


@dataclass(frozen=True)
class ExperimentConfig:
    """Every size and setting of the experiment (see the module docstring).

    Attributes
    ----------
    n_subjects, n_normal, slices_per_subject : int
        The real labelled set: n_subjects subjects, n_normal of them NOR, slices_per_subject slices each.
    real_style : str
        The one vendor of the real set.
    test_per_group : int
        Test slices (one subject each) per vendor and pathology group: 3 x 5 x test_per_group in all.
    n_unlabelled : int
        Unlabelled images per unseen vendor, for the style encoder.
    n_synthetic : int
        Size of the synthetic pool of arms (c) and (d).
    source_shares : tuple of 3 floats
        Shares of the synthetic label maps: deformed real labels, label-VAE samples, pathology phantoms.
    style_shares : tuple of 3 floats
        Shares of the synthetic styles: encoded real (vendor A) images, encoded unlabelled
        vendor B and C images, the prior N(0, I).
    n_reference : int
        Size of arm (e)'s labelled pool.
    steps, batch_size : int
        Training steps (one mini-batch each) and batch size, the same for every arm.
    lr : float
        Adam's learning rate.
    synthetic_fraction : float
        Share of synthetic pairs in every batch of arm (c).
    seeds : tuple of int
    arms : tuple of str
        Among ``ARMS``.
    """

    n_subjects: int = 20
    n_normal: int = 16
    slices_per_subject: int = 4
    real_style: str = "cine_vendor_a"
    test_per_group: int = 60
    n_unlabelled: int = 200
    n_synthetic: int = 1500
    source_shares: tuple = (0.5, 0.25, 0.25)
    style_shares: tuple = (0.2, 0.6, 0.2)
    n_reference: int = 1500
    steps: int = 1500
    batch_size: int = 16
    lr: float = 3e-3
    synthetic_fraction: float = 0.5
    seeds: tuple = (0, 1, 2)
    arms: tuple = ("a", "b", "c", "d", "e")

    def __post_init__(self):
        unknown = [arm for arm in self.arms if arm not in ARMS]
        if unknown:
            raise ValueError(f"arms must be among {tuple(ARMS)}, got {unknown}.")
        if not 0 <= self.n_normal <= self.n_subjects:
            raise ValueError(f"n_normal must be in 0..n_subjects={self.n_subjects}, got {self.n_normal}.")
        for name in ("source_shares", "style_shares"):
            shares = getattr(self, name)
            if len(shares) != 3 or min(shares) < 0 or not math.isclose(sum(shares), 1.0):
                raise ValueError(f"{name} must be three non-negative shares summing to 1, got {shares}.")


FULL = ExperimentConfig()
SMALL = ExperimentConfig(seeds=(0,), arms=("a", "c"), steps=500, test_per_group=16, n_unlabelled=100,
                         n_synthetic=500)


# ----------------------------------------------------------------------------- data


def _crops_of(params: SubjectBatch, rng: np.random.Generator, slices: int):
    """``slices`` slices (random level in [0.1, 0.85], random phase) of every subject: labels, tissues (N * slices, 32, 32)."""
    rows = np.repeat(np.arange(len(params)), slices)
    taken = params.take(rows)
    level, phase = rng.uniform(0.1, 0.85, len(rows)), rng.uniform(0.0, 1.0, len(rows))
    return make_slices(taken, phase=phase, slice_level=level, size=cp.SIZE, field_of_view_mm=cp.FOV_MM)


def real_training_set(config: ExperimentConfig, seed: int) -> dict:
    """The hospital's small labelled set: one vendor, mostly normal anatomy.

    Returns
    -------
    dict
        "images" (N, 1, 32, 32) float32, "labels" (N, 32, 32) int64, "groups" (N,) list of str,
        with N = n_subjects * slices_per_subject.
    """
    rng = np.random.default_rng(100 + seed)
    groups = ["NOR"] * config.n_normal + [_OTHER_GROUPS[k % 4] for k in range(config.n_subjects - config.n_normal)]
    params = SubjectBatch.from_params([sample_subjects(1, g, rng)[0] for g in groups])
    labels, tissues = _crops_of(params, rng, config.slices_per_subject)
    images = render(tissues, config.real_style, seed=100 + seed)
    return {"images": images, "labels": labels, "groups": [g for g in groups for _ in range(config.slices_per_subject)]}


def test_set(config: ExperimentConfig) -> dict:
    """The fixed test set: every vendor x every group, ``test_per_group`` subjects each (seeds 9000+).

    Returns
    -------
    dict
        "images" (N, 1, 32, 32), "labels" (N, 32, 32), "vendors" (N,) list of "A", "B", "C",
        "groups" (N,) list of ACDC groups; N = 3 * 5 * test_per_group.
    """
    images, labels, vendors, groups = [], [], [], []
    for v, style in enumerate(VENDORS):
        for g, group in enumerate(PATHOLOGIES):
            seed = 9000 + 10 * v + g
            batch = cp.sample_crops(config.test_per_group, seed=seed, pathology=group, phase=None)
            images.append(render(batch.tissues, style, seed=seed))
            labels.append(batch.labels)
            vendors += [VENDORS[style]] * config.test_per_group
            groups += [group] * config.test_per_group
    return {"images": torch.cat(images), "labels": torch.cat(labels), "vendors": vendors, "groups": groups}


def unlabelled_images(config: ExperimentConfig) -> torch.Tensor:
    """``n_unlabelled`` images of each unseen vendor (B, C), seeds 8000+; their labels are thrown away. (2n, 1, 32, 32)."""
    return torch.cat([render(cp.sample_crops(config.n_unlabelled, seed=8000 + k, phase=None).tissues, style,
                             seed=8000 + k) for k, style in enumerate(("cine_vendor_b", "cine_vendor_c"))])


def _split(n: int, shares) -> list[int]:
    """n split by shares into integers that sum to n (largest remainders)."""
    raw = np.asarray(shares) * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw)[: n - counts.sum()]] += 1
    return counts.tolist()


def synthetic_set(config: ExperimentConfig, real: dict, seed: int, *, generator, encoder, label_vae,
                  unlabelled: torch.Tensor) -> dict:
    """The synthetic pool of arms (c) and (d): SPADE images of new label maps in new styles.

    Label maps (``source_shares``): deformed real labels (``deform_labels``), label-VAE samples,
    phantoms of the four pathology groups (``pathology_labels``, in turn). Styles (``style_shares``):
    the encoder's code of a random real image, of a random unlabelled vendor B/C image, or z ~ N(0, I).

    Returns
    -------
    dict
        "images" (n_synthetic, 1, 32, 32), "labels" (n_synthetic, 32, 32), "sources" list of
        "deformed", "vae", "pathology".
    """
    n_def, n_vae, n_path = _split(config.n_synthetic, config.source_shares)
    pick = torch.Generator().manual_seed(200 + seed)
    parts, sources = [], []
    if n_def:
        rows = torch.randint(len(real["labels"]), (n_def,), generator=pick)
        parts.append(deform_labels(real["labels"][rows], seed=200 + seed))
        sources += ["deformed"] * n_def
    if n_vae:
        parts.append(label_vae.sample(n_vae, seed=200 + seed))
        sources += ["vae"] * n_vae
    if n_path:
        counts = _split(n_path, [0.25] * 4)
        parts += [pathology_labels(k, group, seed=300 + 10 * seed + g)
                  for g, (group, k) in enumerate(zip(_OTHER_GROUPS, counts)) if k]
        sources += ["pathology"] * n_path
    labels = torch.cat(parts)
    n_real, n_unseen, n_prior = _split(len(labels), config.style_shares)
    styles = torch.cat([
        encode_styles(encoder, real["images"][torch.randint(len(real["images"]), (n_real,), generator=pick)]),
        encode_styles(encoder, unlabelled[torch.randint(len(unlabelled), (n_unseen,), generator=pick)]),
        prior_styles(n_prior, seed=400 + seed),
    ])
    styles = styles[torch.randperm(len(styles), generator=pick)]
    return {"images": synthesise(generator, labels, styles), "labels": labels, "sources": sources}


def reference_set(config: ExperimentConfig, seed: int) -> dict:
    """Arm (e)'s pool: ``n_reference`` labelled crops in the three vendor styles (seeds 500+)."""
    labels, images, _ = cp.styled_crops(config.n_reference, seed=500 + seed)
    return {"images": images, "labels": labels}


# ----------------------------------------------------------------------------- training


def classical_augment(images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator):
    """Classical augmentation of a batch, the same geometric transform for an image and its labels.

    Per image: a horizontal flip (p = 1/2), a rotation by a random multiple of 90 degrees, an
    elastic warp (p = 1/2; ``elastic_deform``, largest displacement 2 pixels, smoothness 5), an
    intensity scale in [0.8, 1.2] and shift in [-0.1, 0.1], and a gamma in [0.7, 1.5]; clipped to [0, 1].

    Parameters
    ----------
    images : torch.Tensor, shape (B, 1, H, W), in [0, 1]
    labels : torch.Tensor of int, shape (B, H, W)
    generator : torch.Generator

    Returns
    -------
    images : torch.Tensor, shape (B, 1, H, W); labels : torch.Tensor, int64, shape (B, H, W)
    """
    b = len(images)
    flip = torch.rand(b, generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    labels = torch.where(flip[:, None, None], labels.flip(-1), labels)
    turns = torch.randint(4, (b,), generator=generator)
    images = torch.stack([torch.rot90(x, int(k), dims=(-2, -1)) for x, k in zip(images, turns)])
    labels = torch.stack([torch.rot90(y, int(k), dims=(-2, -1)) for y, k in zip(labels, turns)])
    warp = (torch.rand(b, generator=generator) < 0.5).nonzero().flatten()
    if len(warp):
        seed = int(torch.randint(2**31 - 1, (), generator=generator))
        warped_labels, warped_images = elastic_deform(labels[warp], alpha=2.0, sigma=5.0, seed=seed,
                                                      images=images[warp], keep_ring=False)
        labels, images = labels.clone(), images.clone()
        labels[warp], images[warp] = warped_labels, warped_images
    scale = 0.8 + 0.4 * torch.rand(b, 1, 1, 1, generator=generator)
    shift = -0.1 + 0.2 * torch.rand(b, 1, 1, 1, generator=generator)
    gamma = 0.7 + 0.8 * torch.rand(b, 1, 1, 1, generator=generator)
    images = (images.clamp(0, 1) ** gamma * scale + shift).clamp(0, 1)
    return images, labels


def train_arm(arm: str, pools: dict, config: ExperimentConfig, seed: int, *, progress: bool = False) -> UNet:
    """Train ``UNet(base_channels=8)`` for one arm: ``config.steps`` Adam steps on batches of ``config.batch_size``.

    Parameters
    ----------
    arm : str
        One of ``ARMS``.
    pools : dict
        "real" and, for arms (c) and (d), "synthetic", for (e) "reference": dicts with "images", "labels".
    config : ExperimentConfig
    seed : int
        Seeds the initialisation, the batches and the augmentation.
    progress : bool

    Returns
    -------
    UNet, in eval mode
    """
    from tqdm.auto import tqdm

    if arm not in ARMS:
        raise ValueError(f"arm must be one of {tuple(ARMS)}, got {arm!r}.")
    torch.manual_seed(1000 + seed)
    net = UNet(base_channels=8)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(2000 + seed)
    real = pools["reference"] if arm == "e" else pools["real"]
    synthetic = pools.get("synthetic") if arm in ("c", "d") else None
    fraction = {"c": config.synthetic_fraction, "d": 1.0}.get(arm, 0.0)
    empty = {"images": real["images"][:0], "labels": real["labels"][:0]}
    synthetic = synthetic or empty
    net.train()
    for _ in tqdm(range(config.steps), desc=f"arm ({arm}) seed {seed}", disable=not progress, leave=False):
        images, labels, _ = mix_batches(real["images"], real["labels"], synthetic["images"], synthetic["labels"],
                                        synthetic_fraction=fraction, batch_size=config.batch_size,
                                        generator=generator)
        if arm == "b":
            images, labels = classical_augment(images, labels, generator)
        loss = segmentation_loss(net(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval()
    return net


# ----------------------------------------------------------------------------- scoring


def evaluate(model, test: dict) -> list[dict]:
    """Per-class Dice (pooled) and HD95 (mean over images, mm) on each subset of the test set.

    Subsets: "vendor A", "vendor B", "vendor C", "unseen vendors" (B and C), and "NOR" ... "ARV" (all vendors).

    Returns
    -------
    list of dict
        One per (subset, class): "subset", "class", "dice", "hd95", "n_images".
    """
    pred = predict_labels(model, test["images"])
    hd = hausdorff_distance(pred, test["labels"], pixel_mm=PIXEL_MM)  # (N, 3)
    vendors, groups = np.asarray(test["vendors"]), np.asarray(test["groups"])
    subsets = {f"vendor {v}": vendors == v for v in ("A", "B", "C")}
    subsets["unseen vendors"] = np.isin(vendors, UNSEEN)
    subsets.update({group: groups == group for group in PATHOLOGIES})
    rows = []
    for subset, mask in subsets.items():
        rows_mask = torch.from_numpy(mask)
        dice = dice_per_class(pred[rows_mask], test["labels"][rows_mask])  # (3,), pooled over the subset
        hd95 = hd[rows_mask].nanmean(0)  # (3,)
        for k, name in enumerate(CLASSES):
            rows.append({"subset": subset, "class": name, "dice": float(dice[k]), "hd95": float(hd95[k]),
                         "n_images": int(mask.sum())})
    return rows


def _load_models(models: dict | None):
    if models is not None:
        return models
    from genlib.synthesis.pretrained import load_synthesis

    generator, encoder = cp.load_conditional("spade")
    return {"generator": generator, "encoder": encoder, "label_vae": load_synthesis("label_vae")}


def prepare_pools(config: ExperimentConfig, seed: int, arms, *, models: dict | None = None,
                  unlabelled: torch.Tensor | None = None) -> dict:
    """The training pools that ``arms`` need for one seed: "real", and "synthetic" (c, d), "reference" (e)."""
    pools = {"real": real_training_set(config, seed)}
    if {"c", "d"} & set(arms):
        unlabelled = unlabelled if unlabelled is not None else unlabelled_images(config)
        pools["synthetic"] = synthetic_set(config, pools["real"], seed, unlabelled=unlabelled, **_load_models(models))
    if "e" in arms:
        pools["reference"] = reference_set(config, seed)
    return pools


def run_arm(config: ExperimentConfig, arm: str, seed: int, *, pools: dict | None = None, test: dict | None = None,
            models: dict | None = None, progress: bool = False) -> list[dict]:
    """Train one arm for one seed and score it: rows as in ``run_experiment``."""
    pools = pools if pools is not None else prepare_pools(config, seed, (arm,), models=models)
    test = test if test is not None else test_set(config)
    start = time.process_time()
    net = train_arm(arm, pools, config, seed, progress=progress)
    cpu = round(time.process_time() - start, 1)
    return [{"arm": arm, "seed": seed, **row, "train_cpu_seconds": cpu} for row in evaluate(net, test)]


def run_seed(config: ExperimentConfig, seed: int, *, models: dict | None = None, progress: bool = False,
             test: dict | None = None, unlabelled: torch.Tensor | None = None) -> list[dict]:
    """Every arm of ``config`` for one seed; rows as in ``run_experiment``."""
    test = test if test is not None else test_set(config)
    pools = prepare_pools(config, seed, config.arms, models=models, unlabelled=unlabelled)
    return [row for arm in config.arms for row in run_arm(config, arm, seed, pools=pools, test=test, progress=progress)]


def _run_seed_job(args):
    config, seed = args
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_seed(config, seed)
    finally:
        torch.set_num_threads(threads)


def run_experiment(config: ExperimentConfig = SMALL, *, models: dict | None = None, progress: bool = True,
                   jobs: int = 1) -> list[dict]:
    """Train every arm for every seed and score it on the test set.

    Parameters
    ----------
    config : ExperimentConfig
        ``SMALL`` (the lecture: one seed, arms a and c; 29 to 37 s on the shared course machine) or
        ``FULL`` (the bench: 1,050 s of CPU). It runs on one thread (restored afterwards): on two
        threads the small U-Net trained 2-3 times slower (measured: 74 s for ``SMALL``).
    models : dict, optional
        "generator", "encoder" (unit 03's SPADE) and "label_vae"; loaded from the shipped weights if None.
    progress : bool
        Progress bars (one per arm and seed).
    jobs : int
        Seeds run in this many processes, one thread each (the shipped weights are used; same results).

    Returns
    -------
    list of dict
        One per (arm, seed, subset, class): "arm", "seed", "subset", "class", "dice", "hd95" (mm),
        "n_images", "train_cpu_seconds".
    """
    if jobs > 1 and len(config.seeds) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(config.seeds))) as pool:
            return [row for rows in pool.map(_run_seed_job, [(config, s) for s in config.seeds]) for row in rows]
    models = _load_models(models)
    test, unlabelled = test_set(config), unlabelled_images(config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these small networks train 2-3 times faster on one thread than on two
    try:
        return [row for seed in config.seeds
                for row in run_seed(config, seed, models=models, progress=progress, test=test, unlabelled=unlabelled)]
    finally:
        torch.set_num_threads(threads)


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and std over seeds (std with ddof = 1; 0 for one seed) of Dice and HD95 per (arm, subset, class).

    Returns
    -------
    list of dict
        "arm", "subset", "class", "n_seeds", "dice_mean", "dice_std", "hd95_mean", "hd95_std".
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["arm"], row["subset"], row["class"]), []).append(row)
    out = []
    for (arm, subset, name), members in groups.items():
        entry = {"arm": arm, "subset": subset, "class": name, "n_seeds": len(members)}
        for metric in ("dice", "hd95"):
            values = np.array([m[metric] for m in members], dtype=float)
            entry[f"{metric}_mean"] = float(values.mean())
            entry[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out.append(entry)
    return out


def gain(rows: list[dict], *, subset: str = "unseen vendors", name: str = "myo", metric: str = "dice",
         arm: str = "c", baseline: str = "a") -> dict:
    """The difference ``arm`` - ``baseline`` in one score, per seed, and whether it exceeds the seed spread.

    Returns
    -------
    dict
        "per_seed" (differences in seed order), "mean", "std" of the paired differences, "spread" (the larger
        of the two arms' std over seeds), "exceeds_spread" (|mean difference| > spread, and the same sign in
        every seed; None for a single seed, which has no spread).
    """
    score = {(r["arm"], r["seed"]): r[metric] for r in rows if r["subset"] == subset and r["class"] == name}
    seeds = sorted({s for (a, s) in score if a == arm} & {s for (a, s) in score if a == baseline})
    if not seeds:
        raise ValueError(f"rows hold no seed with both arm {arm!r} and arm {baseline!r} for {subset!r}, {name!r}.")
    diff = np.array([score[(arm, s)] - score[(baseline, s)] for s in seeds])
    spread = max(float(np.std([score[(a, s)] for s in seeds], ddof=1)) if len(seeds) > 1 else 0.0
                 for a in (arm, baseline))
    return {"per_seed": diff.tolist(), "mean": float(diff.mean()),
            "std": float(diff.std(ddof=1)) if len(seeds) > 1 else 0.0, "spread": spread,
            "exceeds_spread": (bool(abs(diff.mean()) > spread and (np.sign(diff) == np.sign(diff.mean())).all())
                               if len(seeds) > 1 else None)}
