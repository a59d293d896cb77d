"""Unit 08: genlib.families (recipes, one evaluation for four families), its weights builder and its table."""
import json
import math

import pytest
import torch

from genlib import families
from genlib.data import load_digits
from genlib.metrics import bits_per_dim
from genlib.models import VAE, ConvGenerator, Flow, GaussianDiffusion
from tests.conftest import ROOT

TINY = {"vae": dict(hidden_dim=16, epochs=1, iw_samples=20), "gan": dict(channels=8, steps=2),
        "flow": dict(n_couplings=2, hidden=8, epochs=1, iw_samples=20), "diffusion": dict(T=4, channels=8, epochs=1)}


@pytest.fixture(scope="module")
def x_levels():
    return load_digits("test", scale="levels")[0][:24]  # (24, 64), levels 0..16


def tiny(family):
    config = families.recipe(family, **TINY[family])
    return families.build(family, config, seed=0).eval(), config


def test_every_family_is_the_class_of_the_unit_that_teaches_it():
    expected = {"vae": VAE, "flow": Flow, "diffusion": GaussianDiffusion}
    for family, cls in expected.items():
        assert type(families.build(family)) is cls, f"{family} should be built from {cls.__name__}"
    assert type(families.build("gan")["generator"]) is ConvGenerator


def test_recipe_and_family_errors_name_the_choices():
    with pytest.raises(ValueError, match="family must be one of"):
        families.build("autoregressive")
    with pytest.raises(ValueError, match=r"unknown recipe keys \['epoch'\].*its keys are"):
        families.recipe("vae", epoch=3)
    assert families.recipe("flow", epochs=3)["epochs"] == 3 and families.RECIPES["flow"]["epochs"] != 3
    with pytest.raises(ValueError, match="n must be a positive integer"):
        families.sample_images("vae", families.build("vae"), 0)


@pytest.mark.parametrize("family", families.FAMILIES)
def test_samples_and_latent_walks_are_images_in_the_unit_interval(family):
    model, _ = tiny(family)
    images = families.sample_images(family, model, 5, seed=3)
    assert images.shape == (5, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, families.sample_images(family, model, 5, seed=3)), "a seed must fix the samples"
    z = torch.randn(3, families.latent_dim(family, model))
    walk = families.decode_latents(family, model, z)
    assert walk.shape == (3, 1, 8, 8) and walk.min() >= 0 and walk.max() <= 1
    if family in ("flow", "diffusion"):  # on the 17 levels, like the data
        assert torch.allclose(walk * 16, (walk * 16).round(), atol=1e-5)


def test_diffusion_walk_holds_the_chain_fixed_but_x_T():
    model, _ = tiny("diffusion")
    z = torch.randn(1, 64)
    twice = families.decode_latents("diffusion", model, torch.cat([z, z]))
    assert torch.equal(twice[0], twice[1]), "two rows with the same x_T must give the same image (same noise per step)"


def test_gan_has_no_likelihood(x_levels):
    model, config = tiny("gan")
    assert families.test_bits_per_dim("gan", model, x_levels, config=config) == {"bound": None, "best": None,
                                                                                 "iw_samples": None}


def test_flow_bound_equals_the_dequantisation_bound_by_hand(x_levels):
    model, config = tiny("flow")
    out = families.test_bits_per_dim("flow", model, x_levels, seed=4, config=config)
    u = torch.rand(x_levels.shape, generator=torch.Generator().manual_seed(5))  # as uniform_dequantize draws it
    v = ((x_levels.double() + u) / 17).float()
    with torch.no_grad():
        by_hand = (-model.log_prob(v).double().mean() + 64 * math.log(17)) / (64 * math.log(2))
    assert out["bound"] == pytest.approx(by_hand.item(), abs=1e-4)
    assert out["best"] <= out["bound"] + 0.02, "the importance-weighted bound should be the tighter one"


def test_vae_bounds_are_the_elbo_and_the_importance_weighted_bound(x_levels):
    model, config = tiny("vae")
    out = families.test_bits_per_dim("vae", model, x_levels, config=config)
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = torch.stack([model.elbo(x_levels / 16) for _ in range(200)]).mean(0)  # Monte Carlo
    assert out["bound"] == pytest.approx(bits_per_dim(-elbo), abs=0.02)
    assert out["best"] < out["bound"], "the IW bound with many samples is tighter than the ELBO"


def test_diffusion_bound_is_the_discretised_negative_elbo(x_levels):
    model, config = tiny("diffusion")
    out = families.test_bits_per_dim("diffusion", model, x_levels, config=config)
    from genlib.models.diffusion import levels_to_signed
    nelbo = model.negative_elbo(levels_to_signed(x_levels.reshape(-1, 1, 8, 8)), n_levels=17,
                                generator=torch.Generator().manual_seed(0))
    assert out["bound"] == out["best"] == pytest.approx(bits_per_dim(nelbo))


