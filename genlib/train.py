"""One small training loop for the whole course: seeding, device choice, a progress bar.

Usage::

    history = train(model, model.loss, x_train, epochs=50, batch_size=128, lr=1e-3, seed=0)

``loss_fn(batch)`` receives one mini-batch (a tensor, or a tuple of tensors when the
data is a tuple) already on the model's device, and returns a scalar loss.
"""
from __future__ import annotations

import copy
import math
import random
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from genlib._validation import check_positive


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global random generators."""
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}.")
    seed = int(seed)  # random.seed rejects numpy integers
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``device`` if given, else the GPU when present, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _as_tensors(data) -> tuple[torch.Tensor, ...]:
    tensors = tuple(data) if isinstance(data, (tuple, list)) else (data,)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError(
            "data must be a torch.Tensor or a tuple of tensors with the same first dimension, "
            f"got {type(data).__name__}."
        )
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"all tensors in data must have the same length, got {[len(t) for t in tensors]}.")
    if n == 0:
        raise ValueError("data is empty: nothing to train on.")
    return tensors


def train(
    model: torch.nn.Module,
    loss_fn: Callable,
    data,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    description: str = "training",
    validate: Callable[[], float] | None = None,
    validate_every: int = 1,
    keep_best: bool = False,
) -> dict[str, list[float]]:
    """Train ``model`` by mini-batch gradient descent on ``loss_fn``.

    Parameters
    ----------
    model : torch.nn.Module
        Moved to ``device`` before training.
    loss_fn : callable
        ``loss_fn(batch) -> scalar tensor``; ``batch`` is a tensor (or tuple of tensors).
    data : torch.Tensor or tuple of torch.Tensor, each of shape (N, ...)
        The training set; reshuffled every epoch with a generator seeded by ``seed``.
    epochs, batch_size : int
    lr : float
        Learning rate of the default Adam optimiser (ignored if ``optimizer`` is given).
    optimizer : torch.optim.Optimizer, optional
    seed : int
        Seeds the global generators (initial noise, dropout) and the shuffling.
    device : str or torch.device, optional
        Default: the GPU when present, otherwise the CPU.
    progress : bool
        Show a progress bar with the running loss.
    validate : callable, optional
        ``validate() -> float``, a validation loss (lower is better), called in eval mode and
        without gradients every ``validate_every`` epochs. Its random draws do not disturb the
        training's: the random state is restored after each call.
    validate_every : int
    keep_best : bool
        Early stopping: at the end, load the weights of the epoch with the lowest validation
        loss (needs ``validate``).

    Returns
    -------
    dict
        "loss": the mean training loss of every epoch (length ``epochs``); with ``validate``,
        also "val" (one value per validation), "val_epoch" (the epochs they were taken at,
        counted from 1) and "best_epoch".
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    check_positive("lr", lr)
    if not isinstance(validate_every, int) or validate_every < 1:
        raise ValueError(f"validate_every must be a positive integer, got {validate_every!r}.")
    if keep_best and validate is None:
        raise ValueError("keep_best=True needs validate=, a function returning the validation loss.")
    tensors = _as_tensors(data)
    seed_everything(seed)
    device = choose_device(device)
    model.to(device)
    model.train()
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    n = len(tensors[0])
    history: dict[str, list[float]] = {"loss": []}
    best_state = None
    bar = tqdm(range(epochs), desc=description, disable=not progress, leave=False)
    for epoch in bar:
        order = torch.randperm(n, generator=shuffle)
        total, count = 0.0, 0
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size]
            batch = tuple(t[index].to(device) for t in tensors)
            loss = loss_fn(batch[0] if len(batch) == 1 else batch)
            if loss.ndim != 0:
                raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}; average it with .mean().")
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss.item()} at epoch {len(history['loss']) + 1}; "
                    "lower the learning rate or check the loss for a log of 0."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
            count += len(index)
        history["loss"].append(total / count)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4g}")
        if validate is not None and (epoch + 1) % validate_every == 0:
            if _validate(model, validate, epoch + 1, history) and keep_best:
                best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def _validate(model: torch.nn.Module, validate: Callable[[], float], epoch: int, history: dict) -> bool:
    """Record ``validate()`` in ``history``; True when it is the best so far."""
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        value = float(validate())
    model.train()
    if not math.isfinite(value):
        raise FloatingPointError(f"validate() returned {value} at epoch {epoch}; check the validation loss.")
    history.setdefault("val", []).append(value)
    history.setdefault("val_epoch", []).append(epoch)
    is_best = value == min(history["val"])
    if is_best:
        history["best_epoch"] = epoch
    return is_best
