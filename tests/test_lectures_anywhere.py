"""A lecture runs from a copy outside the repository, as students run it: tables come through genlib, not paths.

Lecture 04 prints the committed benchmark table of unit 04 (``genlib.results.load("results")``); a lecture that
read ``../bench/*.json`` instead would crash there, or print "no stored benchmark", and its text would then refer to
numbers that are not on the page.
"""
import shutil

import pytest

from tests.conftest import ROOT
from tools.notebooks import execute_notebook, stderr_outputs

LECTURES = [ROOT / "lectures" / "04_evaluation.ipynb"]  # reads a committed table, runs in well under a minute


def _text_outputs(notebook) -> str:
    """Everything the cells printed or displayed as text, joined."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
            parts.append(output.get("evalue", ""))
    return "\n".join(parts)


@pytest.mark.notebooks
@pytest.mark.parametrize("lecture", LECTURES, ids=lambda path: str(path.relative_to(ROOT)))
def test_lecture_runs_from_a_folder_outside_the_repository(lecture, tmp_path):
    copy = tmp_path / "students_folder" / lecture.name
    copy.parent.mkdir()
    shutil.copy(lecture, copy)
    assert ROOT not in copy.resolve().parents, f"the copy {copy} must lie outside the repository {ROOT}"

    notebook, _ = execute_notebook(copy)

    warnings = stderr_outputs(notebook)
    assert not warnings, f"{lecture.name} run from {copy.parent} writes to stderr: {warnings[:3]}"
    text = _text_outputs(notebook)
    assert "no stored benchmark" not in text, (
        f"{lecture.name} run from {copy.parent} did not find its committed table: read it with "
        "genlib.results.load(name), not with a path relative to the notebook.")
    assert "  target " in text, f"{lecture.name} run from {copy.parent} printed no row of its benchmark table"
