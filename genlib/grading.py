"""Helpers for the test cells of the graded exercises.

- ``check_close``: compare a student's answer with the expected value; on failure the
  message says which entry differs, by how much, and what to check.
- ``check_shape``: the same for the shape alone.
- ``call_without``: call a student's function and fail if it runs genlib's reference
  implementation of the same thing (directly, through an alias, or through a copy of its
  code made with ``exec``), so an answer cannot pass by delegating to the library.
- ``passed``: the one line a visible test cell prints at its end, when every check above it
  held ("passed: <what it checked>"), so a student can tell "passed" from "did not run".

Failures raise AssertionError, which nbgrader scores as a failed test cell. Nothing
here writes to stderr: nbgrader scores a test cell 0 when it does.
"""
from __future__ import annotations

import dis
import sys
import types
from typing import Callable, Iterable

import numpy as np
import torch

_setprofile, _getprofile = sys.setprofile, sys.getprofile  # bound before any answer cell runs


def _to_numpy(value, name: str) -> np.ndarray:
    if value is None:
        raise AssertionError(f"{name} is None: does your function end with a `return` statement?")
    if isinstance(value, torch.Tensor):
        if type(value) not in (torch.Tensor, torch.nn.Parameter):
            raise AssertionError(f"{name} is a {type(value).__name__}, a subclass of torch.Tensor; return a plain "
                                 "torch.Tensor (the result of torch operations on plain tensors is one).")
        with torch._C.DisableTorchFunctionSubclass():  # no __torch_function__ override takes part in the conversion
            return value.detach().cpu().double().numpy()
    try:
        # a plain float64 ndarray: no array subclass or __array_ufunc__ of the value takes part in the comparison
        return np.array(np.asarray(value, dtype=np.float64), dtype=np.float64, subok=False)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should be numeric, got a {type(value).__name__}.") from None


def check_shape(actual, expected_shape: Iterable[int], *, name: str = "your result", hint: str = "") -> None:
    """Fail with a readable message unless ``actual`` has shape ``expected_shape``."""
    got = tuple(_to_numpy(actual, name).shape)
    expected_shape = tuple(expected_shape)
    if got != expected_shape:
        raise AssertionError(
            f"{name} has shape {got}, expected {expected_shape}." + (f" Hint: {hint}" if hint else "")
        )


def check_close(actual, expected, *, name: str = "your result", rtol: float = 1e-5,
                atol: float = 1e-6, hint: str = "") -> None:
    """Fail with a readable message unless ``actual`` equals ``expected`` within tolerance.

    The tolerance is |actual - expected| <= atol + rtol * |expected|, entry by entry.

    Parameters
    ----------
    actual : tensor, array or number
        The student's answer.
    expected : tensor, array or number
        The reference value.
    name : str
        What ``actual`` is, for the message (e.g. "kl_to_standard_normal(mu, log_var)").
    hint : str
        What to check when the values differ.
    """
    if isinstance(expected, torch.Tensor) and actual is not None and not isinstance(actual, torch.Tensor):
        raise AssertionError(
            f"{name} should be a torch.Tensor, got {type(actual).__name__}. "
            "Use torch operations (torch.exp, torch.log, ...) rather than math or numpy, "
            "so gradients can flow through your function."
        )
    got, want = _to_numpy(actual, name), _to_numpy(expected, "the expected value")
    if got.shape != want.shape:
        raise AssertionError(
            f"{name} has shape {got.shape}, expected {want.shape}."
            + (f" Hint: {hint}" if hint else " Check which dimensions you sum or average over.")
        )
    finite = np.isfinite(want)
    # non-finite entries must match exactly: inf with inf of the same sign, NaN with NaN
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    mismatch = (np.isfinite(got) != finite) | (~finite & ~same)
    if mismatch.any():
        index = tuple(int(i) for i in np.argwhere(mismatch)[0])
        raise AssertionError(
            f"{name} is {got[index]:.6g} at index {index} where {want[index]:.6g} was expected. "
            "NaN or infinity usually comes from exp() overflowing or log() of 0: "
            "look for a numerically stable form." + (f" Hint: {hint}" if hint else "")
        )
    error = np.abs(np.where(finite, got, 0.0) - np.where(finite, want, 0.0))  # no inf - inf warning
    tolerance = atol + rtol * np.abs(np.where(finite, want, 0.0))
    if (error > tolerance).any():
        index = tuple(int(i) for i in np.unravel_index(np.argmax(error - tolerance), error.shape))
        where = f" at index {index}" if index else ""
        bad = int((error > tolerance).sum())
        raise AssertionError(
            f"{name} differs from the expected value{where}: got {got[index]:.6g}, expected "
            f"{want[index]:.6g} (difference {error[index]:.3g}, tolerance {tolerance[index]:.3g}; "
            f"{bad} of {error.size} entries are off)." + (f" Hint: {hint}" if hint else "")
        )


