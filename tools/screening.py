"""Static screening of submissions: code a person should read before trusting its score.

The integrity guard (tools/integrity.py) runs inside the student's kernel, so code that studies it
can defeat it: swap a test helper's code object, reach the guard's closure or the garbage
collector, patch from a thread or a signal handler, or return an object that answers every
comparison the way a right answer would. None of that is needed to solve an exercise. This module
reads each submitted notebook's student cells with :mod:`ast` (it never runs them) and reports
every such construct with its cell and line. A hit does not change the score: ``make grade``
flags the submission for a person, with the lines (tools/grade.py).

Student cells are the code cells nbgrader does not restore from the gradebook: every code cell
except the locked cells of the release (setup and test cells; their submitted text is replaced
before grading). The locked cells are read too, for the names they import and define.

What is reported (:data:`RULES` lists the reasons):

- function and class internals: ``__code__``, ``__closure__``, ``__globals__``, ``__defaults__``,
  ``__kwdefaults__``, ``__dict__`` (of anything but ``self``), ``__builtins__``, ``__subclasses__``,
  ``__mro__``/``__bases__``, ``cell_contents``, code-object fields, ``__setattr__`` and friends,
  as attributes or as strings (``getattr(f, "__code__")``);
- frames: ``sys._getframe``, ``inspect.currentframe``/``stack``, ``f_back``, ``f_globals``,
  ``f_locals``, ``tb_frame``, ...;
- modules that reach outside the cell's flow: ``gc``, ``ctypes``, ``builtins``, ``threading``,
  ``signal``, ``atexit``, ``multiprocessing``, ``subprocess``, ``asyncio``, ``importlib``,
  ``pickle``/``marshal``, ``IPython``/``ipykernel``, ``unittest.mock``, torch's function and
  dispatch modes (``torch.overrides``), ``os.fork``/``os.kill``/``os._exit``, ``sys.modules``,
  ``sys.settrace``/``setprofile``, ``types.FunctionType``/``CodeType``;
- IPython's shell (``get_ipython``) and magics other than ``%matplotlib``/``%time``/``%timeit``
  (whose code is screened too), shell commands (``!cmd``);
- ``eval``, ``exec``, ``compile``, ``__import__``, ``globals()``, ``locals()``, ``vars(...)``,
  ``type(name, bases, dict)``, ``getattr``/``setattr``/``delattr`` with a computed name;
- assignment (``=``, ``del``, ``setattr``) to an attribute of an imported module or of an object
  imported from one (``torch.allclose = ...``, ``check_close.x = ...``), and rebinding a name that a
  locked cell defined (``check_close = ...``, ``global check_close`` in a function);
- classes that define ``__eq__``, ``__ne__``, the orderings, ``__bool__``, ``__array__``,
  ``__array_ufunc__``, ``__array_function__``, ``__float__``, ``__int__``, ``__index__``,
  ``__torch_function__``, ``__torch_dispatch__``, ``__class__``, ``__getattr__``,
  ``__instancecheck__``, ``__del__`` or ``_render_traceback_``; classes that subclass
  ``torch.Tensor``, ``numpy.ndarray`` or a torch mode, or take a metaclass;
- strings that imitate the tests' pass line (``"passed: ..."``), and calls to ``passed``.

A cell that does not parse is not screened: IPython cannot run it either.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

INTERNALS = "reaches into a function's or class's internals"
FRAMES = "reaches the interpreter's frames"
OUTSIDE = "runs code outside the order of the cells"
DYNAMIC = "runs or builds code at run time"
KERNEL = "reaches the kernel's machinery"
MEMORY = "reaches raw memory or every object"
PATCH = "changes an imported module or object"
LIAR = "defines how its objects answer comparisons or conversions"
PASSLINE = "imitates the tests' pass line"

RULES = {INTERNALS, FRAMES, OUTSIDE, DYNAMIC, KERNEL, MEMORY, PATCH, LIAR, PASSLINE}

# attribute -> why it is flagged (read, written or named in a string)
ATTRIBUTES = {
    **dict.fromkeys(("__code__", "__closure__", "__globals__", "__defaults__", "__kwdefaults__", "__builtins__",
                     "__subclasses__", "__mro__", "__bases__", "__base__", "__func__", "__self__", "__wrapped__",
                     "cell_contents", "co_code", "co_consts", "co_names", "__getattribute__", "__setattr__",
                     "__delattr__", "as_subclass", "_make_subclass", "_make_wrapper_subclass"), INTERNALS),
    **dict.fromkeys(("f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "tb_frame",
                     "gi_frame", "cr_frame", "ag_frame"), FRAMES),
    **dict.fromkeys(("user_ns", "user_global_ns", "ast_transformers", "input_transformers_post",
                     "input_transformers_cleanup", "input_transformer_manager"), KERNEL),
}

# imported modules (and everything under them) -> why
MODULES = {
    **dict.fromkeys(("gc", "ctypes", "_ctypes", "cffi", "numpy.ctypeslib", "torch._C", "torch.library",
                     "torch.utils.cpp_extension"), MEMORY),
    **dict.fromkeys(("threading", "_thread", "signal", "atexit", "multiprocessing", "concurrent", "subprocess",
                     "pty", "asyncio", "sched"), OUTSIDE),
    **dict.fromkeys(("builtins", "importlib", "imp", "runpy", "code", "codeop", "marshal", "pickle", "_pickle",
                     "copyreg", "dill", "cloudpickle", "shelve"), DYNAMIC),
    **dict.fromkeys(("IPython", "ipykernel", "zmq", "jupyter_client", "tornado", "unittest.mock", "mock",
                     "torch.overrides", "torch.utils._python_dispatch"), KERNEL),
}

# qualified names (and everything under them) -> why
NAMES = {
    **dict.fromkeys(("sys._getframe", "sys._current_frames", "inspect.currentframe", "inspect.stack",
                     "inspect.trace", "inspect.getouterframes", "inspect.getinnerframes", "inspect.getframeinfo",
                     "inspect.getclosurevars", "traceback.walk_stack", "traceback.walk_tb"), FRAMES),
    **dict.fromkeys(("sys.modules", "sys.meta_path", "sys.path_hooks", "sys.path_importer_cache",
                     "sys.settrace", "sys.setprofile", "sys.addaudithook", "sys.excepthook", "sys.displayhook",
                     "sys.monitoring", "threading.settrace", "threading.setprofile"), KERNEL),
    **dict.fromkeys(tuple(f"os.{n}" for n in (
        "fork", "forkpty", "register_at_fork", "kill", "killpg", "_exit", "abort", "system", "popen", "execv",
        "execve", "execl", "execle", "execlp", "execlpe", "execvp", "execvpe", "spawnv", "spawnve", "spawnl",
        "spawnle", "posix_spawn", "posix_spawnp")), OUTSIDE),
    **dict.fromkeys(("types.FunctionType", "types.LambdaType", "types.CodeType", "types.CellType",
                     "types.FrameType", "types.MethodType", "operator.attrgetter", "operator.methodcaller"),
                    DYNAMIC),
}

BUILTINS = {"eval": DYNAMIC, "exec": DYNAMIC, "compile": DYNAMIC, "__import__": DYNAMIC, "breakpoint": DYNAMIC,
            "globals": INTERNALS, "locals": INTERNALS, "__builtins__": INTERNALS, "get_ipython": KERNEL}

LYING_METHODS = frozenset((
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__array__", "__array_ufunc__",
    "__array_function__", "__array_interface__", "__array_struct__", "__array_priority__", "__float__", "__int__",
    "__index__", "__complex__", "__torch_function__", "__torch_dispatch__", "__class__", "__getattr__",
    "__getattribute__", "__instancecheck__", "__subclasscheck__", "__del__", "_render_traceback_"))
LYING_BASES = ("torch.Tensor", "torch.nn.Parameter", "torch.nn.parameter.Parameter", "numpy.ndarray",
               "numpy.matrix", "numpy.generic", "numpy.lib.mixins", "torch.overrides", "torch.utils._python_dispatch",
               "type")

SAFE_MAGICS = {"matplotlib", "time", "timeit", "capture"}  # their code, if any, is screened as Python
PASS_LINE = re.compile(r"passed\s*:", re.I)
GUARD_NAME = "_genlib_integrity"


@dataclass(frozen=True)
class Hit:
    """One construct found in a student cell: cell number (1-based), its nbgrader grade_id, line, why."""
    cell: int
    grade_id: str | None
    line: int
    reason: str

    def __str__(self) -> str:
        where = f"cell {self.cell}" + (f" ({self.grade_id})" if self.grade_id else "")
        return f"{where} line {self.line}: {self.reason}"


SAFE_MODULES = ("IPython.display",)  # display(), HTML, Markdown: for output only


def _under(name: str, table: dict) -> str | None:
    """The reason of ``name`` or of a package above it in ``table``."""
    if any(name == safe or name.startswith(safe + ".") for safe in SAFE_MODULES):
        return None
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        reason = table.get(".".join(parts[:end]))
        if reason:
            return reason
    return None


class _Screen(ast.NodeVisitor):
    """Walks the cells of one notebook in order; ``aliases`` and ``locked`` persist across cells."""

    def __init__(self):
        self.aliases: dict[str, str] = {}  # local name -> qualified name it was imported as
        self.locked: dict[str, str | None] = {}  # names the locked setup cells bound -> qualified (imports)
        self.hits: list[tuple[int, str]] = []
        self.offset = 0
        self.depth = 0  # 0 at a cell's top level
        self.student = True
        self.setup = False  # a locked cell that is not a test: what it binds is recorded

    # -- helpers -------------------------------------------------------------------------------
    def hit(self, node, reason: str) -> None:
        if self.student:
            self.hits.append((getattr(node, "lineno", 1) + self.offset, reason))

    def qualified(self, node) -> str | None:
        """'torch.nn.functional.relu' for an attribute chain rooted at an imported name, else None."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return ".".join([self.aliases[node.id], *reversed(parts)])
        return None

    def bind(self, node, name: str, qualified: str | None = None, *, definition: bool = False) -> None:
        """``name`` is bound at a cell's top level to ``qualified`` (an import) or to a value.

        A locked setup cell's imports, functions and classes are recorded: a student cell that binds
        one of those names to something else is reported (the guard checks the same names).
        """
        if not self.student:
            if self.setup and self.depth == 0 and (qualified or definition):
                self.locked[name] = qualified
        elif name in self.locked and (qualified is None or self.locked[name] != qualified):
            self.hit(node, f"rebinds {name!r}, which a locked cell defined ({PATCH})")
        if qualified:
            self.aliases[name] = qualified
        elif self.depth == 0:
            self.aliases.pop(name, None)

    def check_qualified(self, node, name: str) -> None:
        reason = _under(name, NAMES) or _under(name, MODULES)
        if reason:
            self.hit(node, f"uses {name} ({reason})")

    def check_string(self, node, text: str) -> None:
        if PASS_LINE.search(text):
            self.hit(node, f"a string with 'passed:' ({PASSLINE})")
        if text.strip() in ATTRIBUTES:
            self.hit(node, f"names {text.strip()} in a string ({ATTRIBUTES[text.strip()]})")
        if GUARD_NAME in text:
            self.hit(node, f"names the integrity guard in a string ({KERNEL})")

    # -- screening one cell ----------------------------------------------------------------------
    def cell(self, source: str, *, student: bool, setup: bool = False, offset: int = 0) -> None:
        from IPython.core.inputtransformer2 import TransformerManager

        try:
            tree = ast.parse(TransformerManager().transform_cell(source))
        except (SyntaxError, ValueError):
            return  # IPython cannot run it either
        self.student, self.setup, self.offset, self.depth = student, setup, offset, 0
        self.visit(tree)

    def magic(self, node) -> bool:
        """Handle ``get_ipython().run_line_magic(...)`` and friends written by IPython for %, %% and !."""
        func = node.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
                and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython"
                and func.attr in ("run_line_magic", "run_cell_magic", "system", "getoutput")
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)):
            return False
        args = [a.value for a in node.args]
        if func.attr in ("system", "getoutput"):
            self.hit(node, f"a shell command !{args[0] if args else ''} ({OUTSIDE})")
        elif args and args[0] in SAFE_MAGICS:
            code = args[2] if func.attr == "run_cell_magic" and len(args) > 2 else args[1] if len(args) > 1 else ""
            if args[0] != "matplotlib":
                if func.attr == "run_line_magic":
                    code = re.sub(r"^(\s*-\w+(\s+[\w.]+)?)*", "", code) if args[0] == "timeit" else code
                if not self.screen_nested(code.strip("\n") if func.attr == "run_cell_magic" else code.strip(),
                                          node.lineno + self.offset + (func.attr == "run_cell_magic")):
                    self.hit(node, f"a %{args[0]} whose code could not be screened ({DYNAMIC})")
        else:
            self.hit(node, f"the IPython magic %{args[0] if args else ''} ({KERNEL})")
        return True

    def screen_nested(self, code: str, first_line: int) -> bool:
        """Screen the Python code a magic runs; False when it does not parse."""
        saved = self.offset, self.depth
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return False
        self.offset, self.depth = first_line - 1, saved[1]
        self.visit(tree)
        self.offset, self.depth = saved
        return True

    # -- visitors ----------------------------------------------------------------------------------
    def visit_Import(self, node):
        for alias in node.names:
            self.check_qualified(node, alias.name)
            if alias.asname:
                self.bind(node, alias.asname, alias.name)
            else:
                top = alias.name.split(".")[0]
                self.bind(node, top, top)

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return
        self.check_qualified(node, node.module)
        for alias in node.names:
            if alias.name == "*":
                continue
            name = f"{node.module}.{alias.name}"
            if _under(node.module, MODULES) is None:
                self.check_qualified(node, name)
            self.bind(node, alias.asname or alias.name, name)

    def visit_Global(self, node):
        for name in node.names:
            if self.student and name in self.locked:
                self.hit(node, f"rebinds {name!r}, which a locked cell defined, from inside a function ({PATCH})")

    def visit_Name(self, node):
        name = node.id
        if name.startswith(GUARD_NAME):
            self.hit(node, f"uses the integrity guard's {name} ({KERNEL})")
        if isinstance(node.ctx, ast.Load):
            if name in BUILTINS and name not in self.aliases:
                self.hit(node, f"uses {name} ({BUILTINS[name]})")
        elif self.depth == 0:
            self.bind(node, name)

    def visit_Attribute(self, node):
        attr = node.attr
        if attr in ATTRIBUTES or (attr == "__dict__" and not (isinstance(node.value, ast.Name)
                                                              and node.value.id in ("self", "cls"))):
            self.hit(node, f"uses .{attr} ({ATTRIBUTES.get(attr, INTERNALS)})")
        if attr == "__class__" and not isinstance(node.ctx, ast.Load):
            self.hit(node, f"assigns .__class__ ({LIAR})")
        if attr.startswith(GUARD_NAME):
            self.hit(node, f"uses the integrity guard's {attr} ({KERNEL})")
        name = self.qualified(node)
        if name:
            self.check_qualified(node, name)
            if not isinstance(node.ctx, ast.Load):
                self.hit(node, f"assigns or deletes {name} ({PATCH})")
        self.generic_visit(node)

    def visit_Call(self, node):
        if self.magic(node):
            return
        func = node.func
        name = func.id if isinstance(func, ast.Name) and func.id not in self.aliases else None
        if name in ("getattr", "setattr", "delattr", "hasattr") and len(node.args) >= 2:
            key = node.args[1]
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                self.hit(node, f"{name} with a computed attribute name ({DYNAMIC})")
            target = self.qualified(node.args[0])
            if name in ("setattr", "delattr") and target:
                self.hit(node, f"{name} on {target} ({PATCH})")
        if name == "vars" and not (len(node.args) == 1 and isinstance(node.args[0], ast.Name)
                                   and node.args[0].id == "self"):
            self.hit(node, f"vars() of a module or object ({INTERNALS})")
        if name == "type" and len(node.args) == 3:
            self.hit(node, f"type(name, bases, dict) builds a class ({LIAR})")
        called = self.qualified(func)
        if called == "genlib.grading.passed":
            self.hit(node, f"calls passed(), which prints the tests' pass line ({PASSLINE})")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            self.check_string(node, node.value)

    def visit_ClassDef(self, node):
        for base in node.bases:
            name = self.qualified(base) or (base.id if isinstance(base, ast.Name) else None)
            if name and any(name == b or name.startswith(b + ".") for b in LYING_BASES):
                self.hit(node, f"class {node.name} subclasses {name} ({LIAR})")
        if any(k.arg == "metaclass" for k in node.keywords):
            self.hit(node, f"class {node.name} takes a metaclass ({LIAR})")
        for statement in node.body:
            names = ([statement.name] if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef))
                     else [t.id for t in getattr(statement, "targets", [getattr(statement, "target", None)])
                           if isinstance(t, ast.Name)])
            for method in names:
                if method in LYING_METHODS:
                    self.hit(statement, f"class {node.name} defines {method} ({LIAR})")
        for decorator in node.decorator_list:
            self.visit(decorator)
        for item in node.bases + node.keywords:
            self.visit(item)
        if self.depth == 0:
            self.bind(node, node.name, definition=True)
        self.depth += 1
        for statement in node.body:
            self.visit(statement)
        self.depth -= 1

    def visit_FunctionDef(self, node):
        for item in node.decorator_list + [node.args]:
            self.visit(item)
        if node.returns:
            self.visit(node.returns)
        if self.depth == 0:
            self.bind(node, node.name, definition=True)
        self.depth += 1
        for statement in node.body:
            self.visit(statement)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def _comprehension(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_Assign(self, node):
        self.visit(node.value)
        alias = self.qualified(node.value)  # m = torch.nn.functional: m is that module too
        for target in node.targets:
            if alias and isinstance(target, ast.Name):
                self.bind(target, target.id, alias)
            else:
                self.visit(target)


def _locked_ids(release) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in release.cells
            if c.metadata.get("nbgrader", {}).get("locked") and "grade_id" in c.metadata["nbgrader"]}


