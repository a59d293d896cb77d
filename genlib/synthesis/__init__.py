"""Unit 07's engine: synthetic cardiac MR image-label pairs, and the experiment that asks whether they help.

One job per module:

- ``mixing``: ``mix_batches`` (real and synthetic pairs in one batch at a fixed ratio), ``n_synthetic``.
- ``scar``: labels with a scar class (4): ``scar_labels`` from phantoms, ``add_scar`` into any myocardium,
  ``to_acdc``, ``SCAR``, ``N_SCAR_LABELS``, ``SCAR_LABEL_NAMES``.
- ``label_vae``: ``LabelVAE`` on one-hot label maps (sample, interpolate), ``train_label_vae``.
- ``generate``: label maps (``deform_labels``, ``rotate_labels``, ``pathology_labels``), style codes
  (``prior_styles``, ``encode_styles``) and ``synthesise`` with a SPADE generator.
- ``experiment``: the augmentation experiment (``run_experiment``, ``summarise``, ``FULL``, ``SMALL``).
- ``pretrained``: ``load_synthesis(name)`` for weights/synthesis_*.pt ("label_vae", "lge_spade").

The SPADE generator for cine images and its style encoder are unit 03's: ``load_conditional("spade")``.
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
