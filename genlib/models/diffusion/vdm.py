"""A variational diffusion model (VDM; Kingma et al., 2021) for the 17-level digits (unit 08).

Unit 06's DDPM fixes T = 100 steps, a schedule and the reverse variances, and pays for them in its
bound. A VDM trains the bound itself, in continuous time, with a learned schedule. Symbols -> names:

- data: levels k = 0..L-1 (L = ``n_levels`` = 17) mapped to x_k = -1 + 2k / (L - 1) in [-1, 1]
  (``levels`` buffer); bin spacing 2 / (L - 1) = 0.125.
- forward process, variance preserving: q(z_t | x) = N(alpha_t x, sigma_t^2 I), t in [0, 1], with
  sigma_t^2 = sigmoid(gamma(t)), alpha_t^2 = sigmoid(-gamma(t)), SNR(t) = alpha_t^2 / sigma_t^2 = exp(-gamma(t)).
- schedule ``gamma(t)`` = gamma_min + (gamma_max - gamma_min) t, monotone increasing; its two endpoints
  are learned with the bound (``learn_schedule=True``; the gap is a softplus, so gamma_max > gamma_min
  always). In continuous time the bound depends on the schedule only through its endpoints (VDM, sec. 5),
  so a linear gamma loses nothing in the expected bound; only the Monte Carlo variance depends on its shape.
- denoiser ``denoise(z_t, t)`` -> x_hat_theta(z_t; t), shape (B, 1, 8, 8): the posterior mean under a
  per-pixel categorical over the L levels whose logits are

      logits_k = log N(z_t; alpha_t x_k, sigma_t^2)  +  f_theta(z_t, t)_k,

  the exact Gaussian likelihood of each level (known in closed form) plus a learned "prior" from a
  residual conv net (``denoisers.ResBlock``) that sees the whole noisy image. At high SNR the first
  term decides the level by itself, so the small-t steps, where unit 06's DDPM lost most of its bound,
  cost almost nothing; the network learns what the neighbours say at middle SNR.
- the bound, -log p(x) <= L_prior + L_recon + L_diffusion (nats per image), ``loss_terms``:

  * L_prior = KL(q(z_1 | x) || N(0, I)), exact;
  * L_recon = E_{q(z_0 | x)} [-log p(x | z_0)], one draw of z_0, with the discrete decoder
    p(x = x_k | z_0) = softmax_k(-(z_0 - alpha_0 x_k)^2 / (2 sigma_0^2)), per pixel (``decoder_log_probs``):
    a normalised distribution over the 17^64 images, so log p(x | z_0) <= 0;
  * L_diffusion, continuous time (T = infinity): 1/2 E_{t ~ U(0,1), eps} [gamma'(t) exp(-gamma(t))
    || x - x_hat(z_t; t) ||^2] (= 1/2 E[gamma'(t) || eps - eps_hat ||^2]);
  * L_diffusion, T steps (``n_steps=T``): T/2 E_{i ~ U{1..T}, eps} [(SNR(s) - SNR(t)) || x - x_hat(z_t; t) ||^2],
    s = (i - 1)/T, t = i/T: the exact sum of the T KL terms KL(q(z_s | z_t, x) || p(z_s | z_t)) of
    the ancestral sampler p(z_s | z_t) = q(z_s | z_t, x = x_hat(z_t; t)) (VDM eq. 13).

Why the number is a bound on the NLL of the *discrete* data: the T-step model is a latent-variable
model P(x) = integral of p(z_1) prod_i p(z_s | z_t) P(x | z_0) dz_{0:1} whose P(x | z_0) is a normalised
distribution over the discrete images, so P sums to 1 over the 17^64 images; Jensen's inequality with
q(z_{0:1} | x) gives -log P(x) <= the three terms (no continuity needed), so each T-step value bounds that
model's discrete NLL. The continuous-time value is the limit T -> infinity, approached from above
(doubling T never loosens the bound for a given x_hat, VDM appendix), and bounds the NLL of the limiting model. Nothing is dequantised: there is no density to
convert. Both are estimated by Monte Carlo over t and eps (unbiased; ``bits_per_dim`` reports the
standard error over images).

Training minimises the continuous-time estimate with low-discrepancy t (t_b = (u + b / B) mod 1 over a
batch of B, Kingma et al.'s variance reduction); ``fit_vdm`` keeps the exponential moving average of the
weights whose validation bound is lowest.
"""
from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn
from torch.nn import functional as F