def screen_notebook(notebook, release=None) -> list[Hit]:
    """The constructs of :data:`RULES` in the student cells of ``notebook``, in order.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        A submission.
    release : nbformat.NotebookNode, optional
        The student release it was made from: its locked cells (by grade_id) are the ones nbgrader
        restores, so their submitted text is not screened (the release's text is read instead). Without
        it, every cell marked locked in the submission counts as restored.

    Returns
    -------
    list of Hit
    """
    locked_ids = _locked_ids(release) if release is not None else None
    released = {c.metadata["nbgrader"]["grade_id"]: c.source for c in release.cells
                if "grade_id" in c.metadata.get("nbgrader", {})} if release is not None else {}
    screen, hits = _Screen(), []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code":
            continue
        nbgrader = cell.metadata.get("nbgrader", {})
        grade_id = nbgrader.get("grade_id")
        restored = grade_id in locked_ids if locked_ids is not None else bool(nbgrader.get("locked"))
        setup = restored and not nbgrader.get("grade") and not nbgrader.get("solution")
        screen.hits = []
        if restored:  # instructor code: learn what it imports and (setup cells) defines
            screen.cell(released.get(grade_id, cell.source), student=False, setup=setup)
            continue
        screen.cell(cell.source, student=True)
        seen = set()
        for line, reason in screen.hits:
            if (line, reason) not in seen:
                seen.add((line, reason))
                hits.append(Hit(number, grade_id, line, reason))
    return hits


def screen_file(path, release_path=None) -> list[Hit]:
    """:func:`screen_notebook` on files; a notebook that cannot be read has no hits (grading reports it)."""
    try:
        notebook = nbformat.read(Path(path), as_version=4)
    except Exception:  # a corrupt file is reported by grading, not here
        return []
    release = nbformat.read(Path(release_path), as_version=4) if release_path and Path(release_path).exists() else None
    return screen_notebook(notebook, release)
