"""Build student submissions from the released notebook (autograding tests and benchmark).

A submission starts as the student release (exercises/<unit>/<unit>.ipynb) and gets
answers pasted in: the instructor's solution code (the lines between the SOLUTION
markers of solutions/<unit>/<unit>.ipynb), or code written by the test.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def solution_answers(root: Path, unit: str) -> dict[str, str]:
    """{grade_id: the code of that answer cell with the markers removed}."""
    notebook = nbformat.read(Path(root) / "solutions" / unit / f"{unit}.ipynb", as_version=4)
    answers = {}
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            lines = [l for l in cell.source.splitlines() if "BEGIN SOLUTION" not in l and "END SOLUTION" not in l]
            answers[_grade_id(cell)] = "\n".join(lines)
    return answers


def released(root: Path, unit: str) -> nbformat.NotebookNode:
    return nbformat.read(Path(root) / "exercises" / unit / f"{unit}.ipynb", as_version=4)


def cell(notebook, grade_id: str):
    """The cell with nbgrader grade_id ``grade_id``."""
    for c in notebook.cells:
        if _grade_id(c) == grade_id:
            return c
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def answer(notebook, grade_id: str, source: str) -> None:
    """Replace the answer cell ``grade_id`` with ``source``."""
    cell(notebook, grade_id).source = source


def delete(notebook, grade_id: str) -> None:
    notebook.cells = [c for c in notebook.cells if _grade_id(c) != grade_id]


def fill(notebook, answers: dict[str, str], only: list[str] | None = None):
    """A copy of ``notebook`` with the given answers (all of them, or ``only`` these) pasted in."""
    filled = copy.deepcopy(notebook)
    for grade_id, source in answers.items():
        if only is None or grade_id in only:
            answer(filled, grade_id, source)
    return filled


def submit(root: Path, student: str, unit: str, notebook=None, *, raw_text: str | None = None) -> Path:
    """Write a submission at grading/submitted/<student>/<unit>/<unit>.ipynb."""
    folder = Path(root) / "grading" / "submitted" / student / unit
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{unit}.ipynb"
    if raw_text is not None:
        path.write_text(raw_text)
    else:
        nbformat.write(notebook, path)
    return path
