"""Tests of genlib.metrics.surface: HD95 by hand, against a brute-force reference, the empty-class rules, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlib.metrics.surface import boundary, hausdorff_distance, mean_hausdorff


def _brute_boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of the mask with a 4-neighbour outside it or on the image edge, by loops."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    for i in range(h):
        for j in range(w):
            if not mask[i, j]:
                continue
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                a, b = i + di, j + dj
                if not (0 <= a < h and 0 <= b < w) or not mask[a, b]:
                    out[i, j] = True
    return out


def _brute_hd(pred: np.ndarray, target: np.ndarray, c: int, q: float, pixel_mm: float) -> float:
    """All pairwise distances between the two boundaries' pixel centres; max of the two directed percentiles."""
    p, t = pred == c, target == c
    if not p.any() and not t.any():
        return math.nan
    if p.any() != t.any():
        return math.hypot(*pred.shape) * pixel_mm
    a = np.argwhere(_brute_boundary(p)).astype(float)
    b = np.argwhere(_brute_boundary(t)).astype(float)
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)) * pixel_mm  # (|dP|, |dT|)
    return max(np.percentile(d.min(1), q), np.percentile(d.min(0), q))


def test_identical_maps_score_zero():
    labels = torch.zeros(2, 12, 12, dtype=torch.long)
    labels[:, 2:8, 3:9] = 1
    labels[:, 4:6, 5:7] = 2
    hd = hausdorff_distance(labels, labels, n_classes=3)
    assert hd.shape == (2, 2)
    assert torch.equal(hd, torch.zeros(2, 2, dtype=torch.float64))


def test_a_shifted_square_by_hand():
    pred = torch.zeros(1, 16, 16, dtype=torch.long)
    target = torch.zeros(1, 16, 16, dtype=torch.long)
    pred[0, 4:10, 4:10] = 1
    target[0, 4:10, 7:13] = 1  # shifted by 3 pixels along the columns
    hd100 = hausdorff_distance(pred, target, n_classes=2, percentile=100, pixel_mm=2.0)
    # the left edge of pred (column 4) is 3 pixels from target's nearest boundary pixel (column 7)
    assert float(hd100) == pytest.approx(6.0)
    hd95 = hausdorff_distance(pred, target, n_classes=2, percentile=95, pixel_mm=2.0)
    assert 0 < float(hd95) <= 6.0


def test_one_outlier_pixel_moves_the_maximum_but_hardly_hd95():
    target = torch.zeros(1, 32, 32, dtype=torch.long)
    target[0, 8:24, 8:24] = 1
    pred = target.clone()
    pred[0, 30, 30] = 1  # a stray pixel far away
    assert float(hausdorff_distance(pred, target, n_classes=2, percentile=100)) == pytest.approx(math.hypot(7, 7))  # to the corner (23, 23)
    assert float(hausdorff_distance(pred, target, n_classes=2, percentile=95)) < 1.0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("q", [50.0, 95.0, 100.0])
def test_matches_brute_force_on_random_blobs(seed, q):
    rng = np.random.default_rng(seed)
    pred = np.zeros((3, 14, 14), dtype=np.int64)
    target = np.zeros_like(pred)
    for maps in (pred, target):
        for k in range(3):
            for c in (1, 2, 3):
                r, s, h, w = rng.integers(0, 10, 4)
                if rng.uniform() < 0.85:
                    maps[k, r:r + h // 2 + 1, s:s + w // 2 + 1] = c
    hd = hausdorff_distance(pred, target, percentile=q, pixel_mm=1.5)
    expected = np.array([[_brute_hd(pred[k], target[k], c, q, 1.5) for c in (1, 2, 3)] for k in range(3)])
    np.testing.assert_allclose(hd.numpy(), expected, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_boundary_matches_the_loop():
    mask = np.random.default_rng(0).uniform(size=(2, 9, 9)) < 0.6
    assert np.array_equal(boundary(mask).numpy(), np.stack([_brute_boundary(m) for m in mask]))


def test_empty_class_conventions():
    pred = torch.zeros(2, 10, 20, dtype=torch.long)
    target = torch.zeros(2, 10, 20, dtype=torch.long)
    target[0, 2:5, 2:5] = 1  # class 1 missed in image 0
    pred[1, 2:5, 2:5] = 2  # class 2 invented in image 1
    hd = hausdorff_distance(pred, target, n_classes=4, pixel_mm=3.0)
    penalty = math.hypot(10, 20) * 3.0
    assert hd[0, 0] == pytest.approx(penalty) and hd[1, 1] == pytest.approx(penalty)
    assert torch.isnan(hd[0, 1]) and torch.isnan(hd[0, 2]) and torch.isnan(hd[1, 0])
    means = mean_hausdorff(pred, target, n_classes=4, pixel_mm=3.0)
    assert means[0] == pytest.approx(penalty) and means[1] == pytest.approx(penalty) and torch.isnan(means[2])


def test_the_penalty_exceeds_any_real_distance():
    pred = torch.zeros(1, 8, 8, dtype=torch.long)
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    pred[0, 0, 0], target[0, 7, 7] = 1, 1  # opposite corners: the largest possible distance
    worst = float(hausdorff_distance(pred, target, n_classes=2, percentile=100))
    target[0, 7, 7] = 0
    assert float(hausdorff_distance(pred, target, n_classes=2)) > worst


def test_background_is_optional():
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, 2:6, 2:6] = 1
    assert hausdorff_distance(labels, labels, n_classes=2, include_background=True).shape == (1, 2)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(percentile=0.0), ValueError, r"percentile must be in \[1e-09, 100\]"),
    (dict(percentile=101.0), ValueError, r"percentile must be in"),
    (dict(pixel_mm=-1.0), ValueError, r"pixel_mm must be in"),
    (dict(pixel_mm="3"), TypeError, r"pixel_mm must be a number"),
    (dict(n_classes=1), ValueError, r"n_classes must be an integer >= 2"),
])
def test_bad_arguments_are_named(kwargs, error, message):
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    with pytest.raises(error, match=message):
        hausdorff_distance(labels, labels, **kwargs)


def test_bad_label_maps_are_named():
    labels = torch.zeros(2, 8, 8, dtype=torch.long)
    with pytest.raises(ValueError, match=r"argmax\(dim=1\)"):
        hausdorff_distance(torch.zeros(2, 4, 8, 8), labels)
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        hausdorff_distance(labels[0], labels[0])
    with pytest.raises(ValueError, match=r"unexpected values \[7\]"):
        hausdorff_distance(labels + 7, labels)
    with pytest.raises(ValueError, match=r"same shape"):
        hausdorff_distance(labels, labels[:1])