def test_sample_quality_floor_and_a_damaged_set():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 4, generator=g, dtype=torch.float64)
    same = families.sample_quality(real, torch.randn(300, 4, generator=g, dtype=torch.float64), n_boot=20)
    shifted = families.sample_quality(real, torch.randn(300, 4, generator=g, dtype=torch.float64) + 2, n_boot=20)
    assert same["fid"] < 0.2 < 4 < shifted["fid"]  # the Fréchet distance of N(0, I) and N(2, I) in 4-D is 16
    assert shifted["fid_low"] <= shifted["fid"] <= shifted["fid_high"]
    assert shifted["precision"] < same["precision"] and shifted["kid"] > same["kid"]


@pytest.mark.parametrize("family", families.FAMILIES)
def test_save_and_load_round_trip_in_half_precision(tmp_path, family):
    model, config = tiny(family)
    path = families.save(family, model, tmp_path / "m.pt", config)
    loaded = families.load(family, path)
    net, back = (model["generator"], loaded["generator"]) if family == "gan" else (model, loaded)
    for (name, a), b in zip(net.state_dict().items(), back.state_dict().values()):
        if a.is_floating_point():
            assert torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-4), name
        else:
            assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="holds the"):
        families.load("vae" if family != "vae" else "flow", path)


def test_missing_weights_say_how_to_build_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="make weights"):
        families.load("vae", tmp_path / "none.pt")


def test_weights_builder_short_mode_writes_loadable_small_files(tmp_path):
    import tools.weights_families as builder

    written = builder.build(tmp_path, short=True)
    assert sorted(p.name for p in written) == sorted(f"families_{f}.pt" for f in families.FAMILIES)
    assert sum(p.stat().st_size for p in written) < 2_000_000, "unit 08's weights should stay under 2 MB"
    for family in families.FAMILIES:
        images = families.sample_images(family, families.load(family, tmp_path / f"families_{family}.pt"), 4)
        assert images.shape == (4, 1, 8, 8)


def test_every_parameter_of_the_shipped_recipes_learns():
    """One optimiser step of each family's training loss changes every parameter it samples with."""
    for family in ("vae", "flow", "diffusion"):
        model, _ = tiny(family)
        model.train()
        x = load_digits("train", scale="levels")[0][:16]
        if family == "vae":
            loss = model.loss(x / 16)
        elif family == "flow":
            from genlib.metrics import uniform_dequantize
            model(uniform_dequantize(x))  # ActNorm initialisation
            loss = -model.log_prob(uniform_dequantize(x)).mean()
        else:
            from genlib.models.diffusion import levels_to_signed
            loss = model.loss(levels_to_signed(x.reshape(-1, 1, 8, 8)))
        loss.backward()
        silent = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
        assert not silent, f"{family}: no gradient reaches {silent}"


TABLE = ROOT / "genlib" / "tables" / "unit08_families_table.json"


@pytest.mark.skipif(not TABLE.exists(), reason="genlib/tables/unit08_families_table.json not built (python bench/run.py unit08_families)")
def test_table_is_complete_and_consistent():
    table = json.loads(TABLE.read_text())
    assert set(table["families"]) == set(families.FAMILIES)
    for family, summary in table["families"].items():
        runs = [r for r in table["runs"] if r["family"] == family]
        seeds = sorted(r["seed"] for r in runs)
        assert seeds and set(seeds) <= set(table["seeds"]) and table["seeds"] == [0, 1, 2]
        assert summary["seeds"] == seeds and summary["n_seeds"] == len(seeds)
        if table["complete"]:
            assert seeds == [0, 1, 2]
        assert summary["fid_mean"] == pytest.approx(sum(r["fid"] for r in runs) / len(runs))
        if family != "gan":
            assert summary["bits_best_mean"] == pytest.approx(sum(r["bits_best"] for r in runs) / len(runs))
    assert table["recipes"] == json.loads(json.dumps(families.RECIPES)), "the table was made with other recipes: rerun the bench"


@pytest.mark.skipif(not TABLE.exists() or not all(families.weights_path(f).exists() for f in families.FAMILIES),
                    reason="needs the table and the shipped weights")
def test_shipped_figures_recomputed_agree_with_the_table():
    """What the lecture recomputes from weights/ equals the table's 'shipped' rows (one source)."""
    from bench.unit08_families import evaluate

    torch.set_num_threads(1)
    table = json.loads(TABLE.read_text())
    for family in ("vae", "gan", "flow"):  # the diffusion model's figures are checked by the lecture itself
        stored = table["shipped"][family]
        again = evaluate(family, families.load(family), 0)
        for key in ("bits_bound", "bits_best", "fid", "kid", "precision", "recall"):
            if stored[key] is None:
                assert again[key] is None
            else:
                assert again[key] == pytest.approx(stored[key], rel=1e-6, abs=1e-9), f"{family} {key}"
