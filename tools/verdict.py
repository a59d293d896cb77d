"""The outside verdict: a test cell's points stand only if what it compared matches, checked by the grader.

The comparisons of a test cell run in the student's kernel, which the student's code controls. So,
while grading, ``check_close`` and ``check_shape`` also record what they were given (genlib.grading),
and the grader takes each cell's record out of the kernel as JSON (tools/integrity.py puts it in the
autograded notebook's cell metadata). Here, in the grader's own process:

1. :func:`ensure_expected` runs the SOLUTION notebook (solutions/<unit>/, the grader's copy of every
   test) in a fresh kernel, sandboxed like a submission, and keeps the expected value, the tolerances
   and the required type of each comparison under grading/expected/<unit>.json (instructor side only:
   never in exercises/, never visible to a student's kernel). It is run again whenever the solution
   notebook or genlib's code changes.
2. :func:`verdict` compares each test cell's record with the expected one: the same number of
   comparisons in the same order; for ``check_close``, a plain tensor where the test wants one, the
   same shape, and every value within the grader's tolerances (:func:`genlib.grading.mismatch`, the rule
   ``check_close`` applies); for ``check_shape``, the same shape. A missing, extra or malformed record
   fails the cell. The tolerances come from the grader's run of the test, never from the student's record.
3. :class:`OutsideVerdict`, a step of nbgrader's autograde (after the kernel has stopped, before
   nbgrader saves the scores; installed in nbgrader_config.py), gives every test cell that ran
   without error but whose record does not match an ``OutsideVerdictError`` output with the reason,
   so nbgrader scores it 0: make grade, make grades, make regrade, ``nbgrader autograde``, the
   hub's autograde and the feedback all read the same score. :func:`overruled_cells` lists them.

What an attack inside the kernel can still do is change what gets recorded. A record of wrong values
(a no-op check, a value that lies) scores 0. A record of right values needs the right values: a
student who intercepts a check's arguments and records the expected value as their answer is not
stopped here; the code that does that is flagged by tools/screening.py. Test cells that check with
plain ``assert`` only record nothing and keep nbgrader's verdict.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import nbformat
import numpy as np
from nbformat.v4 import new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from genlib.grading import mismatch
from tools.integrity import RECORD_KEY, GuardedExecute, parse_record

VERDICT_ERROR = "OutsideVerdictError"

GENLIB = Path(__file__).resolve().parents[1] / "genlib"  # the genlib the grading kernels import


def expected_path(root: Path, unit: str) -> Path:
    return Path(root) / "grading" / "expected" / f"{unit}.json"


def _solution(root: Path, unit: str) -> Path:
    return Path(root) / "solutions" / unit / f"{unit}.ipynb"


def source_hash(root: Path, unit: str) -> str:
    """A hash of what the expected values depend on: the solution notebook and genlib's Python code."""
    digest = hashlib.sha256(_solution(root, unit).read_bytes())
    for path in sorted(GENLIB.rglob("*.py")):
        digest.update(str(path.relative_to(GENLIB)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _grade_cells(notebook):
    for cell in notebook.cells:
        nbgrader = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and nbgrader.get("grade"):
            yield nbgrader["grade_id"], cell


# Run before every test cell in the second run of the solution: the global random generators in another state.
RESEED = ("__import__('torch').manual_seed(271828); __import__('numpy').random.seed(271828); "
          "__import__('random').seed(271828)")


class _ReseededExecute(GuardedExecute):
    """GuardedExecute that puts the global random generators in another state before each test cell."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            if not self._guard_installed:
                self._install_guard()
            self._run_hidden(RESEED)
        return super().preprocess_cell(cell, resources, index)


def _solution_records(unit: str, root: Path, executor: GuardedExecute, failing: dict) -> dict[str, list]:
    """{grade_id: expected entries} of one run of the solution; the cells it fails go into ``failing``."""
    notebook = nbformat.read(_solution(root, unit), as_version=4)
    with tempfile.TemporaryDirectory(prefix="genlib-expected-") as scratch:
        notebook, _ = executor.preprocess(notebook, {"metadata": {"path": scratch}})
    cells = {}
    for grade_id, cell in _grade_cells(notebook):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        record = read_record(cell.metadata.get(RECORD_KEY), grade_id)
        if errors or "error" in record:
            # the solution fails its own test (a wrong test, to be fixed with make regrade): nothing to compare
            # with, so nbgrader's verdict stands for this cell
            why = f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else record["error"]
            failing[grade_id] = why
            cells[grade_id] = []
            continue
        cells[grade_id] = [_expected_entry(entry, grade_id) for entry in record["entries"]]
    return cells


def record_expected(unit: str, root: Path, config=None) -> dict:
    """Run solutions/<unit>/ in fresh (sandboxed) kernels; save and return {grade_id: [expected entries]}.

    The solution runs twice: as it is, and with the global random generators (torch, numpy, random)
    put in another state before each test cell. A comparison whose expected value differs between
    the two depends on what ran before the test (a test input drawn from the global generator, not
    from a seeded ``torch.Generator``): a submission's own cells would change it, so only its kind,
    shape and type are checked outside (``"unstable": true``); its values keep nbgrader's verdict.
    A test cell the solution itself fails (a wrong test, to fix with make regrade) gets no expected
    comparisons, so nbgrader's verdict stands for it; the file lists it under ``solution_fails``.
    """
    digest = source_hash(root, unit)
    kwargs = {"config": config} if config is not None else {}
    failing: dict[str, str] = {}
    cells = _solution_records(unit, root, GuardedExecute(**kwargs), failing)
    reseeded = _solution_records(unit, root, _ReseededExecute(**kwargs), failing)
    for grade_id, entries in cells.items():
        other = reseeded.get(grade_id, [])
        for index, entry in enumerate(entries):
            if index >= len(other) or other[index] != entry:
                entry["unstable"] = True
    path = expected_path(root, unit)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps({"unit": unit, "source_hash": digest, "cells": cells,
                                     "solution_fails": failing}))
    os.replace(temporary, path)
    return cells


def _expected_entry(entry: dict, grade_id: str) -> dict:
    """What the grader keeps of one of the solution's comparisons: the expected side and the tolerances."""
    if entry.get("kind") == "shape":
        return {"kind": "shape", "expected_shape": [int(n) for n in entry["expected_shape"]]}
    if entry.get("kind") == "close" and "error" not in entry["expected"]:
        return {"kind": "close", "expected": entry["expected"], "tensor": bool(entry["expected_tensor"]),
                "rtol": float(entry["rtol"]), "atol": float(entry["atol"])}
    raise RuntimeError(f"the solution's test cell {grade_id} recorded a comparison the grader cannot use: {entry!r}")


def ensure_expected(unit: str, root: Path, config=None) -> dict:
    """The expected records of ``unit``, recorded again if missing or made from another solution or genlib."""
    path = expected_path(root, unit)
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
            if stored.get("source_hash") == source_hash(root, unit):
                return stored["cells"]
        except (ValueError, KeyError):
            pass
    return record_expected(unit, root, config)


def _array(plain) -> np.ndarray:
    """A recorded {"shape", "data"} as a float64 array; ValueError when malformed."""
    if not isinstance(plain, dict) or "error" in plain:
        raise ValueError(plain.get("error", "not a recorded value") if isinstance(plain, dict) else "not a value")
    shape, data = plain.get("shape"), plain.get("data")
    if (not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape)
            or not isinstance(data, list) or not all(type(v) in (int, float) for v in data)):
        raise ValueError("a malformed recorded value")
    array = np.array(data, dtype=np.float64)
    if array.size != int(np.prod(shape, dtype=np.int64)):
        raise ValueError("a recorded value whose data does not fill its shape")
    return array.reshape(shape)


def _entry_problem(got: dict, want: dict) -> str | None:
    """Why one recorded comparison does not match the expected one, or None."""
    if not isinstance(got, dict) or got.get("kind") != want["kind"]:
        return f"a {want['kind']} check was expected"
    actual = got.get("actual")
    if want["kind"] == "shape":
        shape = actual.get("shape") if isinstance(actual, dict) and "error" not in actual else None
        if shape != want["expected_shape"]:
            return f"shape {shape} where {tuple(want['expected_shape'])} was expected"
        return None
    if want["tensor"] and got.get("tensor") is not True:
        return "not a plain torch.Tensor"
    try:
        value = _array(actual)
    except ValueError as error:
        return f"not a value ({error})"
    expected = _array(want["expected"])
    if value.shape != expected.shape:
        return f"shape {value.shape} where {expected.shape} was expected"
    if want.get("unstable"):
        return None  # its expected value depends on the global random state: nbgrader's verdict stands
    found = mismatch(value, expected, want["rtol"], want["atol"])
    if found:
        return f"differs from the expected value at index {found[1]}"
    return None


def read_record(raw, grade_id: str) -> dict:
    """A test cell's record from the autograded notebook's metadata: {"cell", "entries"} or {"error": why}."""
    if not isinstance(raw, str):
        return {"error": "no record (the cell was not run by the course's grader)"}
    try:
        stored = json.loads(raw)
    except ValueError:
        return {"error": "the record is not JSON"}
    if isinstance(stored, dict) and isinstance(stored.get("error"), str):
        return {"error": stored["error"]}
    return parse_record(raw, grade_id)


def cell_problem(raw, grade_id: str, expected: list) -> str | None:
    """Why a test cell's record (the JSON text in its metadata) does not match ``expected``, or None."""
    if not expected:
        return None  # a cell that checks with assert only: nbgrader's verdict stands
    record = read_record(raw, grade_id)
    if "error" in record:
        return record["error"]
    entries = record["entries"]
    for index, (got, want) in enumerate(zip(entries, expected)):
        problem = _entry_problem(got, want)
        if problem:
            return f"comparison {index + 1} of {len(expected)}: {problem}"
    if len(entries) != len(expected):
        return f"{len(entries)} comparisons recorded where the test makes {len(expected)}"
    return None


def verdict(autograded, expected: dict) -> dict[str, str]:
    """{grade_id: why} for the test cells of an autograded notebook whose records do not match ``expected``."""
    return {grade_id: problem for grade_id, cell in _grade_cells(autograded)
            if (problem := cell_problem(cell.metadata.get(RECORD_KEY), grade_id, expected.get(grade_id, [])))}


class OutsideVerdict(NbGraderPreprocessor):
    """nbgrader autograde's step after Execute (the kernel is gone) and before SaveAutoGrades.

    Each test cell that ran without an error but whose record does not match the solution's gets an
    ``OutsideVerdictError`` output saying why, so nbgrader itself scores it 0: the gradebook, make
    grade, make grades, make regrade, the formgrader and the feedback all read that score.
    """

    def preprocess(self, nb, resources):
        unit = resources["nbgrader"]["assignment"]
        root = Path(CourseDirectory(config=self.config).root)
        expected = ensure_expected(unit, root, self.config)
        cells = dict(_grade_cells(nb))
        for grade_id, problem in verdict(nb, expected).items():
            cell = cells[grade_id]
            if any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
                continue  # nbgrader fails it already
            cell.outputs.append(new_output("error", ename=VERDICT_ERROR, evalue=problem, traceback=[
                f"{VERDICT_ERROR}: the grader compared what this cell's checks recorded with the solution's values, "
                f"outside the notebook's kernel, and they do not match: {problem}. This cell scores 0."]))
        return nb, resources


def overruled_cells(notebook) -> dict[str, str]:
    """{grade_id: why} for the test cells the outside verdict failed, from an autograded notebook."""
    return {grade_id: output.get("evalue", "") for grade_id, cell in _grade_cells(notebook)
            for output in cell.get("outputs", []) if output.get("ename") == VERDICT_ERROR}
