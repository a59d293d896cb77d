"""Training loops of unit 03's cardiac models: SPADE (as a VAE-GAN), pix2pix, CycleGAN.

Each function runs ``steps`` updates on random mini-batches, through ``genlib.train.run_steps``,
and returns a history of the losses, one value per step. The lecture calls them for a few steps (to watch the losses
fall); ``tools/weights_conditional.py`` calls them for the shipped weights. Adam with
betas (0.5, 0.999), as in the papers (``gan_adam``).
"""
from __future__ import annotations

import torch

from genlib.models.spade import SPADEGenerator, StyleEncoder
from genlib.models.translation import (
    ImagePool, cycle_consistency_loss, identity_loss, lsgan_discriminator_loss, lsgan_generator_loss,
    pix2pix_generator_loss,
)
from genlib.models.gan import discriminator_loss
from genlib.models.vae import kl_standard_normal, reparameterize
from genlib.train import as_seed, device_of, isolated_rng, run_steps


def gan_adam(*modules, lr: float) -> torch.optim.Adam:
    """One Adam optimiser over the parameters of ``modules`` (in that order), with the GAN betas (0.5, 0.999)
    of the papers: the optimiser of the trainers here and of ``genlib.synthesis.scenario_training``."""
    return torch.optim.Adam([p for m in modules for p in m.parameters()], lr=lr, betas=(0.5, 0.999))


