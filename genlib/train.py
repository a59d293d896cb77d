"""The course's one training loop: steps, seeding, device choice, a progress bar, validation.

Usage::

    history = train(model, model.loss, x_train, epochs=50, batch_size=128, lr=1e-3, seed=0)

``run_steps(step, steps, ...)`` is the loop every model trains through: it calls ``step(i)`` for
i = 1 .. steps, where ``step`` does one update (one or several optimisers, whatever the model needs)
and returns the numbers to record, e.g. ``{"d_loss": ..., "g_loss": ...}``. The loop records them,
checks that they are finite, shows them on a progress bar, validates every ``validate_every`` steps
and keeps the best weights. ``train`` is its epoch-based caller for a model with one loss:
``loss_fn(batch)`` receives one mini-batch (a tensor, or a tuple of tensors when the data is a
tuple) already on the model's device, and returns a scalar loss. ``epoch_batches`` gives a step-based
loop the mini-batches of epochs: a fresh random order of the training set every epoch.

Randomness, one convention for genlib: a function takes ``seed: int | torch.Generator`` and turns it
into a generator with ``as_generator(seed)``; an argument named ``generator`` is a ``torch.Generator``
(networks are ``g_net``/``d_net``, or ``g_ab``, ``d_site``, ...). A trainer's ``seed`` becomes one int,
``as_seed(seed)`` (an int as it is, a Generator gives one draw): the loop runs with Python's, NumPy's and
torch's global generators seeded by it (initial noise, dropout, reparameterisation draws), and gives the
caller back the global states it had before the call (``isolated_rng``): calling a trainer does not move
the caller's random numbers.

Devices, one convention for the trainers that take networks the caller built (``train_cgan``, ``train_spade``,
``train_pix2pix``, ``train_cyclegan``, ``train_vaegan``, ``train_label_vae``, ``train_scenario_spade``,
``train_style_spade``; ``fit_flow``, ``fit_dequantized_flow`` and ``train_arm`` without a parameter):
``device=None`` trains where the first network already is (``device_of``), a device given moves the
networks there, and each batch is moved beside them. ``train`` (so ``fit_segmenter``) and ``train_gan`` keep
the default they always had, the GPU when present (``choose_device``), as does ``run_steps`` itself; the
fit_* functions that build their own model (``fit_vdm``, ``fit_categorical_decoder``) train it where it is
built, on the CPU.
"""
from __future__ import annotations

import contextlib
import copy
import math
import random
from typing import Callable, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from genlib._validation import as_generator, as_seed, check_int, check_positive

