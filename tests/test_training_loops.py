"""Every trainer of genlib runs through genlib.train.run_steps and leaves the caller's global random state as it
found it; the scenario's SPADE recipe is pinned step for step to its one shared step."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from genlib.train import seed_everything


def _data(seed, *shape):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _crop_size():
    from genlib.models import conditional_pretrained as cp
    return cp.SIZE  # the cardiac crops' size, which the SPADE generators are built for


def _maps(seed, n, size=None):
    size = _crop_size() if size is None else size
    return torch.randint(4, (n, size, size), generator=torch.Generator().manual_seed(seed))


def _train():
    from genlib.train import train
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 1))
    loss = lambda x: model(x).pow(2).mean() + 0 * torch.randn(())  # noqa: E731 (draws from the global generator)
    return lambda **kw: train(model, loss, _data(1, 20, 4), epochs=2, batch_size=8, progress=False, **kw)


def _gan():
    from genlib.models.gan import MLPDiscriminator, MLPGenerator
    from genlib.models.gan_training import train_gan
    nets = MLPGenerator(hidden=8, depth=1), MLPDiscriminator(hidden=8, depth=1)
    return lambda **kw: train_gan(*nets, _data(1, 64, 2), steps=2,
              batch_size=16, snapshot_every=1, n_snapshot=4, ema_decay=0.9, **kw)


def _cgan():
    from genlib.models.cgan import ConditionalDiscriminator, ConditionalGenerator, train_cgan
    nets = ConditionalGenerator(latent_dim=4, channels=8), ConditionalDiscriminator(channels=8)
    return lambda **kw: train_cgan(*nets,
               _data(1, 16, 1, 8, 8), torch.arange(16) % 10, steps=2, batch_size=4, **kw)


def _spade():
    from genlib.models import conditional_pretrained as cp
    from genlib.models.conditional_training import train_spade
    nets = cp.spade_generator(), cp.style_encoder(), cp.patch_discriminator(1)
    return lambda **kw: train_spade(*nets, _maps(1, 6), _data(2, 6, 1, _crop_size(), _crop_size()),
                steps=1, batch_size=2, **kw)


def _pix2pix():
    from genlib.models import conditional_pretrained as cp
    from genlib.models.conditional_training import train_pix2pix
    nets = cp.translation_generator(), cp.patch_discriminator(2)
    return lambda **kw: train_pix2pix(*nets, _data(1, 6, 1, 32, 32), _data(2, 6, 1, 32, 32),
                  steps=1, batch_size=2, **kw)


def _cyclegan():
    from genlib.models import conditional_pretrained as cp
    from genlib.models.conditional_training import train_cyclegan
    nets = cp.translation_generator(), cp.translation_generator(), cp.patch_discriminator(1), cp.patch_discriminator(1)
    return lambda **kw: train_cyclegan(*nets, _data(1, 6, 1, 32, 32), _data(2, 6, 1, 32, 32), steps=1, batch_size=2,
                                  pool_size=1, **kw)


def _vaegan():
    from genlib.models.vaegan import VAEGAN, train_vaegan
    model = VAEGAN(latent_dim=2, hidden=16, channels=8)
    return lambda **kw: train_vaegan(model, _data(1, 16, 1, 8, 8), steps=2, batch_size=4, **kw)


def _label_vae():
    from genlib.synthesis.label_vae import LabelVAE, train_label_vae
    model = LabelVAE(n_labels=4, size=32, latent_dim=4, channels=8)
    return lambda **kw: train_label_vae(model, _maps(1, 8, 32), steps=2, batch_size=4,
                    progress=False, **kw)


def _segmenter():
    from genlib.models.unet import UNet, fit_segmenter
    model = UNet(base_channels=4, depth=2)
    return lambda **kw: fit_segmenter(model, _data(1, 8, 1, 16, 16), _maps(2, 8, 16), epochs=1, batch_size=4,
                  progress=False, **kw)


def _levels(n=24):
    return torch.randint(17, (n, 64), generator=torch.Generator().manual_seed(1)).float()


def _pixelcnn():
    from genlib.models.pixelcnn import fit_pixelcnn
    x = _levels()
    return lambda **kw: fit_pixelcnn(x[:16], x[16:], epochs=1, batch_size=8, channels=8, n_layers=1, head_channels=8, **kw)


def _pixelvae():
    from genlib.models.pixelvae import fit_pixelvae
    x = _levels()
    return lambda **kw: fit_pixelvae(x[:16], x[16:], epochs=1, batch_size=8, validate_every=1, latent_dim=2, hidden_dim=8,
                                channels=8, n_layers=1, head_channels=8, **kw)


def _vdm():
    from genlib.models.diffusion.vdm import fit_vdm
    x = _levels().reshape(-1, 1, 8, 8) / 8 - 1
    return lambda **kw: fit_vdm(x[:16], x[16:], epochs=1, batch_size=8, eval_every=1, eval_draws=2, channels=8, n_blocks=1,
                           emb_dim=8, **kw)


def _decoder():
    from genlib.models.diffusion.decoder import fit_categorical_decoder
    x = _levels().reshape(-1, 1, 8, 8) / 8 - 1
    betas = torch.linspace(1e-3, 0.02, 10, dtype=torch.float64)
    return lambda **kw: fit_categorical_decoder(lambda x_t, t: 0.1 * x_t, betas, x[:16], x[16:], channels=8, epochs=1,
                                           batch_size=8, **kw)


def _scenario_nets():
    from genlib.models import conditional_pretrained as cp
    from genlib.synthesis import pretrained as sp
    return cp.spade_generator(), sp.scenario_encoder(), cp.patch_discriminator(1), cp.patch_discriminator(1)


def _scenario():
    from genlib.synthesis.scenario_training import train_scenario_spade
    nets = _scenario_nets()
    return lambda **kw: train_scenario_spade(*nets, _maps(1, 6), _data(2, 6, 1, _crop_size(), _crop_size()), _data(3, 6, 1, _crop_size(), _crop_size()), steps=1,
                         batch_size=2, **kw)


def _style():
    from genlib.synthesis.style_recipes import RECIPES, train_style_spade
    nets = _scenario_nets()
    return lambda **kw: train_style_spade(*nets, _maps(1, 6), _data(2, 6, 1, _crop_size(), _crop_size()), _data(3, 6, 1, _crop_size(), _crop_size()), steps=1,
                      batch_size=2, **RECIPES["style augmentation + prior regression"], **kw)


def _fit_flow():
    from genlib.models.flows import fit_flow, realnvp
    flow = realnvp(2, n_couplings=2, hidden=8)
    return lambda **kw: fit_flow(flow, lambda n: torch.randn(n, 2), steps=3, batch_size=16, **kw)


def _dequantized_flow():
    from genlib.models.flow_dequant import ARSplineFlow, DequantizedFlow, Dequantizer, fit_dequantized_flow
    model = DequantizedFlow(ARSplineFlow(n_bins=4, channels=8, n_layers=1, head_channels=8),
                            Dequantizer(n_couplings=1, n_bins=4, channels=8, n_layers=1))
    x = _levels(20)
    return lambda **kw: fit_dequantized_flow(model, x[:14], x[14:], epochs=2, batch_size=7, **kw)


def _arm_pools():
    def pool(seed, n):
        return {"images": _data(seed, n, 1, _crop_size(), _crop_size()), "labels": _maps(seed + 50, n)}
    return {"real": pool(1, 8), "reference": pool(2, 8), "unlabelled": pool(3, 6), "synthetic": pool(4, 6)}, pool(5, 4)


def _train_arm():
    from genlib.synthesis.experiment import ExperimentConfig
    from genlib.synthesis.experiment.training import train_arm
    pools, validation = _arm_pools()
    config = ExperimentConfig(steps=2, eval_every=1, batch_size=4)
    return lambda **kw: train_arm("b", pools, config, kw.pop("seed", 0), validation=validation, **kw)


def _families_build():
    from genlib.families import build
    return lambda **kw: build("vae", **{"seed": 3, **kw})


TRAINERS = {"train": _train, "train_gan": _gan, "train_cgan": _cgan, "train_spade": _spade, "train_pix2pix": _pix2pix,
            "train_cyclegan": _cyclegan, "train_vaegan": _vaegan, "train_label_vae": _label_vae,
            "fit_segmenter": _segmenter, "fit_pixelcnn": _pixelcnn, "fit_pixelvae": _pixelvae, "fit_vdm": _vdm,
            "fit_categorical_decoder": _decoder, "train_scenario_spade": _scenario, "train_style_spade": _style,
            "fit_flow": _fit_flow, "fit_dequantized_flow": _dequantized_flow, "train_arm": _train_arm,
            "families.build": _families_build}


@pytest.mark.parametrize("name", list(TRAINERS))
def test_a_trainer_leaves_the_callers_global_random_state_unchanged(name):
    """A caller's draws after the call are the ones it would have made without it (the trainers used to reseed)."""
    seed_everything(2024)
    torch.rand(3)  # a state no seed gives
    call = TRAINERS[name]()  # builds the models (drawing their initial weights)
    np.random.rand(1)  # a NumPy position no seed gives (its key array alone would not show a short draw)
    states = torch.get_rng_state(), np.random.get_state(), random.getstate()
    call()
    assert torch.equal(torch.get_rng_state(), states[0]), f"{name} changed torch's global random state"
    after = np.random.get_state()  # the whole state: key array, position, cached Gaussian
    assert (after[0] == states[1][0] and np.array_equal(after[1], states[1][1])
            and tuple(after[2:]) == tuple(states[1][2:])), f"{name} changed NumPy's global random state"
    assert random.getstate() == states[2], f"{name} changed Python's global random state"


