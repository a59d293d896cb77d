"""Tests of genlib.models.spade: the SPADE layer, its residual block, the generator and the style encoder."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from genlib.models.spade import SPADE, SPADEGenerator, SPADEResBlock, StyleEncoder, one_hot_labels, spade


def _labels(n=2, size=16, seed=0):
    return torch.randint(0, 4, (n, size, size), generator=torch.Generator().manual_seed(seed))


def test_one_hot_labels_has_one_channel_per_class():
    labels = _labels()
    onehot = one_hot_labels(labels)
    assert onehot.shape == (2, 4, 16, 16) and onehot.dtype == torch.float32
    assert torch.equal(onehot.sum(1), torch.ones(2, 16, 16))
    assert torch.equal(onehot.argmax(1), labels)
    with pytest.raises(ValueError, match=r"labels must have shape \(B, H, W\), got shape \(16, 16\)\. .*labels\[None\]"):
        one_hot_labels(labels[0])
    with pytest.raises(ValueError, match=r"n_labels must be an integer >= 2, got 1"):
        one_hot_labels(labels, 1)


def _reference_spade(x, segmap, layer, eps=1e-5):
    """An independent SPADE: statistics by hand, nearest resizing by repeating pixels (integer factors)."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
    normalized = (x - mean) / torch.sqrt(var + eps)
    factor = x.shape[-1] // segmap.shape[-1]
    if factor >= 1:
        resized = segmap.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
    else:
        step = segmap.shape[-1] // x.shape[-1]
        resized = segmap[:, :, ::step, ::step]
    hidden = torch.relu(F.conv2d(resized, layer.shared[0].weight, layer.shared[0].bias, padding=1))
    gamma = F.conv2d(hidden, layer.conv_gamma.weight, layer.conv_gamma.bias, padding=1)
    beta = F.conv2d(hidden, layer.conv_beta.weight, layer.conv_beta.bias, padding=1)
    return normalized * (1 + gamma) + beta


@pytest.mark.parametrize("map_size", [4, 8, 16, 32])
def test_spade_matches_an_independent_computation(map_size):
    torch.manual_seed(0)
    layer = SPADE(channels=5, label_channels=4, hidden=6)
    x = torch.randn(3, 5, 8, 8) * 3 + 1
    segmap = one_hot_labels(_labels(3, map_size))
    torch.testing.assert_close(layer(x, segmap), _reference_spade(x, segmap, layer), rtol=1e-4, atol=1e-5)


def test_spade_with_zero_gamma_and_beta_is_plain_instance_norm():
    layer = SPADE(channels=3, hidden=4)
    for conv in (layer.conv_gamma, layer.conv_beta):
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)
    x = torch.randn(2, 3, 8, 8)
    out = layer(x, one_hot_labels(_labels(2, 8)))
    torch.testing.assert_close(out, F.instance_norm(x))


def test_normalisation_washes_away_a_uniform_label_map_but_spade_keeps_it():
    """A map constant over the image, fed at the input, is erased by instance norm; SPADE's output depends on it."""
    conv = nn.Conv2d(4, 8, 1)  # a pointwise conv keeps a constant map constant
    rv, lv = one_hot_labels(torch.ones(1, 8, 8, dtype=torch.long)), one_hot_labels(torch.full((1, 8, 8), 3))
    for segmap in (rv, lv):
        torch.testing.assert_close(F.instance_norm(conv(segmap)), torch.zeros(1, 8, 8, 8), atol=1e-3, rtol=0)
    torch.manual_seed(1)
    layer, x = SPADE(8), torch.randn(1, 8, 8, 8)
    assert (layer(x, rv) - layer(x, lv)).abs().mean() > 0.05


def test_a_label_change_changes_the_spade_output_only_near_where_it_changed():
    torch.manual_seed(2)
    layer, x = SPADE(4, hidden=8), torch.randn(1, 4, 16, 16)
    labels = _labels(1, 16)
    edited = labels.clone()
    edited[0, 7, 7] = (labels[0, 7, 7] + 1) % 4
    diff = (layer(x, one_hot_labels(edited)) - layer(x, one_hot_labels(labels))).abs().sum(1)[0]  # (16, 16)
    near = torch.zeros(16, 16, dtype=torch.bool)
    near[5:10, 5:10] = True  # two 3x3 convs reach two pixels
    assert diff[near].max() > 1e-3
    assert diff[~near].max() == 0


def test_spade_resizes_with_nearest_neighbour_so_labels_are_never_blended():
    layer = SPADE(2, hidden=4)
    seen = []
    layer.shared.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    layer(torch.randn(1, 2, 32, 32), one_hot_labels(_labels(1, 8)))
    assert seen[0].shape == (1, 4, 32, 32)
    assert set(seen[0].unique().tolist()) == {0.0, 1.0}


def test_spade_errors_name_the_argument():
    layer = SPADE(3)
    with pytest.raises(ValueError, match=r"segmap must have 4 dimensions .*one_hot_labels"):
        layer(torch.randn(1, 3, 8, 8), _labels(1, 8))
    with pytest.raises(ValueError, match=r"segmap must have one map per image of x: x has 2 images, segmap 1"):
        layer(torch.randn(2, 3, 8, 8), one_hot_labels(_labels(1, 8)))
    with pytest.raises(ValueError, match=r"channels must be a positive integer, got 0"):
        SPADE(0)


def test_resblock_shapes_with_and_without_a_learned_skip():
    segmap = one_hot_labels(_labels(2, 16))
    assert SPADEResBlock(8, 8)(torch.randn(2, 8, 8, 8), segmap).shape == (2, 8, 8, 8)
    block = SPADEResBlock(8, 4)
    assert block.learned_skip and block(torch.randn(2, 8, 8, 8), segmap).shape == (2, 4, 8, 8)


