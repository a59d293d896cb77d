"""Dice overlap between label maps: how the course scores a segmentation.

For one class c, with P = the pixels predicted as c and T = the pixels labelled c,

    Dice_c = 2 |P ∩ T| / (|P| + |T|)

1 for a perfect match, 0 for no overlap. Label maps follow the ACDC convention
(0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity), and by default the
background is left out, as in the ACDC challenge.

Two ways to pool over a set of images:

* ``dice_per_class``: over the whole set, sum of intersections / sum of sizes. Every
  pixel weighs the same, so a small structure on one slice cannot swing the score.
* ``dice_per_image``: one Dice per image and class, to average or to plot as a
  distribution (the apical slices are where a segmenter fails).

Convention for an empty class. When class c is absent from both the prediction and the
target (|P| + |T| = 0), Dice_c = 0 / 0 is undefined and is returned as NaN, not as 1.
Scoring "nothing to find, nothing found" as a perfect 1 would inflate the mean with
free points (most images of an apical slice have no RV); NaN keeps it out. ``mean_dice``
averages the defined values only (a NaN-ignoring mean). A class present in only one of
the two maps is a real mistake and scores 0.
"""
from __future__ import annotations

import torch

from genlib.data.cardiac.labels import N_LABELS, check_label_map


def check_n_classes(n_classes, include_background: bool) -> None:
    """Raise unless ``n_classes`` is an int >= 2 and ``include_background`` a bool (shared by Dice and surface metrics)."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(
            f"n_classes must be an integer >= 2 (the background and at least one structure), "
            f"got {n_classes!r}. ACDC label maps have n_classes=4."
        )
    if not isinstance(include_background, bool):
        raise TypeError(f"include_background must be True or False, got {include_background!r}.")


def check_label_maps(pred, target, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``pred`` and ``target`` as int64 tensors of shape (N, H, W), or raise."""
    maps = {}
    for name, labels in (("pred", pred), ("target", target)):
        if not isinstance(labels, torch.Tensor):
            try:
                labels = torch.as_tensor(labels)
            except (TypeError, ValueError, RuntimeError):
                raise TypeError(
                    f"{name} must be a torch.Tensor or a numpy array of integer labels, "
                    f"got {type(labels).__name__}."
                ) from None
        if labels.ndim == 4:
            raise ValueError(
                f"{name} must be a label map of shape (N, H, W), got shape {tuple(labels.shape)}. "
                f"If {name} holds scores per class (N, C, H, W), take {name}.argmax(dim=1) first."
            )
        if labels.ndim != 3:
            hint = f" For a single image, add a batch dimension: {name}.unsqueeze(0)." if labels.ndim == 2 else ""
            raise ValueError(
                f"{name} must be a label map of shape (N, H, W), got shape {tuple(labels.shape)}.{hint}"
            )
        if labels.numel() == 0:
            raise ValueError(f"{name} is empty (shape {tuple(labels.shape)}): there is nothing to score.")
        maps[name] = check_label_map(labels, name=name, n_values=n_classes)
    if maps["pred"].shape != maps["target"].shape:
        raise ValueError(
            f"pred and target must have the same shape (N, H, W), got {tuple(maps['pred'].shape)} "
            f"and {tuple(maps['target'].shape)}."
        )
    return maps["pred"], maps["target"].to(maps["pred"].device)


def _overlaps(pred, target, n_classes, include_background):
    """|P ∩ T| and |P| + |T| per image and class, each (N, classes), in float64."""
    pred, target = check_label_maps(pred, target, n_classes)
    classes = range(0 if include_background else 1, n_classes)
    intersection = torch.stack([((pred == c) & (target == c)).sum(dim=(1, 2)) for c in classes], dim=1)
    sizes = torch.stack([(pred == c).sum(dim=(1, 2)) + (target == c).sum(dim=(1, 2)) for c in classes], dim=1)
    return intersection.double(), sizes.double()  # (N, classes) each


def _dice(intersection: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """2 |P ∩ T| / (|P| + |T|), NaN where the class is absent from both maps."""
    return torch.where(sizes > 0, 2 * intersection / sizes.clamp_min(1), torch.nan)


def dice_per_class(pred, target, n_classes: int = N_LABELS, *, include_background: bool = False) -> torch.Tensor:
    """Dice of each class over the whole set: 2 sum_n |P_n ∩ T_n| / sum_n (|P_n| + |T_n|).

    Parameters
    ----------
    pred : torch.Tensor or array of int, shape (N, H, W)
        Predicted label map, values in 0 .. n_classes - 1 (for a network, ``logits.argmax(1)``).
    target : torch.Tensor or array of int, shape (N, H, W)
        Reference label map, same convention.
    n_classes : int
        Number of labels, background included (4 for ACDC).
    include_background : bool
        Also score class 0. Off by default: the background covers most pixels and
        would score near 1 for any sensible prediction.

    Returns
    -------
    dice : torch.Tensor, float64, shape (n_classes,) or (n_classes - 1,) without the background
        Entry k is class k (or k + 1 without the background). NaN for a class absent
        from both ``pred`` and ``target`` in every image.
    """
    check_n_classes(n_classes, include_background)
    intersection, sizes = _overlaps(pred, target, n_classes, include_background)
    return _dice(intersection.sum(dim=0), sizes.sum(dim=0))


def dice_per_image(pred, target, n_classes: int = N_LABELS, *, include_background: bool = False) -> torch.Tensor:
    """Dice of each class in each image.

    Parameters
    ----------
    pred, target, n_classes, include_background
        As in ``dice_per_class``.

    Returns
    -------
    dice : torch.Tensor, float64, shape (N, n_classes) or (N, n_classes - 1) without the background
        NaN where the class is absent from both ``pred[n]`` and ``target[n]``.
    """
    check_n_classes(n_classes, include_background)
    return _dice(*_overlaps(pred, target, n_classes, include_background))


def mean_dice(pred, target, n_classes: int = N_LABELS, *, include_background: bool = False,
              per_image: bool = False) -> float:
    """One number: the mean Dice over the classes, ignoring undefined (NaN) entries.

    Parameters
    ----------
    pred, target, n_classes, include_background
        As in ``dice_per_class``.
    per_image : bool
        False (default): the mean over classes of ``dice_per_class`` (pooled over the
        set). True: the mean over every image and class of ``dice_per_image``, the
        pairs where the class is absent from both maps left out.

    Returns
    -------
    float
        NaN only when no class is present in any image of ``pred`` or ``target``.
    """
    if not isinstance(per_image, bool):
        raise TypeError(f"per_image must be True or False, got {per_image!r}.")
    dice_fn = dice_per_image if per_image else dice_per_class
    dice = dice_fn(pred, target, n_classes, include_background=include_background)
    return float(dice.nanmean())
