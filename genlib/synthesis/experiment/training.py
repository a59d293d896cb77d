"""Training one arm: batches mixed from its pools, ``UNet(base_channels=8)``, the checkpoint best on validation.
"""
from __future__ import annotations

import numpy as np
import torch

from genlib._validation import as_seed
from genlib.metrics.segmentation import dice_per_image
from genlib.models.unet import UNet, predict_labels, segmentation_loss
from genlib.synthesis.augment import histogram_match, nnunet_augment
from genlib.synthesis.experiment.config import ARMS, EXTRA_POOL, ExperimentConfig
from genlib.synthesis.mixing import mix_batches
from genlib.train import device_of, isolated_rng, run_steps


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


def train_arm(arm: str, pools: dict, config: ExperimentConfig, seed: int | torch.Generator, *, validation: dict,
              progress: bool = False) -> tuple[UNet, dict]:
    """Train ``UNet(base_channels=8)`` for one arm; keep the checkpoint best on ``validation``.

    Runs through ``genlib.train.run_steps``. ``seed`` (an int, or a Generator that gives one, ``as_seed``)
    seeds the initial weights (torch's global generator at ``1000 + seed``, inside ``isolated_rng``: the
    caller's global random states are restored afterwards) and the batches (a generator at ``2000 + seed``).

    Returns
    -------
    model : UNet, in eval mode
    selection : dict
        "best_step", "validation_dice" (at the best step), "curve" (validation Dice every eval_every steps).
    """
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {tuple(ARMS)}, got {arm!r}.")
    seed = as_seed(seed)
    generator = torch.Generator().manual_seed(2000 + seed)
    scores = []

    def step(i: int) -> dict:
        images, labels = _batch(arm, pools, config, generator)
        loss = segmentation_loss(net(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        return {"loss": loss}

    def validate() -> float:  # run_steps keeps the lowest: minus the Dice
        score = validation_dice(net, validation)
        scores.append(round(score, 4))
        return -score

    with isolated_rng(1000 + seed):
        net = UNet(base_channels=8)
        optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
        run = run_steps(step, config.steps, modules=[net], device=device_of(net), progress=progress,
                        description=f"arm ({arm}) seed {seed}", check_finite=(), validate=validate,
                        validate_at=lambda i: i % config.eval_every == 0 or i == config.steps, keep_best=True,
                        ties="earliest")
    return net, {"best_step": run["best_step"], "validation_dice": -min(run["val"]),
                 "curve": list(zip(run["val_step"], scores))}
