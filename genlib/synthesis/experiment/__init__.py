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

Modules, one job each: ``config`` (the arms, ``ExperimentConfig``, ``FULL``, ``SMALL``), ``pools`` (the data
and models an arm trains on), ``training`` (``train_arm``), ``scoring`` (``evaluate``, ``subsets``,
``scores``), ``runner`` (``run_arm``, ``run_experiment``); every public name imports from here.

Names: a variable or argument called ``generator`` is a ``torch.Generator``; a GAN's generator network is
``spade_net`` (SPADE) or ``g_ab`` (the CycleGAN's A -> B/C direction). The models dict of ``load_models``
keeps the key "generator" for the SPADE network, the key its weights file and ``genlib.synthesis.real`` use.
"""
from genlib.synthesis.experiment.config import (
    ARMS, CLASSES, EXTRA_POOL, FULL, NO_GENERATOR, PIXEL_MM, SMALL, SYNTHETIC, UNSEEN, ExperimentConfig,
)
from genlib.synthesis.experiment.pools import (
    load_models, models_used, pools_of, prepare_pools, randomised_set, scenario_data, synthetic_set, translated_set,
)
from genlib.synthesis.experiment.training import train_arm, validation_dice
from genlib.synthesis.experiment.scoring import evaluate, scores, subsets
from genlib.synthesis.experiment.runner import run_arm, run_experiment

__all__ = [
    "ARMS", "CLASSES", "EXTRA_POOL", "FULL", "NO_GENERATOR", "PIXEL_MM", "SMALL", "SYNTHETIC", "UNSEEN", "ExperimentConfig",
    "load_models", "models_used", "pools_of", "prepare_pools", "randomised_set", "scenario_data", "synthetic_set",
    "translated_set", "train_arm", "validation_dice", "evaluate", "scores", "subsets", "run_arm", "run_experiment",
]
