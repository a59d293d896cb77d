"""Two repairs of a trained diffusion model's bound on discrete data, made after training (no retraining).

The digits' bound of a diffusion model with fixed reverse variances and a discretised Gaussian decoder
is spent mostly where those two choices are weakest (unit 08 prints the terms):

- **KL-optimal reverse variances.** For a fixed mean mu_theta(x_t, t), the variance sigma_t^2 that
  minimises L_{t-1} = E KL(N(mu~_t, beta~_t I) || N(mu_theta, sigma_t^2 I)) is, per dimension,

      sigma_t^2* = beta~_t + E || mu~_t(x_t, x_0) - mu_theta(x_t, t) ||^2 / D,

  (set the derivative of 1/2 (log sigma^2 + (beta~ + e^2) / sigma^2) to 0). Neither fixed choice
  (beta_t or beta~_t) knows how wrong the network's mean is; this one measures it on the training
  digits (Analytic-DPM, Bao et al., 2022, reaches the same optimum through the score's norm).
- **A decoder that fits the 17 levels.** p(x_0 | x_1) as a Gaussian of fixed std sqrt(beta_1) around
  mu_theta(x_1, 1), binned, cannot say "this pixel is level 7 or 8, and its neighbours tell which".
  ``CategoricalDecoder`` is a small convolutional network that reads the whole of x_1 (and the
  denoiser's mean) and gives every pixel a 17-way softmax: a factorised p(x_0 | x_1) as in VDM
  (Kingma et al., 2021), trained by maximum likelihood with the denoiser frozen.

Both keep -ELBO a bound on the discrete NLL: any variances and any normalised decoder give a valid
ELBO; these are only better ones. Both are fitted on the training split; choose anything else (epochs)
on the validation split.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from genlib.models.diffusion.schedule import posterior_mean_var, q_sample, reverse_mean, reverse_var


@torch.no_grad()
def kl_optimal_variances(eps_model: Callable, x0: torch.Tensor, betas: torch.Tensor, *, n_draws: int = 2,
                         generator: torch.Generator | None = None, batch_size: int = 1000) -> torch.Tensor:
    """sigma_t^2* = beta~_t + mean squared error of mu_theta against the posterior mean, shape (T,), float64.

    Parameters
    ----------
    eps_model : callable
        eps_theta(x_t, t).
    x0 : torch.Tensor, shape (N, ...)
        Training data in the model's space ([-1, 1] for the digits).
    betas : torch.Tensor, shape (T,)
    n_draws : int
        Draws of x_t per image and t for the Monte Carlo mean.

    Entry 0 (t = 1) is the mean squared error of mu_theta(x_1, 1) against x_0: the variance of a
    Gaussian decoder centred on mu_theta that fits best in the continuous sense (a discrete decoder
    should be chosen by its own likelihood instead).
    """
    if not isinstance(n_draws, int) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}.")
    T = len(betas)
    x0 = x0.double()
    squared_error = torch.zeros(T, dtype=torch.float64)
    for t_value in range(1, T + 1):
        total, count = 0.0, 0
        for _ in range(n_draws):
            for i in range(0, len(x0), batch_size):
                batch = x0[i:i + batch_size]
                t = torch.full((len(batch),), t_value, dtype=torch.long)
                x_t = q_sample(batch, t, betas, torch.randn(batch.shape, generator=generator, dtype=torch.float64))
                mean_p = reverse_mean(x_t, t, eps_model(x_t.float(), t).double(), betas)
                target = batch if t_value == 1 else posterior_mean_var(x_t, batch, t, betas)[0]
                total += float(((target - mean_p) ** 2).sum())
                count += batch.numel()
        squared_error[t_value - 1] = total / count
    posterior = reverse_var(betas, "posterior")
    posterior[0] = 0.0  # beta~_1 = 0: q(x_0 | x_1, x_0) is a point mass
    return posterior + squared_error


class CategoricalDecoder(nn.Module):
    """p(x_0 | x_1) = prod_i Cat(x_0,i | softmax(f(x_1, mu_theta(x_1, 1)))_i), over ``n_levels`` levels.

    Four 3x3 convolutions (SiLU between) and a 1x1 head to ``n_levels`` logits per pixel. The input is
    x_1 and the denoiser's mean at t = 1 stacked as two channels, (B, 2, H, W) for one-channel images.

    Parameters
    ----------
    n_levels : int
    channels : int
    """

    def __init__(self, n_levels: int = 17, channels: int = 64, in_channels: int = 1):
        super().__init__()
        if not isinstance(n_levels, int) or n_levels < 2:
            raise ValueError(f"n_levels must be an integer >= 2, got {n_levels!r}.")
        self.n_levels, self.in_channels = n_levels, in_channels
        layers: list[nn.Module] = [nn.Conv2d(2 * in_channels, channels, 3, padding=1), nn.SiLU()]
        for _ in range(3):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.SiLU()]
        layers += [nn.Conv2d(channels, n_levels * in_channels, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x_1: torch.Tensor, mean_1: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of the levels, shape (B, n_levels, C, H, W), from x_1 and mu_theta(x_1, 1), (B, C, H, W)."""
        if x_1.ndim != 4 or x_1.shape != mean_1.shape or x_1.shape[1] != self.in_channels:
            raise ValueError(f"x_1 and mean_1 must both have shape (B, {self.in_channels}, H, W), got "
                             f"{tuple(x_1.shape)} and {tuple(mean_1.shape)}.")
        logits = self.net(torch.cat([x_1, mean_1], dim=1).float())
        B, _, H, W = logits.shape
        return F.log_softmax(logits.reshape(B, self.n_levels, self.in_channels, H, W), dim=1)