def passed(what: str) -> None:
    """Print ``passed: <what>``: the last line of a visible test cell, reached only when its checks held.

    It returns None, so a test cell that ends with it is not scored with a value by nbgrader.
    """
    if not isinstance(what, str) or not what.strip():
        raise TypeError(f"passed needs a non-empty description of what the test checked, got {what!r}.")
    print(f"passed: {what.strip()}")


_JUMPS = frozenset(dis.hasjrel + dis.hasjabs)


def _instructions(code) -> tuple:
    """The instructions of ``code``, normalised so that a copy made with ``exec`` matches.

    The raw bytes (``co_code``) differ: for ``torch.exp(x)`` CPython emits LOAD_ATTR when
    ``torch`` is imported in the compiled source (the library module) and LOAD_METHOD when
    it is not (a copy of one function's source), and jump offsets shift with them.
    """
    return tuple(
        ("LOAD_ATTR" if ins.opname == "LOAD_METHOD" else ins.opname,
         _instructions(ins.argval) if isinstance(ins.argval, types.CodeType)
         else None if ins.opcode in _JUMPS else ins.argval)
        for ins in dis.get_instructions(code)
    )


def _fingerprint(code) -> tuple:
    return (code.co_names, code.co_varnames, code.co_argcount)


def _code_of(reference) -> object:
    function = getattr(reference, "__func__", reference)  # unwrap bound methods
    code = getattr(function, "__code__", None)
    if code is None:
        raise TypeError(f"call_without needs Python functions as references, got {reference!r}.")
    return code


def call_without(references: Iterable[Callable], function: Callable, *args, **kwargs):
    """Call ``function(*args, **kwargs)``; fail if it runs any of ``references``.

    A call is caught whether the reference is called by name, through an alias, or as a
    copy of its code (same bytecode) made with ``exec``.

    Returns
    -------
    Whatever ``function`` returns.
    """
    references = list(references)
    fingerprints: dict[tuple, dict[tuple, Callable]] = {}  # cheap key -> {instructions: reference}
    for r in references:
        code = _code_of(r)
        fingerprints.setdefault(_fingerprint(code), {})[_instructions(code)] = r
    seen: list[Callable] = []

    def profiler(frame, event, arg):
        if event == "call":
            candidates = fingerprints.get(_fingerprint(frame.f_code))
            reference = candidates and candidates.get(_instructions(frame.f_code))
            if reference is not None and reference not in seen:
                seen.append(reference)

    previous = _getprofile()
    _setprofile(profiler)
    try:
        result = function(*args, **kwargs)
    finally:
        _setprofile(previous)
    if seen:
        names = ", ".join(f"{r.__module__}.{r.__qualname__}" for r in seen)
        raise AssertionError(
            f"Your function calls {names}, a ready-made implementation of what this exercise grades. "
            "Write the computation yourself with torch operations."
        )
    return result
