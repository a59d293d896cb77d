"""Unit 07's trained weights (genlib/weights/synthesis_*.pt) and the untrained models they fill.

``tools/weights_synthesis.py`` trains them (``make weights`` or ``python -m tools.weights synthesis``);
lectures load them with ``load_synthesis(name)``:

=============== ============================================================ ==============================
name            what                                                         returns
=============== ============================================================ ==============================
"label_vae"     ``LabelVAE`` on 48 x 48 ACDC label maps (phantoms, all groups) a ``LabelVAE``
"lge_spade"     ``SPADEGenerator(n_labels=5)`` + ``StyleEncoder``, trained as  (generator, encoder)
                a VAE-GAN on LGE-rendered crops with scar labels (label 4)
"scenario_spade" the experiment's cine SPADE + style encoder (no instance    (generator, encoder)
                norm), trained on the site's labelled vendor-A pairs and
                unlabelled vendor B/C images only (``scenario_training``)
"scenario_label_vae" ``LabelVAE`` on deformations of the site's label maps    a ``LabelVAE``
"scenario_cyclegan" G_AB, G_BA between the site's vendor-A images and the    (g_ab, g_ba)
                unlabelled B/C images (unpaired)
=============== ============================================================ ==============================

The cine SPADE generator and its style encoder of lectures 03 and 07's first sections are unit 03's
(``load_conditional("spade")``, trained on labelled pairs of all three vendors); the experiment uses the
scenario models only, whose training data ``scenario_provenance()`` lists (``genlib/weights/synthesis_scenario.json``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlib import pretrained
from genlib._validation import check_choice
from genlib.models import conditional_pretrained as cp
from genlib.models.spade import SPADEGenerator, StyleEncoder
from genlib.synthesis.label_vae import LabelVAE
from genlib.synthesis.scar import N_SCAR_LABELS

WEIGHTS_DIR = pretrained.WEIGHTS_DIR
MODELS = ("label_vae", "lge_spade", "scenario_spade", "scenario_label_vae", "scenario_cyclegan")
SCENARIO_MODELS = ("scenario_spade", "scenario_label_vae", "scenario_cyclegan")
LATENT_DIM = 8


def label_vae() -> LabelVAE:
    """An untrained ``LabelVAE`` for the SIZE x SIZE crops (48 x 48): 4 classes, latent_dim 8, channels 16."""
    return LabelVAE(n_labels=4, size=cp.SIZE, latent_dim=LATENT_DIM, channels=16)


def lge_generator() -> SPADEGenerator:
    """An untrained LGE ``SPADEGenerator``: 5-class labels (B, SIZE, SIZE), z (B, 8) -> (B, 1, SIZE, SIZE)."""
    return SPADEGenerator(n_labels=N_SCAR_LABELS, size=cp.SIZE, z_dim=cp.Z_DIM, channels=32, n_up=2, hidden=16)


def scenario_encoder() -> StyleEncoder:
    """An untrained style encoder of the scenario: unit 03's, without instance norm (it keeps contrast)."""
    return StyleEncoder(z_dim=cp.Z_DIM, channels=16, instance_norm=False)


def _empty(name: str) -> dict[str, torch.nn.Module]:
    if name in ("label_vae", "scenario_label_vae"):
        return {"model": label_vae()}
    if name == "scenario_spade":
        from genlib.synthesis.style_recipes import RECIPES, SCENARIO_RECIPE

        return {"generator": cp.spade_generator(**RECIPES[SCENARIO_RECIPE].get("generator", {})),
                "encoder": scenario_encoder()}
    if name == "scenario_cyclegan":
        return {"g_ab": cp.translation_generator(), "g_ba": cp.translation_generator()}
    return {"generator": lge_generator(), "encoder": cp.style_encoder()}


def weights_path(name: str, weights_dir: str | Path | None = None) -> Path:
    """Where ``name``'s weights live: ``genlib/weights/synthesis_<name>.pt`` (``pretrained.path``)."""
    check_choice("name", name, MODELS)
    return pretrained.path(f"synthesis_{name}", weights_dir)


def save_synthesis(name: str, modules: dict[str, torch.nn.Module], weights_dir: str | Path) -> Path:
    """Write ``modules``' state dicts, in float16 (half the size), to ``weights_dir/synthesis_<name>.pt``."""
    check_choice("name", name, MODELS)
    return pretrained.save(f"synthesis_{name}", modules, weights_dir)


def load_synthesis(name: str, weights_dir: str | Path | None = None):
    """A trained model of unit 07, in eval mode, on the CPU (see the table above for what each name returns)."""
    check_choice("name", name, MODELS)
    return pretrained.load_into(f"synthesis_{name}", _empty(name), weights_dir, what=f"the {name!r} model")


def provenance_path(weights_dir: str | Path | None = None) -> Path:
    """The record of what the scenario models were trained on: ``genlib/weights/synthesis_scenario.json``."""
    return pretrained.path("synthesis_scenario.json", weights_dir)


def scenario_provenance(weights_dir: str | Path | None = None) -> dict:
    """{model name: tuple of ``scenario.Provenance``}: the data each scenario model was trained on."""
    from genlib.synthesis.scenario import Provenance

    record = pretrained.load("synthesis_scenario.json", weights_dir)
    return {name: tuple(Provenance(p["name"], tuple(p["vendors"]), p["labelled"], tuple(p["seeds"]), p["fair"])
                        for p in sets) for name, sets in record.items()}
