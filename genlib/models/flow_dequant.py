"""An autoregressive spline flow with variational dequantisation, for the 17-level 8x8 digits.

Unit 05's RealNVP models a *density* p(v) on the cube [0, 1)^64 and scores the discrete digits with
uniform dequantisation: a digit x (levels 0..L-1, L = 17) owns the cell {v = (x + u) / L, u in [0, 1)^64},
its probability is P(x) = integral of p over the cell, and Jensen's inequality gives the bound

    -log P(x) <= E_{u ~ U}[-log p((x + u) / L)] + D log L.                          (uniform)

Two things limit that number: the density model, and the Jensen gap (how far p is from flat inside each
cell). This module repairs both.

**The density: an autoregressive flow.** In raster order, pixel i is pushed through a monotone
rational-quadratic spline g_i of [0, 1] onto [0, 1] (Durkan et al., 2019) whose K bin widths, K bin
heights and K + 1 knot derivatives are computed by a masked convolutional network from the pixels
before it (the PixelCNN's masks, ``genlib.models.pixelcnn.MaskedConv2d``):

    z_i = g_i(v_i; theta_i(v_<i)),      z ~ Uniform[0, 1)^64,
    log p(v) = sum_i log g_i'(v_i; theta_i(v_<i)).

The Jacobian dz/dv is triangular (z_i depends on v_<=i only), so its log-determinant is the sum of the
64 diagonal log-derivatives. This is a masked autoregressive flow (MAF, Papamakarios et al., 2017) with
spline transforms: a normalising flow with an exact density, evaluated in one network pass and
inverted (sampled) in 64 passes, one pixel at a time. The base is uniform, so log p(z) = 0.

**The dequantiser: a conditional flow q(u | x)** (variational dequantisation, Flow++, Ho et al., 2019).
Instead of uniform noise, u is drawn from a flow on [0, 1)^64 conditioned on the digit:
e ~ Uniform[0, 1)^64, then layers u <- h_l(u; phi_l(x, u_cond)) of the same monotone splines whose
parameters come from a plain (unmasked) convolutional network that sees the whole digit x and, in the
checkerboard layers, the half of u that the layer leaves unchanged. Then

    -log P(x) <= E_{u ~ q(.|x)}[-log p((x + u) / L) + log q(u | x)] + D log L,       (variational)

because P(x) = L^-D E_q[p((x + u) / L) / q(u | x)] and log is concave. The gap is now the KL divergence
from q(u | x) to the model's own within-cell distribution, and training the two flows together shrinks
it. The importance-weighted form with S draws,

    -log P(x) <= -log (1/S) sum_s p((x + u_s) / L) / q(u_s | x) + D log L,  u_s ~ q(.|x),

is tighter and tends to -log P(x) as S grows (``DequantizedFlow.nll_bound``). Uniform dequantisation is
the special case q = Uniform (``dequantizer=None``), which makes the two numbers directly comparable.

Symbols and names: L ``n_levels``; D = 64; K ``n_bins``; v ``v`` (B, 64) in [0, 1); u ``u``; x ``x``
(levels, (B, 64)); log p(v) ``ARSplineFlow.log_prob``; log q(u | x) ``Dequantizer.sample``'s second
output; S ``n_samples``. Bits per dimension divide a bound in nats by 64 ln 2, the convention of
``genlib.metrics.bits_per_dim`` and of unit 05 and unit 08's tables.

Layer: a model (``genlib.models``); imports torch, ``genlib._validation``, ``genlib.models.flows.spline``,
``genlib.models.pixelcnn``.
"""
from __future__ import annotations

import math
import time

import torch
from torch import nn
from torch.nn import functional as F

from genlib._validation import as_seed, check_positive
from genlib.models.flows.spline import IDENTITY_RAW_DERIVATIVE, monotone_spline
from genlib.models.pixelcnn import MaskedConv2d
from genlib.train import device_of, epoch_batches, run_steps

N_LEVELS = 17
SIDE = 8
DIM = SIDE * SIDE


