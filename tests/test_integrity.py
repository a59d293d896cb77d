"""The integrity guard (tools/integrity.py) on small notebooks, run by GuardedExecute directly.

The kernels here run unsandboxed (GENLIB_GRADE_UNSANDBOXED=1): the code in these notebooks is
ours and harmless. The same guard is exercised on real submissions in test_nbgrader.py.
"""
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tools.integrity import ERROR_NAME, GuardedExecute, integrity_flags
from tools.sandbox import UNSANDBOXED_ENV

SETUP = "import torch\nfrom genlib.grading import check_close"
TEST = "# Check that the answer is 2.\ncheck_close(torch.tensor(answer()), torch.tensor(2.0), name='answer()')"


def _cell(source, kind):
    metadata = {"setup": {"locked": True, "grade": False, "solution": False, "grade_id": "setup"},
                "answer": {"locked": False, "grade": False, "solution": True, "grade_id": "answer"},
                "test": {"locked": True, "grade": True, "solution": False, "grade_id": "test", "points": 1},
                "plain": None}[kind]
    cell = new_code_cell(source)
    if metadata:
        cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, **metadata}
    return cell


def _run(answer_source, extra=()):
    notebook = new_notebook(cells=[_cell(SETUP, "setup"), _cell(answer_source, "answer"), *extra, _cell(TEST, "test")],
                            metadata={"kernelspec": {"name": "genlib", "display_name": "genlib", "language": "python"}})
    executed, _ = GuardedExecute(timeout=60).preprocess(notebook, {"metadata": {"path": "."}})
    return executed


@pytest.fixture(autouse=True)
def _unsandboxed(monkeypatch):
    monkeypatch.setenv(UNSANDBOXED_ENV, "1")


def test_an_honest_notebook_runs_its_tests_and_is_not_flagged():
    honest = ("import numpy as np\nimport matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()\n"
              "from genlib.grading import check_close\ndef answer():\n    return 2.0")
    executed = _run(honest, extra=[_cell("import torch\nprint(torch.ones(2).sum())", "plain")])
    assert integrity_flags(executed) == []
    assert not [o for c in executed.cells for o in c.outputs if o.output_type == "error"], executed.cells[-1].outputs
    assert "_genlib_integrity" not in nbformat.writes(executed), "the guard's own code must not enter the notebook"


def test_a_wrong_answer_still_fails_normally():
    executed = _run("def answer():\n    return 3.0")
    assert integrity_flags(executed) == []
    assert executed.cells[-1].outputs[-1].ename == "AssertionError"


@pytest.mark.parametrize("tampering, reason", [
    ("check_close = lambda *args, **kwargs: None", r"'check_close', defined by a locked cell, was rebound"),
    ("import torch\ntorch.tensor = lambda *args, **kwargs: 0", r"torch\.tensor was changed"),
    ("import torch\ntorch.Tensor.__sub__ = lambda *args: 0", r"Tensor\.__sub__ was changed"),
    ("import builtins\nbuiltins.abs = lambda x: 0", r"builtins\.abs was changed"),
    ("get_ipython().ast_transformers.append(__import__('ast').NodeTransformer())", r"an IPython AST transformer was added"),
    ("get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])", r"an IPython input transformer was added"),
    ("del _genlib_integrity_check", r"the integrity check could not run: the guard was removed or replaced"),
    ("_genlib_integrity_check = lambda nonce: '{}' + ' 00'", r"the integrity check's answer was forged"),
    ("import sys\nsys.setprofile(lambda *args: None)", r"a trace or profile function is installed"),
    # named by the function, not by the session key (the guard's f"{name}.{key}" once received the key)
    ("import genlib.grading\ngenlib.grading.passed.__defaults__ = (1,)",
     r"the code, defaults or closure of genlib\.grading\.passed was changed"),
])
def test_tampering_stops_the_tests_and_says_why(tampering, reason):
    executed = _run(tampering + "\ndef answer():\n    return 3.0")
    flags = integrity_flags(executed)
    assert len(flags) == 1 and re.search(reason, flags[0]), flags
    assert executed.cells[-1].outputs[0].ename == ERROR_NAME
    assert "was not run" in executed.cells[-1].outputs[0].traceback[0]


def test_the_guard_text_holds_the_key_once_and_no_docstring():
    """The key goes into the install lines only (not into the guard's f-strings), and the guard module's
    docstring is not run in the student's kernel (it would become __doc__ there)."""
    import ast
    import secrets

    from tools.integrity import guard_source

    key = secrets.token_hex(32)
    source = guard_source(key)
    assert source.count(key) == 1
    body = ast.parse(source).body
    assert isinstance(body[0], ast.FunctionDef) and body[0].name == "_genlib_make_integrity_guard"
    assert not any(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)
    import tools.integrity
    assert not hasattr(tools.integrity, "GUARD_SOURCE"), "the unsubstituted text invited .replace('{key}', ...)"