def signed_to_levels(x0: torch.Tensor, n_levels: int) -> torch.Tensor:
    """The inverse of ``levels_to_signed``: grid values in [-1, 1] back to integer levels (long)."""
    return torch.round((x0 + 1) * (n_levels - 1) / 2).long().clamp(0, n_levels - 1)


def decoder_log_likelihood(decoder: CategoricalDecoder, eps_model: Callable, x0: torch.Tensor, betas: torch.Tensor,
                           eps: torch.Tensor) -> torch.Tensor:
    """log p(x_0 | x_1) summed over dimensions, shape (B,), with x_1 = q_sample(x0, 1, eps)."""
    t = torch.ones(len(x0), dtype=torch.long)
    x_1 = q_sample(x0.double(), t, betas, eps.double())
    with torch.no_grad():
        mean_1 = reverse_mean(x_1, t, eps_model(x_1.float(), t).double(), betas)
    log_probs = decoder(x_1.float(), mean_1.float())  # (B, L, C, H, W)
    levels = signed_to_levels(x0, decoder.n_levels)
    return log_probs.gather(1, levels[:, None]).squeeze(1).flatten(1).sum(1).double()


def fit_categorical_decoder(eps_model: Callable, betas: torch.Tensor, x_train: torch.Tensor, x_val: torch.Tensor, *,
                            n_levels: int = 17, channels: int = 64, epochs: int = 40, batch_size: int = 32,
                            lr: float = 1e-3, seed: int | torch.Generator = 0) -> tuple[CategoricalDecoder, dict]:
    """Train a ``CategoricalDecoder`` by maximum likelihood on fresh x_1 draws, the denoiser frozen.

    x_train, x_val: (N, C, H, W) on the grid of ``levels_to_signed``. Keeps the epoch with the lowest
    validation L_0 (one fixed draw of x_1 per validation image). Trains on the CPU through
    ``genlib.train.run_steps``; the caller's global random states are restored after. Returns (decoder in eval
    mode, info with "val_bits_per_dim" per epoch (L_0 alone), "best_epoch", "seconds", "cpu_seconds").
    ``seed``: an int, or a torch.Generator that gives one (``as_seed``).
    """
    from genlib.train import as_generator, as_seed, device_of, epoch_batches, isolated_rng, run_steps

    seed = as_seed(seed)
    shuffle = as_generator(seed)
    val_eps = torch.randn(x_val.shape, generator=as_generator(seed + 1))
    per_dim = x_val[0].numel() * math.log(2)
    per_epoch = math.ceil(len(x_train) / batch_size)
    batch_index = epoch_batches(len(x_train), batch_size, shuffle)

    def step(i: int) -> dict:
        batch = x_train[batch_index(i)]  # a new epoch's permutation first, then this step's noise, from shuffle
        eps = torch.randn(batch.shape, generator=shuffle)
        loss = -decoder_log_likelihood(decoder, eps_model, batch, betas, eps).mean()
        optimizer.zero_grad()
        loss.float().backward()
        optimizer.step()
        return {"loss": loss}

    def validate() -> float:
        return float(-decoder_log_likelihood(decoder, eps_model, x_val, betas, val_eps).mean() / per_dim)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    with isolated_rng(seed):
        decoder = CategoricalDecoder(n_levels, channels, in_channels=x_train.shape[1])
        optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
        run = run_steps(step, epochs * per_epoch, modules=(decoder,), device=device_of(decoder), validate=validate,
                        validate_at=lambda i: i % per_epoch == 0, keep_best=True, ties="earliest",
                        description="categorical decoder")
    history, best_epoch = run["val"], run["best_step"] // per_epoch
    return decoder.eval(), {"val_bits_per_dim": history, "best_epoch": best_epoch,
                            "seconds": time.perf_counter() - wall0, "cpu_seconds": time.process_time() - cpu0}