def _original_scenario_spade(nets, site_labels, site_images, target_images, *, steps, batch_size=16, lr=2e-3,
                             l1_weight=10.0, kl_weight=0.05, latent_weight=1.0, style_weight=10.0, seed=0):
    """train_scenario_spade's loop (the first recipe, which trained synthesis_scenario_spade.pt until the style bench
    chose another), written out in full."""
    from genlib.models.translation import lsgan_discriminator_loss, lsgan_generator_loss
    from genlib.models.vae import kl_standard_normal, reparameterize
    from genlib.synthesis.scenario_training import style_distance

    generator, encoder, d_site, d_target = nets
    adam = lambda *ms: torch.optim.Adam([p for m in ms for p in m.parameters()], lr=lr, betas=(0.5, 0.999))  # noqa
    torch.manual_seed(seed)
    rows = torch.Generator().manual_seed(seed)
    opt_g, opt_d = adam(generator, encoder), adam(d_site, d_target)
    for module in nets:
        module.train()
    for _ in range(steps):
        site = torch.randint(len(site_images), (batch_size,), generator=rows)
        other = torch.randint(len(site_images), (batch_size,), generator=rows)
        target = torch.randint(len(target_images), (batch_size,), generator=rows)
        m, x, m_other, u = site_labels[site], site_images[site], site_labels[other], target_images[target]
        mu, log_var = encoder(x)
        fake = generator(m, reparameterize(mu, log_var))
        mu_u, log_var_u = encoder(u)
        z_u = reparameterize(mu_u, log_var_u)
        fake_u = generator(m_other, z_u)
        l1 = (fake - x).abs().mean()
        kl = kl_standard_normal(mu, log_var).mean() + kl_standard_normal(mu_u, log_var_u).mean()
        latent = (encoder(fake_u)[0] - z_u.detach()).abs().mean()
        style = style_distance(fake_u, u)
        g_adv = lsgan_generator_loss(d_site(fake)) + lsgan_generator_loss(d_target(fake_u))
        loss = l1_weight * l1 + kl_weight * kl + latent_weight * latent + style_weight * style + g_adv
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        d_loss = (lsgan_discriminator_loss(d_site(x), d_site(fake.detach()))
                  + lsgan_discriminator_loss(d_target(u), d_target(fake_u.detach())))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()


