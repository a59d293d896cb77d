"""Static screening of submissions (tools/screening.py): what it flags, what it leaves alone, and its
false-flag count on every honest submission the tests have, which must be 0.

The screening never runs a submission; these tests only parse notebooks (fast). The red-team suite
(tests/test_redteam.py) grades studied attacks and checks the same screening on them end to end.
"""
import importlib
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.conftest import ROOT
from tools import submissions as subs
from tools.course import units
from tools.screening import Hit, screen_notebook

SETUP = "import math\nimport torch\nimport genlib.models.vae\nfrom genlib.grading import call_without, check_close, passed"


def _cell(source, grade_id=None, locked=False, grade=False):
    cell = new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"schema_version": 3, "grade_id": grade_id, "locked": locked, "grade": grade,
                                     "solution": not locked, "task": False, **({"points": 1} if grade else {})}
    return cell


def _screen(answer, release=None):
    notebook = new_notebook(cells=[_cell(SETUP, "setup", locked=True), _cell(answer, "answer")])
    return screen_notebook(notebook, release)


@pytest.mark.parametrize("answer, reason", [
    ("check_close.__code__ = (lambda *a, **k: None).__code__", r"\.__code__"),
    ("check_close.__kwdefaults__ = {'rtol': 1e9}", r"\.__kwdefaults__"),
    ("f = lambda: 0\nx = f.__closure__, f.__globals__, f.__defaults__", r"\.__closure__"),
    ("x = ().__class__.__base__.__subclasses__()", r"\.__subclasses__"),
    ("x = genlib.models.vae.__dict__", r"\.__dict__"),
    ("x = __builtins__", r"uses __builtins__"),
    ("import gc\nobjects = gc.get_objects()", r"uses gc "),
    ("import ctypes", r"uses ctypes"),
    ("import sys\nsys.modules['torch'] = None", r"sys\.modules"),
    ("import builtins\nbuiltins.abs = print", r"uses builtins"),
    ("import sys\nframe = sys._getframe(1)", r"sys\._getframe"),
    ("import inspect\nframe = inspect.currentframe()", r"inspect\.currentframe"),
    ("def f(frame):\n    return frame.f_back.f_globals", r"\.f_back"),
    ("shell = get_ipython()", r"uses get_ipython"),
    ("import threading", r"uses threading"),
    ("import signal", r"uses signal"),
    ("import atexit", r"uses atexit"),
    ("import os\nos.fork()", r"os\.fork"),
    ("from multiprocessing import Process", r"uses multiprocessing"),
    ("import asyncio", r"uses asyncio"),
    ("torch.allclose = lambda *a, **k: True", r"assigns or deletes torch\.allclose"),
    ("import numpy as np\ndel np.isfinite", r"assigns or deletes numpy\.isfinite"),
    ("F = torch.nn.functional\nF.softplus = abs", r"assigns or deletes torch\.nn\.functional\.softplus"),
    ("setattr(torch, 'exp', abs)", r"setattr on torch"),
    ("name = 'exp'\nf = getattr(torch, name)", r"getattr with a computed attribute name"),
    ("f = getattr(check_close, '__code__')", r"names __code__ in a string"),
    ("exec('x = 1')", r"uses exec"),
    ("f = eval", r"uses eval"),
    ("code = compile('1', 'x', 'eval')", r"uses compile"),
    ("m = __import__('os')", r"uses __import__"),
    ("import importlib", r"uses importlib"),
    ("g = globals()", r"uses globals"),
    ("v = vars(torch)", r"vars\(\) of a module"),
    ("check_close = lambda *a, **k: None", r"rebinds 'check_close'"),
    ("def f():\n    global call_without\n    call_without = print", r"rebinds 'call_without'.*inside a function"),
    ("del check_close", r"rebinds 'check_close'"),
    ("import numpy as torch", r"rebinds 'torch'"),
    ("class A:\n    def __eq__(self, other):\n        return True", r"class A defines __eq__"),
    ("class A:\n    __bool__ = lambda self: True", r"class A defines __bool__"),
    ("class A:\n    def __array_ufunc__(self, *args, **kwargs):\n        return self", r"defines __array_ufunc__"),
    ("class A:\n    def __float__(self):\n        return 0.0", r"defines __float__"),
    ("class A:\n    __class__ = property(lambda self: torch.Tensor)", r"defines __class__"),
    ("class T(torch.Tensor):\n    pass", r"class T subclasses torch\.Tensor"),
    ("import numpy as np\nclass N(np.ndarray):\n    pass", r"subclasses numpy\.ndarray"),
    ("A = type('A', (object,), {'__eq__': lambda s, o: True})", r"type\(name, bases, dict\)"),
    ("x = torch.zeros(2).as_subclass(torch.Tensor)", r"\.as_subclass"),
    ("from torch.overrides import TorchFunctionMode", r"torch\.overrides"),
    ("print('passed: everything')", r"'passed:'"),
    ("print(f'PASSED : {1}')", r"'passed:'"),
    ("passed('my own check')", r"calls passed\(\)"),
    ("x = _genlib_integrity_check", r"integrity guard"),
    ("x = globals()['_genlib_integrity_check']", r"integrity guard in a string"),
    ("%load_ext autoreload", r"IPython magic %load_ext"),
    ("!cat /etc/passwd", r"a shell command"),
    ("%%time\nexec('x = 1')", r"uses exec"),
    ("%timeit -n 1 -r 1 eval('1')", r"uses eval"),
])
def test_screening_flags_each_construct_with_its_line(answer, reason):
    hits = _screen(answer)
    assert any(re.search(reason, hit.reason) for hit in hits), [str(h) for h in hits]
    assert all(hit.cell == 2 and hit.grade_id == "answer" for hit in hits)
    assert all(1 <= hit.line <= answer.count("\n") + 1 for hit in hits), [str(h) for h in hits]


