"""Fitting a flow by maximum likelihood to a distribution it can sample: ``fit_flow``."""
from __future__ import annotations

import math
import time
from typing import Callable

import torch

from genlib._validation import check_positive
from genlib.models.flows.flow import Flow


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
