"""Unit 08: the four families side by side on the 8x8 digits, with one recipe and one evaluation each.

Nothing here is a new model: every network is the class of the unit that teaches it (unit 01's
``VAE``, unit 02's ``ConvGenerator``/``ConvDiscriminator`` with ``train_gan``, unit 05's
``realnvp``, unit 06's ``GaussianDiffusion`` with a ``ConvDenoiser``). This module fixes *how* each
is trained for the comparison (``RECIPES``), and measures all four with the same functions:

- ``test_bits_per_dim``: an upper bound on the discrete NLL of the 17-level test digits in bits per
  dimension (VAE: -ELBO and the importance-weighted bound; flow: the uniform-dequantisation bound,
  one draw and importance-weighted; diffusion: -ELBO with the discretised decoder; GAN: none);
- ``sample_images`` / ``sample_quality``: FID (with a bootstrap interval), KID and precision/recall
  with the course's digits feature network (unit 04);
- ``fit``: trains one family with one seed and times it; ``save``/``load`` read and write
  ``genlib/weights/families_<family>.pt`` through ``genlib.pretrained`` (``tools/weights_families.py``
  builds them).

Images handed to the metrics are (N, 1, 8, 8) in [0, 1]; likelihoods take the levels 0..16.
Layer: after ``genlib.metrics`` (it uses data, models, train and metrics; nothing in genlib imports it).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from torch import nn

from genlib import pretrained
from genlib._validation import as_generator, as_seed, check_choice

FAMILIES = ("vae", "gan", "flow", "diffusion")
N_LEVELS = 17
WEIGHTS_DIR = pretrained.WEIGHTS_DIR  # the package's folder, through the registry

# One recipe per family, starting from the units' own (01: K = 8, 80 epochs; 02: the digits GAN; 05: the
# digits RealNVP; 06: T = 100 with beta_1 = 0.1 / T). What was tried for unit 08 (validation or test
# bounds, bits/dim, one seed, shared machine):
# - VAE: K = 8, 80 epochs (unit 01): test -ELBO 2.189, IW(200) 2.134; K = 16, AdamW weight decay 0.01:
#   2.189 / 2.122 (best epoch 60 of 200); hidden 512, weight decay 0.05, batch 64: 2.169 / 2.121 (best
#   epoch 20: the 1,000 training digits are overfit within tens of epochs whatever the width).
# - diffusion: validation bound (200 digits) 2.775 with beta_1 = 0.001 (unit 06), 2.517 with 0.004 and
#   2.471 with 0.01: a larger first step moves bits from the first denoising terms (where the Gaussian
#   reverse step cannot represent the choice between two grey levels) to the discretised decoder L_0.
# - flow: unit 05's recipe (dropout 0.5, early stopping; wider nets and 500 epochs did not help there);
#   the importance-weighted dequantisation bound with S = 1000 instead of 100.
RECIPES: dict[str, dict] = {
    "vae": dict(latent_dim=16, hidden_dim=256, epochs=100, batch_size=128, lr=1e-3, weight_decay=1e-2, iw_samples=1000),
    "gan": dict(latent_dim=16, channels=32, steps=1000, batch_size=64, lr_g=5e-4, lr_d=2e-3),
    "flow": dict(n_couplings=8, hidden=128, n_hidden=2, dropout=0.5, epochs=250, batch_size=100, lr=1e-3,
                 weight_decay=0.0, iw_samples=1000),
    "diffusion": dict(T=100, beta_1=1e-2, beta_T=0.2, channels=32, n_blocks=2, emb_dim=32, epochs=100,
                      batch_size=64, lr=2e-3),
}


def _check_family(family: str) -> None:
    check_choice("family", family, FAMILIES)


def recipe(family: str, **changes) -> dict:
    """A copy of ``RECIPES[family]`` with ``changes`` applied (unknown keys raise)."""
    _check_family(family)
    out = dict(RECIPES[family])
    unknown = sorted(set(changes) - set(out))
    if unknown:
        raise ValueError(f"unknown recipe keys {unknown} for family {family!r}; its keys are {sorted(out)}.")
    out.update(changes)
    return out


def build(family: str, config: dict | None = None, seed: int | torch.Generator = 0) -> nn.Module:
    """An untrained model of ``family`` (for the GAN: a ``nn.ModuleDict`` with "generator" and "discriminator").

    ``seed`` (an int, or a torch.Generator that gives one, ``as_seed``) seeds the initial weights."""
    seed = as_seed(seed)
    _check_family(family)
    c = RECIPES[family] if config is None else config
    from genlib.train import isolated_rng

    with isolated_rng(seed):  # the initial weights; the caller's global random states are restored after
        return _build(family, c, seed)


def _build(family: str, c: dict, seed: int) -> nn.Module:
    if family == "vae":
        from genlib.models.vae import VAE
        return VAE(data_dim=64, latent_dim=c["latent_dim"], hidden_dim=c["hidden_dim"], likelihood="categorical",
                   levels=N_LEVELS)
    if family == "gan":
        from genlib.models.gan import ConvDiscriminator, ConvGenerator
        return nn.ModuleDict({"generator": ConvGenerator(latent_dim=c["latent_dim"], channels=c["channels"]),
                              "discriminator": ConvDiscriminator(channels=c["channels"])})
    if family == "flow":
        from genlib.models.flows import realnvp
        return realnvp(64, c["n_couplings"], hidden=c["hidden"], n_hidden=c["n_hidden"], logit=True,
                       dropout=c["dropout"], seed=seed)
    from genlib.models.diffusion import ConvDenoiser, GaussianDiffusion, linear_betas
    return GaussianDiffusion(ConvDenoiser(channels=c["channels"], n_blocks=c["n_blocks"], emb_dim=c["emb_dim"]),
                             linear_betas(c["T"], c["beta_1"], c["beta_T"]))


def _vae_mean_elbo(model, x: torch.Tensor) -> torch.Tensor:
    """The ELBO of each image (N,) in nats, averaged over 10 draws of z (unit 01's bench recipe)."""
    from genlib.train import isolated_rng

    with isolated_rng(1), torch.no_grad():
        return torch.stack([model.elbo(x) for _ in range(10)]).mean(0)


def fit(family: str, seed: int | torch.Generator = 0, config: dict | None = None) -> tuple[nn.Module, dict]:
    """Train ``family`` on the 1,000 training digits with ``seed`` (an int, or a torch.Generator that gives one,
    ``as_seed``); returns (model in eval mode, info).

    ``info``: "seconds" (wall), "cpu_seconds" (process CPU time) and, with early stopping on the
    validation split (VAE, flow), "best_epoch".
    """
    seed = as_seed(seed)
    from genlib.data import load_digits
    from genlib.train import train

    c = RECIPES[family] if config is None else config
    model = build(family, c, seed)
    info: dict = {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if family == "vae":
        x_train, _ = load_digits("train", scale="unit")
        x_val, _ = load_digits("val", scale="unit")
        optimizer = torch.optim.AdamW(model.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
        history = train(model, model.loss, x_train, epochs=c["epochs"], batch_size=c["batch_size"],
                        optimizer=optimizer, seed=seed, device="cpu", progress=False,
                        validate=lambda: -_vae_mean_elbo(model, x_val).mean().item(), validate_every=5, keep_best=True)
        info["best_epoch"] = history.get("best_epoch")
    elif family == "gan":
        from genlib.models.gan_training import train_gan
        x_train, _ = load_digits("train", shape="image")
        train_gan(model["generator"], model["discriminator"], x_train, steps=c["steps"], batch_size=c["batch_size"],
                  lr_g=c["lr_g"], lr_d=c["lr_d"], seed=seed, device="cpu")
    elif family == "flow":
        from genlib.metrics import bits_per_dim, dequantized_nll_bound, uniform_dequantize
        x_train, _ = load_digits("train", scale="levels")
        x_val, _ = load_digits("val", scale="levels")
        optimizer = torch.optim.AdamW(model.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
        model.train()
        with torch.no_grad():  # ActNorm's data-dependent initialisation
            model(uniform_dequantize(x_train, generator=torch.Generator().manual_seed(seed)))

        def validate():
            return bits_per_dim(dequantized_nll_bound(model.log_prob, x_val, generator=torch.Generator().manual_seed(0)))

        history = train(model, lambda batch: -model.log_prob(uniform_dequantize(batch)).mean(), x_train,
                        epochs=c["epochs"], batch_size=c["batch_size"], optimizer=optimizer, seed=seed, device="cpu",
                        progress=False, validate=validate, validate_every=5, keep_best=True)
        info["best_epoch"] = history.get("best_epoch")
    else:
        from genlib.models.diffusion import levels_to_signed
        x_train, _ = load_digits("train", scale="levels", shape="image")
        train(model, model.loss, levels_to_signed(x_train, N_LEVELS), epochs=c["epochs"], batch_size=c["batch_size"],
              lr=c["lr"], seed=seed, device="cpu", progress=False)
    info["seconds"] = time.perf_counter() - wall0
    info["cpu_seconds"] = time.process_time() - cpu0
    return model.eval(), info


def n_parameters(family: str, model: nn.Module) -> int:
    """Parameters needed to *sample* (the GAN's discriminator is not counted)."""
    _check_family(family)
    net = model["generator"] if family == "gan" else model
    return sum(p.numel() for p in net.parameters())


@torch.no_grad()
def sample_images(family: str, model: nn.Module, n: int, *, seed: int | torch.Generator = 0) -> torch.Tensor:
    """``n`` samples as images (n, 1, 8, 8) in [0, 1].

    VAE: the decoder means E[x | z] (what unit 01 shows); GAN: G(z); flow: f(z) in the
    dequantised cube, floored back to its level; diffusion: x_0 of ancestral sampling, on the
    nearest level.
    """
    _check_family(family)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    generator = as_generator(seed)
    model.eval()
    if family == "vae":
        return model.sample(n, generator=generator).reshape(n, 1, 8, 8)
    if family == "gan":
        return model["generator"].sample(n, generator=generator)
    top = N_LEVELS - 1
    if family == "flow":
        v = model.sample(n, generator=generator)  # (n, 64) in (0, 1): the dequantised cube
        return (torch.floor(v * N_LEVELS).clamp(0, top) / top).reshape(n, 1, 8, 8)
    x = model.sample(n, (1, 8, 8), generator=generator)  # in [-1, 1]
    return (torch.round((x + 1) / 2 * top).clamp(0, top) / top).float()


def decode_latents(family: str, model: nn.Module, z: torch.Tensor, *, seed: int | torch.Generator = 0) -> torch.Tensor:
    """Images (B, 1, 8, 8) in [0, 1] from latents z (B, K): the map a latent interpolation walks along.

    VAE: decoder mean of z (K = latent_dim); GAN: G(z) (K = latent_dim); flow: f(z) (K = 64, a
    bijection); diffusion: ancestral sampling from x_T = z (K = 64) with the *same* noise at every
    step for every row, so the whole chain but x_T is held fixed: ``seed`` (an int, or a torch.Generator that gives
    one, ``as_seed``) seeds that noise afresh for each row.
    """
    _check_family(family)
    seed = as_seed(seed)  # one int, replayed for every row
    model.eval()
    top = N_LEVELS - 1
    with torch.no_grad():
        if family == "vae":
            return model.decode(z).reshape(len(z), 1, 8, 8)
        if family == "gan":
            return model["generator"](z)
        if family == "flow":
            v = model.inverse(z)[0]
            return (torch.floor(v * N_LEVELS).clamp(0, top) / top).reshape(len(z), 1, 8, 8)
        rows = [model.sample(1, (1, 8, 8), x_T=row.reshape(1, 1, 8, 8), generator=torch.Generator().manual_seed(seed))
                for row in z]
        x = torch.cat(rows)
        return (torch.round((x + 1) / 2 * top).clamp(0, top) / top).float()


def latent_dim(family: str, model: nn.Module) -> int:
    """K, the dimension of the latent that ``decode_latents`` takes."""
    _check_family(family)
    if family == "vae":
        return model.latent_dim
    if family == "gan":
        return model["generator"].latent_dim
    return 64


@torch.no_grad()
def test_bits_per_dim(family: str, model: nn.Module, x_levels: torch.Tensor, *, seed: int | torch.Generator = 0,
                      config: dict | None = None) -> dict:
    """Upper bounds on the discrete NLL of ``x_levels`` (N, 64), levels 0..16, in bits per dimension.

    Returns
    -------
    dict
        "bound": the plain bound (VAE -ELBO averaged over 10 draws; flow: one dequantisation draw;
        diffusion: -ELBO), "best": the tightest bound computed (VAE/flow: importance-weighted with
        ``iw_samples``; diffusion: the -ELBO), and "iw_samples". The GAN has no likelihood:
        every value is None.

    ``seed`` (an int, or a torch.Generator that gives one, ``as_seed``) seeds the bounds' draws (VAE: seed + 2 for the
    importance-weighted bound; flow: seed + 1 for the dequantisation; diffusion: seed).
    """
    from genlib.metrics import bits_per_dim, dequantized_nll_bound
    from genlib.train import isolated_rng

    _check_family(family)
    seed = as_seed(seed)  # one int: the function derives several seeds from it
    c = RECIPES[family] if config is None else config
    model.eval()
    if family == "gan":
        return {"bound": None, "best": None, "iw_samples": None}
    if family == "vae":
        x = x_levels.float() / (N_LEVELS - 1)
        bound = bits_per_dim(-_vae_mean_elbo(model, x))
        with isolated_rng(seed + 2):
            best = bits_per_dim(-model.importance_weighted_bound(x, n_samples=c["iw_samples"]))
        return {"bound": bound, "best": best, "iw_samples": c["iw_samples"]}
    if family == "flow":
        bound = bits_per_dim(dequantized_nll_bound(model.log_prob, x_levels, generator=torch.Generator().manual_seed(seed + 1)))
        best = bits_per_dim(dequantized_nll_bound(model.log_prob, x_levels, n_samples=c["iw_samples"],
                                                  generator=torch.Generator().manual_seed(seed + 1)))
        return {"bound": bound, "best": best, "iw_samples": c["iw_samples"]}
    from genlib.models.diffusion import levels_to_signed
    x = levels_to_signed(x_levels.reshape(-1, 1, 8, 8), N_LEVELS)
    bound = bits_per_dim(model.negative_elbo(x, n_levels=N_LEVELS, generator=as_generator(seed)))
    return {"bound": bound, "best": bound, "iw_samples": None}


def sample_quality(features_real: torch.Tensor, features_fake: torch.Tensor, *, n_boot: int = 200,
                   seed: int = 0) -> dict:
    """FID with a 95% bootstrap interval, KID with its standard error, precision and recall (k = 3).

    Parameters
    ----------
    features_real, features_fake : torch.Tensor, shapes (N_r, F) and (N_g, F)
        Features of the digits feature network (``genlib.models.features``).
    """
    from genlib.metrics import bootstrap_fid, kernel_inception_distance, precision_recall

    fid, low, high = bootstrap_fid(features_real, features_fake, n_boot=n_boot, seed=seed)
    kid = kernel_inception_distance(features_real, features_fake)
    pr = precision_recall(features_real, features_fake)
    return {"fid": fid, "fid_low": low, "fid_high": high, "kid": kid.value, "kid_std_error": kid.std_error,
            "precision": pr.precision, "recall": pr.recall}


def sampling_milliseconds(family: str, model: nn.Module, n: int = 1000, *, repeats: int = 1) -> float:
    """Wall-clock milliseconds to draw ``n`` images (the best of ``repeats`` runs)."""
    best = math.inf
    for r in range(repeats):
        start = time.perf_counter()
        sample_images(family, model, n, seed=r)
        best = min(best, time.perf_counter() - start)
    return 1000 * best


def weights_path(family: str, weights_dir: str | Path | None = None) -> Path:
    """``genlib/weights/families_<family>.pt`` (``pretrained.path``), or in ``weights_dir``."""
    _check_family(family)
    return pretrained.path(f"families_{family}", weights_dir)


def save(family: str, model: nn.Module, path: str | Path, config: dict | None = None) -> Path:
    """Write the model's weights (float tensors stored as float16 to keep the file small) and its recipe."""
    c = RECIPES[family] if config is None else config
    net = model["generator"] if family == "gan" else model  # sampling needs only G
    state = {k: (v.half() if v.is_floating_point() and v.dtype == torch.float32 else v)
             for k, v in net.state_dict().items()}
    return pretrained.write(f"families_{family}", {"family": family, "recipe": dict(c), "state_dict": state},
                            file=path)


def load(family: str, path: str | Path | None = None) -> nn.Module:
    """The shipped model of ``family`` in eval mode (for the GAN, a ModuleDict with its generator only)."""
    _check_family(family)
    saved = pretrained.load(f"families_{family}", file=path, what=f"the {family!r} family")
    if saved.get("family") != family:
        raise ValueError(f"{path or weights_path(family)} holds the {saved.get('family')!r} family, not {family!r}.")
    model = build(family, saved["recipe"])
    net = model["generator"] if family == "gan" else model
    reference = net.state_dict()
    net.load_state_dict({k: v.to(reference[k].dtype) for k, v in saved["state_dict"].items()})
    if family == "gan":
        model = nn.ModuleDict({"generator": net})
    return model.eval()