@pytest.mark.parametrize("answer", [
    "import numpy as np\nimport matplotlib.pyplot as plt\nimport torch\nimport torch.nn.functional as F\n"
    "from genlib.grading import check_close\nimport genlib.models.vae",
    "%matplotlib inline\nfrom IPython.display import display, Markdown\ndisplay(Markdown('**done**'))",
    "%time y = torch.ones(3).sum()",
    "class Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.layer = torch.nn.Linear(2, 2)\n"
    "    def forward(self, x):\n        return self.layer(x)\nnet = Net()\nnet.eval()\nnet.layer.weight.data.zero_()",
    "import dataclasses\n@dataclasses.dataclass\nclass Point:\n    x: float\n    y: float\np = Point(1, 2)\nq = p == p",
    "class Counter:\n    def __init__(self):\n        self.__dict__['n'] = 0\n    def __repr__(self):\n        return 'Counter'",
    "import re\npattern = re.compile('a+')\nw = getattr(torch.nn.Linear(2, 2), 'weight')\nhasattr(w, 'grad')",
    "layer = torch.nn.Linear(2, 2)\nlayer.forward = lambda x: x\nsetattr(layer, 'bias', None)",
    "torch.manual_seed(0)\nx = torch.randn(3)\nprint('all tests passed' if x.shape == (3,) else 'shape wrong')",
    "import numpy as np\nmu = 0\nfor eps in np.linspace(0, 1, 3):\n    mu = mu + eps\n_checked = True",
    "def reparameterize(mu, log_var, eps):\n    sigma = torch.exp(0.5 * log_var)\n    return mu + sigma * eps",
    "def broken(:\n    exec('never runs: a cell that does not parse cannot run either')",
])
def test_honest_patterns_are_not_flagged(answer):
    hits = _screen(answer)
    assert hits == [], [str(h) for h in hits]


def test_locked_cells_nbgrader_restores_are_not_screened_but_others_are():
    release = new_notebook(cells=[_cell(SETUP, "setup", locked=True), _cell("x = 1", "answer"),
                                  _cell("# Check\nassert x == 1", "test", locked=True, grade=True)])
    edited = new_notebook(cells=[_cell(SETUP, "setup", locked=True), _cell("x = 1", "answer"),
                                 _cell("exec('x = 1')", "test", locked=True, grade=True),  # restored before grading
                                 _cell("eval('1')", "made-up", locked=True, grade=True)])  # unknown id: runs as written
    hits = screen_notebook(edited, release)
    assert [(h.cell, h.grade_id, h.line) for h in hits] == [(4, "made-up", 1)], [str(h) for h in hits]
    assert str(hits[0]) == "cell 4 (made-up) line 1: uses eval (runs or builds code at run time)"
    assert isinstance(hits[0], Hit)


def _honest_submissions():
    """(label, notebook, release): every honest submission the tests grade, for every unit."""
    found = []
    for unit in units(ROOT):
        release, answers = subs.released(ROOT, unit), subs.solution_answers(ROOT, unit)
        found += [(f"{unit} solution", subs.fill(release, answers), release), (f"{unit} blank", release, release),
                  (f"{unit} solutions/ source", nbformat.read(ROOT / "solutions" / unit / f"{unit}.ipynb", as_version=4),
                   release)]
        found += [(f"{unit} only {g}", subs.fill(release, answers, only=[g]), release) for g in answers]
        if (ROOT / "tests" / "probes" / f"unit{unit[:2]}.py").exists():
            for student, probe, _ in importlib.import_module(f"tests.probes.unit{unit[:2]}").PROBES:
                found.append((f"{unit} {student}", subs.fill(release, {**answers, **probe}), release))
    return found


def test_no_honest_submission_is_flagged():
    """The false-flag count on solutions, blank releases, each part solved alone and the probes: 0."""
    submissions = _honest_submissions()
    assert len(submissions) >= 60
    flagged = [f"{label}: {hit}" for label, notebook, release in submissions for hit in screen_notebook(notebook, release)]
    assert flagged == [], f"{len(flagged)} false flags on {len(submissions)} honest submissions: {flagged[:10]}"
