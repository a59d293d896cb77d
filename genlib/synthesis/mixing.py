"""Mixing real and synthetic image-label pairs into training batches at a chosen ratio.

With a synthetic fraction f and a batch size B, every batch holds exactly

    n_syn = floor(f * B + 1/2)   synthetic pairs   (f * B rounded half up: f = 0.5, B = 5 gives 3)
    n_real = B - n_syn           real pairs

each part drawn **without replacement** within the batch (no pair twice in one batch), from
its own pool, then shuffled together so that the position in the batch says nothing about
the source. Fixing the count per batch, rather than drawing each sample's source at random,
keeps the ratio the same in every step: with B = 16 and f = 0.5 a coin per sample would give
batches of 3 to 13 synthetic images.

f = 0 is plain training on the real set, f = 1 training on synthetic data only.
"""
from __future__ import annotations

import math

import torch

from genlib._validation import as_tensor
from genlib.data.cardiac.labels import check_label_map


def n_synthetic(synthetic_fraction: float, batch_size: int) -> int:
    """How many synthetic pairs a batch holds: floor(f * B + 1/2), f * B rounded half up."""
    _check_fraction(synthetic_fraction)
    _check_batch_size(batch_size)
    return int(math.floor(synthetic_fraction * batch_size + 0.5))


def _check_fraction(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"synthetic_fraction must be a number in [0, 1], got {value!r}.")
    if not 0 <= value <= 1:
        raise ValueError(f"synthetic_fraction must be in [0, 1] (0: real only, 1: synthetic only), got {value!r}.")


def _check_batch_size(value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"batch_size must be a positive integer, got {value!r}.")


def _check_pairs(kind: str, images, labels) -> tuple[torch.Tensor, torch.Tensor]:
    images = as_tensor(f"{kind}_images", images)
    if images.ndim != 4 or images.shape[1] != 1:
        hint = f" Add the channel dimension: {kind}_images.unsqueeze(1)." if images.ndim == 3 else ""
        raise ValueError(f"{kind}_images must have shape (N, 1, H, W), got {tuple(images.shape)}.{hint}")
    labels = torch.as_tensor(labels)
    if labels.shape != images.shape[:1] + images.shape[2:]:
        raise ValueError(f"{kind}_labels must have shape (N, H, W) = {tuple(images.shape[:1] + images.shape[2:])} "
                         f"to match {kind}_images {tuple(images.shape)}, got {tuple(labels.shape)}.")
    return images, check_label_map(labels, name=f"{kind}_labels", n_values=int(labels.max()) + 1 if labels.numel() else 1)


def mix_batches(real_images, real_labels, synthetic_images, synthetic_labels, *, synthetic_fraction: float,
                batch_size: int, generator: torch.Generator | None = None):
    """One training batch with exactly floor(f * B + 1/2) synthetic pairs, the rest real, shuffled together.

    Parameters
    ----------
    real_images : torch.Tensor, shape (N_real, 1, H, W)
    real_labels : torch.Tensor of int, shape (N_real, H, W)
    synthetic_images : torch.Tensor, shape (N_syn, 1, H, W)
    synthetic_labels : torch.Tensor of int, shape (N_syn, H, W)
        The synthetic pool (e.g. SPADE images and the label maps they were made from).
        May be empty (N_syn = 0) when ``synthetic_fraction * batch_size`` rounds to 0,
        and the real pool may be empty when it rounds to B.
    synthetic_fraction : float in [0, 1]
        f, the share of synthetic pairs in the batch.
    batch_size : int
        B.
    generator : torch.Generator, optional
        The source of randomness (which pairs, in what order); torch's global generator if None.

    Returns
    -------
    images : torch.Tensor, shape (B, 1, H, W)
    labels : torch.Tensor, int64, shape (B, H, W)
    is_synthetic : torch.Tensor, bool, shape (B,)
        True where the pair came from the synthetic pool.
    """
    n_syn = n_synthetic(synthetic_fraction, batch_size)
    n_real = batch_size - n_syn
    real_images, real_labels = _check_pairs("real", real_images, real_labels)
    synthetic_images, synthetic_labels = _check_pairs("synthetic", synthetic_images, synthetic_labels)
    if real_images.shape[1:] != synthetic_images.shape[1:]:
        raise ValueError(f"real and synthetic images must have the same (1, H, W), got {tuple(real_images.shape[1:])} "
                         f"and {tuple(synthetic_images.shape[1:])}.")
    for kind, need, have in (("real", n_real, len(real_images)), ("synthetic", n_syn, len(synthetic_images))):
        if need > have:
            raise ValueError(
                f"a batch of {batch_size} with synthetic_fraction={synthetic_fraction} needs {need} {kind} pairs "
                f"(drawn without replacement) but the {kind} pool holds {have}. Use a smaller batch_size or "
                f"{'a larger' if kind == 'real' else 'a smaller'} synthetic_fraction, or a larger {kind} pool.")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, e.g. torch.Generator().manual_seed(0), "
                        f"got {type(generator).__name__}.")
    real_rows = torch.randperm(len(real_images), generator=generator)[:n_real]  # (n_real,)
    syn_rows = torch.randperm(len(synthetic_images), generator=generator)[:n_syn]  # (n_syn,)
    order = torch.randperm(batch_size, generator=generator)  # (B,)
    images = torch.cat([real_images[real_rows], synthetic_images[syn_rows].to(real_images.dtype)])[order]
    labels = torch.cat([real_labels[real_rows], synthetic_labels[syn_rows]])[order]
    is_synthetic = torch.cat([torch.zeros(n_real, dtype=torch.bool), torch.ones(n_syn, dtype=torch.bool)])[order]
    return images, labels, is_synthetic
