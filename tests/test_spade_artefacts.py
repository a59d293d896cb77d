"""SPADE without resizing artefacts: label maps shrunk by area, activations grown bilinearly.

The measurements (shipped weights and a pilot of old against new architecture) are in
bench/unit03_artefacts.py and genlib/tables/unit03_artefacts_table.json; these tests check the mechanisms.
"""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from genlib.models.spade import SPADE, SPADEGenerator, StyleEncoder, one_hot_labels, resize_segmap


def _labels(n=2, size=32, seed=0):
    return torch.randint(0, 4, (n, size, size), generator=torch.Generator().manual_seed(seed))


def _disc(size=32, centre=(15.5, 15.5), radius=6.0):
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    inside = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2
    return (inside.long() * 3)[None]  # (1, H, W): LV cavity in background


def test_area_resize_is_each_class_share_of_its_block():
    segmap = one_hot_labels(_labels(2, 32))
    small = resize_segmap(segmap, (8, 8), "area")
    torch.testing.assert_close(small, F.avg_pool2d(segmap, 4))
    torch.testing.assert_close(small.sum(1), torch.ones(2, 8, 8))


def test_area_resize_leaves_a_map_of_the_same_or_larger_size_one_hot():
    segmap = one_hot_labels(_labels(1, 8))
    assert torch.equal(resize_segmap(segmap, (8, 8), "area"), segmap)
    grown = resize_segmap(segmap, (16, 16), "area")
    assert set(grown.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(grown, resize_segmap(segmap, (16, 16), "nearest"))


def test_nearest_shrinking_shifts_the_map_and_area_keeps_it_centred():
    """The centroid of a disc at 1/4 size: nearest (PyTorch keeps each block's top-left pixel) moves it 1.5 pixels."""
    segmap = one_hot_labels(_disc())[:, 3:4]  # (1, 1, 32, 32), the disc's channel
    yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")

    def centroid_in_full_pixels(m):
        m = m[0, 0]
        return float((m * yy).sum() / m.sum() * 4 + 1.5), float((m * xx).sum() / m.sum() * 4 + 1.5)

    area = centroid_in_full_pixels(resize_segmap(segmap, (8, 8), "area"))
    nearest = centroid_in_full_pixels(resize_segmap(segmap, (8, 8), "nearest"))
    assert max(abs(c - 15.5) for c in area) < 0.05
    assert min(abs(c - 15.5) for c in nearest) > 1.0


def test_every_label_pixel_reaches_the_coarse_layers_with_area_not_with_nearest():
    labels = torch.zeros(1, 32, 32, dtype=torch.long)
    edited = labels.clone()
    edited[0, 9:11, 9:11] = 3  # a 2x2 structure off the top-left pixels of the 4x4 blocks
    for mode, reaches in (("area", True), ("nearest", False)):
        a, b = (resize_segmap(one_hot_labels(m), (8, 8), mode) for m in (labels, edited))
        assert bool((a != b).any()) is reaches, mode


def test_spade_layer_with_area_resize_matches_an_independent_computation():
    torch.manual_seed(0)
    layer = SPADE(channels=5, label_channels=4, hidden=6, label_resize="area")
    x = torch.randn(3, 5, 8, 8) * 2 + 1
    segmap = one_hot_labels(_labels(3, 32))
    pooled = segmap.reshape(3, 4, 8, 4, 8, 4).mean(dim=(3, 5))  # (3, 4, 8, 8), the block means by hand
    hidden = torch.relu(F.conv2d(pooled, layer.shared[0].weight, layer.shared[0].bias, padding=1))
    gamma = F.conv2d(hidden, layer.conv_gamma.weight, layer.conv_gamma.bias, padding=1)
    beta = F.conv2d(hidden, layer.conv_beta.weight, layer.conv_beta.bias, padding=1)
    normalized = (x - x.mean(dim=(2, 3), keepdim=True)) / torch.sqrt(x.var(dim=(2, 3), unbiased=False, keepdim=True) + 1e-5)
    torch.testing.assert_close(layer(x, segmap), normalized * (1 + gamma) + beta, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("label_resize, upsample", [(None, None), ("area", "bilinear")])
def test_the_generator_feeds_its_layers_the_resized_maps_and_upsampled_activations(label_resize, upsample):
    """Behaviour, not attributes: what each coarse SPADE layer and each block actually receives in a forward pass.

    The default generator (None: its defaults, the paper's nearest neighbour) must hand its 8 x 8 and 16 x 16
    layers one pixel per block and repeat pixels; label_resize="area", upsample="bilinear" must hand them each
    class's block share and grow activations bilinearly. The SPADE layer alone keeps nearest neighbour too.
    """
    torch.manual_seed(0)
    options = {} if label_resize is None else {"label_resize": label_resize, "upsample": upsample}
    g = SPADEGenerator(size=32, channels=16, n_up=2, z_dim=3, hidden=8, **options).eval()
    maps_seen, block_in, block_out = {}, [], []
    for level, block in enumerate(g.blocks):
        block.norm_0.shared[0].register_forward_pre_hook(lambda m, args, level=level: maps_seen.setdefault(level, args[0]))
        block.register_forward_pre_hook(lambda m, args: block_in.append(args[0]))
        block.register_forward_hook(lambda m, args, out: block_out.append(out))
    labels = _labels(2, 32)
    with torch.no_grad():
        g(labels, torch.randn(2, 3))
    segmap = one_hot_labels(labels)
    area = label_resize == "area"
    for level, size in ((0, 8), (1, 16)):
        expected = F.avg_pool2d(segmap, 32 // size) if area else segmap[:, :, :: 32 // size, :: 32 // size]
        torch.testing.assert_close(maps_seen[level], expected)
    torch.testing.assert_close(maps_seen[2], segmap)  # full size: never blended
    mode = {"mode": "bilinear", "align_corners": False} if area else {"mode": "nearest"}
    for level in (1, 2):
        torch.testing.assert_close(block_in[level], F.interpolate(block_out[level - 1], scale_factor=2, **mode))
    layer_maps = {}
    layer = SPADE(3, hidden=4)
    layer.shared[0].register_forward_pre_hook(lambda m, args: layer_maps.setdefault("in", args[0]))
    layer(torch.randn(2, 3, 8, 8), segmap)
    torch.testing.assert_close(layer_maps["in"], segmap[:, :, ::4, ::4])  # the paper's default: nearest


def test_new_and_old_architectures_have_the_same_parameters():
    """The fix changes no weight: the same state-dict keys and shapes, so old and new train with equal budgets."""
    from genlib.models import conditional_pretrained as cp

    old = cp.spade_generator()  # the default: nearest labels, nearest upsampling
    new = cp.spade_generator(label_resize="area", upsample="bilinear")
    assert {k: v.shape for k, v in old.state_dict().items()} == {k: v.shape for k, v in new.state_dict().items()}
    new.load_state_dict(old.state_dict())
    labels, z = _labels(2, cp.SIZE), torch.randn(2, 8)
    with torch.no_grad():
        assert not torch.allclose(new(labels, z), old(labels, z))  # same weights, another forward pass


@pytest.mark.parametrize("label_resize, upsample", [("nearest", "nearest"), ("area", "bilinear"), ("area", "nearest"), ("nearest", "bilinear")])
def test_generator_shapes_range_and_one_training_step_moves_every_parameter(label_resize, upsample):
    torch.manual_seed(0)
    g = SPADEGenerator(size=32, channels=16, n_up=2, z_dim=3, hidden=8, label_resize=label_resize, upsample=upsample)
    e = StyleEncoder(z_dim=3, channels=4)
    x, labels = torch.rand(4, 1, 32, 32), _labels(4, 32)
    out = g(labels, torch.randn(4, 3))
    assert out.shape == (4, 1, 32, 32) and 0 <= out.min() and out.max() <= 1
    before = {name: p.detach().clone() for name, p in [*g.named_parameters(), *e.named_parameters()]}
    optimizer = torch.optim.Adam([*g.parameters(), *e.parameters()], lr=1e-2)
    mu, log_var = e(x)
    (g(labels, mu + torch.exp(0.5 * log_var)) - x).abs().mean().backward()
    optimizer.step()
    unchanged = [name for name, p in [*g.named_parameters(), *e.named_parameters()] if torch.equal(p, before[name])]
    assert not unchanged, f"parameters that did not learn: {unchanged}"


def test_bilinear_upsampling_leaves_no_block_edges_on_the_grid():
    """Grown 2x from a smooth 16x16 field: nearest repeats pixels (no change inside each 2x2 block, all the change
    across block edges); bilinear spreads the change over both phases. (On white noise no 2x interpolator can.)"""
    from genlib.metrics.spectral import grid_phase_energy

    torch.manual_seed(1)
    g = SPADEGenerator(size=32, channels=16, n_up=2, z_dim=3, hidden=8, upsample="bilinear")
    h = F.interpolate(torch.randn(4, 16, 4, 4), size=(16, 16), mode="bicubic", align_corners=False)  # (4, 16, 16, 16)
    near = grid_phase_energy(F.interpolate(h, scale_factor=2, mode="nearest").reshape(-1, 32, 32), 2).mean(0)
    bil = grid_phase_energy(g._up(h).reshape(-1, 32, 32), 2).mean(0)
    assert near[0] == 0 and near[1] > 0
    assert 0.8 < float(bil[0] / bil[1]) < 1.25


@pytest.mark.parametrize("kwargs, message", [
    ({"label_resize": "bilinear"}, r"label_resize must be one of \('nearest', 'area'\), got 'bilinear'"),
    ({"upsample": "transposed"}, r"upsample must be one of \('nearest', 'bilinear'\), got 'transposed'"),
])
def test_generator_options_errors_name_the_choices(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SPADEGenerator(size=32, n_up=2, **kwargs)


def test_resize_segmap_error_names_the_choices():
    with pytest.raises(ValueError, match=r"label_resize must be one of \('nearest', 'area'\), got 'max'"):
        resize_segmap(one_hot_labels(_labels(1, 8)), (4, 4), "max")