def test_the_first_scenario_recipe_is_unchanged_step_for_step():
    """train_scenario_spade (through the shared step and run_steps) gives the original loop's parameters exactly.
    train_style_spade's "first" recipe computes the same losses with the KL summed in another order: its
    losses agree to float rounding (its parameters drift further apart, as Adam rescales tiny gradients)."""
    from genlib.synthesis.scenario_training import train_scenario_spade
    from genlib.synthesis.style_recipes import RECIPES, train_style_spade

    data = _maps(1, 8), _data(2, 8, 1, _crop_size(), _crop_size()), _data(3, 6, 1, _crop_size(), _crop_size())
    params, histories = {}, {}
    for path in ("original", "scenario", "style"):
        torch.manual_seed(0)
        nets = _scenario_nets()
        if path == "original":
            _original_scenario_spade(nets, *data, steps=3, batch_size=4, seed=7)
        elif path == "scenario":
            histories[path] = train_scenario_spade(*nets, *data, steps=3, batch_size=4, seed=7)
        else:
            histories[path] = train_style_spade(*nets, *data, steps=3, batch_size=4, seed=7, **RECIPES["first"])
        params[path] = [value.clone() for net in nets for value in net.state_dict().values()]
    assert all(torch.equal(a, b) for a, b in zip(params["original"], params["scenario"]))
    for key, values in histories["scenario"].items():
        assert np.allclose(values, histories["style"][key], rtol=1e-5, atol=1e-7), key


