"""Training a GAN: alternate discriminator and generator steps, record losses and snapshots.

Usage::

    toy = make_toy("ring8")
    G, D = MLPGenerator(), MLPDiscriminator(pack=2)
    history = train_gan(G, D, toy.sample, steps=3000, seed=0, snapshot_every=100)

``history["snapshots"]`` holds G's samples of one fixed batch of latent codes at the saved
steps, for a training replay. A GAN has two networks, two optimisers and no single loss to
minimise: one step of ``genlib.train.run_steps``, the course's loop, is ``d_steps`` updates of D
and one of G.
"""
from __future__ import annotations

import copy
import time
from typing import Callable

import torch

from genlib._validation import as_seed, check_choice, check_int, check_positive
from genlib.models.gan import (
    discriminator_loss,
    generator_loss_nonsaturating,
    generator_loss_saturating,
    gradient_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from genlib.train import as_generator, choose_device, isolated_rng, run_steps

GAN_LOSSES = ("nonsaturating", "saturating", "wgan-gp")


def _data_sampler(data) -> Callable[[int], torch.Tensor]:
    """``data`` as a function n -> a batch: a sampler is used as is; a tensor is drawn from with replacement."""
    if isinstance(data, torch.Tensor):
        if len(data) == 0:
            raise ValueError("data is empty: nothing to train on.")
        return lambda n: data[torch.randint(len(data), (n,))]
    if callable(data):
        return data
    raise TypeError(f"data must be a tensor of training samples (N, ...) or a function n -> batch, got {type(data).__name__}.")


def _heads(output, head_weights, loss: str) -> list[tuple[torch.Tensor, float]]:
    """The discriminator's output as (logits, weight) pairs, one per head."""
    outputs = output if isinstance(output, tuple) else (output,)
    weights = (1.0,) * len(outputs) if head_weights is None else tuple(head_weights)
    if len(weights) != len(outputs):
        raise ValueError(f"head_weights has {len(weights)} weights but the discriminator has {len(outputs)} heads; "
                         "give one weight per head.")
    if loss == "wgan-gp" and len(outputs) > 1:
        raise ValueError("loss='wgan-gp' needs a critic with one score per sample (the gradient penalty is per sample); "
                         "use loss='nonsaturating' with a discriminator that has several heads.")
    return list(zip(outputs, weights))


def train_gan(
    g_net: torch.nn.Module,
    d_net: torch.nn.Module,
    data,
    *,
    steps: int,
    loss: str = "nonsaturating",
    batch_size: int = 256,
    lr_g: float = 1e-3,
    lr_d: float = 1e-3,
    betas: tuple[float, float] = (0.5, 0.999),
    d_steps: int = 1,
    gp_weight: float = 10.0,
    head_weights: tuple[float, ...] | None = None,
    ema_decay: float | None = None,
    lr_decay: bool = False,
    seed: int | torch.Generator = 0,
    device: str | torch.device | None = None,
    snapshot_every: int | None = None,
    n_snapshot: int = 512,
    progress: bool = False,
) -> dict:
    """Train ``g_net`` against ``d_net`` with Adam, alternating updates.

    Parameters
    ----------
    g_net : torch.nn.Module
        Has ``latent_dim``; maps z (B, latent_dim) to samples (B, ...).
    d_net : torch.nn.Module
        Maps samples (B, ...) to logits (or critic scores for "wgan-gp"), shape (B',), or
        to a tuple of such logits, one per head (e.g. ``TwoHeadDiscriminator``): both
        losses are then the weighted sums of the heads' losses.
    data : torch.Tensor (N, ...) or callable
        Training samples (drawn with replacement) or a sampler ``data(n) -> (n, ...)``,
        e.g. ``toy.sample``.
    steps : int
        Number of generator updates.
    loss : {"nonsaturating", "saturating", "wgan-gp"}
        The generator's loss; "wgan-gp" also switches the discriminator to a Wasserstein
        critic with gradient penalty ``gp_weight``.
    batch_size : int
        Samples per batch, real and fake alike (a multiple of a packing discriminator's m).
    lr_g, lr_d : float
        Adam learning rates (two time-scales when they differ).
    betas : (float, float)
        Adam's betas for both networks.
    d_steps : int
        Discriminator updates per generator update.
    head_weights : tuple of float, optional
        For a discriminator with several heads: the weight of each head in both losses
        (default 1 each).
    ema_decay : float, optional
        If given, also keep an exponential moving average of the generator's weights
        (decay per step), returned as ``history["ema_generator"]``.
    lr_decay : bool
        Decay both learning rates linearly to 0 at the last step: the samples stop jittering
        around the modes, which sharpens them.
    seed : int or torch.Generator (a Generator gives one int, ``as_seed``)
        Seeds the initial noise, the batches and the snapshots' fixed latent codes (torch's global
        generator is seeded during training; the caller's global random states are restored after).
    snapshot_every : int, optional
        Save G's samples of ``n_snapshot`` fixed latent codes every this many steps (and at
        step 0 and the last step).
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        "d_loss", "g_loss", "lr_g" (G's learning rate): one value per generator step (length ``steps``);
        "snapshot_steps": list of int; "snapshots": list of tensors (n_snapshot, ...) on the CPU;
        "z_fixed": the latent codes used for the snapshots; "seconds": wall time;
        "ema_generator": the averaged generator (only with ``ema_decay``).
    """
    seed = as_seed(seed)
    check_int("steps", steps)
    check_int("batch_size", batch_size)
    check_int("d_steps", d_steps)
    check_int("n_snapshot", n_snapshot)
    if snapshot_every is not None:
        check_int("snapshot_every", snapshot_every)
    check_choice("loss", loss, GAN_LOSSES)
    check_positive("lr_g", lr_g)
    check_positive("lr_d", lr_d)
    if head_weights is not None:
        for weight in head_weights:
            check_positive("every head weight", weight)
    if ema_decay is not None and not 0 < ema_decay < 1:
        raise ValueError(f"ema_decay must be in (0, 1), e.g. 0.999, got {ema_decay!r}.")
    sample_data = _data_sampler(data)
    device = choose_device(device)
    generator_loss = {"nonsaturating": generator_loss_nonsaturating, "saturating": generator_loss_saturating,
                      "wgan-gp": wasserstein_generator_loss}[loss]
    with isolated_rng(seed):
        g_net.to(device).train()
        d_net.to(device).train()
        opt_g = torch.optim.Adam(g_net.parameters(), lr=lr_g, betas=betas)
        opt_d = torch.optim.Adam(d_net.parameters(), lr=lr_d, betas=betas)
        schedules = []
        if lr_decay:
            schedules = [torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / steps) for opt in (opt_g, opt_d)]
        ema = copy.deepcopy(g_net).eval().requires_grad_(False) if ema_decay is not None else None
        z_fixed = torch.randn(n_snapshot, g_net.latent_dim, generator=as_generator(seed)).to(device)
        snapshots: dict = {"snapshot_steps": [], "snapshots": [], "z_fixed": z_fixed.cpu()}

        def snapshot(step: int) -> None:
            was_training = g_net.training
            g_net.eval()
            with torch.no_grad():
                snapshots["snapshots"].append(g_net(z_fixed).cpu())
            g_net.train(was_training)
            snapshots["snapshot_steps"].append(step)

        def gan_step(step: int) -> dict:
            for _ in range(d_steps):
                real = sample_data(batch_size).to(device)
                with torch.no_grad():
                    fake = g_net(torch.randn(batch_size, g_net.latent_dim, device=device))
                # one forward pass on real and fake together (half the spectral-norm power iterations);
                # equal batch sizes keep a packing discriminator's packs all real or all fake
                heads = _heads(d_net(torch.cat([real, fake])), head_weights, loss)
                if loss == "wgan-gp":
                    real_scores, fake_scores = heads[0][0].chunk(2)
                    d_loss = wasserstein_critic_loss(real_scores, fake_scores)
                    d_loss = d_loss + gp_weight * gradient_penalty(d_net, real, fake)
                else:
                    d_loss = sum(weight * discriminator_loss(*logits.chunk(2)) for logits, weight in heads)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
            heads = _heads(d_net(g_net(torch.randn(batch_size, g_net.latent_dim, device=device))),
                           head_weights, loss)
            g_loss = sum(weight * generator_loss(logits) for logits, weight in heads)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            if ema is not None:
                with torch.no_grad():
                    for p_ema, p in zip(ema.parameters(), g_net.parameters()):
                        p_ema.lerp_(p, 1 - ema_decay)
                    for b_ema, b in zip(ema.buffers(), g_net.buffers()):
                        b_ema.copy_(b)
            if not (torch.isfinite(d_loss) and torch.isfinite(g_loss)):
                raise FloatingPointError(f"the GAN losses became non-finite at step {step} (D {d_loss.item()}, "
                                         f"G {g_loss.item()}); lower the learning rates.")
            record = {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "lr_g": opt_g.param_groups[0]["lr"]}
            for schedule in schedules:
                schedule.step()
            if snapshot_every and (step % snapshot_every == 0 or step == steps):
                snapshot(step)
            return record

        start = time.perf_counter()
        if snapshot_every:
            snapshot(0)
        run = run_steps(gan_step, steps, modules=(g_net, d_net), device=device, progress=progress,
                        description=f"GAN ({loss})")
    history: dict = {key: run[key] for key in ("d_loss", "g_loss", "lr_g")}
    history.update(snapshots)
    history["seconds"] = time.perf_counter() - start
    if ema is not None:
        history["ema_generator"] = ema
    return history
