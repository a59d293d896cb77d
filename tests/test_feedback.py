"""Students' feedback shows no hidden test (tools/feedback.py, in nbgrader_config.py's GenerateFeedback).

Fast checks, without an nbgrader run: the preprocessor on small cells; every unit's solution
notebook, dressed up as an autograded one (scores in the metadata, hidden tests that failed with
tracebacks, hidden tests that printed), rendered with nbgrader's own feedback template with and
without it (without it the leak check must find the hidden lines, or the check proves nothing); and
both nbgrader configurations (the repository's and the hub's) putting it after GetGrades. The real
`generate_feedback` on autograded submissions is checked in tests/test_nbgrader.py (round trip)
and tests/test_hub.py (what students fetch on the hub).
"""
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from tests.conftest import ROOT
from tools.course import load_config, units
from tools.feedback import BEGIN, END, HideHiddenTests, hidden_test_lines, leaked_lines, split_hidden

UNITS = units(ROOT)
FORMGRADER = Path(__import__("nbgrader").__file__).parent / "server_extensions" / "formgrader"


def _graded(source: str, grade_id: str, score, points: float = 2, outputs=()):
    cell = new_code_cell(source, outputs=list(outputs))
    cell.metadata.nbgrader = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id,
                              "points": points, "score": score}
    return cell


HIDDEN = f"# Check that f works on new inputs.\n### {BEGIN}\nassert f(3) == 9, 'f(3) should be 9'\n### {END}"
MIXED = f"# Check the answer.\nassert answer in 'abc'\n### {BEGIN}\nassert answer == 'b'\n### {END}\nprint('ok')"
TRACEBACK = new_output("error", ename="AssertionError", evalue="f(3) should be 9",
                       traceback=["----> 3 assert f(3) == 9, 'f(3) should be 9'"])


def _filtered(*cells):
    notebook = new_notebook(cells=list(cells))
    return HideHiddenTests().preprocess(notebook, {})[0].cells


def test_split_hidden_keeps_what_the_release_shows():
    assert split_hidden(MIXED) == (["# Check the answer.", "assert answer in 'abc'"], ["print('ok')"], True)
    assert split_hidden("x = 1") == (["x = 1"], [], False)
    assert split_hidden(f"a\n### {BEGIN}\nsecret")[0:2] == (["a"], [])  # a region left open drops the rest


def test_a_failed_hidden_cell_shows_its_name_points_and_status_only():
    (cell,) = _filtered(_graded(HIDDEN, "test-f-hidden", 0, outputs=[TRACEBACK]))
    assert "f(3)" not in cell.source and BEGIN not in cell.source and END not in cell.source
    assert cell.source.startswith("# Check that f works on new inputs.")
    assert [o.text for o in cell.outputs] == [
        "test-f-hidden: 0 of 2 points, failed (AssertionError). Its hidden tests and their messages are not shown.\n"]


def test_a_passed_hidden_cell_drops_what_it_printed():
    printed = new_output("stream", name="stdout", text="expected 9, got 9\n")
    (cell,) = _filtered(_graded(HIDDEN, "test-f-hidden", 1, points=1, outputs=[printed]))
    assert [o.text for o in cell.outputs] == [
        "test-f-hidden: 1 of 1 point, passed. Its hidden tests and their messages are not shown.\n"]


def test_a_mixed_cell_keeps_its_visible_lines_and_an_ungraded_cell_says_so():
    (cell,) = _filtered(_graded(MIXED, "test-answer", None))
    assert cell.source.splitlines() == ["# Check the answer.", "assert answer in 'abc'",
                                        "# (the hidden tests of test-answer are not shown)", "print('ok')"]
    assert "not graded yet" in cell.outputs[0].text


def test_visible_tests_answers_and_text_are_left_as_they_are():
    visible = _graded("# Check f.\nassert f(2) == 4", "test-f-visible", 0, outputs=[TRACEBACK])
    answer = new_code_cell("def f(x):\n    return x * x", outputs=[new_output("stream", name="stdout", text="hi\n")])
    answer.metadata.nbgrader = {"solution": True, "grade": False, "grade_id": "f", "locked": False}
    cells = [visible, answer, new_markdown_cell(f"text that names {BEGIN}")]
    before = nbformat.from_dict(new_notebook(cells=cells)).cells
    assert _filtered(*[nbformat.from_dict(c) for c in cells]) == before


# ---- every unit's hidden tests through nbgrader's feedback template ------------------------------

