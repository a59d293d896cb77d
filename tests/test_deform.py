"""Tests of genlib.data.cardiac.deform: elastic warps, topology checks, morphology.

The label maps are built here (a ring LV beside a crescent RV, 64x64), independent of
the phantom module.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from genlib.data.cardiac.deform import elastic_deform
from genlib.data.cardiac.morphology import dilate_cavity, edit_lv, shrink_cavity, thicken_wall, thin_wall
from genlib.data.cardiac.topology import count_components, is_one_ring

FAST = settings(max_examples=20, deadline=None)
SIZE, R_CAVITY, WALL = 64, 8, 3
R_OUTER = R_CAVITY + WALL


def heart(size=SIZE, r_cavity=R_CAVITY, wall=WALL, centre=None, rv=True) -> torch.Tensor:
    """A ring LV (cavity disc + myocardium annulus) with a crescent RV to its left. (H, W) int64."""
    labels = torch.zeros(size, size, dtype=torch.long)
    _draw_lv(labels, r_cavity, wall, centre, rv)
    return labels


def _draw_lv(labels, r_cavity, wall, centre=None, rv=True):
    size = labels.shape[-1]
    cy, cx = centre if centre is not None else (size / 2 - 0.5, size / 2 - 0.5)
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = ((y - cy) ** 2 + (x - cx) ** 2).sqrt()  # (H, W) distance to the LV centre
    r_outer = r_cavity + wall
    if rv:
        r_rv = ((y - cy) ** 2 + (x - (cx - r_outer)) ** 2).sqrt()
        labels[(r_rv <= r_outer + 2) & (r > r_outer)] = 1
    labels[r <= r_outer] = 2
    labels[r <= r_cavity] = 3
    return labels


@pytest.fixture
def labels():
    return heart()


def _area(labels, value):
    return int((labels == value).sum())


# ----------------------------------------------------------------------------- the test map


def test_the_test_heart_is_one_ring_with_all_four_labels(labels):
    assert is_one_ring(labels)
    assert set(labels.unique().tolist()) == {0, 1, 2, 3}
    assert count_components(labels == 1) == 1, "the RV crescent should be one piece"


# ----------------------------------------------------------------------------- elastic_deform


@pytest.mark.parametrize("label_mode", ["vote", "nearest"])
def test_elastic_keeps_the_set_of_label_values(labels, label_mode):
    batch = torch.stack([labels, torch.where(labels == 1, 0, labels)])  # one map without RV
    warped = elastic_deform(batch, alpha=6.0, sigma=6.0, seed=3, label_mode=label_mode)
    assert warped.dtype == torch.int64 and warped.shape == batch.shape
    for before, after in zip(batch, warped):
        assert set(after.unique().tolist()) == set(before.unique().tolist())


@FAST
@given(seed=st.integers(0, 2**31 - 1))
def test_elastic_with_default_parameters_keeps_one_ring_even_without_redraws(seed):
    maps = torch.stack([heart(), heart(rv=False), heart(r_cavity=5), heart(r_cavity=12, wall=4)])
    warped = elastic_deform(maps, seed=seed, keep_ring=False)  # the plain warp, walls >= 3 pixels
    for k, m in enumerate(warped):
        assert is_one_ring(m), f"map {k} lost its myocardial ring under seed {seed}"


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_keep_ring_redraws_the_fields_that_break_thin_walls(seed):
    maps = torch.stack([heart(wall=2), heart(wall=2, rv=False), heart(r_cavity=5, wall=2), heart()])
    maps = torch.cat([maps, torch.where(maps[:1] == 3, 2, maps[:1])])  # a last map with no ring to keep
    plain, plain_field = elastic_deform(maps, seed=seed, keep_ring=False, return_field=True)
    kept, field = elastic_deform(maps, seed=seed, return_field=True)
    for k in range(4):
        assert is_one_ring(kept[k]), f"map {k} lost its ring although keep_ring=True (seed {seed})"
        if is_one_ring(plain[k]):  # the first field was fine, so it is the one used
            assert torch.equal(kept[k], plain[k]) and torch.equal(field[k], plain_field[k])
    assert torch.equal(kept[4], plain[4]), "a map that was no ring is warped once, as it is"
    unwarped = field.abs().amax(dim=(1, 2, 3)) == 0
    assert torch.equal(kept[unwarped], maps[unwarped]), "a map given up on is left as it was"


def test_thin_walls_break_under_the_plain_warp_but_not_with_keep_ring():
    maps = heart(wall=2).expand(40, -1, -1)  # (a 1-pixel digital annulus is no 4-connected ring)
    assert not all(is_one_ring(m) for m in elastic_deform(maps, seed=0, keep_ring=False))
    kept, field = elastic_deform(maps, seed=0, return_field=True)
    assert all(is_one_ring(m) for m in kept)
    assert (field.abs().amax(dim=(1, 2, 3)) > 0).float().mean() > 0.5, "most maps are still warped"


def test_the_bilinear_vote_keeps_rings_that_nearest_neighbour_breaks(labels):
    batch = labels.expand(200, -1, -1)
    vote = elastic_deform(batch, seed=0, keep_ring=False)
    nearest = elastic_deform(batch, seed=0, label_mode="nearest", keep_ring=False)  # the same fields
    assert all(is_one_ring(m) for m in vote)
    broken = sum(not is_one_ring(m) for m in nearest)
    assert broken > 0, "nearest neighbour aliases staircase borders and sheds single pixels"


def test_elastic_moves_pixels_by_at_most_alpha_and_exactly_alpha_somewhere(labels):
    _, field = elastic_deform(labels.expand(3, -1, -1), alpha=2.5, sigma=7.0, seed=1,
                              return_field=True, keep_ring=False)
    largest = field.norm(dim=1).amax(dim=(1, 2))  # (3,)
    torch.testing.assert_close(largest, torch.full((3,), 2.5))


def test_elastic_with_alpha_zero_is_the_identity(labels):
    image = torch.rand(1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    for mode in ("vote", "nearest"):
        warped, warped_image, field = elastic_deform(labels, alpha=0.0, images=image,
                                                     return_field=True, label_mode=mode)
        assert torch.equal(warped, labels)
        torch.testing.assert_close(warped_image, image, atol=1e-5, rtol=0)
        assert torch.count_nonzero(field) == 0


def test_elastic_is_deterministic_given_the_seed(labels):
    a = elastic_deform(labels, seed=5)
    assert torch.equal(a, elastic_deform(labels, seed=5))
    assert torch.equal(a, elastic_deform(labels, seed=torch.Generator().manual_seed(5)))
    assert not torch.equal(a, elastic_deform(labels, seed=6)), "different seeds should differ"
    assert not torch.equal(a, labels), "the default deformation should change the map"


def test_elastic_shapes_single_map_and_batch(labels):
    warped, image, field = elastic_deform(labels, images=torch.ones(2, SIZE, SIZE),
                                          return_field=True)
    assert warped.shape == (SIZE, SIZE) and image.shape == (2, SIZE, SIZE)
    assert field.shape == (2, SIZE, SIZE)
    batch = labels.expand(5, -1, -1)
    warped, field = elastic_deform(batch, return_field=True)
    assert warped.shape == (5, SIZE, SIZE) and field.shape == (5, 2, SIZE, SIZE)
    assert not torch.equal(field[0], field[1]), "each map of a batch should get its own field"
    images = torch.ones(5, 1, SIZE, SIZE, dtype=torch.float64)
    warped, warped_images = elastic_deform(batch, images=images)
    assert warped_images.shape == images.shape and warped_images.dtype == torch.float64


def test_elastic_accepts_numpy_maps(labels):
    assert torch.equal(elastic_deform(labels.numpy(), seed=2), elastic_deform(labels, seed=2))


def test_elastic_larger_sigma_gives_a_smoother_field(labels):
    def steepness(sigma):
        _, field = elastic_deform(labels, alpha=4.0, sigma=sigma, seed=0, return_field=True)
        return max(g.abs().max() for g in torch.gradient(field, dim=(1, 2)))

    assert steepness(20.0) < steepness(10.0) < steepness(3.0)


def _scipy_warp(values, field, order):
    """values (H, W) sampled at (i + field[0], j + field[1]) by scipy, an independent reference."""
    rows, cols = np.meshgrid(np.arange(values.shape[0]), np.arange(values.shape[1]), indexing="ij")
    coords = np.stack([rows + field[0], cols + field[1]])
    return ndimage.map_coordinates(values, coords, order=order, mode="nearest")


def test_elastic_matches_scipy_map_coordinates_with_the_returned_field(labels):
    image = labels.double() * 10 + torch.rand(SIZE, SIZE, generator=torch.Generator().manual_seed(1),
                                              dtype=torch.float64)
    for mode in ("nearest", "vote"):
        warped, warped_image, field = elastic_deform(labels, alpha=5.0, sigma=6.0, seed=4,
                                                     images=image[None], return_field=True,
                                                     label_mode=mode)
        u = field.numpy()
        if mode == "nearest":
            expected = _scipy_warp(labels.numpy().astype(float), u, order=0)
        else:  # the label whose bilinearly interpolated indicator is largest
            votes = [_scipy_warp((labels.numpy() == v).astype(float), u, order=1) for v in range(4)]
            expected = np.argmax(np.stack(votes), axis=0)
        np.testing.assert_array_equal(warped.numpy(), expected)
        np.testing.assert_allclose(warped_image[0].numpy(), _scipy_warp(image.numpy(), u, order=1),
                                   atol=1e-9)


def test_images_warped_with_the_same_field_stay_aligned_with_the_labels(labels):
    image = labels.float()[None, None].expand(3, 1, -1, -1)  # (3, 1, H, W): the label map as an image
    warped, warped_image = elastic_deform(labels.expand(3, -1, -1), alpha=6.0, sigma=8.0, seed=9,
                                          images=image)
    rounded = warped_image[:, 0].round().long()  # (3, H, W)
    window = warped.float().unsqueeze(1)
    uniform = (F.max_pool2d(window, 3, 1, 1) == -F.max_pool2d(-window, 3, 1, 1)).squeeze(1)
    assert uniform.float().mean() > 0.7
    assert torch.equal(rounded[uniform], warped[uniform]), "inside each region image and labels agree"
    assert (rounded == warped).float().mean() > 0.97


def test_keep_ring_leaves_a_map_unwarped_when_every_try_breaks_it(monkeypatch):
    from genlib.data.cardiac import deform

    monkeypatch.setattr(deform, "MAX_TRIES", 0)  # no redraws: a broken map is given up at once
    maps = heart(wall=2).expand(40, -1, -1)
    plain = elastic_deform(maps, seed=0, keep_ring=False)
    broken = torch.tensor([not is_one_ring(m) for m in plain])
    kept, field = elastic_deform(maps, seed=0, return_field=True)
    assert broken.any() and not broken.all()
    assert torch.equal(kept[broken], maps[broken]) and torch.count_nonzero(field[broken]) == 0
    assert torch.equal(kept[~broken], plain[~broken])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"alpha": -1.0}, ValueError, r"alpha \(largest displacement in pixels\) must be in 0\.\.16 .*got -1\.0"),
        ({"alpha": 17.0}, ValueError, r"alpha .* must be in 0\.\.16 \(a quarter of the smaller side"),
        ({"alpha": float("nan")}, ValueError, r"alpha .* got nan"),
        ({"sigma": 0.0}, ValueError, r"sigma \(smoothness in pixels\) must be in \(0, 64\] .*got 0\.0"),
        ({"sigma": 100.0}, ValueError, r"sigma .* near-rigid shift"),
        ({"seed": 1.5}, TypeError, r"seed must be a non-negative int or a torch\.Generator, got 1\.5"),
        ({"keep_ring": "yes"}, TypeError, r"keep_ring must be True or False, got 'yes'"),
        ({"label_mode": "linear"}, ValueError, r"label_mode must be 'vote' .* or 'nearest' .*got 'linear'"),
        ({"images": torch.ones(2, 1, SIZE, SIZE)}, ValueError,
         r"images must have shape \(C, 64, 64\) to go with labels of shape \(64, 64\), got \(2, 1, 64, 64\)"),
        ({"images": torch.full((1, SIZE, SIZE), float("nan"))}, ValueError, r"images contains 4096 NaN"),
    ],
)
def test_elastic_errors_name_the_argument_and_the_fix(labels, kwargs, error, match):
    with pytest.raises(error, match=match):
        elastic_deform(labels, **kwargs)


def test_elastic_rejects_unexpected_label_values_and_shapes(labels):
    bad = labels.clone()
    bad[0, 0] = 7
    with pytest.raises(ValueError, match=r"labels holds unexpected values \[7\]; valid values are 0\.\.3"):
        elastic_deform(bad)
    with pytest.raises(ValueError, match=r"labels must have shape \(N, H, W\) or \(H, W\), got shape \(1, 1, 64, 64\)"):
        elastic_deform(labels[None, None])
    with pytest.raises(ValueError, match=r"images must have shape \(2, C, 64, 64\)"):
        elastic_deform(labels.expand(2, -1, -1), images=torch.ones(2, SIZE, SIZE))


# ----------------------------------------------------------------------------- count_components


def _disc(size, cy, cx, r):
    y, x = np.mgrid[:size, :size]
    return (y - cy) ** 2 + (x - cx) ** 2 <= r ** 2


def test_count_components_on_known_masks():
    two_discs = _disc(32, 8, 8, 4) | _disc(32, 22, 22, 5)
    assert count_components(two_discs) == 2 and count_components(two_discs, 8) == 2
    diagonal = np.zeros((4, 4), dtype=bool)
    diagonal[1, 1] = diagonal[2, 2] = True
    assert count_components(diagonal, connectivity=4) == 2
    assert count_components(diagonal, connectivity=8) == 1
    assert count_components(torch.zeros(5, 5, dtype=torch.bool)) == 0
    assert count_components(torch.as_tensor(two_discs).long()) == 2, "0/1 integers are accepted"


def _bfs_count(mask, connectivity):
    """Connected components by breadth-first search: the reference for count_components."""
    steps = [(0, 1), (1, 0), (0, -1), (-1, 0)]
    if connectivity == 8:
        steps += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    seen, count = np.zeros_like(mask), 0
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        count += 1
        seen[start] = True
        queue = deque([start])
        while queue:
            i, j = queue.popleft()
            for di, dj in steps:
                a, b = i + di, j + dj
                if 0 <= a < mask.shape[0] and 0 <= b < mask.shape[1] and mask[a, b] and not seen[a, b]:
                    seen[a, b] = True
                    queue.append((a, b))
    return count


@settings(max_examples=40, deadline=None)
@given(mask=arrays(bool, st.tuples(st.integers(1, 9), st.integers(1, 9))))
def test_count_components_matches_a_breadth_first_search(mask):
    four, eight = count_components(mask, 4), count_components(mask, 8)
    assert four == _bfs_count(mask, 4) and eight == _bfs_count(mask, 8)
    assert eight <= four, "8-connectivity joins components, it never splits them"


def test_count_components_errors():
    with pytest.raises(ValueError, match=r"connectivity must be 4 \(edge neighbours\) or 8 .*got 6"):
        count_components(np.ones((3, 3), bool), connectivity=6)
    with pytest.raises(ValueError, match=r"mask must have shape \(H, W\), got shape \(2, 3, 3\)"):
        count_components(np.ones((2, 3, 3), bool))
    with pytest.raises(ValueError, match=r"mask must be boolean .* Build one with a comparison, such as labels == 2"):
        count_components(heart())


# ----------------------------------------------------------------------------- is_one_ring


def test_is_one_ring_true_for_rings_with_or_without_rv():
    assert is_one_ring(heart()) and is_one_ring(heart(rv=False)) and is_one_ring(heart().numpy())


def test_is_one_ring_false_for_a_ring_with_a_gap(labels):
    centre = SIZE // 2
    with_background = labels.clone()
    with_background[centre - 1:centre + 1, centre + R_CAVITY - 1:] = 0  # cut through the right wall
    assert count_components(with_background == 2) == 1, "a C shape is still one component"
    assert not is_one_ring(with_background)
    with_cavity = labels.clone()
    with_cavity[centre - 1:centre + 1, centre:centre + R_OUTER + 1] = 3  # the cavity leaks out
    assert not is_one_ring(with_cavity)


def test_is_one_ring_false_for_a_diagonal_leak():
    labels = torch.tensor([
        [0, 0, 0, 0, 0, 0],
        [0, 2, 2, 2, 2, 0],
        [0, 2, 3, 3, 2, 0],
        [0, 2, 3, 3, 2, 0],
        [0, 2, 2, 2, 0, 0],  # the wall holds through edges but the corner (3, 3)-(4, 4) leaks
        [0, 0, 0, 0, 0, 0],
    ])
    assert count_components(labels == 2, 4) == 1
    assert not is_one_ring(labels)
    labels[4, 4] = 2
    assert is_one_ring(labels)


def test_is_one_ring_false_for_two_rings_or_no_cavity_or_an_island():
    two = torch.zeros(SIZE, SIZE, dtype=torch.long)
    _draw_lv(two, 6, 3, centre=(16, 16), rv=False)
    _draw_lv(two, 6, 3, centre=(46, 46), rv=False)
    assert not is_one_ring(two)
    no_cavity = torch.where(heart() == 3, 2, heart())
    assert not is_one_ring(no_cavity)
    island = heart()
    island[SIZE // 2, SIZE // 2] = 0  # a background pixel inside the cavity
    assert not is_one_ring(island)
    second_hole = heart(rv=False)
    second_hole[SIZE // 2, SIZE // 2 + R_CAVITY + 1] = 0  # a hole inside the wall itself
    assert count_components(second_hole == 2) == 1
    assert not is_one_ring(second_hole)


def test_is_one_ring_errors(labels):
    with pytest.raises(ValueError, match=r"labels must be one map of shape \(H, W\), got shape \(2, 64, 64\)"):
        is_one_ring(labels.expand(2, -1, -1))
    with pytest.raises(ValueError, match=r"labels holds unexpected values \[-1\]"):
        is_one_ring(labels - 1)


# ----------------------------------------------------------------------------- morphology


def _annulus(r_small, r_large):
    return math.pi * (r_large ** 2 - r_small ** 2)


@pytest.mark.parametrize(
    "op, kwargs, value, sign, expected",
    [
        (thicken_wall, {"side": "outer"}, 2, +1, lambda p: _annulus(R_OUTER, R_OUTER + p)),
        (thicken_wall, {"side": "inner"}, 2, +1, lambda p: _annulus(R_CAVITY - p, R_CAVITY)),
        (thin_wall, {"side": "outer"}, 2, -1, lambda p: _annulus(R_OUTER - p, R_OUTER)),
        (thin_wall, {"side": "inner"}, 2, -1, lambda p: _annulus(R_CAVITY, R_CAVITY + p)),
        (dilate_cavity, {"label": 3}, 3, +1, lambda p: _annulus(R_CAVITY, R_CAVITY + p)),
        (shrink_cavity, {"label": 3}, 3, -1, lambda p: _annulus(R_CAVITY - p, R_CAVITY)),
    ],
)
def test_lv_operations_change_the_area_by_perimeter_times_pixels(labels, op, kwargs, value, sign, expected):
    areas = [_area(op(labels, pixels=p, **kwargs), value) for p in range(3)]
    assert areas[0] == _area(labels, value), "pixels=0 is the identity"
    changes = [sign * (a - areas[0]) for a in areas]
    assert changes[0] < changes[1] < changes[2], f"area should change monotonically: {areas}"
    for p in (1, 2):
        assert changes[p] == pytest.approx(expected(p), rel=0.25), f"pixels={p}"


@pytest.mark.parametrize("op, label", [(dilate_cavity, 1), (shrink_cavity, 1)])
def test_rv_operations_change_only_rv_and_background(labels, op, label):
    areas = [_area(op(labels, label, p), 1) for p in range(4)]
    sign = 1 if op is dilate_cavity else -1
    assert all(sign * (b - a) > 0 for a, b in zip(areas, areas[1:])), f"RV areas {areas}"
    out = op(labels, label, 2)
    assert torch.equal(out >= 2, labels >= 2), "the LV (myocardium and cavity) is untouched"
    if op is shrink_cavity:
        rv_next_to_septum = (out == 1) & (F.max_pool2d((out == 2).float()[None], 3, 1, 1)[0] > 0)
        assert rv_next_to_septum.any(), "the shrunk RV still touches the septum"


def test_inner_wall_operations_are_the_cavity_operations(labels):
    for p in (1, 3):
        assert torch.equal(thin_wall(labels, p, side="inner"), dilate_cavity(labels, 3, p))
        assert torch.equal(thicken_wall(labels, p, side="inner"), shrink_cavity(labels, 3, p))
        inner = thin_wall(labels, p, side="inner")
        assert torch.equal(inner >= 2, labels >= 2) and torch.equal(inner == 1, labels == 1)


def test_thin_outer_gives_the_septum_back_to_the_rv(labels):
    out = thin_wall(labels, 1, side="outer")
    assert _area(out, 1) > _area(labels, 1) and _area(out, 0) > _area(labels, 0)
    assert torch.equal(out == 3, labels == 3)


def test_thicken_outer_grows_into_background_and_rv_but_not_the_cavity(labels):
    out = thicken_wall(labels, 2, side="outer")
    assert _area(out, 1) < _area(labels, 1) and torch.equal(out == 3, labels == 3)


def test_modest_thickening_and_thinning_keep_the_ring_and_a_lost_wall_breaks_it(labels):
    for op, side in [(thicken_wall, "outer"), (thicken_wall, "inner"), (thin_wall, "outer"),
                     (thin_wall, "inner")]:
        assert is_one_ring(op(labels, 1, side=side)), f"{op.__name__} side={side}"
    assert not is_one_ring(thin_wall(labels, WALL, side="outer")), "a wall thinned away is no ring"


OPERATIONS = [
    (lambda m, p: thicken_wall(m, p, side="outer"), 2, +1),
    (lambda m, p: thicken_wall(m, p, side="inner"), 2, +1),
    (lambda m, p: thin_wall(m, p, side="outer"), 2, -1),
    (lambda m, p: thin_wall(m, p, side="inner"), 2, -1),
    (lambda m, p: dilate_cavity(m, 3, p), 3, +1),
    (lambda m, p: shrink_cavity(m, 3, p), 3, -1),
    (lambda m, p: dilate_cavity(m, 1, p), 1, +1),
    (lambda m, p: shrink_cavity(m, 1, p), 1, -1),
]


@FAST
@given(k=st.integers(0, len(OPERATIONS) - 1), pixels=st.integers(0, 5),
       r_cavity=st.integers(4, 10), wall=st.integers(2, 5))
def test_morphology_regions_are_nested_in_pixels_and_keep_the_labels(k, pixels, r_cavity, wall):
    op, value, sign = OPERATIONS[k]
    labels = heart(r_cavity=r_cavity, wall=wall)
    small, large = op(labels, pixels) == value, op(labels, pixels + 1) == value
    inner, outer = (small, large) if sign > 0 else (large, small)
    assert not (inner & ~outer).any(), "one more pixel must grow (or shrink) the region further"
    out = op(labels, pixels)
    assert out.dtype == torch.int64 and set(out.unique().tolist()) <= {0, 1, 2, 3}


def test_morphology_on_a_batch_equals_each_map_alone():
    maps = [heart(), heart(r_cavity=6, wall=4), heart(centre=(28.0, 36.0), rv=False)]
    batch = torch.stack(maps)
    for op, _, _ in OPERATIONS:
        out = op(batch, 2)
        assert out.shape == batch.shape
        for k, m in enumerate(maps):
            assert torch.equal(out[k], op(m, 2))
    assert torch.equal(thin_wall(heart().numpy(), 1), thin_wall(heart(), 1)), "numpy maps work too"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: thicken_wall(m, -1), r"pixels must be a whole number of pixels in 0\.\.32 \(half the smaller side of the 64x64 map\), got -1"),
        (lambda m: thin_wall(m, 33), r"pixels must be .* in 0\.\.32 .*got 33"),
        (lambda m: dilate_cavity(m, 3, 1.5), r"pixels must be a whole number .*got 1\.5"),
        (lambda m: shrink_cavity(m, 3, True), r"pixels must be .*got True"),
        (lambda m: thicken_wall(m, 1, side="middle"), r"side must be 'outer' .* or 'inner' .*got 'middle'"),
        (lambda m: dilate_cavity(m, 2, 1), r"label must be 1 \(RV cavity\) or 3 \(LV cavity\), got 2 \(LV myocardium\)\. To change the myocardium, use thicken_wall"),
        (lambda m: shrink_cavity(m, 0, 1), r"label must be 1 .* or 3 .*got 0 \(background\)"),
        (lambda m: thin_wall(torch.where(m == 1, 4, m), 1), r"labels holds unexpected values \[4\]"),
        (lambda m: thicken_wall(m.float() + 0.5, 1), r"labels must hold integer label values"),
        (lambda m: thicken_wall(m[None, None], 1), r"labels must have shape \(N, H, W\) or \(H, W\)"),
    ],
)
def test_morphology_errors_name_the_argument_and_the_valid_range(labels, call, match):
    with pytest.raises(ValueError, match=match):
        call(labels)


# ----------------------------------------------------------------------------- edit_lv


@pytest.mark.parametrize("wall, cavity", [(0, 0), (2, 0), (-1, 0), (0, 2), (0, -2), (1, -1), (-1, 2)])
def test_edit_lv_is_the_wall_edit_then_the_cavity_edit(labels, wall, cavity):
    expected = labels
    if wall:
        expected = thicken_wall(expected, wall) if wall > 0 else thin_wall(expected, -wall)
    if cavity:
        expected = dilate_cavity(expected, 3, cavity) if cavity > 0 else shrink_cavity(expected, 3, -cavity)
    edited = edit_lv(labels, wall=wall, cavity=cavity)
    assert torch.equal(edited, expected), f"edit_lv(wall={wall}, cavity={cavity}) differs from the two edits in turn"
    if wall > 0:
        assert _area(edited, 2) > _area(labels, 2), "a positive wall edit should grow the myocardium"
    if cavity < 0:
        assert _area(edited, 3) < _area(labels, 3), "a negative cavity edit should shrink the LV cavity"
