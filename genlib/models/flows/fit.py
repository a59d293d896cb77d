"""Fitting a flow by maximum likelihood to a distribution it can sample: ``fit_flow``, through ``genlib.train.run_steps``."""
from __future__ import annotations

import math
import time
from typing import Callable

import torch

from genlib._validation import as_seed, check_positive
from genlib.models.flows.flow import Flow
from genlib.train import device_of, run_steps


def fit_flow(flow: Flow, sample: Callable[[int], torch.Tensor], *, steps: int, batch_size: int = 512,
             lr: float = 1e-3, seconds: float | None = None, seed: int | torch.Generator = 0) -> dict:
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
    seed : int or torch.Generator
        Seeds the global generators during training (``sample`` may draw from torch's); a Generator gives
        one int seed (``as_seed``). The caller's global random states are restored afterwards.

    Returns
    -------
    dict
        "loss" (the NLL of every step), "steps" (steps taken), "cpu_seconds", "wall_seconds".
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    check_positive("lr", lr)
    seed = as_seed(seed)
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def step(i: int) -> dict:
        progress = (i - 1) / steps
        if seconds is not None:
            progress = max(progress, (time.process_time() - cpu0) / seconds)
        for group in optimizer.param_groups:  # cosine decay over the steps or the time budget
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        loss = -flow.log_prob(sample(batch_size)).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the NLL became {loss.item()} at step {i}; lower lr.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss}

    out_of_time = None if seconds is None else (lambda i: time.process_time() - cpu0 > seconds)
    run = run_steps(step, steps, modules=[flow], seed=seed, device=device_of(flow), check_finite=(),
                    stop=out_of_time)
    return {"loss": run["loss"], "steps": run["steps_run"], "cpu_seconds": time.process_time() - cpu0,
            "wall_seconds": time.perf_counter() - wall0}

