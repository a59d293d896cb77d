"""Input checks shared by genlib's public functions.

Every check raises an error that names the argument, what was expected, what was
given, and what to try, in the style of scikit-learn's messages.
"""
from __future__ import annotations

import numpy as np
import torch


def as_tensor(name: str, value, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Return ``value`` as a floating torch tensor, or raise a TypeError naming ``name``."""
    if isinstance(value, torch.Tensor):
        tensor = value
    elif isinstance(value, (np.ndarray, list, tuple, float, int)):
        tensor = torch.as_tensor(np.asarray(value))
    else:
        raise TypeError(
            f"{name} must be a torch.Tensor or a numpy array, got {type(value).__name__}. "
            f"Convert it with torch.as_tensor({name})."
        )
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    if dtype is not None:
        tensor = tensor.to(dtype)
    return tensor


def check_ndim(name: str, tensor: torch.Tensor, ndim: int, shape_doc: str) -> None:
    """Raise a ValueError unless ``tensor`` has ``ndim`` dimensions."""
    if tensor.ndim != ndim:
        hint = ""
        if tensor.ndim == ndim - 1:
            hint = f" For a single example, add a batch dimension: {name}.unsqueeze(0)."
        raise ValueError(
            f"{name} must have {ndim} dimensions {shape_doc}, got shape {tuple(tensor.shape)}.{hint}"
        )


def check_finite(name: str, tensor: torch.Tensor) -> None:
    """Raise a ValueError if ``tensor`` holds NaN or infinity."""
    if not torch.isfinite(tensor).all():
        bad = (~torch.isfinite(tensor)).sum().item()
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s). Check the computation that "
            f"produced it (a log of 0, an exp overflow, a diverged training run)."
        )


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise a ValueError unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}."
        )


def check_positive(name: str, value: float) -> None:
    """Raise a ValueError unless ``value`` is a finite number > 0."""
    if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")


def check_choice(name: str, value, choices) -> None:
    """Raise a ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}.")


def as_rng(value, name: str = "rng") -> np.random.Generator:
    """Return ``value`` as a NumPy ``Generator``: a Generator as it is, an int seed (or None) through
    ``np.random.default_rng``, a ``torch.Generator`` through one int drawn from it (``as_seed``);
    anything else raises a TypeError naming ``name``.

    The NumPy samplers' side of the convention ``seed: int | torch.Generator``: they also take a NumPy
    Generator, so that one stream can run through several calls."""
    if isinstance(value, np.random.Generator):
        return value
    if isinstance(value, torch.Generator):
        return np.random.default_rng(as_seed(value, name))
    if value is None or (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        return np.random.default_rng(value)
    raise TypeError(
        f"{name} must be an int seed, a torch.Generator, a numpy Generator or None, got "
        f"{type(value).__name__}. Pass a seed such as 0."
    )


def check_int(name: str, value, low: int = 1) -> None:
    """Raise a ValueError unless ``value`` is an int (not a bool) and at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name} must be {what}, got {value!r}.")


def _seed_error(name: str, seed) -> TypeError:
    return TypeError(f"{name} must be an int or a torch.Generator, got {type(seed).__name__}. "
                     "Pass a seed such as 0, or torch.Generator().manual_seed(0).")


def as_generator(seed, name: str = "seed") -> torch.Generator:
    """Return ``seed`` as a ``torch.Generator``: a Generator as it is (its draws continue), an int as a
    new CPU generator seeded with it; anything else raises a TypeError naming ``name``.

    The course's one convention for randomness: a library function takes ``seed: int | torch.Generator``
    and draws from ``as_generator(seed)``, never from torch's global generator.
    """
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return torch.Generator().manual_seed(int(seed))
    raise _seed_error(name, seed)


def as_seed(seed, name: str = "seed") -> int:
    """Return ``seed`` as the int a trainer seeds the global generators with: an int as it is, a
    ``torch.Generator`` as one int drawn from it (in [0, 2**32), so NumPy accepts it too; the generator
    moves on by one draw); anything else raises a TypeError naming ``name``.

    The trainers' side of the convention ``seed: int | torch.Generator``: a training run draws from
    the global generators (initial weights, dropout, noise), seeded with ``as_seed(seed)`` inside
    ``genlib.train.isolated_rng``. An int seeds exactly as before; a generator passed twice gives two
    different runs, as its draws continue.

    Examples
    --------
    >>> as_seed(3)
    3
    >>> g = torch.Generator().manual_seed(0)
    >>> as_seed(g) == as_seed(torch.Generator().manual_seed(0))
    True
    """
    if isinstance(seed, torch.Generator):
        return int(torch.randint(0, 2**32, (), generator=seed, device=seed.device))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed)  # a NumPy integer as the same Python int (torch.Generator.manual_seed rejects it)
    raise _seed_error(name, seed)