def test_a_generator_seed_trains_as_the_int_it_gives():
    """seed: int | torch.Generator: a Generator seeds a trainer with as_seed(generator), one int drawn from it."""
    from genlib._validation import as_seed
    from genlib.models.flows import fit_flow, realnvp
    from genlib.synthesis.experiment import ExperimentConfig
    from genlib.synthesis.experiment.training import train_arm

    def flow_run(seed):
        flow = realnvp(2, n_couplings=2, hidden=8, seed=1)
        return fit_flow(flow, lambda n: torch.randn(n, 2), steps=3, batch_size=16, seed=seed)["loss"]

    def arm_run(seed):
        pools, validation = _arm_pools()
        net, _ = train_arm("a", pools, ExperimentConfig(steps=2, eval_every=2, batch_size=4), seed,
                           validation=validation)
        return [p.detach().clone() for p in net.parameters()]

    drawn = as_seed(torch.Generator().manual_seed(7))
    assert flow_run(torch.Generator().manual_seed(7)) == flow_run(drawn)
    assert flow_run(drawn) != flow_run(drawn + 1), "the seed must change the run"
    assert all(torch.equal(a, b) for a, b in zip(arm_run(torch.Generator().manual_seed(7)), arm_run(drawn)))
    with pytest.raises(TypeError, match="seed must be an int or a torch.Generator"):
        flow_run(0.5)


def test_a_numpy_integer_seed_trains_as_the_python_int():
    """as_seed gives a Python int for a NumPy integer: the trainers that seed a torch.Generator with it
    (train_pix2pix's batches) accept it and train bitwise as with the int."""
    from genlib.train import as_seed

    assert type(as_seed(np.int64(3))) is int and as_seed(np.int64(3)) == 3
    results = []
    for seed in (np.int64(1), 1):
        seed_everything(11)
        results.append(_pix2pix()(seed=seed))
    assert _same(*results)


# the trainers that take the caller's networks: device=None trains where the first network is (device_of)
DEVICE_OF = {"train_cgan": "genlib.models.cgan", "train_spade": "genlib.models.conditional_training",
             "train_pix2pix": "genlib.models.conditional_training",
             "train_cyclegan": "genlib.models.conditional_training", "train_vaegan": "genlib.models.vaegan",
             "train_label_vae": "genlib.train", "train_scenario_spade": "genlib.synthesis.scenario_training",
             "train_style_spade": "genlib.synthesis.style_recipes"}


@pytest.mark.parametrize("name", list(DEVICE_OF))
def test_a_trainer_trains_where_the_networks_are_by_default(name, monkeypatch):
    """device=None (the default) asks device_of(the first network), as the trainers trained where the caller
    put the networks before they had a device parameter; the networks are not moved to the CPU."""
    import importlib
    import inspect

    import genlib.train

    module = importlib.import_module(DEVICE_OF[name])
    trainer = {"train_label_vae": "genlib.synthesis.label_vae"}.get(name, DEVICE_OF[name])
    assert inspect.signature(getattr(importlib.import_module(trainer), name)).parameters["device"].default is None
    asked, given = [], []
    real_device_of, real_run_steps = genlib.train.device_of, genlib.train.run_steps
    monkeypatch.setattr(module, "device_of", lambda net: asked.append(net) or real_device_of(net))
    run_steps_module = importlib.import_module(trainer)
    if hasattr(run_steps_module, "run_steps"):
        monkeypatch.setattr(run_steps_module, "run_steps", lambda *a, **kw: given.append(kw["device"]) or real_run_steps(*a, **kw))
    else:  # imports it when called
        monkeypatch.setattr(genlib.train, "run_steps", lambda *a, **kw: given.append(kw["device"]) or real_run_steps(*a, **kw))
    TRAINERS[name]()()
    assert len(asked) == 1 and isinstance(asked[0], nn.Module), asked
    assert given == [torch.device("cpu")]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", ["train_pix2pix", "train_label_vae"])
