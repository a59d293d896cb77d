"""Unit 07's engine: synthetic cardiac MR image-label pairs, and the experiment that asks whether they help.

One job per module:

- ``mixing``: ``mix_batches`` (real and synthetic pairs in one batch at a fixed ratio), ``n_synthetic``.
- ``scar``: labels with a scar class (4): ``scar_labels`` from phantoms, ``add_scar`` into any myocardium,
  ``to_acdc``, ``SCAR``, ``N_SCAR_LABELS``, ``SCAR_LABEL_NAMES``.
- ``label_vae``: ``LabelVAE`` on one-hot label maps (sample, interpolate), ``train_label_vae``.
- ``generate``: label maps (``deform_labels``, ``rotate_labels``, ``pathology_labels``), style codes
  (``prior_styles``, ``encode_styles``) and ``synthesise`` with a SPADE generator.
- ``scenario``: the experiment's data with its provenance (the site's labelled vendor-A set, unlabelled
  B/C images, validation, test, the reference pool), ``disease_edits``, ``check_no_leak``.
- ``scenario_training``: ``train_scenario_spade``, SPADE and its style encoder from labelled site pairs
  and unlabelled target images (the first recipe); ``fit_scenario_spade`` trains the shipped one.
- ``style_recipes``: the recipes that make the style code carry style; ``SCENARIO_RECIPE``, the shipped one.
- ``augment``: the baselines' augmentations (``nnunet_augment``, ``histogram_match``).
- ``statistics``: ``paired_bootstrap`` and ``seed_summary`` over per-subject scores.
- ``experiment``: the augmentation experiment (its arms, ``run_arm``, ``run_experiment``, ``FULL``, ``SMALL``).
- ``pretrained``: ``load_synthesis(name)`` for genlib/weights/synthesis_*.pt ("label_vae", "lge_spade", and the
  experiment's "scenario_spade", "scenario_label_vae", "scenario_cyclegan").

The SPADE generator and style encoder of the lecture's first sections are unit 03's (``load_conditional("spade")``);
the experiment uses the scenario's own, trained without any label of the target vendors.
"""
from genlib.synthesis.mixing import mix_batches, n_synthetic
from genlib.synthesis.scar import N_SCAR_LABELS, SCAR, SCAR_LABEL_NAMES, add_scar, scar_labels, to_acdc
from genlib.synthesis.label_vae import LabelVAE, label_vae_loss, train_label_vae
from genlib.synthesis.generate import (
    deform_labels, encode_styles, pathology_labels, prior_styles, rotate_labels, synthesise,
)
from genlib.synthesis.pretrained import load_synthesis

__all__ = [
    "mix_batches", "n_synthetic", "N_SCAR_LABELS", "SCAR", "SCAR_LABEL_NAMES", "add_scar", "scar_labels",
    "to_acdc", "LabelVAE", "label_vae_loss", "train_label_vae", "deform_labels", "encode_styles",
    "pathology_labels", "prior_styles", "rotate_labels", "synthesise", "load_synthesis",
]
