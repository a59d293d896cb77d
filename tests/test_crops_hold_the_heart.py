"""The cardiac crops of units 03 and 07 (``conditional_pretrained.SIZE`` x ``SIZE`` over ``FOV_MM``) hold the
whole heart: few crops have heart labels on their border.

The crops are the training crops themselves (``cp.sample_crops``: random phase, slice levels 0.1 .. 0.85),
40 subjects per ACDC group. The limits: at most 8 of a group's 40 crops (20 %), and at most 10 of the 200
(5 %); the former 100 mm crops exceed both.
"""
from __future__ import annotations

import pytest
import torch

from genlib.data.cardiac import PATHOLOGIES, sample_phantoms
from genlib.models import conditional_pretrained as cp

N_SUBJECTS = 40
MAX_PER_GROUP = 8  # of 40 (20 %)
MAX_IN_ALL = 10  # of 200 (5 %)


def _on_border(labels: torch.Tensor) -> torch.Tensor:
    """(N, H, W) label maps -> (N,) bool: a heart label (> 0) in the first or last row or column."""
    border = torch.cat([labels[:, 0], labels[:, -1], labels[:, :, 0], labels[:, :, -1]], dim=1)
    return (border > 0).any(dim=1)


def _cut_counts(size: int, fov_mm: float, seed: int = 0) -> dict[str, int]:
    """Per ACDC group, how many of 40 training crops (random phase and level) cut the heart at the border."""
    return {group: int(_on_border(sample_phantoms(N_SUBJECTS, size=size, pathology=group, phase=None, seed=seed,
                                                  field_of_view_mm=fov_mm).labels).sum())
            for group in PATHOLOGIES}


def test_mm_to_pixels_rounds_half_up_and_rejects_what_is_not_a_length():
    """k whole pixels come back as k, just under half a pixel more rounds down and just over up, for even and
    odd k alike; NaN, negative and non-numbers raise a message that names mm."""
    for k in range(12):
        assert cp.mm_to_pixels(k * cp.PIXEL_MM) == k
        assert cp.mm_to_pixels((k + 0.49) * cp.PIXEL_MM) == k
        assert cp.mm_to_pixels((k + 0.51) * cp.PIXEL_MM) == k + 1
    for bad in (float("nan"), -6.0, float("inf"), "six"):
        with pytest.raises(ValueError, match="mm"):
            cp.mm_to_pixels(bad)


def test_the_crops_hold_the_heart_in_every_acdc_group():
    # the crops of cp.sample_crops are these (same sampler, same size and field of view)
    assert torch.equal(cp.sample_crops(N_SUBJECTS, seed=0, pathology="ARV").labels,
                       sample_phantoms(N_SUBJECTS, size=cp.SIZE, pathology="ARV", phase=None, seed=0,
                                       field_of_view_mm=cp.FOV_MM).labels)
    counts = _cut_counts(cp.SIZE, cp.FOV_MM)
    worst = max(counts, key=counts.get)
    assert counts[worst] <= MAX_PER_GROUP, f"{worst}: {counts[worst]} of {N_SUBJECTS} crops cut the heart ({counts})"
    assert sum(counts.values()) <= MAX_IN_ALL, f"{sum(counts.values())} of {5 * N_SUBJECTS} crops cut the heart"


def test_the_same_check_rejects_the_former_100_mm_crops():
    """The check can fail: the 32 x 32 crops of 100 mm cut dilated hearts in about half the crops."""
    counts = _cut_counts(32, 100.0)
    assert max(counts.values()) > MAX_PER_GROUP and sum(counts.values()) > MAX_IN_ALL, counts
