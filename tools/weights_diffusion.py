"""Train unit 06's digits diffusion models and write them to genlib/weights/ (``genlib.pretrained``).

- ``diffusion_digits_T100.pt``: ``ConvDenoiser`` with T = 100 linear steps, trained with the simplified loss.
- ``diffusion_digits_T5.pt``: the same network with T = 5 steps (the few-step version of other course notes).

Deterministic: fixed seeds and one thread. ``python -m tools.weights diffusion`` runs it and prints
each model's validation bound in bits per dimension.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from genlib import pretrained
from genlib.data import load_digits
from genlib.models.diffusion import levels_to_signed
from genlib.models.diffusion.pretrained import DIGITS_DIFFUSION, digits_diffusion
from genlib.train import train


def train_digits_diffusion(T: int):
    """Train the T-step digits model from scratch on the 1,000 training digits; returns (model, seconds)."""
    import time

    c = DIGITS_DIFFUSION[T]
    x, _ = load_digits("train", scale="levels", shape="image")
    torch.manual_seed(0)
    model = digits_diffusion(T)
    start = time.perf_counter()
    train(model, model.loss, levels_to_signed(x), epochs=c["epochs"], batch_size=c["batch_size"], lr=c["lr"],
          seed=0, device="cpu", progress=False)
    return model.eval(), time.perf_counter() - start


def build(weights_dir: Path) -> list[Path]:
    torch.set_num_threads(1)
    x_val, _ = load_digits("val", scale="levels", shape="image")
    written = []
    for T in DIGITS_DIFFUSION:
        model, seconds = train_digits_diffusion(T)
        nelbo = model.negative_elbo(levels_to_signed(x_val), n_levels=17, generator=torch.Generator().manual_seed(0))
        print(f"digits diffusion T = {T}: {seconds:.0f} s, validation bound {nelbo.mean() / (64 * math.log(2)):.3f} bits/dim")
        path = pretrained.save(f"diffusion_digits_T{T}", model, weights_dir, half=False)
        written.append(path)
    return written
