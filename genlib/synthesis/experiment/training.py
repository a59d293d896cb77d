"""Training one arm: batches mixed from its pools, ``UNet(base_channels=8)``, the checkpoint best on validation.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from genlib.metrics.segmentation import dice_per_image
from genlib.models.unet import UNet, predict_labels, segmentation_loss
from genlib.synthesis.augment import histogram_match, nnunet_augment
from genlib.synthesis.experiment.config import ARMS, EXTRA_POOL, ExperimentConfig
from genlib.synthesis.mixing import mix_batches


def _batch(arm: str, pools: dict, config: ExperimentConfig, generator: torch.Generator):
    real = pools["reference"] if arm == "e" else pools["real"]
    extra = pools.get(EXTRA_POOL.get(arm, ""), None)
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
