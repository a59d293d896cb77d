"""scikit-learn's 8x8 handwritten digits with the course's one fixed split.

The split is Tomczak's intro_dgm split, so our figures compare with his: the
1,797 images in file order, rows [:1000] train, [1000:1350] validation,
[1350:] test (447 images). No shuffling, so no seed is needed.

Pixel values are integers 0..16 (17 levels). The course's likelihood unit is the
discrete negative log-likelihood of these 17-level test images, in bits per
dimension.
"""
from __future__ import annotations

import numpy as np
import torch

from genlib._validation import check_choice

DIGITS_LEVELS = 17  # pixel values are the integers 0..16
DIGITS_SPLITS = {"train": slice(0, 1000), "val": slice(1000, 1350), "test": slice(1350, None)}
_SCALES = ("levels", "unit")
_SHAPES = ("flat", "image")


def load_digits(split: str = "train", *, scale: str = "unit", shape: str = "flat"):
    """Load one split of the 8x8 digits.

    Parameters
    ----------
    split : {"train", "val", "test"}
        Rows [:1000], [1000:1350] or [1350:] of scikit-learn's ``load_digits()``.
    scale : {"unit", "levels"}
        "unit": pixel values divided by 16, in [0, 1]; "levels": the integers 0..16
        (as floats), for discrete likelihoods.
    shape : {"flat", "image"}
        "flat": images of shape (N, 64); "image": (N, 1, 8, 8) for convolutions.

    Returns
    -------
    images : torch.Tensor, float32, shape (N, 64) or (N, 1, 8, 8)
    labels : torch.Tensor, int64, shape (N,)
        The digit class 0..9 of each image.
    """
    check_choice("split", split, tuple(DIGITS_SPLITS))
    check_choice("scale", scale, _SCALES)
    check_choice("shape", shape, _SHAPES)
    from sklearn.datasets import load_digits as _sklearn_load_digits  # ships with scikit-learn

    bunch = _sklearn_load_digits()
    rows = DIGITS_SPLITS[split]
    images = torch.as_tensor(np.asarray(bunch.data[rows], dtype=np.float32))  # (N, 64)
    labels = torch.as_tensor(np.asarray(bunch.target[rows], dtype=np.int64))  # (N,)
    if scale == "unit":
        images = images / (DIGITS_LEVELS - 1)
    if shape == "image":
        images = images.reshape(-1, 1, 8, 8)
    return images, labels
