"""Conditional GANs on the 8x8 digits: G(z | y) and D(x | y).

A conditional GAN (Mirza & Osindero, 2014) plays the GAN game for every class y at once:

    min_G max_D  E_{x, y ~ data}[log D(x | y)] + E_{z, y}[log(1 - D(G(z | y) | y))].

- The generator gets y by **concatenation**: G(z | y) = G([z, onehot(y)]) (unit 02's
  ``ConvGenerator`` with latent_dim + n_classes inputs).
- The discriminator gets y by **projection** (Miyato & Koyama, 2018): with phi(x) the
  features of unit 02's ``ConvDiscriminator`` and psi its last linear layer,
  l(x, y) = psi(phi(x)) + e_y . phi(x), e_y a learned embedding of the class. The inner
  product asks "do these features look like class y?".

The losses are unit 02's, evaluated on (image, label) pairs:
``conditional_discriminator_loss`` = -E log D(x | y) - E log(1 - D(G(z | y) | y)) and
``conditional_generator_loss`` = -E log D(G(z | y) | y) (non-saturating).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from genlib.models.gan import ConvDiscriminator, ConvGenerator, discriminator_loss, generator_loss_nonsaturating
from genlib.train import as_seed, device_of, isolated_rng, run_steps


def _check_labels(labels, n_classes: int, batch: int | None = None) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.ndim != 1:
        got = f"shape {tuple(labels.shape)}, dtype {labels.dtype}" if isinstance(labels, torch.Tensor) \
            else type(labels).__name__
        raise TypeError(f"labels must be a 1-D integer tensor of classes (B,), got {got}. "
                        f"Use torch.tensor([...]) or labels.long().")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0 .. {n_classes - 1}, got values from {int(labels.min())} "
                         f"to {int(labels.max())}.")
    if batch is not None and len(labels) != batch:
        raise ValueError(f"labels must have one class per sample: {batch} samples but {len(labels)} labels.")
    return labels


class ConditionalGenerator(nn.Module):
    """G(z | y) for 8x8 digits: unit 02's ``ConvGenerator`` fed [z, onehot(y)].

    Parameters
    ----------
    latent_dim : int
    n_classes : int
    channels : int

    Notes
    -----
    ``forward(z, labels)``: z (B, latent_dim), labels (B,) int -> images (B, 1, 8, 8) in [0, 1].
    """

    def __init__(self, latent_dim: int = 16, n_classes: int = 10, channels: int = 64):
        super().__init__()
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.net = ConvGenerator(latent_dim + n_classes, channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = _check_labels(labels, self.n_classes, len(z))
        y = F.one_hot(labels, self.n_classes).to(z.dtype)  # (B, n_classes)
        return self.net(torch.cat([z, y], dim=1))  # (B, 1, 8, 8)

    def sample(self, labels: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """One image per label, shape (B, 1, 8, 8), in eval mode and without gradients."""
        labels = _check_labels(labels, self.n_classes)
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        z = torch.randn(len(labels), self.latent_dim, generator=generator).to(device)
        with torch.no_grad():
            images = self(z, labels.to(device))
        self.train(was_training)
        return images


class ConditionalDiscriminator(nn.Module):
    """D(x | y) for 8x8 digits by projection: l(x, y) = psi(phi(x)) + e_y . phi(x).

    phi and psi are unit 02's ``ConvDiscriminator`` (its layers up to the flattened
    features, and its last linear layer).

    Parameters
    ----------
    n_classes : int
    channels : int
    spectral_norm : bool

    Notes
    -----
    ``forward(x, labels)``: x (B, 1, 8, 8), labels (B,) int -> logits (B,).
    """

    def __init__(self, n_classes: int = 10, channels: int = 64, *, spectral_norm: bool = True):
        super().__init__()
        self.n_classes = n_classes
        self.base = ConvDiscriminator(channels, spectral_norm=spectral_norm)
        self.embed = nn.Embedding(n_classes, channels * 4)
        nn.init.normal_(self.embed.weight, std=0.02)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x): (B, 1, 8, 8) -> (B, 4 * channels), the features before the last linear layer."""
        return self.base.net[:-1](x)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = _check_labels(labels, self.n_classes, len(x))
        h = self.features(x)  # (B, F)
        return self.base.net[-1](h).squeeze(-1) + (self.embed(labels) * h).sum(dim=1)  # (B,)


