"""Discriminator rejection sampling (DRS): use a trained discriminator to correct a generator's samples.

Usage::

    D = TwoHeadDiscriminator(pack=4)
    train_gan(G, D, toy.sample, steps=10_000, head_weights=(0.5, 1.0))
    result = discriminator_rejection_sampling(G, D.sample_head, 2500, seed=0)
    result.samples, result.acceptance_rate

The idea (Azadi et al., 2019): the optimal discriminator is D*(x) = p_data / (p_data + p_g),
so its logit l(x) = log D* - log(1 - D*) is the log density ratio log p_data(x) / p_g(x).
Rejection sampling from p_g towards p_data accepts a draw x with probability

    p_data(x) / (M p_g(x)) = exp(l(x) - log M),   with M >= max_x p_data(x) / p_g(x).

The true M is unknown and, for a generator with samples between the modes, huge (almost
nothing would be accepted). As in the DRS paper, the threshold is set from the logits of
G's own samples instead: log M is their ``cap_quantile`` quantile. Samples with a larger
ratio are always accepted, so the result is not exactly p_data, but samples the
discriminator finds unlikely under the data (between the modes) are rejected, and rare
modes are kept. A trained discriminator only approximates D*, and it cannot add a mode
the generator never produces.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from genlib._validation import as_generator, check_positive


@dataclass
class RejectionResult:
    """What ``discriminator_rejection_sampling`` returns.

    samples : torch.Tensor, shape (n, ...)
        The accepted samples, in the order they were drawn.
    acceptance_rate : float
        Accepted / drawn.
    log_cap : float
        log M: the logit above which a sample is always accepted.
    n_drawn : int
        How many generator samples were drawn.
    """

    samples: torch.Tensor
    acceptance_rate: float
    log_cap: float
    n_drawn: int


def acceptance_probability(logits: torch.Tensor, log_cap: float) -> torch.Tensor:
    """min(1, exp(l(x) - log M)) for each logit, shape as ``logits``."""
    return torch.exp((logits - log_cap).clamp(max=0.0))


def _log_ratios(log_ratio: Callable, x: torch.Tensor) -> torch.Tensor:
    logits = log_ratio(x)
    if not isinstance(logits, torch.Tensor) or logits.shape != (len(x),):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"log_ratio must return one logit per sample, shape ({len(x)},), got {shape}. "
                         "Pass a per-sample discriminator, e.g. TwoHeadDiscriminator's sample_head, not a packed one.")
    if not torch.isfinite(logits).all():
        raise ValueError("log_ratio returned NaN or infinite logits; check that the discriminator trained "
                         "without diverging (its losses in train_gan's history).")
    return logits


def discriminator_rejection_sampling(g_net: torch.nn.Module, log_ratio: Callable[[torch.Tensor], torch.Tensor],
                                     n: int, *, cap_quantile: float = 0.99, batch_size: int = 10_000,
                                     max_draws: int = 1_000_000, seed: int | torch.Generator = 0) -> RejectionResult:
    """Draw n samples from the GAN generator ``g_net``, each kept with probability min(1, exp(l(x) - log M)).

    Parameters
    ----------
    g_net : torch.nn.Module
        The GAN's generator network; has ``sample(k, generator=torch.Generator) -> (k, ...)``, e.g.
        ``MLPGenerator``.
    log_ratio : callable
        x (k, ...) -> (k,): the discriminator's logit l(x), an estimate of
        log p_data(x) / p_g(x), e.g. ``TwoHeadDiscriminator.sample_head``.
    n : int
        Number of samples to return.
    cap_quantile : float in (0, 1)
        log M is this quantile of the logits of the first batch of generator samples:
        higher is closer to exact rejection sampling and accepts fewer samples. The
        default 0.99 keeps the rare modes that a lower cap can lose (unit 02's trials:
        bench/NOTES.md).
    batch_size : int
        Generator samples drawn per round.
    max_draws : int
        Give up (with an error) after drawing this many samples.
    seed : int or torch.Generator
        Seeds the generator network's noise and the acceptance draws (``as_generator(seed)``).

    Returns
    -------
    RejectionResult
    """
    for name, value in (("n", n), ("batch_size", batch_size), ("max_draws", max_draws)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    check_positive("cap_quantile", cap_quantile)
    if not cap_quantile < 1:
        raise ValueError(f"cap_quantile must be in (0, 1), e.g. 0.99, got {cap_quantile!r}.")
    generator = as_generator(seed)
    kept: list[torch.Tensor] = []
    n_kept = n_drawn = 0
    log_cap = None
    with torch.no_grad():
        while n_kept < n:
            if n_drawn >= max_draws:
                raise RuntimeError(f"only {n_kept} of {n} samples accepted after {n_drawn} draws "
                                   f"(acceptance {n_kept / n_drawn:.2%}); lower cap_quantile or raise max_draws.")
            x = g_net.sample(batch_size, generator=generator)
            logits = _log_ratios(log_ratio, x).float().cpu()
            if log_cap is None:
                log_cap = float(torch.quantile(logits, cap_quantile))
            accept = torch.rand(len(x), generator=generator) < acceptance_probability(logits, log_cap)
            kept.append(x[accept.to(x.device)])
            n_kept += int(accept.sum())
            n_drawn += len(x)
    samples = torch.cat(kept)[:n]
    return RejectionResult(samples=samples, acceptance_rate=n_kept / n_drawn, log_cap=log_cap, n_drawn=n_drawn)