def test_generator_shapes_range_and_the_mean_style():
    torch.manual_seed(0)
    g = SPADEGenerator(size=16, channels=16, n_up=2, z_dim=3, hidden=8)
    labels = _labels(2, 16)
    out = g(labels, torch.randn(2, 3))
    assert out.shape == (2, 1, 16, 16) and 0 <= out.min() and out.max() <= 1
    torch.testing.assert_close(g(labels), g(labels, torch.zeros(2, 3)))
    torch.testing.assert_close(g(one_hot_labels(labels)), g(labels))
    with pytest.raises(ValueError, match=r"labels must be 16x16 maps \(the generator's size\), got \(8, 8\)"):
        g(_labels(2, 8))
    with pytest.raises(ValueError, match=r"z must have shape \(B, z_dim\) = \(2, 3\), got \(2, 4\)"):
        g(labels, torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"size must be divisible by 2\*\*n_up = 8, got size=20"):
        SPADEGenerator(size=20, n_up=3)


def test_generator_follows_the_label_map_more_where_it_was_edited():
    torch.manual_seed(3)
    g = SPADEGenerator(size=16, channels=16, n_up=2, z_dim=3, hidden=8)
    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    edited = labels.clone()
    edited[0, 2:6, 2:6] = 3
    diff = (g(edited) - g(labels)).abs()[0, 0]
    # instance norm spreads a little of any change over the whole image, but the largest change is at the edit
    row, column = divmod(int(diff.argmax()), 16)
    assert 0 <= row < 8 and 0 <= column < 8, f"largest change at ({row}, {column}), far from the edit"
    assert diff[2:6, 2:6].mean() > diff[10:, 10:].mean()


def test_style_encoder_shapes_and_errors():
    e = StyleEncoder(z_dim=5, channels=4)
    mu, log_var = e(torch.rand(3, 1, 32, 32))
    assert mu.shape == log_var.shape == (3, 5)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, H, W\) with H, W >= 32 .*got \(3, 1, 16, 16\)"):
        e(torch.rand(3, 1, 16, 16))


def test_every_parameter_of_generator_and_encoder_learns():
    torch.manual_seed(0)
    g, e = SPADEGenerator(size=32, channels=16, n_up=2, z_dim=3, hidden=8), StyleEncoder(z_dim=3, channels=4)
    before = {name: p.detach().clone() for name, p in [*g.named_parameters(), *e.named_parameters()]}
    optimizer = torch.optim.Adam([*g.parameters(), *e.parameters()], lr=1e-2)
    x, labels = torch.rand(4, 1, 32, 32), _labels(4, 32)
    mu, log_var = e(x)
    loss = (g(labels, mu + torch.exp(0.5 * log_var)) - x).abs().mean()
    loss.backward()
    optimizer.step()
    unchanged = [name for name, p in [*g.named_parameters(), *e.named_parameters()] if torch.equal(p, before[name])]
    assert not unchanged, f"parameters that did not learn: {unchanged}"


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 3), st.sampled_from([4, 8, 16]), st.integers(0, 10_000))
def test_spade_keeps_the_shape_and_is_per_image(batch, size, seed):
    torch.manual_seed(seed)
    layer = SPADE(3, hidden=4)
    x, segmap = torch.randn(batch, 3, size, size), one_hot_labels(_labels(batch, 8, seed))
    out = layer(x, segmap)
    assert out.shape == x.shape
    torch.testing.assert_close(layer(x[:1], segmap[:1]), out[:1])  # no statistics shared across the batch


def test_with_code_in_layers_the_code_reaches_the_image_even_when_the_first_grid_ignores_it():
    torch.manual_seed(0)
    labels, z_a, z_b = _labels(2, 16), torch.randn(2, 3), torch.randn(2, 3)
    for code_in_layers in (False, True):
        g = SPADEGenerator(size=16, channels=16, n_up=2, z_dim=3, hidden=8, code_in_layers=code_in_layers)
        with torch.no_grad():
            g.fc.weight.zero_()  # z's only path of the paper's SPADE, the first grid, is cut
        change = (g(labels, z_a) - g(labels, z_b)).abs().max()
        if code_in_layers:
            assert change > 1e-3, "code_in_layers=True: z joins every SPADE layer's input, so it must change the image"
        else:
            assert change == 0, "code_in_layers=False: with the first grid cut, z must not reach the image"


def test_code_in_layers_must_be_a_bool():
    with pytest.raises(TypeError, match=r"code_in_layers must be True or False, got 1"):
        SPADEGenerator(size=16, n_up=2, code_in_layers=1)


def test_code_in_layers_widens_only_the_spade_layers_label_input_and_is_off_by_default():
    plain = SPADEGenerator(size=16, channels=16, n_up=2, z_dim=3, hidden=8)
    wide = SPADEGenerator(size=16, channels=16, n_up=2, z_dim=3, hidden=8, code_in_layers=True)
    assert plain.code_in_layers is False, "shipped weights were trained without the option: it must stay off by default"
    shapes = lambda g: {k: tuple(v.shape) for k, v in g.state_dict().items()}  # noqa: E731
    changed = {k for k in shapes(plain) if shapes(plain)[k] != shapes(wide)[k]}
    assert changed and all(k.endswith("shared.0.weight") for k in changed), (
        f"only the first conv of each SPADE layer (it reads the label map) may widen, got {sorted(changed)}")
    assert all(shapes(wide)[k][1] == shapes(plain)[k][1] + 3 for k in changed), "it widens by z_dim = 3 input channels"
