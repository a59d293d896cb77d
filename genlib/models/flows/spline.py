"""The monotone rational-quadratic spline (Durkan et al., 2019), one implementation for every flow.

On an interval [left, right] split into K bins, the spline runs through K + 1 knots (x_k, y_k) with
positive derivatives d_k; inside bin k, with theta = (x - x_k) / w_k and s_k = h_k / w_k,

    g(x) = y_k + h_k (s_k theta^2 + d_k theta (1 - theta)) / (s_k + (d_{k+1} + d_k - 2 s_k) theta (1 - theta)),

monotone increasing, with a closed-form derivative and an inverse that solves one quadratic per point.
Widths and heights come from a softmax (each at least ``min_bin`` of the interval), derivatives from a
softplus (each at least ``min_derivative``).

The course uses it in two ways, which differ only at the two ends of the interval (``tails``):

- ``tails="identity"``: a map of the real line, identity outside [left, right]; the two end
  derivatives are fixed to 1, so the spline joins the identity tails smoothly, and only the K - 1
  inner derivatives are free. Coupling layers on unbounded data (``SplineCoupling``,
  ``rational_quadratic_spline``: Neural Spline Flows).
- ``tails="clamp"``: a map of [left, right] onto itself; all K + 1 derivatives are free, so the density
  may be large at the ends, and inputs (and outputs) are clamped to the interval. Flows on the unit
  cube (``genlib.models.flow_dequant.unit_spline``: pixel levels 0 and 16 sit at the ends).
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

TAILS = ("identity", "clamp")
# softplus(IDENTITY_RAW_DERIVATIVE) + 1e-3 = 1: raw derivatives offset by this start the spline as y = x
IDENTITY_RAW_DERIVATIVE = math.log(math.expm1(1 - 1e-3))


def monotone_spline(x: torch.Tensor, raw_widths: torch.Tensor, raw_heights: torch.Tensor,
                    raw_derivatives: torch.Tensor, *, left: float, right: float, tails: str, inverse: bool = False,
                    min_bin: float = 1e-3, min_derivative: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """A monotone rational-quadratic spline on [left, right] with K bins; ``tails`` sets what happens at the ends.

    Parameters
    ----------
    x : torch.Tensor, shape (N,)
        Inputs (outputs of the spline when ``inverse``).
    raw_widths, raw_heights : torch.Tensor, shape (N, K)
        Unnormalised bin widths and heights (a softmax over the K bins).
    raw_derivatives : torch.Tensor, shape (N, K - 1) or (N, K + 1)
        Unnormalised knot derivatives (softplus, plus ``min_derivative``): the K - 1 inner ones when
        ``tails="identity"`` (the end ones are 1), all K + 1 when ``tails="clamp"``.
    left, right : float
        The interval, left < right.
    tails : {"identity", "clamp"}
        "identity": identity outside [left, right], end derivatives 1; "clamp": a map of
        [left, right] onto itself, end derivatives learned, inputs and outputs clamped to it.
    inverse : bool
        Evaluate the inverse map (one quadratic per point).
    min_bin, min_derivative : float
        Smallest bin (as a share of the interval) and smallest derivative.

    Returns
    -------
    y : torch.Tensor, shape (N,)
    log_det : torch.Tensor, shape (N,)
        log |dy/dx| of the map evaluated (the inverse's when ``inverse``); 0 where the identity tails apply.
    """
    if tails not in TAILS:
        raise ValueError(f"tails must be 'identity' (identity outside the interval, end slopes 1) or 'clamp' "
                         f"(a map of the interval onto itself, end slopes learned), got {tails!r}.")
    n_bins = raw_widths.shape[-1]
    n_derivatives = n_bins - 1 if tails == "identity" else n_bins + 1
    if raw_heights.shape[-1] != n_bins or raw_derivatives.shape[-1] != n_derivatives:
        raise ValueError(f"expected K widths, K heights and K {'-' if tails == 'identity' else '+'} 1 derivatives, "
                         f"got {raw_widths.shape[-1]}, {raw_heights.shape[-1]} and {raw_derivatives.shape[-1]}.")
    x_in = x.clamp(left, right)

    def knots(raw):
        sizes = min_bin + (1 - min_bin * n_bins) * torch.softmax(raw, dim=-1)  # (N, K), sum to 1
        cum = F.pad(torch.cumsum(sizes, dim=-1), (1, 0))  # (N, K + 1), 0..1
        cum = (right - left) * cum + left
        cum = torch.cat([torch.full_like(cum[:, :1], left), cum[:, 1:-1], torch.full_like(cum[:, :1], right)], dim=-1)
        return cum, cum[:, 1:] - cum[:, :-1]

    cum_w, widths = knots(raw_widths)
    cum_h, heights = knots(raw_heights)
    derivatives = min_derivative + F.softplus(raw_derivatives)  # (N, K - 1) or (N, K + 1)
    if tails == "identity":
        ones = torch.ones_like(derivatives[:, :1])
        derivatives = torch.cat([ones, derivatives, ones], dim=-1)  # (N, K + 1)
    edges = cum_h if inverse else cum_w
    index = (x_in[:, None] >= edges[:, :-1]).sum(dim=-1).clamp(1, n_bins)[:, None] - 1  # (N, 1): each point's bin

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
        if tails == "clamp":
            theta = theta.clamp(0.0, 1.0)
        out = theta * w_k + x_k
    else:
        theta = (x_in - x_k) / w_k
        out = y_k + h_k * (slope * theta**2 + d_k * theta * (1 - theta)) / (
            slope + (d_k1 + d_k - 2 * slope) * theta * (1 - theta))
    one_minus = theta * (1 - theta)
    denominator = slope + (d_k1 + d_k - 2 * slope) * one_minus
    log_derivative = (2 * torch.log(slope) + torch.log(d_k1 * theta**2 + 2 * slope * one_minus + d_k * (1 - theta) ** 2)
                      - 2 * torch.log(denominator))
    log_det = -log_derivative if inverse else log_derivative
    if tails == "clamp":
        return out.clamp(left, right), log_det
    inside = (x > left) & (x < right)
    return torch.where(inside, out, x), torch.where(inside, log_det, torch.zeros_like(x))


def rational_quadratic_spline(x, raw_widths, raw_heights, raw_derivatives, *, bound: float, inverse: bool = False,
                              min_bin: float = 1e-3, min_derivative: float = 1e-3):
    """Monotone rational-quadratic spline on [-bound, bound], identity outside (Durkan et al., 2019).

    ``monotone_spline`` with ``tails="identity"`` on [-bound, bound].

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
    return monotone_spline(x, raw_widths, raw_heights, raw_derivatives, left=-bound, right=bound, tails="identity",
                           inverse=inverse, min_bin=min_bin, min_derivative=min_derivative)
