"""Normalising flows built from affine coupling layers (RealNVP, Dinh et al., 2017).

A flow writes the data as an invertible function of Gaussian noise, x = f(z), z ~ N(0, I).
Its exact log-likelihood is the change of variables

    log p(x) = log N(f^{-1}(x); 0, I) + log |det d f^{-1}(x) / dx|.

Convention of this module: every layer's ``forward`` is the *normalising* direction
(data -> noise, a piece of f^{-1}) and returns ``(y, log_det)`` with
``log_det = log |det dy/dx|``, one value per example; ``inverse`` is the *generating*
direction (noise -> data, a piece of f) and returns ``(x, log_det)`` with the log-det of
that inverse map, which is minus the forward one.

Layers: ``AffineCoupling`` (the workhorse: triangular Jacobian, log-det = sum of
log-scales, an inverse as cheap as the forward), ``SplineCoupling`` (the same idea with a
monotone rational-quadratic spline, for sharply multimodal data), ``Permutation`` and ``InvertibleLinear``
(mixing between couplings, Glow's 1x1 convolution for vectors), ``ActNorm`` (a per-dimension
affine map initialised from the first batch), ``LogitTransform`` (maps (0, 1) to the real
line, for dequantised images). ``Flow`` chains them; ``realnvp`` builds a standard stack.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import nn

from genlib._validation import as_tensor, check_ndim, check_positive


def _check_batch(name: str, x, dim: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, {dim}), got {type(x).__name__}. "
                        f"Convert it with torch.as_tensor({name}, dtype=torch.float32).")
    check_ndim(name, x, 2, f"(B, {dim})")
    if x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (B, {dim}) for this layer of dimension {dim}, "
                         f"got {tuple(x.shape)}.")
    return x


def _mlp(d_in: int, d_out: int, hidden: int, n_hidden: int, dropout: float = 0.0) -> nn.Sequential:
    if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}.")
    layers, width = [], d_in
    for _ in range(n_hidden):
        layers += [nn.Linear(width, hidden), nn.SiLU()] + ([nn.Dropout(dropout)] if dropout > 0 else [])
        width = hidden
    last = nn.Linear(width, d_out)
    with torch.no_grad():  # start close to the identity map, but not exactly: every weight gets a gradient
        last.weight.mul_(0.01)
        last.bias.zero_()
    return nn.Sequential(*layers, last)


class AffineCoupling(nn.Module):
    """Affine coupling layer: y = m * x + (1 - m) * (x * exp(s(m * x)) + t(m * x)).

    The entries where the binary mask ``m`` is 1 (the conditioning half) pass through
    unchanged and feed a network that outputs the log-scales ``s`` and shifts ``t`` of the
    other half. The Jacobian is triangular, so log |det dy/dx| = sum over the transformed
    entries of s; the inverse, x = m * y + (1 - m) * (y - t) * exp(-s), costs one pass of the
    same network.

    Parameters
    ----------
    mask : tensor of 0/1, shape (D,)
        1 marks the conditioning entries (left untouched), 0 the transformed ones.
    hidden : int
        Width of the hidden layers of the s, t network.
    n_hidden : int
        Number of hidden layers.
    dropout : float
        Dropout after each hidden layer (a regulariser for small data sets; active in
        training mode only, so ``eval()`` makes the layer deterministic and invertible).
    """

    def __init__(self, mask, hidden: int = 64, n_hidden: int = 2, dropout: float = 0.0):
        super().__init__()
        mask = as_tensor("mask", mask, dtype=torch.float32)
        check_ndim("mask", mask, 1, "(D,)")
        if not bool(((mask == 0) | (mask == 1)).all()) or mask.sum() in (0, len(mask)):
            raise ValueError("mask must hold 0s and 1s with at least one of each (1 = conditioning entry), "
                             f"got {mask.tolist()}.")
        if not isinstance(hidden, int) or hidden < 1 or not isinstance(n_hidden, int) or n_hidden < 1:
            raise ValueError(f"hidden and n_hidden must be positive integers, got {hidden!r} and {n_hidden!r}.")
        self.register_buffer("mask", mask)  # (D,)
        self.dim = len(mask)
        self.net = _mlp(self.dim, 2 * self.dim, hidden, n_hidden, dropout)
        self.scale = nn.Parameter(torch.ones(self.dim))  # s = scale * tanh(.) keeps early steps bounded

    def log_scale_and_shift(self, x_cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """s and t for the transformed entries (zero on the conditioning ones), each (B, D)."""
        raw_s, t = self.net(x_cond).chunk(2, dim=1)  # (B, D) each
        free = 1 - self.mask
        return self.scale * torch.tanh(raw_s) * free, t * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalising direction. Returns y (B, D) and log |det dy/dx| (B,)."""
        x = _check_batch("x", x, self.dim)
        x_cond = x * self.mask
        s, t = self.log_scale_and_shift(x_cond)
        y = x_cond + (1 - self.mask) * (x * torch.exp(s) + t)
        return y, s.sum(dim=1)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generating direction. Returns x (B, D) and log |det dx/dy| = -sum(s) (B,)."""
        y = _check_batch("y", y, self.dim)
        y_cond = y * self.mask
        s, t = self.log_scale_and_shift(y_cond)
        x = y_cond + (1 - self.mask) * (y - t) * torch.exp(-s)
        return x, -s.sum(dim=1)


def rational_quadratic_spline(x, raw_widths, raw_heights, raw_derivatives, *, bound: float, inverse: bool = False,
                              min_bin: float = 1e-3, min_derivative: float = 1e-3):
    """Monotone rational-quadratic spline on [-bound, bound], identity outside (Durkan et al., 2019).

    Parameters
    ----------
    x : torch.Tensor, shape (N,)
        Inputs (outputs of the spline when ``inverse``).
    raw_widths, raw_heights : torch.Tensor, shape (N, K)
        Unnormalised bin widths and heights (softmax over the K bins).
    raw_derivatives : torch.Tensor, shape (N, K - 1)
        Unnormalised derivatives at the K - 1 inner knots (softplus); the outer two are 1,
        so the spline joins the identity tails smoothly.
    bound : float
    inverse : bool
        Evaluate the inverse spline (solves a quadratic per point).

    Returns
    -------
    y : torch.Tensor, shape (N,)
    log_det : torch.Tensor, shape (N,)
        log |dy/dx| of the map evaluated (the inverse's when ``inverse``).
    """
    n_bins = raw_widths.shape[-1]
    inside = (x > -bound) & (x < bound)
    x_in = x.clamp(-bound, bound)

    def knots(raw):
        sizes = min_bin + (1 - min_bin * n_bins) * torch.softmax(raw, dim=-1)  # (N, K), sum to 1
        cum = nn.functional.pad(torch.cumsum(sizes, dim=-1), (1, 0))  # (N, K + 1), 0..1
        cum = 2 * bound * cum - bound
        cum = torch.cat([cum[:, :1].detach() * 0 - bound, cum[:, 1:-1], cum[:, -1:].detach() * 0 + bound], dim=-1)
        return cum, cum[:, 1:] - cum[:, :-1]

    cum_w, widths = knots(raw_widths)
    cum_h, heights = knots(raw_heights)
    inner = min_derivative + nn.functional.softplus(raw_derivatives)  # (N, K - 1)
    ones = torch.ones_like(inner[:, :1])
    derivatives = torch.cat([ones, inner, ones], dim=-1)  # (N, K + 1)
    edges = cum_h if inverse else cum_w
    index = (x_in[:, None] >= edges[:, :-1]).sum(dim=-1).clamp(1, n_bins)[:, None] - 1  # (N, 1): the bin of each point

    def pick(t):
        return t.gather(-1, index)[:, 0]

    x_k, w_k, y_k, h_k = pick(cum_w), pick(widths), pick(cum_h), pick(heights)
    d_k, d_k1 = pick(derivatives), pick(derivatives[:, 1:])
    slope = h_k / w_k
    if inverse:
        dy = x_in - y_k
        a = h_k * (slope - d_k) + dy * (d_k1 + d_k - 2 * slope)
        b = h_k * d_k - dy * (d_k1 + d_k - 2 * slope)
        c = -slope * dy
        theta = (2 * c) / (-b - torch.sqrt((b**2 - 4 * a * c).clamp_min(0)))
        out = theta * w_k + x_k
    else:
        theta = (x_in - x_k) / w_k
        out = y_k + h_k * (slope * theta**2 + d_k * theta * (1 - theta)) / (
            slope + (d_k1 + d_k - 2 * slope) * theta * (1 - theta))
    one_minus = theta * (1 - theta)
    denominator = slope + (d_k1 + d_k - 2 * slope) * one_minus
    log_derivative = (2 * torch.log(slope) + torch.log(d_k1 * theta**2 + 2 * slope * one_minus + d_k * (1 - theta) ** 2)
                      - 2 * torch.log(denominator))
    y = torch.where(inside, out, x)
    log_det = torch.where(inside, -log_derivative if inverse else log_derivative, torch.zeros_like(x))
    return y, log_det


class SplineCoupling(nn.Module):
    """Coupling layer with a monotone rational-quadratic spline instead of an affine map (Neural Spline Flows).

    Like ``AffineCoupling``, the entries where ``mask`` is 1 are copied and condition a network;
    each other entry goes through its own monotone spline with ``n_bins`` bins on
    [-bound, bound] (identity outside). A spline can squeeze and stretch different parts of
    the line differently, so one layer can split a Gaussian into several narrow modes, which
    an affine map (one scale per point) cannot. The Jacobian is still triangular.

    Parameters
    ----------
    mask : tensor of 0/1, shape (D,)
    n_bins : int
        K, bins of each spline.
    bound : float
        The splines act on [-bound, bound].
    hidden, n_hidden : int
        Width and depth of the conditioning network.
    """

    def __init__(self, mask, n_bins: int = 16, bound: float = 4.0, hidden: int = 64, n_hidden: int = 2):
        super().__init__()
        mask = as_tensor("mask", mask, dtype=torch.float32)
        check_ndim("mask", mask, 1, "(D,)")
        if not bool(((mask == 0) | (mask == 1)).all()) or mask.sum() in (0, len(mask)):
            raise ValueError("mask must hold 0s and 1s with at least one of each (1 = conditioning entry), "
                             f"got {mask.tolist()}.")
        if not isinstance(n_bins, int) or n_bins < 2:
            raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}.")
        check_positive("bound", bound)
        self.register_buffer("mask", mask)
        self.dim, self.n_bins, self.bound = len(mask), n_bins, float(bound)
        self.net = _mlp(self.dim, self.dim * (3 * n_bins - 1), hidden, n_hidden)
        self._derivative_offset = math.log(math.expm1(1 - 1e-3))  # softplus(offset) + 1e-3 = 1: identity at start

    def _spline(self, x, inverse: bool):
        x = _check_batch("y" if inverse else "x", x, self.dim)
        n, d, k = x.shape[0], self.dim, self.n_bins
        params = self.net(x * self.mask).reshape(n * d, 3 * k - 1)
        out, log_det = rational_quadratic_spline(
            x.reshape(-1), params[:, :k], params[:, k:2 * k], params[:, 2 * k:] + self._derivative_offset,
            bound=self.bound, inverse=inverse)
        out, log_det = out.reshape(n, d), log_det.reshape(n, d)
        free = 1 - self.mask
        return self.mask * x + free * out, (free * log_det).sum(dim=1)

    def forward(self, x):
        """Normalising direction. Returns y (B, D) and log |det dy/dx| (B,)."""
        return self._spline(x, inverse=False)

    def inverse(self, y):
        """Generating direction. Returns x (B, D) and log |det dx/dy| (B,)."""
        return self._spline(y, inverse=True)


class Permutation(nn.Module):
    """A fixed permutation of the entries: y = x[:, order]. Volume preserving (log-det 0).

    Parameters
    ----------
    order : sequence of int, shape (D,)
        A permutation of 0..D-1. ``Permutation.reverse(D)`` flips the order.
    """

    def __init__(self, order):
        super().__init__()
        order = torch.as_tensor(order, dtype=torch.long)
        if order.ndim != 1 or not torch.equal(order.sort().values, torch.arange(len(order))):
            raise ValueError(f"order must be a permutation of 0..D-1, got {order.tolist()}.")
        self.register_buffer("order", order)
        self.register_buffer("inverse_order", torch.argsort(order))
        self.dim = len(order)

    @classmethod
    def reverse(cls, dim: int) -> "Permutation":
        return cls(torch.arange(dim - 1, -1, -1))

    def forward(self, x):
        x = _check_batch("x", x, self.dim)
        return x[:, self.order], x.new_zeros(len(x))

    def inverse(self, y):
        y = _check_batch("y", y, self.dim)
        return y[:, self.inverse_order], y.new_zeros(len(y))


class InvertibleLinear(nn.Module):
    """Learned invertible mixing y = x W^T with W = P L (U + diag(sign * exp(log_s))) (Glow's 1x1 conv).

    The LU form makes log |det W| = sum(log_s) cost O(D). W starts as a random rotation.

    Parameters
    ----------
    dim : int
        D.
    seed : int
        Seed of the initial rotation.
    """

    def __init__(self, dim: int, seed: int = 0):
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}.")
        generator = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
        p, lower, upper = torch.linalg.lu(q)
        diag = torch.diagonal(upper)
        self.dim = dim
        self.register_buffer("p", p.float())
        self.register_buffer("sign", torch.sign(diag).float())
        self.register_buffer("lower_mask", torch.tril(torch.ones(dim, dim), -1))
        self.lower = nn.Parameter(lower.float())
        self.upper = nn.Parameter(torch.triu(upper, 1).float())
        self.log_s = nn.Parameter(torch.log(diag.abs()).float())

    def weight(self) -> torch.Tensor:
        """W, shape (D, D)."""
        lower = self.lower * self.lower_mask + torch.eye(self.dim, device=self.lower.device)
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign * torch.exp(self.log_s))
        return self.p @ lower @ upper

    def forward(self, x):
        x = _check_batch("x", x, self.dim)
        return x @ self.weight().T, self.log_s.sum().expand(len(x))

    def inverse(self, y):
        y = _check_batch("y", y, self.dim)
        x = torch.linalg.solve(self.weight(), y.T).T
        return x, -self.log_s.sum().expand(len(y))


class ActNorm(nn.Module):
    """Per-dimension affine map y = (x - loc) * exp(-log_scale), initialised from data.

    On the first forward call in training mode, ``loc`` and ``log_scale`` are set to the
    batch's mean and log standard deviation, so the output starts standardised (Glow).

    Parameters
    ----------
    dim : int
        D.
    """

    def __init__(self, dim: int):
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}.")
        self.dim = dim
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.tensor(False))

    def forward(self, x):
        x = _check_batch("x", x, self.dim)
        if self.training and not bool(self.initialized):
            with torch.no_grad():
                self.loc.copy_(x.mean(dim=0))
                self.log_scale.copy_(torch.log(x.std(dim=0) + 1e-6) if len(x) > 1 else torch.zeros(self.dim))
                self.initialized.fill_(True)
        y = (x - self.loc) * torch.exp(-self.log_scale)
        return y, (-self.log_scale.sum()).expand(len(x))

    def inverse(self, y):
        y = _check_batch("y", y, self.dim)
        return y * torch.exp(self.log_scale) + self.loc, self.log_scale.sum().expand(len(y))


class LogitTransform(nn.Module):
    """y = logit(alpha + (1 - 2 alpha) v): maps data in (0, 1) to the real line.

    The small ``alpha`` keeps the logit finite at the edges of the unit cube (RealNVP uses
    0.05). Its log-det, sum_d [log(1 - 2 alpha) - log(s_d) - log(1 - s_d)] with
    s = alpha + (1 - 2 alpha) v, is part of the flow's likelihood of v.

    Parameters
    ----------
    dim : int
        D.
    alpha : float
        In [0, 0.5).
    """

    def __init__(self, dim: int, alpha: float = 0.05):
        super().__init__()
        if not (isinstance(alpha, (int, float)) and 0 <= alpha < 0.5):
            raise ValueError(f"alpha must be a number in [0, 0.5), got {alpha!r}.")
        self.dim, self.alpha = dim, float(alpha)

    def forward(self, v):
        v = _check_batch("v", v, self.dim)
        s = self.alpha + (1 - 2 * self.alpha) * v
        y = torch.log(s) - torch.log1p(-s)
        log_det = (math.log(1 - 2 * self.alpha) - torch.log(s) - torch.log1p(-s)).sum(dim=1)
        return y, log_det

    def inverse(self, y):
        y = _check_batch("y", y, self.dim)
        s = torch.sigmoid(y)
        v = (s - self.alpha) / (1 - 2 * self.alpha)
        log_det = (torch.nn.functional.logsigmoid(y) + torch.nn.functional.logsigmoid(-y)
                   - math.log(1 - 2 * self.alpha)).sum(dim=1)
        return v, log_det


class Flow(nn.Module):
    """A normalising flow: invertible layers on top of a standard normal base N(0, I_D).

    Parameters
    ----------
    layers : sequence of nn.Module
        Each with ``forward(x) -> (y, log_det)`` (towards the noise) and
        ``inverse(y) -> (x, log_det)`` (towards the data); applied in this order by
        ``forward``, in reverse order by ``inverse``.
    dim : int
        D, the dimension of the data and of the noise.
    """

    def __init__(self, layers, dim: int):
        super().__init__()
        layers = list(layers)
        if not layers or not all(hasattr(layer, "inverse") for layer in layers):
            raise TypeError("layers must be a non-empty sequence of flow layers, each with forward and inverse.")
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}.")
        self.layers = nn.ModuleList(layers)  # a plain list would hide the parameters from the optimiser
        self.dim = dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = f^{-1}(x), shape (B, D), and log |det d f^{-1}/dx|, shape (B,)."""
        x = _check_batch("x", x, self.dim)
        log_det = x.new_zeros(len(x))
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = f(z), shape (B, D), and log |det df/dz|, shape (B,)."""
        z = _check_batch("z", z, self.dim)
        log_det = z.new_zeros(len(z))
        for layer in reversed(self.layers):
            z, ld = layer.inverse(z)
            log_det = log_det + ld
        return z, log_det

    def base_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I), shape (B,)."""
        return -0.5 * (z**2).sum(dim=1) - 0.5 * self.dim * math.log(2 * math.pi)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density log p(x) = log N(f^{-1}(x); 0, I) + log |det d f^{-1}/dx|, shape (B,)."""
        z, log_det = self.forward(x)
        return self.base_log_prob(z) + log_det

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n samples x = f(z), z ~ N(0, I), shape (n, D)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        device = next((p.device for p in self.parameters()), torch.device("cpu"))
        z = torch.randn(n, self.dim, generator=generator).to(device)
        return self.inverse(z)[0]

    def intermediates(self, z: torch.Tensor) -> list[torch.Tensor]:
        """The points after each layer of the generating direction, from the noise to the data.

        Parameters
        ----------
        z : torch.Tensor, shape (B, D)
            Noise (for example a draw from N(0, I)).

        Returns
        -------
        list of L + 1 tensors of shape (B, D)
            ``[z, after the last layer's inverse, ..., x = f(z)]``: entry k is the point after
            k layers of the generating direction.
        """
        z = _check_batch("z", z, self.dim)
        points = [z]
        for layer in reversed(self.layers):
            z, _ = layer.inverse(z)
            points.append(z)
        return points


def realnvp(dim: int, n_couplings: int = 8, *, hidden: int = 64, n_hidden: int = 2,
            mixing: str = "linear", actnorm: bool = True, logit: bool = False, coupling: str = "affine",
            n_bins: int = 16, bound: float = 4.0, dropout: float = 0.0, seed: int = 0) -> Flow:
    """A RealNVP-style flow: couplings with alternating half masks, mixing and ActNorm between them.

    Parameters
    ----------
    dim : int
        D (at least 2).
    n_couplings : int
        Number of affine coupling layers.
    hidden, n_hidden : int
        Width and depth of each coupling's network.
    mixing : {"linear", "reverse", "none"}
        What goes between couplings: a learned ``InvertibleLinear``, a reversing
        ``Permutation``, or nothing (the masks still alternate).
    actnorm : bool
        Put an ``ActNorm`` before each coupling.
    logit : bool
        Start with a ``LogitTransform`` (data in (0, 1), such as dequantised images).
    coupling : {"affine", "spline"}
        ``AffineCoupling`` (RealNVP) or ``SplineCoupling`` (Neural Spline Flows).
    n_bins, bound : int, float
        Bins and range of the splines (``coupling="spline"`` only).
    dropout : float
        Dropout in the affine couplings' networks (``coupling="affine"`` only).
    seed : int
        Seeds the initial weights.

    Returns
    -------
    Flow
    """
    if not isinstance(dim, int) or dim < 2:
        raise ValueError(f"dim must be an integer >= 2 (a coupling splits the entries in two), got {dim!r}.")
    if not isinstance(n_couplings, int) or n_couplings < 1:
        raise ValueError(f"n_couplings must be a positive integer, got {n_couplings!r}.")
    if mixing not in ("linear", "reverse", "none"):
        raise ValueError(f"mixing must be one of 'linear', 'reverse', 'none'; got {mixing!r}.")
    if coupling not in ("affine", "spline"):
        raise ValueError(f"coupling must be 'affine' or 'spline'; got {coupling!r}.")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        half = (torch.arange(dim) < dim // 2).float()  # (D,)
        layers = [LogitTransform(dim)] if logit else []
        for k in range(n_couplings):
            if actnorm:
                layers.append(ActNorm(dim))
            mask = half if k % 2 == 0 else 1 - half
            if coupling == "affine":
                layers.append(AffineCoupling(mask, hidden=hidden, n_hidden=n_hidden, dropout=dropout))
            else:
                layers.append(SplineCoupling(mask, n_bins=n_bins, bound=bound, hidden=hidden, n_hidden=n_hidden))
            if k < n_couplings - 1 and mixing == "linear":
                layers.append(InvertibleLinear(dim, seed=seed + k))
            elif k < n_couplings - 1 and mixing == "reverse":
                layers.append(Permutation.reverse(dim))
    return Flow(layers, dim)


def fit_flow(flow: Flow, sample: Callable[[int], torch.Tensor], *, steps: int, batch_size: int = 512,
             lr: float = 1e-3, seconds: float | None = None, seed: int = 0) -> dict:
    """Fit a flow by maximum likelihood to a distribution we can sample (fresh batches each step).

    Minimises the NLL -mean log p(x) with Adam and a cosine learning-rate decay (over the
    steps or the time budget, whichever runs out first); stops after
    ``steps`` steps or ``seconds`` of process CPU time, whichever comes first.

    Parameters
    ----------
    flow : Flow
    sample : callable
        ``sample(n) -> tensor (n, D)``, for example ``lambda n: toy.sample(n)``.
    steps, batch_size : int
    lr : float
    seconds : float, optional
        CPU-time budget (``time.process_time``), so a busy machine does not shorten training.
    seed : int
        Seeds torch's global generator (used by ``sample`` when it draws from it).

    Returns
    -------
    dict
        "loss" (the NLL of every step), "steps" (steps taken), "cpu_seconds", "wall_seconds".
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    check_positive("lr", lr)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    flow.train()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    losses = []
    for step in range(steps):
        progress = step / steps if seconds is None else max(step / steps, (time.process_time() - cpu0) / seconds)
        for group in optimizer.param_groups:  # cosine decay over the steps or the time budget
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        loss = -flow.log_prob(sample(batch_size)).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the NLL became {loss.item()} at step {len(losses) + 1}; lower lr.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if seconds is not None and time.process_time() - cpu0 > seconds:
            break
    flow.eval()
    return {"loss": losses, "steps": len(losses), "cpu_seconds": time.process_time() - cpu0,
            "wall_seconds": time.perf_counter() - wall0}