# ----------------------------------------------------------------------------- the outside verdict (tools/verdict.py)

import json  # noqa: E402

from tools.integrity import RECORD_KEY  # noqa: E402
from tools import verdict  # noqa: E402

# The test cell of a tiny unit: one value drawn from a seeded generator, one from the global generator.
VERDICT_TEST = ("# Check twice the input.\n_gen = torch.Generator().manual_seed(3)\n_x = torch.rand(3, generator=_gen)\n"
                "check_close(twice(_x), 2 * _x, name='twice(x)', rtol=1e-6)\n_y = torch.rand(2)\n"
                "check_close(twice(_y), 2 * _y, name='twice(y)', rtol=1e-6)")


def _notebook(answer_source, test=VERDICT_TEST):
    return new_notebook(cells=[_cell(SETUP, "setup"), _cell(answer_source, "answer"), _cell(test, "test")],
                        metadata={"kernelspec": {"name": "genlib", "display_name": "genlib", "language": "python"}})


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """The expected records of a one-cell unit whose solution is ``twice(x) = 2 * x``."""
    root = tmp_path_factory.mktemp("course")
    (root / "solutions" / "u").mkdir(parents=True)
    nbformat.write(_notebook("def twice(x):\n    return 2 * x"), root / "solutions" / "u" / "u.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(UNSANDBOXED_ENV, "1")
        cells = verdict.ensure_expected("u", root)
    return root, cells


def _graded(answer_source):
    executed, _ = GuardedExecute(timeout=60).preprocess(_notebook(answer_source), {"metadata": {"path": "."}})
    return executed


def test_the_solution_records_expected_values_and_tolerances_and_marks_what_depends_on_the_global_rng(expected):
    root, cells = expected
    seeded, drawn = cells["test"]
    assert seeded["kind"] == "close" and seeded["rtol"] == 1e-6 and seeded["tensor"] and "unstable" not in seeded
    assert seeded["expected"]["shape"] == [3] and len(seeded["expected"]["data"]) == 3
    assert drawn.get("unstable") is True  # torch.rand(2) without a generator: another state, another value
    assert verdict.expected_path(root, "u").is_file() and verdict.ensure_expected("u", root) == cells  # kept


def test_a_right_answer_passes_outside_and_a_wrong_one_does_not(expected):
    _, cells = expected
    right = _graded("def twice(x):\n    return x + x")
    assert json.loads(right.cells[-1].metadata[RECORD_KEY])["cell"] == "test"
    assert verdict.verdict(right, cells) == {}
    wrong = _graded("def twice(x):\n    return 2.001 * x")
    assert list(verdict.verdict(wrong, cells)) == ["test"]
    assert verdict.verdict(wrong, cells)["test"].startswith("comparison 1 of 2: differs from the expected value at index")


def test_a_check_switched_off_in_the_kernel_passes_nbgrader_but_not_the_verdict(expected):
    """The guard's key stolen from its closure and its answer forged (red-team r04): the guard sees nothing."""
    _, cells = expected
    theft = ("import hmac, json\n"
             "_key = [c.cell_contents for c in _genlib_integrity_check.__closure__ if isinstance(c.cell_contents, bytes)][0]\n"
             "def _genlib_integrity_check(nonce):\n"
             "    message = json.dumps({'nonce': nonce, 'problems': []})\n"
             "    return message + ' ' + hmac.new(_key, message.encode(), 'sha256').hexdigest()\n"
             "check_close = lambda *args, **kwargs: None\n"
             "def twice(x):\n    return 0 * x")
    executed = _graded(theft)
    assert integrity_flags(executed) == [] and not [o for o in executed.cells[-1].outputs if o.output_type == "error"]
    assert verdict.verdict(executed, cells) == {"test": "0 comparisons recorded where the test makes 2"}


def test_a_record_in_the_submitted_notebook_is_replaced(expected):
    _, cells = expected
    notebook = _notebook("def twice(x):\n    return 0 * x")
    notebook.cells[-1].metadata[RECORD_KEY] = json.dumps({"cell": "test", "entries": []})
    notebook.cells[-1].source = "pass"  # as if the cell had not recorded anything
    executed, _ = GuardedExecute(timeout=60).preprocess(notebook, {"metadata": {"path": "."}})
    assert verdict.verdict(executed, cells) == {"test": "0 comparisons recorded where the test makes 2"}


def _record(*entries, cell="test"):
    return json.dumps({"cell": cell, "entries": list(entries)})


CLOSE = {"kind": "close", "expected": {"shape": [2], "data": [1.0, float("inf")]}, "tensor": True, "rtol": 0.0,
         "atol": 0.1}


@pytest.mark.parametrize("raw, problem", [
    (_record({"kind": "close", "actual": {"shape": [2], "data": [1.05, float("inf")]}, "tensor": True}), None),
    (_record({"kind": "close", "actual": {"shape": [2], "data": [1.2, float("inf")]}, "tensor": True}),
     "comparison 1 of 1: differs from the expected value at index (0,)"),
    (_record({"kind": "close", "actual": {"shape": [2], "data": [1.0, float("nan")]}, "tensor": True}),
     "comparison 1 of 1: differs from the expected value at index (1,)"),
    (_record({"kind": "close", "actual": {"shape": [2], "data": [1.0, float("inf")]}, "tensor": False}),
     "comparison 1 of 1: not a plain torch.Tensor"),
    (_record({"kind": "close", "actual": {"shape": [1, 2], "data": [1.0, float("inf")]}, "tensor": True}),
     "comparison 1 of 1: shape (1, 2) where (2,) was expected"),
    (_record({"kind": "close", "actual": {"shape": [2], "data": [1.0]}, "tensor": True}),
     "comparison 1 of 1: not a value (a recorded value whose data does not fill its shape)"),
    (_record({"kind": "close", "actual": {"shape": [2], "data": ["1", 2]}, "tensor": True}),
     "comparison 1 of 1: not a value (a malformed recorded value)"),
    (_record({"kind": "close", "actual": {"error": "a subclass"}, "tensor": True}),
     "comparison 1 of 1: not a value (a subclass)"),
    (_record({"kind": "shape", "actual": {"shape": [2]}, "expected_shape": [2]}),
     "comparison 1 of 1: a close check was expected"),
    (_record(), "0 comparisons recorded where the test makes 1"),
    (_record({"kind": "close", "actual": {"shape": [2], "data": [1.0, float("inf")]}, "tensor": True}, {}),
     "2 comparisons recorded where the test makes 1"),
    (_record(cell="another-test"), "the record is not the record of test"),
    ("not json", "the record is not JSON"),
    (None, "no record (the cell was not run by the course's grader)"),
])
def test_cell_problem_takes_tolerances_from_the_grader_and_fails_whatever_does_not_match(raw, problem):
    assert verdict.cell_problem(raw, "test", [CLOSE]) == problem


def test_a_student_record_cannot_loosen_the_tolerance():
    loose = _record({"kind": "close", "actual": {"shape": [2], "data": [5.0, float("inf")]}, "tensor": True,
                     "rtol": 1e30, "atol": 1e30})
    assert "differs" in verdict.cell_problem(loose, "test", [CLOSE])


def test_cells_that_check_with_assert_only_keep_nbgrader_verdict():
    assert verdict.cell_problem(None, "test", []) is None


def _graded_notebook(*cells):
    """An autograded notebook: (grade_id, record JSON or None, outputs) per test cell."""
    notebook = new_notebook()
    for grade_id, record, outputs in cells:
        cell = _cell("pass", "test")
        cell.metadata.nbgrader["grade_id"] = grade_id
        if record is not None:
            cell.metadata[RECORD_KEY] = record
        cell.outputs = outputs
        notebook.cells.append(cell)
    return notebook


def test_the_autograde_step_fails_the_cells_whose_records_do_not_match(tmp_path):
    """OutsideVerdict (after the kernel, before nbgrader saves the scores): an error output nbgrader scores 0."""
    from nbformat.v4 import new_output
    from traitlets.config import Config

    (tmp_path / "solutions" / "u").mkdir(parents=True)
    (tmp_path / "solutions" / "u" / "u.ipynb").write_text("{}")
    path = verdict.expected_path(tmp_path, "u")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"source_hash": verdict.source_hash(tmp_path, "u"),
                                "cells": {"right": [CLOSE], "wrong": [CLOSE], "failed": [CLOSE], "asserts": []}}))
    good = _record({"kind": "close", "actual": {"shape": [2], "data": [1.0, float("inf")]}, "tensor": True})
    error = new_output("error", ename="AssertionError", evalue="", traceback=[])
    notebook = _graded_notebook(("right", good.replace('"test"', '"right"'), []), ("wrong", None, []),
                                ("failed", None, [error]), ("asserts", None, []))
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    graded, _ = verdict.OutsideVerdict(config=config).preprocess(notebook, {"nbgrader": {"assignment": "u"}})
    assert [len(cell.outputs) for cell in graded.cells] == [0, 1, 1, 0]  # "failed" keeps nbgrader's own error
    assert graded.cells[1].outputs[0].ename == verdict.VERDICT_ERROR
    assert verdict.overruled_cells(graded) == {"wrong": "no record (the cell was not run by the course's grader)"}


def test_nbgrader_config_runs_the_outside_verdict_right_after_the_guarded_kernel():
    from tools.course import load_config

    steps = [p.__name__ for p in load_config().Autograde.autograde_preprocessors]
    assert steps[steps.index("GuardedExecute") + 1] == "OutsideVerdict" and "Execute" not in steps
    assert steps.index("OutsideVerdict") < steps.index("SaveAutoGrades")
