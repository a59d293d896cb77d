"""The experiment's training pools for one seed: synthetic, randomised, translated and reference sets, and
the trained models they need (``load_models``).
"""
from __future__ import annotations

import numpy as np
import torch

from genlib.data.cardiac import render
from genlib.synthesis import scenario
from genlib.synthesis.experiment.config import ARMS, EXTRA_POOL, ExperimentConfig
from genlib.synthesis.generate import deform_labels, encode_styles, prior_styles, synthesise
from genlib.synthesis.scenario import OTHER_GROUPS, Provenance


def _split(n: int, shares) -> list[int]:
    """n split by shares into integers that sum to n (largest remainders)."""
    raw = np.asarray(shares) * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw)[: n - counts.sum()]] += 1
    return counts.tolist()


def synthetic_set(config: ExperimentConfig, site: dict, unlabelled: dict, seed: int, *, spade_net, encoder,
                  label_vae) -> dict:
    """The synthetic pool of arms (c), (c+b), (d): SPADE images of new label maps in new styles.

    ``spade_net`` is the scenario's SPADE generator network and ``encoder`` its style encoder
    (``load_models()["generator"]`` and ``["encoder"]``); ``label_vae`` samples new label maps.

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
    return {"images": synthesise(spade_net, labels, styles), "labels": labels, "sources": sources,
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
    """The scenario's trained models (``genlib/weights/synthesis_scenario_*.pt``) and what they were trained on.

    Returns
    -------
    dict
        "generator" (the SPADE generator network), "encoder" (its style encoder), "label_vae", "g_ab" (the
        CycleGAN's A -> B/C generator network) and "provenance" (``scenario_provenance()``).
    """
    from genlib.synthesis.pretrained import load_synthesis, scenario_provenance

    spade_net, encoder = load_synthesis("scenario_spade")
    g_ab, _ = load_synthesis("scenario_cyclegan")
    return {"generator": spade_net, "encoder": encoder, "label_vae": load_synthesis("scenario_label_vae"),
            "g_ab": g_ab, "provenance": scenario_provenance()}


def pools_of(arm: str) -> tuple[str, ...]:
    """The labelled pools ``arm`` trains on (keys of ``prepare_pools``'s dict); (u-hist) also reads the
    unlabelled target images, which carry no labels."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {tuple(ARMS)}, got {arm!r}.")
    if arm == "e":
        return ("reference",)
    return ("synthetic",) if arm == "d" else ("real",) + ((EXTRA_POOL[arm],) if arm in EXTRA_POOL else ())


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
                                                       spade_net=models["generator"], encoder=models["encoder"],
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
