"""Every lecture and solution notebook runs top to bottom in a fresh kernel; all are stored clean.

Each executed lecture is saved to artifacts/executed/ (tools/site.py), where `make site` reuses it
while it is newer than the lecture: CI executes each lecture once for the tests and the website."""
import json

import pytest

from tests.conftest import NOTEBOOK_SECONDS, ROOT
from tools import site
from tools.notebooks import execute_notebook, stderr_outputs

LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*/*.ipynb"))
ALL_NOTEBOOKS = sorted(p for d in ("lectures", "solutions", "exercises") for p in (ROOT / d).rglob("*.ipynb")
                       if ".ipynb_checkpoints" not in p.parts)


def _name(path):
    return str(path.relative_to(ROOT))


def test_course_has_notebooks():
    assert LECTURES, "lectures/ holds no notebook"
    assert SOLUTIONS, "solutions/ holds no notebook"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", LECTURES + SOLUTIONS, ids=_name)
def test_notebook_runs_top_to_bottom(path, monkeypatch):
    if path in LECTURES:
        # the lecture's kernel draws with the inline backend, as in a student's lab (not this process's
        # Agg), so that the executed copy saved below holds the pictures make site shows
        monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook, seconds = execute_notebook(path)
    NOTEBOOK_SECONDS[_name(path)] = seconds
    if path in LECTURES:
        site.save_executed(path, notebook)  # artifacts/executed/: make site reuses it (tools/site.py)
    warnings = stderr_outputs(notebook)
    assert not warnings, (
        f"{_name(path)} writes to stderr (nbgrader scores a test cell 0 for that; silence or fix it): {warnings[:3]}")


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_name)
def test_notebook_is_stored_without_outputs(path):
    notebook = json.loads(path.read_text())
    dirty = [cell.get("id") for cell in notebook["cells"] if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count"))]
    assert not dirty, f"{_name(path)} has outputs in cells {dirty}: clear them before committing."


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_name)
def test_notebook_uses_the_course_kernel(path):
    kernel = json.loads(path.read_text())["metadata"].get("kernelspec", {}).get("name")
    assert kernel == "genlib", f"{_name(path)} asks for kernel {kernel!r}; the course's kernel is 'genlib'."


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_name)
def test_every_cell_has_a_unique_id(path):
    notebook = json.loads(path.read_text())
    if (notebook["nbformat"], notebook["nbformat_minor"]) < (4, 5):
        pytest.skip(f"{_name(path)} is nbformat < 4.5, which has no cell ids")
    ids = [cell.get("id") for cell in notebook["cells"]]
    missing = [i for i, cell_id in enumerate(ids) if not cell_id]
    assert not missing, (f"{_name(path)}: cells {missing} have no id (nbformat 4.5 requires one; a cell added by hand "
                         "lacks it): add one with nbformat.validator.normalize or an 8-character hex string.")
    assert len(set(ids)) == len(ids), f"{_name(path)} has duplicate cell ids: make each unique."
