"""Tests of genlib.synthesis (unit 07): scar labels, add_scar, label maps, style codes, the label VAE,
the shipped weights and their builder."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlib.data.cardiac import is_one_ring
from genlib.models import conditional_pretrained as cp
from genlib.synthesis import (
    SCAR, LabelVAE, add_scar, deform_labels, encode_styles, label_vae_loss, load_synthesis, pathology_labels,
    prior_styles, rotate_labels, scar_labels, synthesise, to_acdc, train_label_vae,
)
from genlib.synthesis import pretrained as sp
from genlib.synthesis.scar import scar_crops


@pytest.fixture(scope="module")
def crops():
    return cp.sample_crops(40, seed=123, phase=None)


# ----------------------------------------------------------------------------- scar


def test_scar_labels_mark_the_phantoms_scar_tissue_inside_the_myocardium():
    batch = cp.sample_crops(20, seed=5, pathology="MINF")
    labels = scar_labels(batch.labels, batch.tissues)
    assert labels.shape == batch.labels.shape and int(labels.max()) == SCAR
    assert torch.equal(labels == SCAR, batch.tissues == 3)  # the phantom's scar tissue, all inside label 2
    assert torch.equal(to_acdc(labels), batch.labels)
    with pytest.raises(ValueError, match=r"tissues must have the shape of labels"):
        scar_labels(batch.labels, batch.tissues[:2])


def test_scar_crops_give_lge_images_with_bright_scar():
    labels, images = scar_crops(24, seed=1, minf_fraction=1.0)
    assert labels.shape == (24, cp.SIZE, cp.SIZE) and images.shape == (24, 1, cp.SIZE, cp.SIZE)
    scar, myo = labels[:, None] == SCAR, labels[:, None] == 2
    assert images[scar].mean() > images[myo].mean() + 0.3


def test_scar_crops_take_a_generator_as_the_int_it_gives():
    """scar_crops derives seeds (seed, seed + 1): a Generator gives one int (as_seed) and seeds like it."""
    from genlib._validation import as_seed

    drawn = as_seed(torch.Generator().manual_seed(7))
    by_int, by_generator = scar_crops(3, seed=drawn), scar_crops(3, seed=torch.Generator().manual_seed(7))
    assert all(torch.equal(a, b) for a, b in zip(by_int, by_generator))
    with pytest.raises(TypeError, match=r"seed must be an int or a torch.Generator, got str"):
        scar_crops(3, seed="7")


def _maps_to_scar(crops):
    """Original, rotated, deformed and VAE-like maps: every kind the lecture paints a scar into."""
    return torch.cat([crops.labels, rotate_labels(crops.labels, 75.0), deform_labels(crops.labels, seed=2)])


@pytest.mark.parametrize("territory", ["LAD", "LCX", "RCA"])
@pytest.mark.parametrize("transmurality", [0.3, 1.0])
def test_add_scar_stays_inside_the_myocardium(crops, territory, transmurality):
    maps = _maps_to_scar(crops)
    painted = add_scar(maps, territory, width_deg=100.0, transmurality=transmurality)
    scar = painted == SCAR
    assert scar.any(dim=(1, 2)).float().mean() > 0.9  # almost every map with a myocardium gets one
    assert not (scar & (maps != 2)).any()  # only myocardium pixels change ...
    assert torch.equal(to_acdc(painted), maps)  # ... and only into scar


def test_transmurality_and_width_grow_the_scar(crops):
    thin = add_scar(crops.labels, "LAD", transmurality=0.3, width_deg=60.0) == SCAR
    deep = add_scar(crops.labels, "LAD", transmurality=1.0, width_deg=60.0) == SCAR
    wide = add_scar(crops.labels, "LAD", transmurality=1.0, width_deg=180.0) == SCAR
    assert not (thin & ~deep).any() and deep.sum() > thin.sum()
    assert not (deep & ~wide).any() and wide.sum() > deep.sum()
    whole = add_scar(crops.labels, "LAD", width_deg=360.0) == SCAR
    assert torch.equal(whole, crops.labels == 2)


def _scar_angle(labels) -> float:
    """Image angle (degrees, counter-clockwise on screen) of the scar's centroid around the LV's centroid."""
    rows, cols = np.nonzero(labels.numpy() == SCAR)
    lv_rows, lv_cols = np.nonzero(np.isin(labels.numpy(), (2, 3, SCAR)))
    return math.degrees(math.atan2(-(rows.mean() - lv_rows.mean()), cols.mean() - lv_cols.mean()))


def test_the_territory_turns_with_the_heart(crops):
    maps = crops.labels[(crops.labels == 1).sum(dim=(1, 2)) > 20][:6]  # maps with a clear RV
    for angle in (60.0, -90.0):
        before = add_scar(maps, "LCX", width_deg=60.0)
        after = add_scar(rotate_labels(maps, angle), "LCX", width_deg=60.0)
        for b, a in zip(before, after):
            turned = (_scar_angle(a) - _scar_angle(b) - angle + 180) % 360 - 180
            assert abs(turned) < 25, f"rotating the map by {angle} turned the scar by {angle + turned:.0f} degrees"


def test_a_fixed_rotation_and_centre_override_the_rv(crops):
    one = crops.labels[:1]
    by_centre = add_scar(one, None, centre_deg=0.0, rotation_deg=0.0, width_deg=40.0)
    assert abs(_scar_angle(by_centre[0])) < 25  # lateral: image right
    empty = torch.zeros(2, 32, 32, dtype=torch.long)
    assert torch.equal(add_scar(empty, "LAD"), empty)  # no myocardium, nothing to paint


@pytest.mark.parametrize("kwargs, message", [
    (dict(territory="LADX"), r"territory must be one of \('LAD', 'LCX', 'RCA'\)"),
    (dict(territory=None), r"give the sector's centre with centre_deg"),
    (dict(width_deg=0.0), r"width_deg must be a number in \(0, 360\]"),
    (dict(transmurality=1.5), r"transmurality must be a number in \(0, 1\]"),
    (dict(rotation_deg=float("nan")), r"rotation_deg must be a finite number"),
    (dict(territory=["LAD"]), r"territory must be one value or one per map \(3\)"),
])
def test_add_scar_errors_name_the_fix(crops, kwargs, message):
    with pytest.raises(ValueError, match=message):
        add_scar(crops.labels[:3], **kwargs)
    with pytest.raises(ValueError, match=r"unexpected values \[5, 6, 7, 8\]"):
        add_scar(crops.labels[:3] + 5)


# ----------------------------------------------------------------------------- label maps and styles


def test_rotate_labels_by_right_angles_is_exact(crops):
    assert torch.equal(rotate_labels(crops.labels, 0.0), crops.labels)
    assert torch.equal(rotate_labels(crops.labels, 90.0), torch.rot90(crops.labels, 1, dims=(-2, -1)))
    turned = rotate_labels(crops.labels[:3], [0.0, 180.0, 45.0])
    assert torch.equal(turned[1], torch.rot90(crops.labels[1], 2)) and turned.shape == (3, cp.SIZE, cp.SIZE)
    with pytest.raises(ValueError, match=r"degrees must be one finite number or one per map"):
        rotate_labels(crops.labels[:3], [1.0, 2.0])


def test_deform_labels_keeps_rings_and_is_deterministic(crops):
    first, again = deform_labels(crops.labels, seed=4), deform_labels(crops.labels, seed=4)
    assert torch.equal(first, again) and not torch.equal(first, deform_labels(crops.labels, seed=5))
    assert first.dtype == torch.int64 and int(first.min()) >= 0 and int(first.max()) <= 3
    assert (first != crops.labels).any(dim=(1, 2)).float().mean() > 0.8
    for before, after in zip(crops.labels, first):
        assert is_one_ring(after) or not is_one_ring(before)
    with pytest.raises(ValueError, match=r"add the batch dimension"):
        deform_labels(crops.labels[0])


def test_pathology_labels_and_style_codes():
    labels = pathology_labels(5, "HCM", seed=1)
    assert labels.shape == (5, cp.SIZE, cp.SIZE)
    assert torch.equal(prior_styles(4, seed=3), prior_styles(4, seed=3)) and prior_styles(4).shape == (4, cp.Z_DIM)
    with pytest.raises(ValueError, match=r"n must be a positive integer"):
        prior_styles(0)
    assert torch.equal(prior_styles(4, seed=3), prior_styles(4, seed=torch.Generator().manual_seed(3)))
    with pytest.raises(TypeError, match=r"seed must be an int or a torch.Generator, got float"):
        prior_styles(4, seed=3.0)
    generator, encoder = cp.load_conditional("spade")
    images = synthesise(generator, labels, prior_styles(5, seed=0))
    assert images.shape == (5, 1, cp.SIZE, cp.SIZE) and 0 <= float(images.min()) and float(images.max()) <= 1
    style = prior_styles(1, seed=0)  # one style for all
    torch.testing.assert_close(synthesise(generator, labels, style), synthesise(generator, labels, style.expand(5, -1)))
    mu = encode_styles(encoder, images)
    assert mu.shape == (5, cp.Z_DIM)
    assert torch.equal(encode_styles(encoder, images, sample=True, seed=1),
                       encode_styles(encoder, images, sample=True, seed=1))
    with pytest.raises(ValueError, match=r"styles must be a tensor of shape \(N, z_dim=8\)"):
        synthesise(generator, labels, torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"one row per label map \(5\)"):
        synthesise(generator, labels, torch.zeros(2, cp.Z_DIM))
    with pytest.raises(TypeError, match=r"images must be a torch.Tensor"):
        encode_styles(encoder, images.numpy())


# ----------------------------------------------------------------------------- the label VAE


def test_label_vae_shapes_and_valid_decodes(crops):
    torch.manual_seed(0)
    model = LabelVAE(size=cp.SIZE, latent_dim=3, channels=8)
    mu, log_var = model.encode(crops.labels[:4])
    assert mu.shape == log_var.shape == (4, 3)
    assert model.decode(mu).shape == (4, 4, cp.SIZE, cp.SIZE)
    samples = model.sample(6, seed=2)
    assert samples.shape == (6, cp.SIZE, cp.SIZE) and samples.dtype == torch.int64
    assert int(samples.min()) >= 0 and int(samples.max()) <= 3
    assert torch.equal(samples, model.sample(6, seed=2))
    path = model.interpolate(crops.labels[0], crops.labels[1], steps=5)
    assert path.shape == (5, cp.SIZE, cp.SIZE)
    with pytest.raises(ValueError, match=rf"labels must have shape \(B, {cp.SIZE}, {cp.SIZE}\)"):
        model.encode(crops.labels[:, :16])
    with pytest.raises(ValueError, match=r"z must be a tensor of shape \(B, latent_dim=3\)"):
        model.decode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"size must be divisible by 16"):
        LabelVAE(size=20)
    with pytest.raises(ValueError, match=r"steps must be an integer >= 2"):
        model.interpolate(crops.labels[0], crops.labels[1], steps=1)


def test_label_vae_training_moves_every_parameter_and_lowers_the_loss(crops):
    torch.manual_seed(0)
    model = LabelVAE(size=cp.SIZE, latent_dim=4, channels=8)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    history = train_label_vae(model, crops.labels, steps=30, batch_size=16, seed=0, progress=False)
    assert all(not torch.equal(p, before[name]) for name, p in model.named_parameters())
    assert np.mean(history["loss"][-5:]) < np.mean(history["loss"][:5])
    loss, parts = label_vae_loss(model, crops.labels[:8])
    assert parts["kl"] >= 0 and float(loss.detach()) >= parts["reconstruction"]


def test_the_shipped_label_vae_reconstructs_and_samples_rings():
    model = load_synthesis("label_vae")
    labels = cp.sample_crops(100, seed=77, phase=None).labels
    with torch.no_grad():
        reconstruction = model.decode_labels(model.encode(labels)[0])
    from genlib.metrics.segmentation import dice_per_class
    assert float(dice_per_class(reconstruction, labels).mean()) > 0.9
    samples = model.sample(100, seed=5)
    assert sum(is_one_ring(m) for m in samples) >= 80


def test_the_shipped_lge_generator_draws_bright_scar():
    generator, encoder = load_synthesis("lge_spade")
    assert generator.n_labels == 5
    labels = add_scar(cp.sample_crops(30, seed=78).labels, "RCA", width_deg=120.0)
    images = synthesise(generator, labels, prior_styles(30, seed=0))
    assert images[labels[:, None] == SCAR].mean() > images[labels[:, None] == 2].mean() + 0.3
    assert encoder(images)[0].shape == (30, cp.Z_DIM)


def test_load_synthesis_errors(tmp_path):
    with pytest.raises(ValueError, match=r"name must be one of 'label_vae', 'lge_spade'"):
        load_synthesis("spade")
    with pytest.raises(FileNotFoundError, match=r"python -m tools.weights synthesis"):
        load_synthesis("label_vae", tmp_path)


def test_the_builder_writes_weights_that_load_and_is_deterministic(tmp_path):
    import tools.weights_synthesis as builder

    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir(), second.mkdir()
    written = builder.build(first, short=True, jobs=1)
    builder.build(second, short=True, jobs=1)
    assert sorted(p.name for p in written) == sorted(f"synthesis_{name}.pt" for name in sp.MODELS)
    assert set(sp.scenario_provenance(first)) == set(sp.SCENARIO_MODELS)  # the scenario models' training data
    for name in sp.MODELS:
        a = torch.load(sp.weights_path(name, first), weights_only=True)
        b = torch.load(sp.weights_path(name, second), weights_only=True)
        assert all(torch.equal(a[key][k], b[key][k]) for key in a for k in a[key])
    assert load_synthesis("label_vae", first).sample(2).shape == (2, cp.SIZE, cp.SIZE)
    generator, _ = load_synthesis("lge_spade", first)
    assert generator(add_scar(cp.sample_crops(2).labels, "LAD")).shape == (2, 1, cp.SIZE, cp.SIZE)
    with pytest.raises(ValueError, match=r"only must list stages among"):
        builder.build(tmp_path, short=True, only=("gan",))