def test_networks_on_the_gpu_train_there_by_default(name):
    """Networks the caller put on the GPU train there and stay there, with data on the CPU."""
    from genlib.models import conditional_pretrained as cp
    from genlib.models.conditional_training import train_pix2pix
    from genlib.synthesis.label_vae import LabelVAE, train_label_vae

    if name == "train_pix2pix":
        nets = cp.translation_generator().cuda(), cp.patch_discriminator(2).cuda()
        train_pix2pix(*nets, _data(1, 6, 1, 32, 32), _data(2, 6, 1, 32, 32), steps=1, batch_size=2)
    else:
        nets = (LabelVAE(n_labels=4, size=32, latent_dim=4, channels=8).cuda(),)
        train_label_vae(nets[0], _maps(1, 8), steps=2, batch_size=4, progress=False)
    assert all(p.device.type == "cuda" for net in nets for p in net.parameters())


def _no_step_calls():
    from genlib.models import conditional_pretrained as cp
    from genlib.models.cgan import ConditionalDiscriminator, ConditionalGenerator, train_cgan
    from genlib.models.conditional_training import train_cyclegan, train_pix2pix, train_spade
    from genlib.models.vaegan import VAEGAN, train_vaegan

    images, pairs = _data(1, 16, 1, 8, 8), (_data(1, 6, 1, 32, 32), _data(2, 6, 1, 32, 32))
    return {
        "train_cgan": lambda: train_cgan(ConditionalGenerator(latent_dim=4, channels=8),
                                         ConditionalDiscriminator(channels=8), images, torch.arange(16) % 10, steps=0),
        "train_spade": lambda: train_spade(cp.spade_generator(), cp.style_encoder(), cp.patch_discriminator(1),
                                           _maps(1, 6), pairs[0], steps=0),
        "train_pix2pix": lambda: train_pix2pix(cp.translation_generator(), cp.patch_discriminator(2), *pairs, steps=0),
        "train_cyclegan": lambda: train_cyclegan(cp.translation_generator(), cp.translation_generator(),
                                                 cp.patch_discriminator(1), cp.patch_discriminator(1), *pairs, steps=0),
        "train_vaegan": lambda: train_vaegan(VAEGAN(latent_dim=2, hidden=16, channels=8), images, steps=0),
    }


@pytest.mark.parametrize("name, keys", [
    ("train_cgan", ["d_loss", "g_loss"]), ("train_spade", ["l1", "kl", "g_adv", "d_loss"]),
    ("train_pix2pix", ["g_loss", "l1", "d_loss"]), ("train_cyclegan", ["g_adv", "cycle", "identity", "d_loss"]),
    ("train_vaegan", ["rec", "kl", "d_loss"])])
def test_steps_0_gives_an_empty_history_as_before(name, keys):
    """These five trainers took steps=0 and returned their history's keys with empty lists (as at 1c942bb)."""
    assert _no_step_calls()[name]() == {key: [] for key in keys}


def _same(a, b) -> bool:
    """Equal results: tensors and weights bitwise, numbers exactly, timings ignored."""
    if isinstance(a, nn.Module):
        return _same(a.state_dict(), b.state_dict())
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        keys = [k for k in a if "seconds" not in str(k)]
        return keys == [k for k in b if "seconds" not in str(k)] and all(_same(a[k], b[k]) for k in keys)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("name", list(TRAINERS))
def test_a_trainer_takes_a_generator_as_the_seed_it_draws(name):
    """seed: int | torch.Generator: every trainer seeds with as_seed(seed), one int drawn from a Generator."""
    from genlib.train import as_seed

    results = []
    drawn = as_seed(torch.Generator().manual_seed(7))
    for seed in (torch.Generator().manual_seed(7), drawn, drawn + 1):
        seed_everything(11)  # the same initial weights for every run
        results.append(TRAINERS[name]()(seed=seed))
    assert _same(*results[:2]), f"{name}(seed=generator) must train as {name}(seed=as_seed(generator))"
    assert not _same(results[1], results[2]), f"{name} must train differently with another seed (seed ignored?)"
    seed_everything(11)
    with pytest.raises(TypeError, match="seed must be an int or a torch.Generator"):
        TRAINERS[name]()(seed=0.5)
