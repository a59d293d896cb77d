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
])
def test_tampering_stops_the_tests_and_says_why(tampering, reason):
    executed = _run(tampering + "\ndef answer():\n    return 3.0")
    flags = integrity_flags(executed)
    assert len(flags) == 1 and re.search(reason, flags[0]), flags
    assert executed.cells[-1].outputs[0].ename == ERROR_NAME
    assert "was not run" in executed.cells[-1].outputs[0].traceback[0]
