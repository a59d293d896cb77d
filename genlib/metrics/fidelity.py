"""Does a synthetic or translated image show the anatomy it should? Scored with a segmenter and Dice.

- ``label_fidelity``: segment images generated *from* label maps (e.g. by SPADE) and compare the
  segmentation with the input maps: Dice per class (RV, myocardium, LV).
- ``label_survival``: segment images before and after a translation (e.g. a CycleGAN) and compare
  the two segmentations, image by image; an image's labels "survive" when its mean foreground
  Dice reaches ``threshold``.
"""
from __future__ import annotations

import torch

from genlib.metrics.segmentation import dice_per_class, dice_per_image
from genlib.models.unet import predict_labels


def label_fidelity(segmenter, images, labels) -> torch.Tensor:
    """Dice per foreground class between the segmenter's maps of ``images`` and the maps they were made from.

    Parameters
    ----------
    segmenter : torch.nn.Module
        (B, 1, H, W) images -> (B, C, H, W) logits.
    images : torch.Tensor, shape (N, 1, H, W)
    labels : torch.Tensor of int, shape (N, H, W)

    Returns
    -------
    torch.Tensor, float64, shape (C - 1,)
        Pooled over the set (``dice_per_class``).
    """
    return dice_per_class(predict_labels(segmenter, images), labels)


def label_survival(segmenter, before, after, *, threshold: float = 0.8) -> tuple[float, torch.Tensor]:
    """The fraction of images whose segmentation survives a translation, and the mean Dice of each image.

    Parameters
    ----------
    segmenter : torch.nn.Module
    before, after : torch.Tensor, shape (N, 1, H, W)
        The images and their translations, in the same order.
    threshold : float
        An image survives when the mean Dice over its foreground classes is >= threshold.

    Returns
    -------
    fraction : float
    dice : torch.Tensor, float64, shape (N,)
        Mean foreground Dice of each image (classes absent from both maps left out).
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold!r}.")
    if before.shape != after.shape:
        raise ValueError(f"before and after must have the same shape, got {tuple(before.shape)} and "
                         f"{tuple(after.shape)}: after[i] must be the translation of before[i].")
    dice = dice_per_image(predict_labels(segmenter, after), predict_labels(segmenter, before)).nanmean(dim=1)
    return float((dice >= threshold).double().mean()), dice