def _step(optimizer, loss: torch.Tensor) -> float:
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _batches(n: int, batch_size: int, steps: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        yield torch.randint(n, (batch_size,), generator=generator)


def train_spade(g_net: SPADEGenerator, encoder: StyleEncoder, d_net, labels: torch.Tensor,
                images: torch.Tensor, *, steps: int, batch_size: int = 16, lr: float = 2e-3,
                l1_weight: float = 10.0, kl_weight: float = 0.05, seed: int | torch.Generator = 0,
                device: str | torch.device | None = None, progress: bool = False) -> dict[str, list[float]]:
    """SPADE with a style encoder, trained as a VAE-GAN on (label map, image) pairs.

    The encoder gives q(z | x); the generator reconstructs x from (labels, z). The generator
    and encoder minimise

        lambda_L1 E |G(m, z) - x|_1 + lambda_KL KL(q(z | x) || N(0, I)) + E (D(G(m, z)) - 1)^2

    and the PatchGAN D minimises the least-squares loss on x versus G(m, z).

    Parameters
    ----------
    d_net : PatchGANDiscriminator with in_channels 1
    labels : torch.Tensor of int, shape (N, H, W)
    images : torch.Tensor, shape (N, 1, H, W), in [0, 1]
    steps, batch_size : int
    lr, l1_weight, kl_weight : float
    seed : int or torch.Generator (a Generator gives one int, ``as_seed``)
        Seeds the initial noise and the batches; the caller's global random states are restored after.
    device : str or torch.device
        Where to train (the networks are moved there, each batch too). Default: where the networks
        already are (``device_of``), as before this parameter existed.
    progress : bool
        Show a progress bar.

    Returns
    -------
    history : dict
        "l1", "kl", "g_adv", "d_loss": one value per step.
    """
    seed = as_seed(seed)
    device = device_of(g_net) if device is None else torch.device(device)
    batches = _batches(len(images), batch_size, steps, seed)

    def step(_: int) -> dict:
        rows = next(batches)
        m, x = labels[rows].to(device), images[rows].to(device)
        mu, log_var = encoder(x)
        fake = g_net(m, reparameterize(mu, log_var))  # (B, 1, H, W)
        l1 = (fake - x).abs().mean()
        kl = kl_standard_normal(mu, log_var).mean()
        g_adv = lsgan_generator_loss(d_net(fake))
        _step(opt_g, l1_weight * l1 + kl_weight * kl + g_adv)
        d_loss = _step(opt_d, lsgan_discriminator_loss(d_net(x), d_net(fake.detach())))
        return {"l1": l1, "kl": kl, "g_adv": g_adv, "d_loss": d_loss}

    with isolated_rng(seed):
        opt_g, opt_d = gan_adam(g_net, encoder, lr=lr), gan_adam(d_net, lr=lr)
        run = run_steps(step, steps, modules=(g_net, encoder, d_net), device=device, progress=progress,
                        description="SPADE")
    history = {key: run.get(key, []) for key in ("l1", "kl", "g_adv", "d_loss")}  # steps=0: empty lists, as before
    return history


def train_pix2pix(g_net, d_net, inputs: torch.Tensor, targets: torch.Tensor, *, steps: int,
                  batch_size: int = 16, lr: float = 2e-3, l1_weight: float = 100.0,
                  seed: int | torch.Generator = 0, device: str | torch.device | None = None,
                  progress: bool = False) -> dict[str, list[float]]:
    """pix2pix on paired images: G minimises ``pix2pix_generator_loss``, D(x, y) the log-loss.

    Parameters
    ----------
    g_net : UNetGenerator
    d_net : PatchGANDiscriminator with in_channels = 2 (input and output concatenated)
    inputs, targets : torch.Tensor, shape (N, 1, H, W)
        x and the paired y.
    steps, batch_size : int
    lr, l1_weight : float
    seed, device, progress
        As in ``train_spade``.

    Returns
    -------
    history : dict
        "g_loss", "l1", "d_loss": one value per step.
    """
    seed = as_seed(seed)
    device = device_of(g_net) if device is None else torch.device(device)
    batches = _batches(len(inputs), batch_size, steps, seed)

    def step(_: int) -> dict:
        rows = next(batches)
        x, y = inputs[rows].to(device), targets[rows].to(device)
        fake = g_net(x)
        g_loss = _step(opt_g, pix2pix_generator_loss(d_net(torch.cat([x, fake], 1)), fake, y, l1_weight))
        d_loss = _step(opt_d, discriminator_loss(d_net(torch.cat([x, y], 1)),
                                                 d_net(torch.cat([x, fake.detach()], 1))))
        return {"g_loss": g_loss, "l1": (fake.detach() - y).abs().mean(), "d_loss": d_loss}

    with isolated_rng(seed):
        opt_g, opt_d = gan_adam(g_net, lr=lr), gan_adam(d_net, lr=lr)
        run = run_steps(step, steps, modules=(g_net, d_net), device=device, progress=progress,
                        description="pix2pix")
    history = {key: run.get(key, []) for key in ("g_loss", "l1", "d_loss")}  # steps=0: empty lists, as before
    return history


def train_cyclegan(g_ab, g_ba, d_a, d_b, images_a: torch.Tensor, images_b: torch.Tensor, *, steps: int,
                   batch_size: int = 8, lr: float = 1e-3, cycle_weight: float = 10.0,
                   identity_weight: float | None = None, pool_size: int = 50,
                   seed: int | torch.Generator = 0, device: str | torch.device | None = None,
                  progress: bool = False) -> dict[str, list[float]]:
    """CycleGAN on unpaired images of domains A and B.

    The generators minimise LSGAN(G_AB, D_B) + LSGAN(G_BA, D_A) + lambda L_cyc + lambda_id L_id;
    each discriminator minimises the least-squares loss on its domain's real images versus
    fakes drawn from an ``ImagePool``.

    Parameters
    ----------
    g_ab, g_ba : UNetGenerator
    d_a, d_b : PatchGANDiscriminator with in_channels 1
    images_a, images_b : torch.Tensor, shape (N_A, 1, H, W) and (N_B, 1, H, W)
        Unpaired: no image of B shows the anatomy of an image of A.
    steps, batch_size : int
    lr : float
    cycle_weight : float
        lambda (10 in the paper; 0 removes the cycle constraint).
    identity_weight : float, optional
        lambda_id; default 0.5 * cycle_weight.
    pool_size : int
    seed, device, progress
        As in ``train_spade``.

    Returns
    -------
    history : dict
        "g_adv", "cycle", "identity", "d_loss": one value per step.
    """
    seed = as_seed(seed)
    identity_weight = 0.5 * cycle_weight if identity_weight is None else identity_weight
    device = device_of(g_ab) if device is None else torch.device(device)
    pool_a, pool_b = ImagePool(pool_size, seed), ImagePool(pool_size, seed + 1)
    batches_a = _batches(len(images_a), batch_size, steps, seed)
    batches_b = _batches(len(images_b), batch_size, steps, seed + 1)

    def step(_: int) -> dict:
        a, b = images_a[next(batches_a)].to(device), images_b[next(batches_b)].to(device)
        fake_b, fake_a = g_ab(a), g_ba(b)
        g_adv = lsgan_generator_loss(d_b(fake_b)) + lsgan_generator_loss(d_a(fake_a))
        cycle = (g_ba(fake_b) - a).abs().mean() + (g_ab(fake_a) - b).abs().mean()  # = cycle_consistency_loss
        identity = identity_loss(g_ab, g_ba, a, b) if identity_weight else torch.zeros(())
        _step(opt_g, g_adv + cycle_weight * cycle + identity_weight * identity)
        d_loss = _step(opt_d, lsgan_discriminator_loss(d_a(a), d_a(pool_a.query(fake_a)))
                       + lsgan_discriminator_loss(d_b(b), d_b(pool_b.query(fake_b))))
        return {"g_adv": g_adv, "cycle": cycle, "identity": identity, "d_loss": d_loss}

    with isolated_rng(seed):
        opt_g, opt_d = gan_adam(g_ab, g_ba, lr=lr), gan_adam(d_a, d_b, lr=lr)
        run = run_steps(step, steps, modules=(g_ab, g_ba, d_a, d_b), device=device, progress=progress,
                        description="CycleGAN")
    history = {key: run.get(key, []) for key in ("g_adv", "cycle", "identity", "d_loss")}  # steps=0: empty lists, as before
    return history


__all__ = ["train_spade", "train_pix2pix", "train_cyclegan", "cycle_consistency_loss", "gan_adam"]