def _as_autograded(unit: str):
    """The solution notebook of ``unit`` as autograding would leave it, with scores: hidden test cells
    alternately passed (printing a hidden line) and failed (a traceback and a message holding hidden
    lines); every other test cell passed."""
    notebook = nbformat.read(ROOT / "solutions" / unit / f"{unit}.ipynb", as_version=4)
    failing = True
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        hidden = sorted(hidden_test_lines(new_notebook(cells=[cell])))
        meta["score"] = meta["points"]
        if hidden:
            failing = not failing
            meta["score"] = 0 if failing else meta["points"]
            cell.outputs = [new_output("error", ename="AssertionError", evalue=hidden[-1],
                                       traceback=[f"----> {n} {line}" for n, line in enumerate(hidden)])
                            if failing else new_output("stream", name="stdout", text=hidden[0] + "\n")]
    return notebook


def _render(notebook, unit: str, *, hide: bool) -> str:
    """The feedback HTML nbgrader's GenerateFeedback would write (its template, its resources)."""
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [str(FORMGRADER / "templates")]
    config.HTMLExporter.extra_template_paths = [str(FORMGRADER / "static" / "node_modules" / "bootstrap" / "dist" / "css")]
    exporter = HTMLExporter(config=config)
    if hide:
        exporter.register_preprocessor(HideHiddenTests, enabled=True)
    cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]
    resources = {"nbgrader": {"notebook": unit, "late_penalty": 0,
                              "score": sum(c.metadata.nbgrader.score for c in cells),
                              "max_score": sum(c.metadata.nbgrader.points for c in cells)}}
    return exporter.from_notebook_node(notebook, resources=resources)[0]


def _public_text(notebook) -> str:
    """Everything of the notebook outside its hidden-test regions (what students see anyway)."""
    return "\n".join(line for c in notebook.cells for part in split_hidden(c.source)[:2] for line in part)


@pytest.mark.parametrize("unit", UNITS)
def test_every_units_feedback_shows_no_hidden_line(unit):
    source = nbformat.read(ROOT / "solutions" / unit / f"{unit}.ipynb", as_version=4)
    known = _public_text(source)
    unfiltered = _render(_as_autograded(unit), unit, hide=False)
    assert BEGIN in unfiltered and len(leaked_lines(unfiltered, source, known)) > 0.8 * len(hidden_test_lines(source)), \
        "the leak check no longer finds the hidden lines in nbgrader's unfiltered feedback: it would prove nothing"
    page = _render(_as_autograded(unit), unit, hide=True)
    assert BEGIN not in page and END not in page, "a hidden-test marker is in the feedback"
    leaked = leaked_lines(page, source, known)
    assert not leaked, f"{len(leaked)} hidden-test lines in {unit}'s feedback, e.g. {leaked[:3]}"
    for cell in _as_autograded(unit).cells:
        if hidden_test_lines(new_notebook(cells=[cell])):
            meta = cell.metadata.nbgrader
            verdict = "passed" if meta.score == meta.points else "failed"
            assert f"{meta.grade_id}: {meta.score:g} of {meta.points:g} point" in page and verdict in page, meta.grade_id


# ---- plugged in through nbgrader's configuration ---------------------------------------------

def _feedback_preprocessors(config) -> list[str]:
    return [p.__name__ for p in config.GenerateFeedback.preprocessors]


def test_the_course_config_hides_hidden_tests_after_reading_the_grades():
    assert _feedback_preprocessors(load_config(ROOT)) == ["GetGrades", "HideHiddenTests", "CSSHTMLHeaderPreprocessor"]


@pytest.mark.parametrize("role", ["instructor", "grader"])
def test_the_hub_config_hides_hidden_tests(tmp_path, monkeypatch, role):
    """The instructor's server reads what setup.py writes under PREFIX/etc/common (it cannot read this
    repository); the root-run grader reads tools/hub/nbgrader_config.py in the repository."""
    from tools.hub.setup import ensure_config

    ensure_config(tmp_path)
    folder = tmp_path / "etc" / "common" if role == "instructor" else ROOT / "tools" / "hub"
    monkeypatch.setenv("GENLIB_HUB_ROLE", role)
    monkeypatch.setenv("GENLIB_HUB_COURSE_ROOT", str(tmp_path / "course"))
    config = PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
    assert _feedback_preprocessors(config) == ["GetGrades", "HideHiddenTests", "CSSHTMLHeaderPreprocessor"]
    module = config.GenerateFeedback.preprocessors[1].__module__
    assert module == ("genlib_feedback" if role == "instructor" else "tools.feedback"), module
