"""Train unit 07's models and write them to genlib/weights/synthesis_*.pt.

- ``synthesis_label_vae.pt``: ``LabelVAE`` on 48 x 48 ACDC label maps of phantoms of all five groups, at
  random phases and slice levels (new anatomies, paths between subjects); KL weight beta = 2, chosen over
  beta = 1 and twice the steps by the share of one-ring samples on a validation draw (bench/NOTES.md).
- ``synthesis_lge_spade.pt``: ``SPADEGenerator(n_labels=5)`` + ``StyleEncoder``, trained as a VAE-GAN
  (unit 03's ``train_spade``) on LGE-rendered crops with scar labels (label 4; half of them MINF).
- the experiment's scenario models, trained on the site's labelled vendor-A set and the unlabelled
  vendor B/C images ONLY (``genlib.synthesis.scenario``), their training data recorded in
  ``synthesis_scenario.json``: ``synthesis_scenario_spade.pt`` (``fit_scenario_spade``: ``style_recipes.SCENARIO_RECIPE``),
  ``synthesis_scenario_label_vae.pt`` (a ``LabelVAE`` on elastic deformations of the site's maps) and
  ``synthesis_scenario_cyclegan.pt`` (a CycleGAN between site images and unlabelled B/C images).

Deterministic: every stage seeds itself and runs on one thread; with ``jobs = 2`` the two stages run in
two processes (one per core). ``python -m tools.weights synthesis`` runs it and prints each model's check
(label VAE: reconstruction Dice and the share of samples whose LV is one ring; LGE SPADE: U-Net-free
contrast check, mean intensity of scar versus healthy myocardium in generated images).
``build(weights_dir, short=True)`` trains every model for a few steps only (the test).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from genlib import pretrained
from genlib.data.cardiac import is_one_ring
from genlib.metrics.segmentation import dice_per_class
from genlib.models import conditional_pretrained as cp
from genlib.models.conditional_training import train_spade
from genlib.synthesis import pretrained as sp
from genlib.synthesis.label_vae import train_label_vae
from genlib.synthesis import scenario
from genlib.synthesis.scar import SCAR, scar_crops
from genlib.synthesis.scenario_training import fit_scenario_cyclegan, fit_scenario_label_vae, fit_scenario_spade
from tools.weights import one_thread, train_groups

FULL = dict(vae_train=6000, vae_steps=3000, lge_train=3000, lge_steps=1200, scenario_spade_steps=1200,
            scenario_vae_copies=10, scenario_vae_steps=1500, scenario_cycle_steps=400)
SHORT = dict(vae_train=64, vae_steps=2, lge_train=32, lge_steps=2, scenario_spade_steps=2, scenario_vae_copies=1,
             scenario_vae_steps=2, scenario_cycle_steps=2)
STAGES = ("label_vae", "lge_spade", "scenario_spade", "scenario_label_vae", "scenario_cyclegan")


def _report(name: str, start: float, text: str) -> None:
    print(f"{name}: {time.perf_counter() - start:.0f} s wall, {time.process_time():.0f} s CPU so far, {text}", flush=True)


def build_label_vae(weights_dir: Path, c: dict) -> Path:
    start = time.perf_counter()
    labels = cp.sample_crops(c["vae_train"], seed=20, phase=None).labels
    torch.manual_seed(0)
    model = sp.label_vae()
    history = train_label_vae(model, labels, steps=c["vae_steps"], batch_size=64, lr=2e-3, kl_weight=2.0, seed=0,
                              progress=False)
    _report("label_vae", start, f"loss {history['loss'][0]:.1f} -> {history['loss'][-1]:.1f} "
                                f"(reconstruction {history['reconstruction'][-1]:.1f}, KL {history['kl'][-1]:.1f} nats)")
    return sp.save_synthesis("label_vae", {"model": model}, weights_dir)


def build_lge_spade(weights_dir: Path, c: dict) -> Path:
    start = time.perf_counter()
    labels, images = scar_crops(c["lge_train"], seed=21)
    torch.manual_seed(0)
    generator, encoder, discriminator = sp.lge_generator(), cp.style_encoder(), cp.patch_discriminator(1)
    history = train_spade(generator, encoder, discriminator, labels, images, steps=c["lge_steps"], seed=0)
    _report("lge_spade", start, f"L1 {history['l1'][0]:.3f} -> {history['l1'][-1]:.3f}")
    return sp.save_synthesis("lge_spade", {"generator": generator, "encoder": encoder}, weights_dir)

def _scenario_data(short: bool) -> tuple[dict, dict]:
    """The only data the scenario models see: the site's labelled set and the unlabelled target images."""
    config = scenario.ScenarioConfig(n_unlabelled=16) if short else scenario.ScenarioConfig()
    return scenario.site_labelled(config), scenario.unlabelled_target(config)


def _record(weights_dir: Path, name: str, sets) -> None:
    """Add ``name``'s training data (the provenance of ``sets``) to synthesis_scenario.json."""
    exists = sp.provenance_path(weights_dir).exists()
    record = pretrained.load("synthesis_scenario.json", weights_dir) if exists else {}
    record[name] = [dataclasses.asdict(p) for s in sets for p in s["provenance"]]
    pretrained.write("synthesis_scenario.json", dict(sorted(record.items())), weights_dir)


