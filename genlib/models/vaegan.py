"""VAE-GAN (Larsen et al., 2016) on the 8x8 digits: the VAE's decoder is the GAN's generator.

A VAE's Gaussian pixel likelihood scores a reconstruction by its squared error, which
rewards blur (the mean of the plausible images). VAE-GAN measures the reconstruction in the
feature space of the GAN's discriminator instead, phi = D's features before its last layer,

    L_rec = 1/2 || phi(x_rec) - phi(x) ||^2,     x_rec = Dec(z), z ~ q(z | x),

and adds the GAN game on reconstructions and on prior samples Dec(z'), z' ~ N(0, I):

    encoder:       KL(q(z | x) || N(0, I)) + L_rec
    decoder (= G): L_rec + gan_weight * [-log D(x_rec) - log D(Dec(z'))]
    discriminator: -log D(x) - log(1 - D(x_rec)) - log(1 - D(Dec(z'))).

With ``gan_weight = 0`` the same code trains a plain VAE with a Gaussian pixel likelihood
(sigma = 0.1), the baseline of the lecture. The encoder it keeps maps an image to a code
of its appearance: unit 07 uses the same idea as the SPADE generator's style encoder.
"""
from __future__ import annotations

import torch
from torch import nn

from genlib.models.gan import ConvDiscriminator, ConvGenerator, discriminator_loss, generator_loss_nonsaturating
from genlib.models.vae import kl_standard_normal, reparameterize
from genlib.train import as_seed, device_of, isolated_rng, run_steps


class VAEGAN(nn.Module):
    """Encoder (MLP), decoder = generator (unit 02's ``ConvGenerator``), discriminator (``ConvDiscriminator``).

    Parameters
    ----------
    latent_dim, hidden, channels : int

    Notes
    -----
    ``encode(x)``: x (B, 1, 8, 8) -> mu, log_var (B, latent_dim); ``decoder(z)`` -> (B, 1, 8, 8) in [0, 1];
    ``features(x)``: (B, 1, 8, 8) -> phi(x) (B, 4 * channels).
    """

    def __init__(self, latent_dim: int = 8, hidden: int = 256, channels: int = 64):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                     nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))
        self.decoder = ConvGenerator(latent_dim, channels)
        self.discriminator = ConvDiscriminator(channels, spectral_norm=True)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = self.encoder(x).chunk(2, dim=1)
        return mu, log_var

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator.net[:-1](x)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode n draws from the prior, shape (n, 1, 8, 8)."""
        return self.decoder.sample(n, generator=generator)


def train_vaegan(model: VAEGAN, images: torch.Tensor, *, steps: int, batch_size: int = 64, lr: float = 1e-3,
                 gan_weight: float = 1.0, seed: int | torch.Generator = 0, device: str | torch.device | None = None,
                 progress: bool = False) -> dict[str, list[float]]:
    """Train a VAE-GAN (``gan_weight > 0``) or, with ``gan_weight = 0``, a VAE with a Gaussian pixel likelihood.

    Parameters
    ----------
    images : torch.Tensor, shape (N, 1, 8, 8), in [0, 1]
    steps, batch_size : int
    lr, gan_weight : float
    seed, device, progress
        As in ``genlib.models.conditional_training.train_spade``: ``seed`` (an int, or a torch.Generator
        that gives one, ``as_seed``) seeds the initial noise and the batches, the caller's global random
        states are restored after; the networks train on ``device`` (default: where the model already is).

    Returns
    -------
    history : dict
        "rec" (the reconstruction term), "kl", "d_loss" (NaN for the VAE): one value per step.
    """
    seed = as_seed(seed)
    gan = gan_weight > 0
    device = device_of(model) if device is None else torch.device(device)

    def step(_: int) -> dict:
        x = images[torch.randint(len(images), (batch_size,))].to(device)
        mu, log_var = model.encode(x)
        x_rec = model.decoder(reparameterize(mu, log_var))  # (B, 1, 8, 8)
        x_prior = model.decoder(torch.randn(batch_size, model.latent_dim).to(device))
        kl = kl_standard_normal(mu, log_var).mean()
        if gan:
            rec = 0.5 * (model.features(x_rec) - model.features(x).detach()).pow(2).sum(1).mean()
            adv = generator_loss_nonsaturating(model.discriminator(x_rec)) \
                + generator_loss_nonsaturating(model.discriminator(x_prior))
        else:
            rec = 0.5 * ((x_rec - x) / 0.1).pow(2).flatten(1).sum(1).mean()  # Gaussian, sigma = 0.1
            adv = torch.zeros(())
        opt_vae.zero_grad()
        (kl + rec + gan_weight * adv).backward()
        opt_vae.step()
        d_loss = torch.full((), float("nan"))
        if gan:
            real_logits = model.discriminator(x)
            d_loss = discriminator_loss(real_logits, model.discriminator(x_rec.detach())) \
                + discriminator_loss(real_logits, model.discriminator(x_prior.detach()))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        return {"rec": rec, "kl": kl, "d_loss": d_loss}

    with isolated_rng(seed):
        opt_vae = torch.optim.Adam([*model.encoder.parameters(), *model.decoder.parameters()], lr=lr,
                                   betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
        run = run_steps(step, steps, modules=(model,), device=device, progress=progress, description="VAE-GAN",
                        check_finite=("rec", "kl") + (("d_loss",) if gan else ()))
    history = {key: run.get(key, []) for key in ("rec", "kl", "d_loss")}  # steps=0: empty lists, as before
    return history
