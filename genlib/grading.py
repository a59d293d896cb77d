"""Helpers for the test cells of the graded exercises.

- ``check_close``: compare a student's answer with the expected value; on failure the
  message says which entry differs, by how much, and what to check.
- ``check_shape``: the same for the shape alone.
- ``call_without``: call a student's function and fail if it runs genlib's reference
  implementation of the same thing (directly, through an alias, or through a copy of its
  code made with ``exec``), so an answer cannot pass by delegating to the library.
- ``passed``: the one line a visible test cell prints at its end, when every check above it
  held ("passed: <what it checked>"), so a student can tell "passed" from "did not run".

When the course's grader runs a test cell (tools/integrity.py), ``check_close`` and ``check_shape``
first record what they were given, as plain data (numbers, lists, strings: JSON), under the cell's
grade_id and the call's index in the cell; the grader takes the record out of the kernel after the
cell and compares it, in its own process, with the values the solution's run recorded, using the
tolerances of its own copy of the test (tools/verdict.py). The comparison here, in the kernel, is
what the student sees; the score comes from the one outside. Outside grading nothing is recorded.

Failures raise AssertionError, which nbgrader scores as a failed test cell. Nothing
here writes to stderr: nbgrader scores a test cell 0 when it does.
"""
from __future__ import annotations

import dis
import json
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


# What check_close and check_shape record while the grader runs a test cell: {"cell": grade_id or None,
# "entries": [...]}. Mutated in place, never rebound (the grader's guard watches this module's names).
_RECORD: dict = {"cell": None, "entries": []}


def _record_begin(cell: str) -> None:
    """Start recording for the test cell ``cell`` (called by the grader, never by a test)."""
    _RECORD["entries"].clear()
    _RECORD["cell"] = str(cell)


def _record_take() -> str:
    """Stop recording; return the cell's record as JSON (called by the grader after the cell)."""
    record = {"cell": _RECORD["cell"], "entries": list(_RECORD["entries"])}
    _RECORD["cell"] = None
    _RECORD["entries"].clear()
    return json.dumps(record)


def _plain(value, name: str) -> dict:
    """``value`` as plain data: {"shape": [...], "data": [floats]}, or {"error": why it is not numeric}."""
    try:
        array = _to_numpy(value, name)
    except Exception as error:  # an object whose conversion raises is recorded as not numeric
        return {"error": f"{type(error).__name__}: {error}"}
    return {"shape": list(array.shape), "data": array.ravel().tolist()}


def _is_plain_tensor(value) -> bool:
    return type(value) in (torch.Tensor, torch.nn.Parameter)


def _recording() -> bool:
    return _RECORD["cell"] is not None


def mismatch(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> tuple | None:
    """Where float64 arrays ``got`` and ``want`` (same shape) differ beyond the tolerance, or None.

    Non-finite entries must match exactly (inf with inf of the same sign, NaN with NaN); finite ones
    within |got - want| <= atol + rtol * |want|. Returns ("nonfinite", index) or ("tolerance", index,
    error, tolerance) for the worst entry. check_close and the grader's outside verdict share it.
    """
    finite = np.isfinite(want)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    bad = (np.isfinite(got) != finite) | (~finite & ~same)
    if bad.any():
        return ("nonfinite", tuple(int(i) for i in np.argwhere(bad)[0]))
    error = np.abs(np.where(finite, got, 0.0) - np.where(finite, want, 0.0))  # no inf - inf warning
    tolerance = atol + rtol * np.abs(np.where(finite, want, 0.0))
    if (error > tolerance).any():
        index = tuple(int(i) for i in np.unravel_index(np.argmax(error - tolerance), error.shape))
        return ("tolerance", index, error, tolerance)
    return None


def check_shape(actual, expected_shape: Iterable[int], *, name: str = "your result", hint: str = "") -> None:
    """Fail with a readable message unless ``actual`` has shape ``expected_shape``."""
    if _recording():
        plain = _plain(actual, name)
        _RECORD["entries"].append({"kind": "shape", "actual": {k: v for k, v in plain.items() if k != "data"},
                                   "expected_shape": [int(n) for n in expected_shape]})
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
    if _recording():
        _RECORD["entries"].append({"kind": "close", "actual": _plain(actual, name), "tensor": _is_plain_tensor(actual),
                                   "expected": _plain(expected, "the expected value"),
                                   "expected_tensor": isinstance(expected, torch.Tensor),
                                   "rtol": float(rtol), "atol": float(atol)})
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
    found = mismatch(got, want, rtol, atol)
    if found and found[0] == "nonfinite":
        index = found[1]
        raise AssertionError(
            f"{name} is {got[index]:.6g} at index {index} where {want[index]:.6g} was expected. "
            "NaN or infinity usually comes from exp() overflowing or log() of 0: "
            "look for a numerically stable form." + (f" Hint: {hint}" if hint else "")
        )
    if found:
        _, index, error, tolerance = found
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
