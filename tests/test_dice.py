"""Tests of genlib.metrics.segmentation: Dice by hand, against numpy, the empty-class convention, errors."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genlib.metrics.segmentation import dice_per_class, dice_per_image, mean_dice


def _squares(size=8, pred_box=(0, 4, 0, 4), target_box=(2, 6, 2, 6), label=1):
    """One image each: a square of ``label`` in pred and one in target, (1, size, size)."""
    pred = torch.zeros(1, size, size, dtype=torch.long)
    target = torch.zeros(1, size, size, dtype=torch.long)
    r0, r1, c0, c1 = pred_box
    pred[0, r0:r1, c0:c1] = label
    r0, r1, c0, c1 = target_box
    target[0, r0:r1, c0:c1] = label
    return pred, target


def _numpy_dice(pred, target, n_classes, include_background):
    """A naive reference: loops over images and classes, numpy booleans, the same NaN rule."""
    pred, target = np.asarray(pred), np.asarray(target)
    classes = range(0 if include_background else 1, n_classes)
    inter = np.array([[np.logical_and(p == c, t == c).sum() for c in classes] for p, t in zip(pred, target)], float)
    sizes = np.array([[(p == c).sum() + (t == c).sum() for c in classes] for p, t in zip(pred, target)], float)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_image = 2 * inter / sizes
        per_class = 2 * inter.sum(0) / sizes.sum(0)
    return per_class, per_image


# ----------------------------------------------------------------------------- by hand


def test_two_squares_overlapping_by_a_known_area():
    # 4x4 squares shifted by (2, 2): they share a 2x2 square, Dice = 2 * 4 / (16 + 16) = 0.25
    pred, target = _squares()
    torch.testing.assert_close(dice_per_class(pred, target, n_classes=2), torch.tensor([0.25], dtype=torch.float64))
    torch.testing.assert_close(dice_per_image(pred, target, n_classes=2), torch.tensor([[0.25]], dtype=torch.float64))
    assert mean_dice(pred, target, n_classes=2) == pytest.approx(0.25)
    # background of the 8x8 image: 48 pixels in each map, 64 - |union| = 64 - 28 = 36 shared
    with_background = dice_per_class(pred, target, n_classes=2, include_background=True)
    torch.testing.assert_close(with_background, torch.tensor([72 / 96, 0.25], dtype=torch.float64))
    assert mean_dice(pred, target, n_classes=2, include_background=True) == pytest.approx((0.75 + 0.25) / 2)


def test_squares_of_different_sizes():
    # pred: 2x3 = 6 pixels inside target's 4x4 = 16 pixels; Dice = 2 * 6 / 22
    pred, target = _squares(pred_box=(1, 3, 1, 4), target_box=(0, 4, 0, 4), label=3)
    dice = dice_per_class(pred, target)  # 4 classes, background left out: (RV, MYO, LV)
    assert dice.shape == (3,)
    assert math.isnan(dice[0]) and math.isnan(dice[1])  # absent from both maps
    assert dice[2].item() == pytest.approx(12 / 22)
    assert mean_dice(pred, target) == pytest.approx(12 / 22)  # the NaNs are left out


def test_identical_maps_score_one_and_disjoint_maps_zero():
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (3, 16, 16), generator=gen)
    torch.testing.assert_close(dice_per_class(labels, labels, include_background=True), torch.ones(4, dtype=torch.float64))
    assert mean_dice(labels, labels) == 1.0
    pred, target = _squares(pred_box=(0, 3, 0, 3), target_box=(4, 8, 4, 8), label=2)
    torch.testing.assert_close(dice_per_class(pred, target, n_classes=3), torch.tensor([float("nan"), 0.0], dtype=torch.float64),
                               equal_nan=True)
    assert mean_dice(pred, target, n_classes=3) == 0.0


def test_the_set_is_pooled_pixel_by_pixel_not_image_by_image():
    # image 0: a 5x5 structure found exactly; image 1: a single pixel missed
    pred = torch.zeros(2, 8, 8, dtype=torch.long)
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    pred[0, :5, :5] = target[0, :5, :5] = 1
    target[1, 0, 0] = 1
    # pooled: 2 * 25 / (25 + 26); per image: 1 and 0
    assert dice_per_class(pred, target, n_classes=2).item() == pytest.approx(50 / 51)
    torch.testing.assert_close(dice_per_image(pred, target, n_classes=2), torch.tensor([[1.0], [0.0]], dtype=torch.float64))
    assert mean_dice(pred, target, n_classes=2) == pytest.approx(50 / 51)
    assert mean_dice(pred, target, n_classes=2, per_image=True) == pytest.approx(0.5)


# ----------------------------------------------------------------------------- empty classes


def test_a_class_absent_from_both_maps_is_nan_and_left_out_of_the_mean():
    pred = torch.zeros(2, 4, 4, dtype=torch.long)
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    pred[0, :2, :2] = target[0, :2, :2] = 1  # class 1 only in image 0, found exactly
    pred[1, 0, 0] = 2  # class 2 predicted in image 1 but absent from the target: a real mistake
    per_image = dice_per_image(pred, target)  # (2, 3): classes 1, 2, 3
    expected = torch.tensor([[1.0, math.nan, math.nan], [math.nan, 0.0, math.nan]], dtype=torch.float64)
    torch.testing.assert_close(per_image, expected, equal_nan=True)
    per_class = dice_per_class(pred, target)
    torch.testing.assert_close(per_class, torch.tensor([1.0, 0.0, math.nan], dtype=torch.float64), equal_nan=True)
    assert mean_dice(pred, target) == pytest.approx(0.5)  # (1 + 0) / 2, class 3 left out
    assert mean_dice(pred, target, per_image=True) == pytest.approx(0.5)  # two defined pairs


def test_mean_dice_is_nan_when_no_structure_is_anywhere():
    background = torch.zeros(2, 4, 4, dtype=torch.long)
    assert torch.isnan(dice_per_class(background, background)).all()
    assert math.isnan(mean_dice(background, background))
    assert mean_dice(background, background, include_background=True) == 1.0


# ----------------------------------------------------------------------------- against numpy


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_classes", [2, 4, 6])
@pytest.mark.parametrize("include_background", [False, True])
def test_matches_a_naive_numpy_implementation(seed, n_classes, include_background):
    rng = np.random.default_rng(seed)
    # structures of random sizes; some classes absent from some images, so NaNs are exercised
    target = rng.integers(0, n_classes, size=(5, 12, 10))
    target[rng.random(target.shape) < 0.5] = 0
    target[1] = 0
    pred = np.where(rng.random(target.shape) < 0.7, target, rng.integers(0, n_classes, size=target.shape))
    expected_class, expected_image = _numpy_dice(pred, target, n_classes, include_background)
    got_class = dice_per_class(pred, target, n_classes, include_background=include_background)
    got_image = dice_per_image(torch.as_tensor(pred), torch.as_tensor(target), n_classes,
                               include_background=include_background)
    assert got_class.dtype == got_image.dtype == torch.float64
    assert got_class.shape == (n_classes - (not include_background),)
    assert got_image.shape == (5, n_classes - (not include_background))
    np.testing.assert_allclose(got_class.numpy(), expected_class, rtol=1e-12)
    np.testing.assert_allclose(got_image.numpy(), expected_image, rtol=1e-12)
    assert mean_dice(pred, target, n_classes, include_background=include_background) == pytest.approx(
        np.nanmean(expected_class), rel=1e-12)
    assert mean_dice(pred, target, n_classes, include_background=include_background, per_image=True) == pytest.approx(
        np.nanmean(expected_image), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 3), size=st.integers(1, 9))
def test_dice_is_symmetric_and_between_zero_and_one(seed, n, size):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 4, (n, size, size), generator=gen)
    b = torch.randint(0, 4, (n, size, size), generator=gen)
    for dice_fn in (dice_per_class, dice_per_image):
        ab, ba = dice_fn(a, b, include_background=True), dice_fn(b, a, include_background=True)
        torch.testing.assert_close(ab, ba, equal_nan=True)
        defined = ab[~ab.isnan()]
        assert ((defined >= 0) & (defined <= 1)).all()


def test_accepts_numpy_arrays_and_integer_valued_floats():
    pred, target = _squares()
    expected = dice_per_class(pred, target, n_classes=2)
    torch.testing.assert_close(dice_per_class(pred.numpy(), target.numpy().astype(np.uint8), n_classes=2), expected)
    torch.testing.assert_close(dice_per_class(pred.float(), target.double(), n_classes=2), expected)
    assert isinstance(mean_dice(pred.numpy(), target.numpy(), n_classes=2), float)


# ----------------------------------------------------------------------------- errors


def test_shapes_must_match():
    with pytest.raises(ValueError, match=re.escape("pred and target must have the same shape (N, H, W), got (2, 8, 8) and (2, 8, 9).")):
        dice_per_class(torch.zeros(2, 8, 8, dtype=torch.long), torch.zeros(2, 8, 9, dtype=torch.long))


def test_logits_instead_of_labels_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match=re.escape(
            "pred must be a label map of shape (N, H, W), got shape (2, 4, 8, 8). If pred holds scores "
            "per class (N, C, H, W), take pred.argmax(dim=1) first.")):
        dice_per_class(torch.randn(2, 4, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long))


def test_a_single_image_needs_a_batch_dimension():
    with pytest.raises(ValueError, match=re.escape(
            "target must be a label map of shape (N, H, W), got shape (8, 8). "
            "For a single image, add a batch dimension: target.unsqueeze(0).")):
        dice_per_image(torch.zeros(1, 8, 8, dtype=torch.long), torch.zeros(8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"pred must be a label map of shape \(N, H, W\), got shape \(64,\)\.$"):
        mean_dice(torch.zeros(64, dtype=torch.long), torch.zeros(64, dtype=torch.long))


def test_label_values_outside_the_classes_are_named():
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    pred = target.clone()
    pred[0, 0, :2] = torch.tensor([4, -1])
    with pytest.raises(ValueError, match=re.escape("pred holds unexpected values [-1, 4]; valid values are 0..3")):
        dice_per_class(pred, target)
    with pytest.raises(ValueError, match=re.escape("target holds unexpected values [4]; valid values are 0..3")):
        mean_dice(target, pred.clamp_min(0))
    with pytest.raises(ValueError, match=re.escape("pred holds unexpected values [2, 3]; valid values are 0..1")):
        dice_per_class(torch.arange(4).reshape(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), n_classes=2)
    with pytest.raises(ValueError, match="target must hold integer label values, got non-integer floats"):
        dice_per_image(target, torch.full((1, 4, 4), 0.5))


@pytest.mark.parametrize("n_classes", [1, 0, 4.0, True, "4"])
def test_n_classes_must_be_an_integer_of_at_least_two(n_classes):
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=re.escape(f"n_classes must be an integer >= 2 (the background and at least one "
                                                   f"structure), got {n_classes!r}. ACDC label maps have n_classes=4.")):
        dice_per_class(labels, labels, n_classes)


def test_flags_must_be_booleans():
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    with pytest.raises(TypeError, match="include_background must be True or False, got 'no'"):
        dice_per_image(labels, labels, include_background="no")
    with pytest.raises(TypeError, match="per_image must be True or False, got 1"):
        mean_dice(labels, labels, per_image=1)


def test_empty_and_non_numeric_inputs():
    with pytest.raises(ValueError, match=re.escape("pred is empty (shape (0, 8, 8)): there is nothing to score.")):
        dice_per_class(torch.zeros(0, 8, 8, dtype=torch.long), torch.zeros(0, 8, 8, dtype=torch.long))
    with pytest.raises(TypeError, match="target must be a torch.Tensor or a numpy array of integer labels, got dict"):
        dice_per_class(torch.zeros(1, 8, 8, dtype=torch.long), {"labels": 1})