__all__ = ["as_generator", "as_seed", "choose_device", "device_of", "epoch_batches", "isolated_rng", "run_steps",
           "seed_everything", "train"]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global random generators."""
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}.")
    seed = int(seed)  # random.seed rejects numpy integers
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def isolated_rng(seed: int | None = None, *, cuda: bool = True):
    """Run a block with the global generators seeded by ``seed`` (if given); restore the caller's states after.

    Python's, NumPy's and torch's CPU generator, and every GPU's whenever CUDA is available (also when the
    block is the first to use CUDA, or a seed is queued for CUDA's lazy start), are saved on entry and put
    back on exit, also when the block raises: what the block draws is the same as after
    ``seed_everything(seed)``, and the caller's next draws are as if the block had not run. ``cuda=False``
    leaves the GPUs' generators out (run_steps' validation: its GPU draws move the training's as
    ``train``'s validation always did).
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if cuda and torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            if seed is not None:
                seed_everything(seed)
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``device`` if given, else the GPU when present, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_of(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s parameters (the CPU when it has none): for a trainer that trains a model
    where the caller put it (``run_steps(..., device=device_of(model))``)."""
    return next(module.parameters(), torch.empty(0)).device


def check_finite_loss(name: str, value: float, where: str) -> None:
    """Raise a FloatingPointError that says the fix when a recorded loss is NaN or infinite."""
    if not math.isfinite(value):
        raise FloatingPointError(
            f"the {name} became {value} at {where}; lower the learning rate or check the loss for a log of 0."
        )


def run_steps(
    step: Callable[[int], dict],
    steps: int,
    *,
    modules: Iterable[torch.nn.Module] = (),
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    description: str = "training",
    leave: bool = False,
    validate: Callable[[], float] | None = None,
    validate_every: int | None = None,
    validate_at: Callable[[int], bool] | None = None,
    keep_best: bool = False,
    keep: Iterable[torch.nn.Module] | None = None,
    ties: str = "latest",
    check_finite: Iterable[str] | None = None,
    stop: Callable[[int], bool] | None = None,
) -> dict[str, list]:
    """Call ``step(i)`` for i = 1 .. ``steps``: the one training loop of the course.

    Parameters
    ----------
    step : callable
        ``step(i) -> dict`` does one update (step ``i``, counted from 1) and returns the numbers
        to record: {name: float or scalar tensor}.
    steps : int
        At least 0 (0: no step; the modules are still moved and left in eval mode).
    modules : iterable of torch.nn.Module
        Moved to ``device`` and put in train mode before the first step, in eval mode after the last
        (and during each validation).
    seed : int or torch.Generator, optional
        Seeds Python's, NumPy's and torch's global generators for the run (a Generator gives one int,
        ``as_seed``); the caller's global states are restored afterwards (``isolated_rng``). None: the
        loop runs on the caller's global states.
    device : str or torch.device, optional
        Default: the GPU when present, otherwise the CPU. ``step`` must put its batches there.
    progress : bool
        Show a progress bar with the first recorded number.
    description : str
        The progress bar's label.
    leave : bool
        Keep the finished progress bar on screen.
    validate : callable, optional
        ``validate() -> float``, a validation loss (lower is better), called without gradients, with
        ``modules`` in eval mode, and with the random state restored after each call, so that its
        draws do not disturb the training's.
    validate_every : int, optional
        Validate after every this many steps (default: only with ``validate_at``, or at the last step).
    validate_at : callable, optional
        ``validate_at(i) -> bool``: validate after step ``i`` (instead of ``validate_every``; give one of the two).
    keep_best : bool
        At the end, load the weights of ``keep`` (default ``modules``) from the validation with the lowest loss.
    ties : {"latest", "earliest"}
        Which validation is the best when two are equal.
    check_finite : iterable of str, optional
        The recorded names that must be finite (default: all); a NaN or infinity raises a FloatingPointError.
    stop : callable, optional
        ``stop(i) -> bool``, asked after each step: True ends the run there (after a last validation).

    Returns
    -------
    dict
        One list per recorded name, one value per step, and "steps_run" (the number of steps taken: ``steps``,
        or fewer when ``stop`` ended the run); with ``validate``, also "val" (one value per validation),
        "val_step" (the steps they were taken after) and "best_step" (these three only when at least one
        validation was taken).
    """
    check_int("steps", steps, 0)  # 0: no step, an empty history (train_cgan, train_pix2pix, ... always allowed it)
    if validate_every is not None:
        check_int("validate_every", validate_every)
        if validate_at is not None:
            raise ValueError("give validate_every= or validate_at=, not both: validate_at decides alone.")
    if ties not in ("latest", "earliest"):
        raise ValueError(f"ties must be 'latest' or 'earliest', got {ties!r}.")
    if keep_best and validate is None:
        raise ValueError("keep_best=True needs validate=, a function returning the validation loss.")
    seed = None if seed is None else as_seed(seed)
    modules = list(modules)
    keep = modules if keep is None else list(keep)
    device = choose_device(device)
    history: dict[str, list] = {}
    best_state = None
    with isolated_rng(seed) if seed is not None else contextlib.nullcontext():
        for module in modules:
            module.to(device).train()
        bar = tqdm(range(1, steps + 1), desc=description, disable=not progress, leave=leave)
        i = 0
        for i in bar:
            record = step(i)
            for name, value in record.items():
                value = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
                if check_finite is None or name in check_finite:
                    check_finite_loss(name, value, f"step {i}")
                history.setdefault(name, []).append(value)
            if progress and record:
                name = next(iter(record))
                bar.set_postfix({name: f"{history[name][-1]:.4g}"}, refresh=False)  # drawn with the bar's own refresh
            stopping = stop is not None and stop(i)
            if validate_at is not None:
                due = validate_at(i)
            else:
                due = i % validate_every == 0 if validate_every is not None else i == steps
            if validate is not None and (due or stopping):
                if _validate(modules, validate, i, history, ties) and keep_best:
                    best_state = [copy.deepcopy(module.state_dict()) for module in keep]
            if stopping:
                break
        history["steps_run"] = i
        if best_state is not None:
            for module, state in zip(keep, best_state):
                module.load_state_dict(state)
        for module in modules:
            module.eval()
    return history


def epoch_batches(n: int, batch_size: int, generator: torch.Generator | None = None) -> Callable[[int], torch.Tensor]:
    """The mini-batches of epochs for a step-based loop: ``batch(i)``, the row indices of step i (counted from 1,
    as ``run_steps`` counts).

    Every epoch (``ceil(n / batch_size)`` steps) has a fresh random permutation of the n rows, drawn from
    ``generator`` (None: torch's global generator) when the first of its steps asks for a batch; the epoch's
    batches are that permutation's consecutive slices of ``batch_size`` rows (the last may be smaller). So a
    step's other draws from the same generator come after the permutation, in the order the step makes them,
    and asking for a step's batch again gives the same rows without a new draw.

    Parameters
    ----------
    n : int
        Rows of the training set.
    batch_size : int
    generator : torch.Generator, optional

    Returns
    -------
    callable
        ``batch(i) -> torch.Tensor``, int64, shape (B,) with B = batch_size (less in an epoch's last step).
        Ask for the steps in order, i = 1, 2, ...: then each epoch's permutation is drawn at its first step.

    Examples
    --------
    >>> batch = epoch_batches(5, 2, torch.Generator().manual_seed(0))
    >>> [len(batch(i)) for i in (1, 2, 3)]
    [2, 2, 1]
    >>> sorted(torch.cat([batch(i) for i in (4, 5, 6)]).tolist())
    [0, 1, 2, 3, 4]
    """
    check_int("n", n)
    check_int("batch_size", batch_size)
    per_epoch = math.ceil(n / batch_size)
    drawn = {"epoch": None, "order": None}  # the epoch whose permutation was drawn last, and that permutation

    def batch(i: int) -> torch.Tensor:
        epoch, k = divmod(i - 1, per_epoch)
        if epoch != drawn["epoch"]:
            drawn["epoch"], drawn["order"] = epoch, torch.randperm(n, generator=generator)  # (n,)
        return drawn["order"][k * batch_size:(k + 1) * batch_size]

    return batch


def _validate(modules, validate: Callable[[], float], step: int, history: dict, ties: str) -> bool:
    """Record ``validate()`` in ``history``; True when it is the best so far."""
    modes = [module.training for module in modules]
    for module in modules:
        module.eval()
    with torch.no_grad(), isolated_rng(cuda=False):  # the validation's draws leave the training's untouched (CPU)
        value = float(validate())
    for module, mode in zip(modules, modes):
        module.train(mode)
    if not math.isfinite(value):
        raise FloatingPointError(f"validate() returned {value} at step {step}; check the validation loss.")
    earlier = history.get("val", [])
    is_best = not earlier or (value <= min(earlier) if ties == "latest" else value < min(earlier))
    history.setdefault("val", []).append(value)
    history.setdefault("val_step", []).append(step)
    if is_best:
        history["best_step"] = step
    return is_best


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
    seed: int | torch.Generator = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    description: str = "training",
    validate: Callable[[], float] | None = None,
    validate_every: int = 1,
    keep_best: bool = False,
) -> dict[str, list[float]]:
    """Train ``model`` by mini-batch gradient descent on ``loss_fn``, through ``run_steps``.

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
    seed : int or torch.Generator
        Seeds the global generators during training (initial noise, dropout) and the shuffling;
        the caller's global random states are restored afterwards. A Generator gives one int
        (``as_seed``).
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
    seed = as_seed(seed)
    device = choose_device(device)
    n = len(tensors[0])
    per_epoch = math.ceil(n / batch_size)
    sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)]  # the batch sizes of one epoch
    batch_index = epoch_batches(n, batch_size, as_generator(seed))

    def step(i: int) -> dict:
        index = batch_index(i)  # once per step: an epoch's first call draws its permutation
        batch = tuple(t[index].to(device) for t in tensors)
        loss = loss_fn(batch[0] if len(batch) == 1 else batch)
        if loss.ndim != 0:
            raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}; average it with .mean().")
        check_finite_loss("loss", loss.item(), f"epoch {(i - 1) // per_epoch + 1}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss}

    def validate_epoch() -> float:
        value = float(validate())
        if not math.isfinite(value):
            epoch = len(run_val) + 1
            raise FloatingPointError(f"validate() returned {value} at epoch {epoch * validate_every}; "
                                     "check the validation loss.")
        run_val.append(value)
        return value

    def epoch_mean(losses: list[float]) -> float:  # one epoch's mean loss, summed in the order of the steps
        total = 0.0
        for size, loss in zip(sizes, losses):
            total += loss * size
        return total / n

    def step_and_show(i: int) -> dict:  # the bar counts epochs, as it always did
        record = step(i)
        epoch_losses.append(record["loss"].item())
        if i % per_epoch == 0:
            bar.update(1)
            bar.set_postfix(loss=f"{epoch_mean(epoch_losses):.4g}")
            epoch_losses.clear()
        return record

    run_val: list[float] = []
    epoch_losses: list[float] = []
    with isolated_rng(seed), tqdm(total=epochs, desc=description, disable=not progress, leave=False) as bar:
        model.to(device)
        optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
        run = run_steps(step_and_show, epochs * per_epoch, modules=[model], device=device, progress=False,
                        validate=None if validate is None else validate_epoch,
                        keep_best=keep_best, validate_at=lambda i: i % (per_epoch * validate_every) == 0)
    history: dict[str, list[float]] = {
        "loss": [epoch_mean(run["loss"][epoch * per_epoch:(epoch + 1) * per_epoch]) for epoch in range(epochs)]
    }
    if "val" in run:  # validate given and at least one validation inside the run (none: no "val" keys, as before)
        history["val"] = run["val"]
        history["val_epoch"] = [s // per_epoch for s in run["val_step"]]
        history["best_epoch"] = run["best_step"] // per_epoch
    return history
