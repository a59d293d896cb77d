"""The course's digits diffusion models: their configuration, and the trained weights in genlib/weights/.

``tools/weights_diffusion.py`` trains them (``make weights``); lectures load them with
``load_digits_diffusion(T)`` instead of training for minutes on the spot.
"""
from __future__ import annotations

from pathlib import Path

from genlib import pretrained
from genlib.models.diffusion.denoisers import ConvDenoiser
from genlib.models.diffusion.process import GaussianDiffusion
from genlib.models.diffusion.schedule import linear_betas

WEIGHTS_DIR = pretrained.WEIGHTS_DIR  # the package's folder, through the registry
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
    """Where ``make weights`` writes the T-step model: ``genlib/weights/diffusion_digits_T<T>.pt``."""
    return pretrained.path(f"diffusion_digits_T{T}")


def load_digits_diffusion(T: int = 100, path: str | Path | None = None) -> GaussianDiffusion:
    """The trained digits model with T steps, in eval mode, on the CPU."""
    model = digits_diffusion(T)
    return pretrained.load_into(f"diffusion_digits_T{T}", model, file=path,
                                what=f"the T = {T} digits diffusion model")