def build_scenario_spade(weights_dir: Path, c: dict) -> Path:
    start = time.perf_counter()
    site, target = _scenario_data(c is SHORT)
    generator, encoder, history = fit_scenario_spade(site, target, c["scenario_spade_steps"])
    _report("scenario_spade", start, f"L1 {history['l1'][0]:.3f} -> {history['l1'][-1]:.3f}, "
                                     f"latent {history['latent'][0]:.3f} -> {history['latent'][-1]:.3f}")
    _record(weights_dir, "scenario_spade", (site, target))
    return sp.save_synthesis("scenario_spade", {"generator": generator, "encoder": encoder}, weights_dir)


def build_scenario_label_vae(weights_dir: Path, c: dict) -> Path:
    start = time.perf_counter()
    site, _ = _scenario_data(c is SHORT)
    model, history, n_maps = fit_scenario_label_vae(site, c["scenario_vae_copies"], c["scenario_vae_steps"])
    _report("scenario_label_vae", start, f"loss {history['loss'][0]:.1f} -> {history['loss'][-1]:.1f} on "
                                         f"{n_maps} maps (the site's and their deformations)")
    _record(weights_dir, "scenario_label_vae", (site,))
    return sp.save_synthesis("scenario_label_vae", {"model": model}, weights_dir)


def build_scenario_cyclegan(weights_dir: Path, c: dict) -> Path:
    start = time.perf_counter()
    site, target = _scenario_data(c is SHORT)
    g_ab, g_ba, history = fit_scenario_cyclegan(site, target, c["scenario_cycle_steps"])
    _report("scenario_cyclegan", start, f"cycle L1 {history['cycle'][0]:.3f} -> {history['cycle'][-1]:.3f}")
    _record(weights_dir, "scenario_cyclegan", (site, target))
    return sp.save_synthesis("scenario_cyclegan", {"g_ab": g_ab, "g_ba": g_ba}, weights_dir)


BUILDERS = {"label_vae": build_label_vae, "lge_spade": build_lge_spade, "scenario_spade": build_scenario_spade,
            "scenario_label_vae": build_scenario_label_vae, "scenario_cyclegan": build_scenario_cyclegan}
# two groups of about equal CPU time, one per core
GROUPS = (("scenario_spade",), ("label_vae", "lge_spade", "scenario_label_vae", "scenario_cyclegan"))


def _train(weights_dir: Path, short: bool, stages) -> list[Path]:
    with one_thread():
        return [BUILDERS[stage](weights_dir, SHORT if short else FULL) for stage in stages]


def check(weights_dir: Path, short: bool = False) -> dict[str, float]:
    """Print and return the shipped models' checks (on held-out phantoms, seeds 22 and 23)."""
    n = 32 if short else 500
    figures = {}
    if sp.weights_path("label_vae", weights_dir).exists():
        model = sp.load_synthesis("label_vae", weights_dir)
        labels = cp.sample_crops(n, seed=22, phase=None).labels
        with torch.no_grad():
            reconstruction = model.decode_labels(model.encode(labels)[0])
        dice = dice_per_class(reconstruction, labels)
        samples = model.sample(n, seed=0)
        rings = sum(is_one_ring(m) for m in samples) / n
        figures.update(vae_reconstruction_dice=float(dice.mean()), vae_sample_ring_fraction=rings)
        print(f"label VAE: reconstruction Dice (RV, myo, LV) {[round(float(d), 3) for d in dice]}, "
              f"samples whose LV is one ring {rings:.1%}", flush=True)
    if sp.weights_path("lge_spade", weights_dir).exists():
        generator, _ = sp.load_synthesis("lge_spade", weights_dir)
        labels, real = scar_crops(n, seed=23, minf_fraction=1.0)
        with torch.no_grad():
            fake = generator(labels, torch.randn(n, cp.Z_DIM, generator=torch.Generator().manual_seed(0)))
        scar, myo = labels[:, None] == SCAR, labels[:, None] == 2
        for name, images in (("real", real), ("generated", fake)):
            figures[f"lge_{name}_scar_minus_myo"] = float(images[scar].mean() - images[myo].mean())
        figures["lge_l1"] = float((fake - real).abs().mean())
        print(f"LGE SPADE: mean intensity scar - healthy myocardium, real {figures['lge_real_scar_minus_myo']:.3f}, "
              f"generated {figures['lge_generated_scar_minus_myo']:.3f}", flush=True)
    return figures


def build(weights_dir: Path, short: bool = False, only=STAGES, jobs: int = 2) -> list[Path]:
    """Train the models of ``only``, each on one thread, and return the files written (``short``: a few steps each)."""
    weights_dir = Path(weights_dir)
    unknown = [stage for stage in only if stage not in STAGES]
    if unknown:
        raise ValueError(f"only must list stages among {STAGES}, got {unknown}.")
    groups = [[stage for stage in group if stage in only] for group in GROUPS] if jobs > 1 else \
        [[stage for stage in STAGES if stage in only]]
    written = train_groups(_train, weights_dir, short, [g for g in groups if g])
    with one_thread():
        check(weights_dir, short)
    return written