def conditional_discriminator_loss(discriminator, real: torch.Tensor, fake: torch.Tensor,
                                   labels: torch.Tensor) -> torch.Tensor:
    """-E log D(x | y) - E log(1 - D(G(z | y) | y)): D's loss on real and generated pairs with the same labels.

    ``fake`` is detached, so the loss trains D only.

    Parameters
    ----------
    discriminator : callable
        (images (B, 1, 8, 8), labels (B,)) -> logits (B,).
    real, fake : torch.Tensor, shape (B, 1, 8, 8)
        Data images of class ``labels`` and generated images G(z | labels).
    labels : torch.Tensor of int, shape (B,)

    Returns
    -------
    torch.Tensor, scalar
    """
    return discriminator_loss(discriminator(real, labels), discriminator(fake.detach(), labels))


def conditional_generator_loss(discriminator, fake: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-E log D(G(z | y) | y), the non-saturating generator loss, judged for the class asked for.

    Parameters
    ----------
    discriminator : callable
        (images (B, 1, 8, 8), labels (B,)) -> logits (B,).
    fake : torch.Tensor, shape (B, 1, 8, 8)
        G(z | labels), not detached.
    labels : torch.Tensor of int, shape (B,)

    Returns
    -------
    torch.Tensor, scalar
    """
    return generator_loss_nonsaturating(discriminator(fake, labels))


def train_cgan(g_net: ConditionalGenerator, d_net: ConditionalDiscriminator, images: torch.Tensor,
               labels: torch.Tensor, *, steps: int, batch_size: int = 64, lr: float = 2e-4,
               seed: int | torch.Generator = 0, device: str | torch.device | None = None,
               progress: bool = False) -> dict[str, list[float]]:
    """Alternate one D step and one G step on random mini-batches (Adam, betas (0.5, 0.999)).

    Parameters
    ----------
    g_net, d_net : ConditionalGenerator, ConditionalDiscriminator
        The generator and discriminator networks (``g_``/``d_`` prefixes: ``generator`` names a
        ``torch.Generator`` throughout genlib).
    images : torch.Tensor, shape (N, 1, 8, 8)
    labels : torch.Tensor of int, shape (N,)
    steps, batch_size : int
    lr : float
    seed : int or torch.Generator (a Generator gives one int, ``as_seed``)
        Seeds the initial noise and the batches (torch's global generator during training; the
        caller's global random states are restored after).
    device : str or torch.device
        Where to train (the networks are moved there, each batch too). Default: where the networks
        already are (``device_of``), as before this parameter existed.
    progress : bool
        Show a progress bar.

    Returns
    -------
    history : dict
        "d_loss", "g_loss": one value per step.
    """
    seed = as_seed(seed)
    labels = _check_labels(labels, g_net.n_classes, len(images))
    device = device_of(g_net) if device is None else torch.device(device)

    def step(_: int) -> dict:
        rows = torch.randint(len(images), (batch_size,))
        real, y = images[rows].to(device), labels[rows].to(device)
        fake = g_net(torch.randn(batch_size, g_net.latent_dim).to(device), y)
        d_loss = conditional_discriminator_loss(d_net, real, fake, y)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = conditional_generator_loss(d_net, fake, y)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    with isolated_rng(seed):
        opt_d = torch.optim.Adam(d_net.parameters(), lr=lr, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(g_net.parameters(), lr=lr, betas=(0.5, 0.999))
        run = run_steps(step, steps, modules=(g_net, d_net), device=device, progress=progress,
                        description="cGAN")
    history = {key: run.get(key, []) for key in ("d_loss", "g_loss")}  # steps=0: empty lists, as before
    return history