from genlib.models.diffusion.denoisers import ResBlock, time_embedding


def _check_levels(x: torch.Tensor, n_levels: int) -> None:
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"x must be digits of shape (B, 1, H, W) in [-1, 1], got {tuple(x.shape)}; load them with "
                         f"load_digits(split, scale='levels', shape='image') and map with levels_to_signed.")
    k = (x + 1) * (n_levels - 1) / 2
    if (k - k.round()).abs().max() > 1e-4 or k.min() < -1e-4 or k.max() > n_levels - 1 + 1e-4:
        raise ValueError(f"x must lie on the {n_levels}-level grid -1 + 2k/{n_levels - 1}; got values such as "
                         f"{float(x.flatten()[0]):.4f}. Map integer levels with levels_to_signed(levels, {n_levels}).")


class VDM(nn.Module):
    """A variational diffusion model over discrete images in [-1, 1] (see the module docstring).

    Parameters
    ----------
    n_levels : int
        L, the number of data levels (17 for the digits).
    channels, n_blocks, emb_dim : int
        Width, depth and time-embedding size of the residual conv net f_theta.
    gamma_min, gamma_max : float
        Initial endpoints of the schedule gamma(t) (log noise-to-signal ratio at t = 0 and t = 1).
    learn_schedule : bool
        Learn the endpoints with the bound (True) or keep them fixed.
    """

    def __init__(self, n_levels: int = 17, channels: int = 64, n_blocks: int = 3, emb_dim: int = 64,
                 gamma_min: float = -10.0, gamma_max: float = 6.0, learn_schedule: bool = True):
        super().__init__()
        if not gamma_max > gamma_min:
            raise ValueError(f"gamma_max must exceed gamma_min (noise grows with t), got gamma_min={gamma_min}, "
                             f"gamma_max={gamma_max}; try gamma_min=-10, gamma_max=6.")
        if channels % 8:
            raise ValueError(f"channels must be a multiple of 8 (GroupNorm with 8 groups), got {channels}.")
        self.n_levels, self.emb_dim = n_levels, emb_dim
        self.register_buffer("levels", torch.linspace(-1.0, 1.0, n_levels))  # (L,)
        gap = torch.tensor(gamma_max - gamma_min)
        self.gamma_min = nn.Parameter(torch.tensor(float(gamma_min)), requires_grad=learn_schedule)
        self.gamma_gap_raw = nn.Parameter(gap + torch.log(-torch.expm1(-gap)), requires_grad=learn_schedule)  # softplus^-1
        self.time_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.input = nn.Conv2d(2, channels, 3, padding=1)
        self.blocks = nn.ModuleList([ResBlock(channels, emb_dim) for _ in range(n_blocks)])
        self.output = nn.Sequential(nn.GroupNorm(8, channels), nn.SiLU(), nn.Conv2d(channels, n_levels, 3, padding=1))
        nn.init.zeros_(self.output[-1].weight)  # start from a uniform prior: x_hat = the per-pixel posterior mean
        nn.init.zeros_(self.output[-1].bias)

    # --- the schedule -------------------------------------------------------------------------------
    def gamma(self, t: torch.Tensor) -> torch.Tensor:
        """gamma(t) = gamma_min + (gamma_max - gamma_min) t, the log noise-to-signal ratio; shape of t."""
        return self.gamma_min + F.softplus(self.gamma_gap_raw) * t

    def gamma_prime(self) -> torch.Tensor:
        """d gamma / dt (a scalar: the schedule is linear in t)."""
        return F.softplus(self.gamma_gap_raw)

    @staticmethod
    def alpha_sigma(gamma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """alpha = sqrt(sigmoid(-gamma)), sigma = sqrt(sigmoid(gamma))."""
        return torch.sigmoid(-gamma).sqrt(), torch.sigmoid(gamma).sqrt()

    # --- the denoiser -------------------------------------------------------------------------------
    def _level_loglik(self, z: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """log N(z; alpha x_k, sigma^2) up to a constant in k, shape (B, L, H, W); gamma of shape (B,)."""
        alpha, sigma = self.alpha_sigma(gamma.reshape(-1, 1, 1, 1))
        return -(z - alpha * self.levels.reshape(1, -1, 1, 1)) ** 2 / (2 * sigma ** 2)  # (B, L, H, W)

    def logits(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Per-pixel logits over the L levels of x given z_t, shape (B, L, H, W); t of shape (B,) in [0, 1]."""
        loglik = self._level_loglik(z, self.gamma(t))  # (B, L, H, W)
        x_indep = (loglik.softmax(1) * self.levels.reshape(1, -1, 1, 1)).sum(1, keepdim=True)  # (B, 1, H, W)
        emb = self.time_mlp(time_embedding(t * 1000, self.emb_dim))  # (B, E)
        h = self.input(torch.cat([z, x_indep], 1))  # (B, C, H, W)
        for block in self.blocks:
            h = block(h, emb)
        return loglik + self.output(h)  # (B, L, H, W)

    def denoise(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_hat_theta(z_t; t) = E[x | z_t] under the per-pixel categorical, shape (B, 1, H, W)."""
        return (self.logits(z, t).softmax(1) * self.levels.reshape(1, -1, 1, 1)).sum(1, keepdim=True)

    # --- the bound ----------------------------------------------------------------------------------
    def decoder_log_probs(self, z0: torch.Tensor) -> torch.Tensor:
        """log p(x = x_k | z_0) per pixel, shape (B, L, H, W); a softmax over k (sums to 1 over dim 1)."""
        g0 = self.gamma(torch.zeros(z0.shape[0], device=z0.device))
        return self._level_loglik(z0, g0).log_softmax(1)

    def prior_loss(self, x: torch.Tensor) -> torch.Tensor:
        """KL(q(z_1 | x) || N(0, I)) in nats per image, shape (B,)."""
        alpha, sigma = self.alpha_sigma(self.gamma(torch.ones(())))
        kl = 0.5 * (sigma ** 2 + (alpha * x) ** 2 - 1 - torch.log(sigma ** 2))  # (B, 1, H, W)
        return kl.flatten(1).sum(1)

    def reconstruction_loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """-log p(x | z_0), one draw of z_0 ~ q(z_0 | x), nats per image, shape (B,)."""
        alpha, sigma = self.alpha_sigma(self.gamma(torch.zeros(())))
        z0 = alpha * x + sigma * torch.randn(x.shape, generator=generator)
        k = ((x + 1) * (self.n_levels - 1) / 2).round().long()  # (B, 1, H, W)
        return -self.decoder_log_probs(z0).gather(1, k).flatten(1).sum(1)

    def diffusion_loss(self, x: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None,
                       n_steps: int | None = None) -> torch.Tensor:
        """One-draw estimate of L_diffusion at the given t (B,), nats per image, shape (B,).

        ``n_steps=None``: continuous time, 1/2 gamma'(t) exp(-gamma(t)) ||x - x_hat||^2 (t ~ U(0, 1)).
        ``n_steps=T``: t is rounded up to the grid i/T and the weight is T/2 (SNR(s) - SNR(t)), s = t - 1/T.
        """
        if n_steps is not None:
            t = torch.ceil(t * n_steps).clamp(min=1) / n_steps
        g = self.gamma(t)  # (B,)
        alpha, sigma = self.alpha_sigma(g.reshape(-1, 1, 1, 1))
        z = alpha * x + sigma * torch.randn(x.shape, generator=generator)
        sq_err = ((x - self.denoise(z, t)) ** 2).flatten(1).sum(1)  # (B,)
        if n_steps is None:
            weight = 0.5 * self.gamma_prime() * torch.exp(-g)
        else:
            weight = 0.5 * n_steps * torch.expm1(g - self.gamma(t - 1 / n_steps)) * torch.exp(-g)  # T/2 (SNR(s)-SNR(t))
        return weight * sq_err

    def loss_terms(self, x: torch.Tensor, generator: torch.Generator | None = None, n_steps: int | None = None,
                   t: torch.Tensor | None = None) -> dict:
        """The three terms of -ELBO in nats per image, each of shape (B,), and their sum under "total".

        t defaults to low-discrepancy draws (u + b / B) mod 1.
        """
        _check_levels(x, self.n_levels)
        if t is None:
            u = torch.rand((), generator=generator)
            t = torch.remainder(u + torch.arange(x.shape[0]) / x.shape[0], 1.0)
        terms = {"prior": self.prior_loss(x), "recon": self.reconstruction_loss(x, generator),
                 "diffusion": self.diffusion_loss(x, t, generator, n_steps)}
        terms["total"] = terms["prior"] + terms["recon"] + terms["diffusion"]
        return terms

    @torch.no_grad()
    def bits_per_dim(self, x: torch.Tensor, n_draws: int = 100, n_steps: int | None = None,
                     generator: torch.Generator | None = None, batch_size: int = 500) -> dict:
        """-ELBO in bits/dim averaged over ``n_draws`` draws of (t, eps, z_0) per image.

        Returns a dict: "bits" (the mean over images), "se_mc" (the Monte Carlo standard error of that mean:
        how far another set of draws could move it), "se_images" (the standard error over images: how far
        another test set could move it), "per_image" (N,) bits/dim, and "terms" (prior, recon, diffusion in
        bits/dim).
        """
        if not isinstance(n_draws, int):
            raise ValueError(f"n_draws must be an integer, got {n_draws!r}.")
        dims = x[0].numel() * math.log(2)
        if n_draws < 2:
            raise ValueError(f"n_draws must be at least 2 to estimate the Monte Carlo error, got {n_draws}.")
        sums = {k: torch.zeros(len(x), dtype=torch.float64) for k in ("prior", "recon", "diffusion", "total")}
        squares = torch.zeros(len(x), dtype=torch.float64)  # sum over draws of total^2, per image
        for _ in range(n_draws):
            for i in range(0, len(x), batch_size):
                terms = self.loss_terms(x[i:i + batch_size], generator, n_steps)
                for k in sums:
                    sums[k][i:i + batch_size] += terms[k].double()
                squares[i:i + batch_size] += terms["total"].double() ** 2
        per_image = sums["total"] / n_draws / dims  # (N,)
        draw_var = (squares / n_draws / dims ** 2 - per_image ** 2) * n_draws / (n_draws - 1)  # (N,) per-draw variance
        return {"bits": float(per_image.mean()), "se_mc": float(draw_var.clamp(min=0).sum().sqrt() / (len(x) * math.sqrt(n_draws))),
                "se_images": float(per_image.std() / math.sqrt(len(x))), "per_image": per_image,
                "terms": {k: float(sums[k].mean() / n_draws / dims) for k in ("prior", "recon", "diffusion")}}

    @torch.no_grad()
    def sample(self, n: int, n_steps: int = 200, generator: torch.Generator | None = None,
               shape: tuple = (1, 8, 8)) -> torch.Tensor:
        """Ancestral samples with T = ``n_steps``, then the decoder's most probable level: integer levels (n, *shape)."""
        z = torch.randn((n, *shape), generator=generator)
        for i in range(n_steps, 0, -1):
            t, s = torch.full((n,), i / n_steps), torch.full((n,), (i - 1) / n_steps)
            g_t, g_s = self.gamma(t).reshape(-1, 1, 1, 1), self.gamma(s).reshape(-1, 1, 1, 1)
            (a_t, s_t), (a_s, s_s) = self.alpha_sigma(g_t), self.alpha_sigma(g_s)
            x_hat = self.denoise(z, t)
            c = -torch.expm1(g_s - g_t)  # 1 - SNR(t) / SNR(s)
            mean = a_s * (z * (1 - c) / a_t + c * x_hat)
            z = mean + (s_s ** 2 * c).sqrt() * torch.randn(z.shape, generator=generator)
        return self.decoder_log_probs(z).argmax(1, keepdim=True).float()


def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters()):
            pe.lerp_(p, 1 - decay)


def fit_vdm(x_train: torch.Tensor, x_val: torch.Tensor, *, seed: int | torch.Generator = 0, epochs: int = 200, batch_size: int = 64,
            lr: float = 2e-3, ema_decay: float = 0.999, eval_every: int = 10, eval_draws: int = 4,
            max_cpu_seconds: float | None = None, verbose: bool = False, **model_kwargs) -> tuple[VDM, dict]:
    """Train a ``VDM`` on the continuous-time bound; keep the EMA weights with the lowest validation bound.

    Parameters
    ----------
    x_train, x_val : torch.Tensor, shape (N, 1, H, W)
        Digits on the level grid in [-1, 1] (``levels_to_signed``).
    epochs : int
        Passes over x_train; the validation bound (``eval_draws`` draws per image, continuous time)
        is measured on the EMA weights every ``eval_every`` epochs and at the end.
    max_cpu_seconds : float, optional
        Stop after this much process CPU time (checked after each epoch; a last validation is run).
    seed : int or torch.Generator (a Generator gives one int, ``as_seed``)
        Seeds the initial weights (the caller's global random states are restored after), the batches
        and the training noise.
    **model_kwargs
        Passed to ``VDM``.

    Returns
    -------
    model : VDM
        The EMA weights with the lowest validation bound, in eval mode.
    info : dict
        "val_bits" (list of (epoch, bits)), "best_epoch", "epochs_run", "cpu_seconds", "seconds".
    """
    for name, x in (("x_train", x_train), ("x_val", x_val)):
        if x.ndim != 4:
            raise ValueError(f"{name} must have shape (N, 1, H, W), got {tuple(x.shape)}; use load_digits(..., "
                             f"shape='image') and levels_to_signed.")
    from genlib.train import as_generator, as_seed, device_of, epoch_batches, isolated_rng, run_steps

    seed = as_seed(seed)
    g = as_generator(seed)
    g_val = as_generator(10_000 + seed)
    per_epoch = math.ceil(len(x_train) / batch_size)
    batch_index = epoch_batches(len(x_train), batch_size, g)
    history, current = [], [0]

    def step(i: int) -> dict:
        current[0] = i
        loss = model.loss_terms(x_train[batch_index(i)], g)["total"].mean()  # the permutation, then the noise
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        _ema_update(ema, model, ema_decay)
        return {"loss": loss}

    def evaluate() -> float:
        ep = current[0] // per_epoch
        ema.eval()
        g_val.manual_seed(10_000 + seed)  # the same draws at every evaluation: epochs compared on equal noise
        bits = ema.bits_per_dim(x_val, eval_draws, generator=g_val)["bits"]
        history.append((ep, bits))
        if verbose:
            print(f"epoch {ep}: val {bits:.4f} bits/dim, gamma [{float(ema.gamma(torch.zeros(())).detach()):.2f}, "
                  f"{float(ema.gamma(torch.ones(())).detach()):.2f}], {time.process_time() - cpu0:.0f} CPU-s", flush=True)
        return bits

    def out_of_time(i: int) -> bool:  # checked after each epoch
        return (i % per_epoch == 0 and max_cpu_seconds is not None
                and time.process_time() - cpu0 > max_cpu_seconds)

    def due(i: int) -> bool:  # every eval_every epochs and after the last
        return i % per_epoch == 0 and (i // per_epoch % eval_every == 0 or i == epochs * per_epoch)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    with isolated_rng(seed):
        model = VDM(**model_kwargs)
        ema = copy.deepcopy(model)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
        run = run_steps(step, epochs * per_epoch, modules=(model,), device=device_of(model), validate=evaluate, validate_at=due,
                        stop=out_of_time, keep_best=True, keep=(ema,), ties="earliest", description="VDM")
    best_epoch, epoch = run["best_step"] // per_epoch, run["steps_run"] // per_epoch
    ema.eval()
    return ema, {"val_bits": history, "best_epoch": best_epoch, "epochs_run": epoch,
                 "cpu_seconds": time.process_time() - cpu0, "seconds": time.perf_counter() - wall0}
