"""The layers of a normalising flow: couplings, mixing, ActNorm, the logit map.

Convention (``genlib.models.flows``): every layer's ``forward`` is the *normalising* direction
(data -> noise) and returns ``(y, log_det)`` with ``log_det = log |det dy/dx|``, one value per
example; ``inverse`` is the *generating* direction and returns ``(x, log_det)`` with the log-det of
that inverse map, which is minus the forward one.

``AffineCoupling`` (the workhorse: triangular Jacobian, log-det = sum of log-scales, an inverse as
cheap as the forward), ``SplineCoupling`` (the same idea with a monotone rational-quadratic spline,
``genlib.models.flows.spline``, for sharply multimodal data), ``Permutation`` and
``InvertibleLinear`` (mixing between couplings, Glow's 1x1 convolution for vectors), ``ActNorm`` (a
per-dimension affine map initialised from the first batch), ``LogitTransform`` (maps (0, 1) to the
real line, for dequantised images).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from genlib._validation import as_generator, as_tensor, check_ndim, check_positive
from genlib.models.flows.spline import IDENTITY_RAW_DERIVATIVE, rational_quadratic_spline


def check_batch(name: str, x, dim: int) -> torch.Tensor:
    """Return ``x`` if it is a (B, ``dim``) tensor; raise naming ``name``, the shape expected and the shape given."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, {dim}), got {type(x).__name__}. "
                        f"Convert it with torch.as_tensor({name}, dtype=torch.float32).")
    check_ndim(name, x, 2, f"(B, {dim})")
    if x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (B, {dim}) for this layer of dimension {dim}, "
                         f"got {tuple(x.shape)}.")
    return x


def _check_mask(mask) -> torch.Tensor:
    """A coupling's mask as a float (D,) tensor of 0s and 1s with at least one of each (1 = conditioning entry)."""
    mask = as_tensor("mask", mask, dtype=torch.float32)
    check_ndim("mask", mask, 1, "(D,)")
    if not bool(((mask == 0) | (mask == 1)).all()) or mask.sum() in (0, len(mask)):
        raise ValueError("mask must hold 0s and 1s with at least one of each (1 = conditioning entry), "
                         f"got {mask.tolist()}.")
    return mask


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
        mask = _check_mask(mask)
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
        x = check_batch("x", x, self.dim)
        x_cond = x * self.mask
        s, t = self.log_scale_and_shift(x_cond)
        y = x_cond + (1 - self.mask) * (x * torch.exp(s) + t)
        return y, s.sum(dim=1)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generating direction. Returns x (B, D) and log |det dx/dy| = -sum(s) (B,)."""
        y = check_batch("y", y, self.dim)
        y_cond = y * self.mask
        s, t = self.log_scale_and_shift(y_cond)
        x = y_cond + (1 - self.mask) * (y - t) * torch.exp(-s)
        return x, -s.sum(dim=1)


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
        mask = _check_mask(mask)
        if not isinstance(n_bins, int) or n_bins < 2:
            raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}.")
        check_positive("bound", bound)
        self.register_buffer("mask", mask)
        self.dim, self.n_bins, self.bound = len(mask), n_bins, float(bound)
        self.net = _mlp(self.dim, self.dim * (3 * n_bins - 1), hidden, n_hidden)
        self._derivative_offset = IDENTITY_RAW_DERIVATIVE  # softplus(offset) + 1e-3 = 1: identity at start

    def _spline(self, x, inverse: bool):
        x = check_batch("y" if inverse else "x", x, self.dim)
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
        x = check_batch("x", x, self.dim)
        return x[:, self.order], x.new_zeros(len(x))

    def inverse(self, y):
        y = check_batch("y", y, self.dim)
        return y[:, self.inverse_order], y.new_zeros(len(y))


class InvertibleLinear(nn.Module):
    """Learned invertible mixing y = x W^T with W = P L (U + diag(sign * exp(log_s))) (Glow's 1x1 conv).

    The LU form makes log |det W| = sum(log_s) cost O(D). W starts as a random rotation.

    Parameters
    ----------
    dim : int
        D.
    seed : int or torch.Generator
        Seed of the initial rotation (a Generator's draws continue).
    """

    def __init__(self, dim: int, seed: int | torch.Generator = 0):
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}.")
        generator = as_generator(seed)
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
        x = check_batch("x", x, self.dim)
        return x @ self.weight().T, self.log_s.sum().expand(len(x))

    def inverse(self, y):
        y = check_batch("y", y, self.dim)
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
        x = check_batch("x", x, self.dim)
        if self.training and not bool(self.initialized):
            with torch.no_grad():
                self.loc.copy_(x.mean(dim=0))
                self.log_scale.copy_(torch.log(x.std(dim=0) + 1e-6) if len(x) > 1 else torch.zeros(self.dim))
                self.initialized.fill_(True)
        y = (x - self.loc) * torch.exp(-self.log_scale)
        return y, (-self.log_scale.sum()).expand(len(x))

    def inverse(self, y):
        y = check_batch("y", y, self.dim)
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
        v = check_batch("v", v, self.dim)
        s = self.alpha + (1 - 2 * self.alpha) * v
        y = torch.log(s) - torch.log1p(-s)
        log_det = (math.log(1 - 2 * self.alpha) - torch.log(s) - torch.log1p(-s)).sum(dim=1)
        return y, log_det

    def inverse(self, y):
        y = check_batch("y", y, self.dim)
        s = torch.sigmoid(y)
        v = (s - self.alpha) / (1 - 2 * self.alpha)
        log_det = (torch.nn.functional.logsigmoid(y) + torch.nn.functional.logsigmoid(-y)
                   - math.log(1 - 2 * self.alpha)).sum(dim=1)
        return v, log_det
