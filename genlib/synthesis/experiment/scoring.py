"""Scoring: Dice and HD95 per test image and class, the test subsets, and per-subject score tables over seeds.
"""
from __future__ import annotations

import numpy as np

from genlib.metrics.segmentation import dice_per_image
from genlib.metrics.surface import hausdorff_distance
from genlib.models.unet import predict_labels
from genlib.synthesis import scenario
from genlib.synthesis.experiment.config import CLASSES, PIXEL_MM, UNSEEN


def evaluate(model, test: dict) -> dict:
    """Dice and HD95 (mm) per test image and class.

    Returns
    -------
    dict
        "dice", "hd95": float arrays (N, 3), classes RV, myo, LV; NaN where a class is absent from both the
        prediction and the reference (Dice) or undefined (HD95). HD95 moves in steps of about a pixel
        (``PIXEL_MM``, 2.67 mm); a structure missed or invented scores the image diagonal (181 mm on 48 x 48
        crops of 128 mm).
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


def scores(runs: list[dict], arm: str, metric: str = "dice", name: str = "myo", mask=None) -> np.ndarray:
    """The per-subject scores of ``arm``, seed by seed: (n_seeds, n_subjects), seeds in increasing order."""
    k = CLASSES.index(name)
    chosen = sorted((r for r in runs if r["arm"] == arm), key=lambda r: r["seed"])
    if not chosen:
        raise ValueError(f"runs hold no run of arm {arm!r}; they have arms {sorted({r['arm'] for r in runs})}.")
    table = np.stack([np.asarray(r[metric], dtype=float)[:, k] for r in chosen])
    return table if mask is None else table[:, np.asarray(mask)]
