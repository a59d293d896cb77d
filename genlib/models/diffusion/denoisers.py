"""Small noise-prediction networks eps_theta(x_t, t) with a sinusoidal time embedding.

- ``MLPDenoiser``: for points (B, D), e.g. the 2-D toys.
- ``ConvDenoiser``: for small images (B, 1, H, W), e.g. the 8x8 digits.

Both take ``t`` as an integer tensor of shape (B,) (timesteps 1..T) and return a tensor of
the shape of ``x_t``: the predicted noise eps.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def time_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal features of the timestep (Vaswani et al., 2017; Ho et al., 2020).

    emb = [cos(t w_0), ..., cos(t w_{k-1}), sin(t w_0), ..., sin(t w_{k-1})],
    w_j = max_period^(-j / k), k = dim / 2.

    Parameters
    ----------
    t : torch.Tensor, shape (B,)
    dim : int, even

    Returns
    -------
    torch.Tensor, float32, shape (B, dim)
    """
    if dim % 2:
        raise ValueError(f"dim must be even (cosines and sines), got {dim}.")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)  # (k,)
    angles = t.float()[:, None] * freqs[None]  # (B, k)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class MLPDenoiser(nn.Module):
    """eps_theta(x_t, t) for points: an MLP on [x_t, embed(t)].

    Parameters
    ----------
    data_dim : int
        D, the dimension of the points.
    hidden_dim : int
    n_layers : int
        Number of hidden layers.
    emb_dim : int
        Size of the time embedding.
    """

    def __init__(self, data_dim: int = 2, hidden_dim: int = 128, n_layers: int = 3, emb_dim: int = 32):
        super().__init__()
        self.emb_dim = emb_dim
        self.time_mlp = nn.Sequential(nn.Linear(emb_dim, hidden_dim), nn.SiLU())
        self.input = nn.Linear(data_dim, hidden_dim)
        self.hidden = nn.ModuleList([nn.Linear(hidden_dim, hidden_dim) for _ in range(n_layers - 1)])
        self.output = nn.Linear(hidden_dim, data_dim)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.silu(self.input(x_t) + self.time_mlp(time_embedding(t, self.emb_dim)))  # (B, H)
        for layer in self.hidden:
            h = torch.nn.functional.silu(layer(h))
        return self.output(h)  # (B, D)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with GroupNorm and SiLU; the time embedding is added in between."""

    def __init__(self, channels: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, channels), nn.Conv2d(channels, channels, 3, padding=1)
        self.time = nn.Linear(emb_dim, channels)
        self.norm2, self.conv2 = nn.GroupNorm(8, channels), nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        y = self.conv1(torch.nn.functional.silu(self.norm1(h)))  # (B, C, H, W)
        y = y + self.time(emb)[:, :, None, None]
        y = self.conv2(torch.nn.functional.silu(self.norm2(y)))
        return h + y


class ConvDenoiser(nn.Module):
    """eps_theta(x_t, t) for small images: residual 3x3 conv blocks at full resolution.

    An 8x8 digit is small enough that no down-sampling is needed: ``n_blocks`` blocks give
    a receptive field of 4 * n_blocks + 3 pixels (the whole image for n_blocks >= 2).

    Parameters
    ----------
    in_channels : int
    channels : int
        Width of every block (a multiple of 8, for GroupNorm).
    n_blocks : int
    emb_dim : int
    """

    def __init__(self, in_channels: int = 1, channels: int = 64, n_blocks: int = 3, emb_dim: int = 64):
        super().__init__()
        if channels % 8:
            raise ValueError(f"channels must be a multiple of 8 (GroupNorm with 8 groups), got {channels}.")
        self.emb_dim = emb_dim
        self.time_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.input = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.blocks = nn.ModuleList([ResBlock(channels, emb_dim) for _ in range(n_blocks)])
        self.output = nn.Sequential(nn.GroupNorm(8, channels), nn.SiLU(), nn.Conv2d(channels, in_channels, 3, padding=1))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x_t.ndim != 4:
            raise ValueError(f"x_t must have shape (B, C, H, W), got {tuple(x_t.shape)}; reshape flat digits with x.reshape(-1, 1, 8, 8).")
        emb = self.time_mlp(time_embedding(t, self.emb_dim))  # (B, E)
        h = self.input(x_t)  # (B, C, H, W)
        for block in self.blocks:
            h = block(h, emb)
        return self.output(h)  # (B, 1, H, W)