def unit_spline(x: torch.Tensor, raw_widths: torch.Tensor, raw_heights: torch.Tensor, raw_derivatives: torch.Tensor,
                *, inverse: bool = False, min_bin: float = 1e-3,
                min_derivative: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """A monotone rational-quadratic spline of [0, 1] onto [0, 1] with K bins and free end slopes.

    Unlike ``genlib.models.flows.rational_quadratic_spline`` (identity tails, end slopes fixed to 1),
    the map is the whole interval: knots (x_k, y_k) run from (0, 0) to (1, 1) and all K + 1 knot
    derivatives are learned, so the density g'(v) may be large at the edges (pixel level 0 or 16).
    Both are ``genlib.models.flows.spline.monotone_spline``: this one with ``tails="clamp"`` on [0, 1].

    Parameters
    ----------
    x : torch.Tensor, shape (N,)
        Points in [0, 1] (outputs of the spline when ``inverse``); clamped to [0, 1].
    raw_widths, raw_heights : torch.Tensor, shape (N, K)
        Unnormalised bin widths and heights (a softmax over the K bins).
    raw_derivatives : torch.Tensor, shape (N, K + 1)
        Unnormalised derivatives at the K + 1 knots (softplus, plus ``min_derivative``).
    inverse : bool
        Evaluate the inverse map (one quadratic per point).

    Returns
    -------
    y : torch.Tensor, shape (N,)
    log_det : torch.Tensor, shape (N,)
        log |dy/dx| of the map evaluated (the inverse's when ``inverse``).
    """
    return monotone_spline(x, raw_widths, raw_heights, raw_derivatives, left=0.0, right=1.0, tails="clamp",
                           inverse=inverse, min_bin=min_bin, min_derivative=min_derivative)


def _spline_params(h: torch.Tensor, n_bins: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split a (B, 3K + 1, 8, 8) map into per-pixel widths, heights, derivatives, each (B * 64, .)."""
    p = h.permute(0, 2, 3, 1).reshape(-1, 3 * n_bins + 1)  # (B * 64, 3K + 1), pixels in raster order
    return p[:, :n_bins], p[:, n_bins:2 * n_bins], p[:, 2 * n_bins:] + IDENTITY_RAW_DERIVATIVE


def _zero_init(conv: nn.Conv2d) -> nn.Conv2d:
    with torch.no_grad():  # start as the identity map (uniform density), every weight still gets a gradient
        conv.weight.mul_(0.01)
        conv.bias.zero_()
    return conv


def _check_v(v, name: str = "v") -> torch.Tensor:
    if not isinstance(v, torch.Tensor) or v.ndim != 2 or v.shape[1] != DIM:
        shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
        raise ValueError(f"{name} must be a tensor of shape (B, 64) with values in [0, 1], got {shape}. "
                         "Flatten 8x8 images with x.reshape(len(x), 64).")
    return v


def _check_levels(x, n_levels: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != DIM:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of levels with shape (B, 64), got {shape}. Load the digits with "
                         "load_digits(split, scale='levels').")
    if not bool(((x == x.round()) & (x >= 0) & (x <= n_levels - 1)).all()):
        raise ValueError(f"x must hold integer levels 0..{n_levels - 1}, got values in [{x.min().item():g}, "
                         f"{x.max().item():g}]. Use load_digits(..., scale='levels'), not scale='unit'.")
    return x.float()


class ARSplineFlow(nn.Module):
    """An autoregressive flow on [0, 1)^64: pixel i through a spline whose parameters see pixels < i.

    Parameters
    ----------
    n_bins : int
        K, bins of each pixel's spline.
    channels, n_layers, head_channels : int
        The masked network: a 7x7 type-A layer, ``n_layers`` 3x3 type-B layers of ``channels``, then 1x1
        layers of ``head_channels`` and 3K + 1 (the spline parameters of each pixel).
    n_levels : int
        L: the input v enters as 2v - 1 and as L smooth bumps exp(-(L v - k - 1/2)^2 / 2), k = 0..L-1, a
        continuous encoding that lets the first layer read the level a value lies near.
    dropout : float in [0, 1)
        Dropout after every ReLU while training.
    """

    def __init__(self, n_bins: int = 16, channels: int = 64, n_layers: int = 6, head_channels: int = 128,
                 n_levels: int = N_LEVELS, dropout: float = 0.0):
        super().__init__()
        for name, value, low in (("n_bins", n_bins, 2), ("channels", channels, 1), ("n_layers", n_layers, 0),
                                 ("head_channels", head_channels, 1), ("n_levels", n_levels, 2)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}.")
        self.n_bins, self.n_levels = n_bins, n_levels

        def relu() -> list[nn.Module]:
            return [nn.ReLU(), nn.Dropout(dropout)] if dropout > 0 else [nn.ReLU()]

        layers: list[nn.Module] = [MaskedConv2d(1 + n_levels, channels, 7, "A")]
        for _ in range(n_layers):
            layers += [*relu(), MaskedConv2d(channels, channels, 3, "B")]
        layers += [*relu(), nn.Conv2d(channels, head_channels, 1), *relu(),
                   _zero_init(nn.Conv2d(head_channels, 3 * n_bins + 1, 1))]
        self.net = nn.Sequential(*layers)
        self.register_buffer("centres", (torch.arange(n_levels) + 0.5)[None, :, None, None], persistent=False)

    def features(self, v: torch.Tensor) -> torch.Tensor:
        """The network's input: 2v - 1 and L bumps centred on the cells, (B, 1 + L, 8, 8)."""
        img = v.reshape(-1, 1, SIDE, SIDE)
        return torch.cat([2 * img - 1, torch.exp(-0.5 * (self.n_levels * img - self.centres) ** 2)], dim=1)

    def forward(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalising direction: z (B, 64) in [0, 1] and log |det dz/dv| (B,)."""
        v = _check_v(v)
        w, h, d = _spline_params(self.net(self.features(v)), self.n_bins)
        z, log_det = unit_spline(v.reshape(-1), w, h, d)
        return z.reshape(-1, DIM), log_det.reshape(-1, DIM).sum(1)

    def log_prob(self, v: torch.Tensor) -> torch.Tensor:
        """log p(v) = sum_i log g_i'(v_i) (the uniform base adds 0), nats, shape (B,)."""
        return self.forward(v)[1]

    @torch.no_grad()
    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Generating direction, pixel by pixel in raster order (64 passes): v (B, 64) with g(v) = z."""
        z = _check_v(z, "z")
        v = torch.zeros_like(z)
        for i in range(DIM):
            w, h, d = _spline_params(self.net(self.features(v)), self.n_bins)
            rows = torch.arange(len(z)) * DIM + i  # pixel i of every image in the (B * 64, .) parameters
            v[:, i] = unit_spline(z[:, i], w[rows], h[rows], d[rows], inverse=True)[0]
        return v

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws v = g^{-1}(z), z ~ Uniform[0, 1)^64, shape (n, 64) (floor(L v) gives the levels)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        was = self.training
        self.eval()
        v = self.inverse(torch.rand(n, DIM, generator=generator))
        self.train(was)
        return v


class Dequantizer(nn.Module):
    """q(u | x): a conditional flow of uniform noise e ~ U[0, 1)^64 onto u in [0, 1]^64, given the digit x.

    Layer 0 moves every u_i with a spline whose parameters see the whole digit (a factorised q); each
    further layer is a checkerboard coupling: the pixels of one colour move, with parameters that see x
    and the pixels of the other colour (so q can correlate neighbouring u's). ``sample`` returns u and
    log q(u | x) = -sum of the layers' log-derivatives (the base density is 1).

    Parameters
    ----------
    n_couplings : int
        Checkerboard layers after the first (0 gives a factorised q).
    n_bins, channels, n_layers : int
        Each layer's spline bins and its 3x3 conv network (``n_layers`` hidden layers of ``channels``).
    n_levels : int
        L (x enters one-hot).
    """

    def __init__(self, n_couplings: int = 2, n_bins: int = 8, channels: int = 32, n_layers: int = 2,
                 n_levels: int = N_LEVELS):
        super().__init__()
        for name, value, low in (("n_couplings", n_couplings, 0), ("n_bins", n_bins, 2), ("channels", channels, 1),
                                 ("n_layers", n_layers, 1), ("n_levels", n_levels, 2)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        self.n_bins, self.n_levels = n_bins, n_levels
        board = ((torch.arange(SIDE)[:, None] + torch.arange(SIDE)[None, :]) % 2).float().reshape(DIM)
        masks = [torch.ones(DIM)] + [board if k % 2 == 0 else 1 - board for k in range(n_couplings)]
        self.register_buffer("moves", torch.stack(masks), persistent=False)  # (layers, 64): 1 where u moves

        def net() -> nn.Sequential:
            layers: list[nn.Module] = [nn.Conv2d(n_levels + 1, channels, 3, padding=1), nn.ReLU()]
            for _ in range(n_layers - 1):
                layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
            return nn.Sequential(*layers, _zero_init(nn.Conv2d(channels, 3 * n_bins + 1, 1)))

        self.nets = nn.ModuleList(net() for _ in masks)

    def sample(self, x: torch.Tensor, *, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """u ~ q(. | x), shape (B, 64) in [0, 1), and log q(u | x), shape (B,). x: levels (B, 64)."""
        x = _check_levels(x, self.n_levels)
        return self.transform(x, torch.rand(x.shape, generator=generator))

    def transform(self, x: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The map e -> u given x, and log q(u | x) = -log |det du/de| (B,). x: levels, e: (B, 64) in [0, 1)."""
        x, e = _check_levels(x, self.n_levels), _check_v(e, "e")
        one_hot = F.one_hot(x.long(), self.n_levels).permute(0, 2, 1).reshape(-1, self.n_levels, SIDE, SIDE)
        one_hot = one_hot.to(e.dtype)
        u, log_q = e, e.new_zeros(len(e))
        for move, net in zip(self.moves, self.nets):
            seen = (u * (1 - move)).reshape(-1, 1, SIDE, SIDE)  # the half this layer leaves unchanged
            w, h, d = _spline_params(net(torch.cat([one_hot, seen], dim=1)), self.n_bins)
            y, log_det = unit_spline(u.reshape(-1), w, h, d)
            u = move * y.reshape(-1, DIM) + (1 - move) * u
            log_q = log_q - (move * log_det.reshape(-1, DIM)).sum(1)
        return u.clamp(max=1 - 1e-6), log_q  # [0, 1): the top edge belongs to the next cell


class DequantizedFlow(nn.Module):
    """A density flow on [0, 1)^64 and a dequantiser: a model of the L-level digits with a bound on -log P(x).

    Parameters
    ----------
    flow : ARSplineFlow
        The density p(v) on [0, 1)^64.
    dequantizer : Dequantizer or None
        q(u | x); ``None`` is uniform dequantisation (u ~ U[0, 1)^64, log q = 0).
    n_levels : int
        L.
    """

    def __init__(self, flow: ARSplineFlow, dequantizer: Dequantizer | None = None, n_levels: int = N_LEVELS):
        super().__init__()
        if not isinstance(flow, nn.Module) or not hasattr(flow, "log_prob"):
            raise TypeError(f"flow must be a density flow with log_prob (an ARSplineFlow), got {type(flow).__name__}.")
        if dequantizer is not None and not isinstance(dequantizer, Dequantizer):
            raise TypeError(f"dequantizer must be a Dequantizer or None (uniform dequantisation), "
                            f"got {type(dequantizer).__name__}.")
        self.flow, self.dequantizer, self.n_levels = flow, dequantizer, n_levels

    def log_weight(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw of log p((x + u) / L) - log q(u | x) - D log L, u ~ q(. | x): its mean is a lower bound on log P(x).

        x: levels, (B, 64). Returns nats, shape (B,).
        """
        x = _check_levels(x, self.n_levels)
        if self.dequantizer is None:
            u, log_q = torch.rand(x.shape, generator=generator), torch.zeros(len(x))
        else:
            u, log_q = self.dequantizer.sample(x, generator=generator)
        v = ((x + u) / self.n_levels).clamp(0.0, 1.0)
        return self.flow.log_prob(v) - log_q - DIM * math.log(self.n_levels)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The training loss: the mean one-draw bound on -log P(x), nats per image."""
        return -self.log_weight(x).mean()

    @torch.no_grad()
    def nll_bound(self, x: torch.Tensor, n_samples: int = 1, *, generator: torch.Generator | None = None,
                  batch_size: int = 512) -> torch.Tensor:
        """-log (1/S) sum_s exp(log_weight_s): an upper bound on -log P(x) of each image, nats, (B,), float64.

        S = ``n_samples`` draws of u per image; S = 1 is the plain (variational) bound, and the bound falls
        towards -log P(x) as S grows.
        """
        if not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        x = _check_levels(x, self.n_levels)
        was = self.training
        self.eval()
        out = []
        per_pass = max(1, batch_size // n_samples)
        for i in range(0, len(x), per_pass):
            chunk = x[i:i + per_pass]
            reps = chunk.repeat_interleave(n_samples, 0) if n_samples <= batch_size else chunk
            if n_samples <= batch_size:
                lw = self.log_weight(reps, generator=generator).double().reshape(len(chunk), n_samples)
            else:  # one image at a time, in passes of batch_size draws
                lw = torch.cat([self.log_weight(chunk.expand(min(batch_size, n_samples - s), DIM),
                                                generator=generator).double()
                                for s in range(0, n_samples, batch_size)])[None]
            out.append(math.log(n_samples) - torch.logsumexp(lw, dim=1))
        self.train(was)
        return torch.cat(out)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n digits: v from the flow, levels floor(L v), shape (n, 64) (float, 0..L-1)."""
        v = self.flow.sample(n, generator=generator)
        return (v * self.n_levels).floor().clamp(0, self.n_levels - 1)


def bits_per_dim(nll_nats: torch.Tensor) -> float:
    """Mean of a bound in nats per image, in bits per dimension: nats / (64 ln 2)."""
    return float(nll_nats.double().mean() / (DIM * math.log(2)))


def fit_dequantized_flow(model: DequantizedFlow, x_train: torch.Tensor, x_val: torch.Tensor, *, epochs: int = 30,
                         batch_size: int = 32, lr: float = 1e-3, seed: int | torch.Generator = 0, cpu_seconds: float | None = None,
                         validate_every: int = 1, log=None) -> dict:
    """Train the flow and its dequantiser together on the one-draw bound; keep the best validation epoch.

    Runs through ``genlib.train.run_steps`` (one step per mini-batch, validation at the ends of epochs).

    Adam with a cosine decay of the learning rate over ``epochs``. After every ``validate_every`` epochs the
    one-draw bound of ``x_val`` (a fixed generator, so epochs are compared on the same noise) is measured;
    the weights of the lowest are kept. Training stops early when the process CPU time exceeds ``cpu_seconds``.

    Parameters
    ----------
    model : DequantizedFlow
    x_train, x_val : torch.Tensor, shapes (N, 64), (M, 64)
        Levels (``load_digits(split, scale="levels")``).
    epochs, batch_size : int
    lr : float
    seed : int or torch.Generator
        Seeds the global generators for training (shuffling, dequantisation noise; a Generator gives one
        int seed, ``as_seed``); the caller's global random states are restored afterwards.
    cpu_seconds : float, optional
        A CPU-time budget (``time.process_time``).
    log : callable, optional
        Called with a line of text after each validation.

    Returns
    -------
    dict
        "val_bits_per_dim" (per validation), "best_epoch", "best_val_bits_per_dim", "epochs_run",
        "cpu_seconds", "seconds".
    """
    for name, x in (("x_train", x_train), ("x_val", x_val)):
        _check_levels(x, model.n_levels)
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    check_positive("lr", lr)
    seed = as_seed(seed)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    batch_index = epoch_batches(len(x_train), batch_size)  # reshuffled with torch's global generator (seeded by seed)
    at = [0]  # the step the loop is at

    def step(i: int) -> dict:
        loss = model.loss(x_train[batch_index(i)])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the bound became {loss.item()} in epoch {(i - 1) // steps_per_epoch + 1}; "
                                     "lower lr.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        return {}

    def out_of_time(i: int) -> bool:  # asked at the end of each epoch
        return i % steps_per_epoch == 0 and cpu_seconds is not None and time.process_time() - cpu0 > cpu_seconds

    def validate_at(i: int) -> bool:
        at[0] = i
        epoch, within = divmod(i, steps_per_epoch)
        return within == 0 and (epoch % validate_every == 0 or epoch == epochs)

    def validate() -> float:  # the one-draw bound on fixed noise, so that epochs compare on equal terms
        val = bits_per_dim(model.nll_bound(x_val, generator=torch.Generator().manual_seed(0)))
        if log is not None:
            log(f"epoch {at[0] // steps_per_epoch}: validation bound {val:.4f} bits/dim, "
                f"{time.process_time() - cpu0:.0f} CPU-s")
        return val

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    run = run_steps(step, epochs * steps_per_epoch, modules=[model], seed=seed, device=device_of(model),
                    validate=validate, validate_at=validate_at, stop=out_of_time, keep_best=True, ties="earliest")
    return {"val_bits_per_dim": run["val"], "best_epoch": run["best_step"] // steps_per_epoch,
            "best_val_bits_per_dim": min(run["val"]), "epochs_run": run["steps_run"] // steps_per_epoch,
            "cpu_seconds": time.process_time() - cpu0, "seconds": time.perf_counter() - wall0}
