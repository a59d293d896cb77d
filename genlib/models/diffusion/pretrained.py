"""The course's digits diffusion models: their configuration, and the trained weights in weights/.

``tools/weights_diffusion.py`` trains them (``make weights``); lectures load them with
``load_digits_diffusion(T)`` instead of training for minutes on the spot.
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlib.models.diffusion.denoisers import ConvDenoiser
from genlib.models.diffusion.process import GaussianDiffusion
from genlib.models.diffusion.schedule import linear_betas

WEIGHTS_DIR = Path(__file__).resolve().parents[3] / "weights"
# The denoiser and the training run behind each shipped model, keyed by T (the number of steps).
DIGITS_DIFFUSION = {
    100: dict(channels=32, n_blocks=2, emb_dim=32, epochs=100, batch_size=64, lr=2e-3),
    5: dict(channels=32, n_blocks=2, emb_dim=32, epochs=100, batch_size=64, lr=2e-3),
}


def digits_diffusion(T: int = 100) -> GaussianDiffusion:
    """An untrained digits model: ``ConvDenoiser`` on (B, 1, 8, 8) in [-1, 1], ``linear_betas(T)``."""
    if T not in DIGITS_DIFFUSION:
        raise ValueError(f"T must be one of {sorted(DIGITS_DIFFUSION)} (the shipped models), got {T!r}.")
    c = DIGITS_DIFFUSION[T]
    return GaussianDiffusion(ConvDenoiser(channels=c["channels"], n_blocks=c["n_blocks"], emb_dim=c["emb_dim"]),
                             linear_betas(T))


def digits_weights_path(T: int) -> Path:
    return WEIGHTS_DIR / f"diffusion_digits_T{T}.pt"


def load_digits_diffusion(T: int = 100, path: str | Path | None = None) -> GaussianDiffusion:
    """The trained digits model with T steps, in eval mode, on the CPU."""
    model = digits_diffusion(T)
    path = Path(path) if path is not None else digits_weights_path(T)
    if not path.exists():
        raise FileNotFoundError(
            f"no weights for the T = {T} digits diffusion model at {path}. Build them with `make weights` "
            "(or `python -m tools.weights diffusion`), which trains them from the course's own data.")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
