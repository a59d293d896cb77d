"""Integrity inside the kernel: a test cell runs only if the notebook has not changed how it runs.

nbgrader restores the *text* of locked test cells, not the kernel's state. An answer cell can
rebind or patch what the tests call (``check_close = lambda *a, **k: None``, ``torch.allclose =
...``, ``builtins.isinstance = ...``), or register an IPython input or AST transformer that
rewrites every later cell (a blank notebook would then score full marks). The sandbox does not
help: it protects the machine, not the score.

:class:`GuardedExecute` (nbgrader's Execute, sandboxed, plus this guard; installed in
``nbgrader_config.py``) defends through the preprocessor that runs the cells:

1. Before the first cell, it runs :func:`guard_source` (tools/integrity_guard.py): it imports the modules tests rely on and
   records what it will check, before any student code has run.
2. After each locked, ungraded code cell (the setup cells), the guard records the names it bound
   that refer to modules, functions or classes (``check_close``, ``torch``, ...).
3. Before each graded test cell, the guard checks that nothing recorded was changed (names,
   module attributes, and the code, defaults and closure cells of the functions among them), that
   no cell-rewriting hook (input/AST transformers, event callbacks, trace/profile/import hooks,
   patched cell runners) was added by student code, and that no torch function or dispatch mode
   was left on. The check is asked for as a Jupyter "user
   expression", which IPython evaluates without passing it through input transformers, and its
   answer comes back in the execute reply, signed with a key only the grader and the guard know.
   If anything changed, the test cell is *not run*: it gets an ``IntegrityError`` output, scores
   0, and the submission is flagged for grading by hand with the reason.

4. Around each graded test cell that runs, it switches on the recording of genlib.grading's checks
   (what ``check_close`` and ``check_shape`` were given, as plain JSON) and afterwards takes the
   cell's record out of the kernel into the cell's metadata (``RECORD_KEY``), replacing whatever the
   submitted notebook held there. tools/verdict.py compares it, in the grader's process, with the
   solution's expected values; a cell nbgrader passed keeps its points only if they match.

Honest code is unaffected: importing libraries, plotting (matplotlib's own hooks are allowed),
defining helpers. Limit: a student who studies this file can still defeat the guard from inside
the kernel (by reading the key out of its closure, or by patching within a test cell and undoing
it before the next check). Switching the checks off that way now scores 0 through the outside
verdict, which finds no record; recording right values needs the right values, and the kernel
holds each check's expected value: code that intercepts a check to record it as the answer is not
stopped, only flagged by tools/screening.py (tests/test_redteam.py measures all of these).
"""
from __future__ import annotations

import ast
import hashlib
import hmac
import json
import secrets
from pathlib import Path

from nbformat.v4 import new_output
from traitlets import Integer

from tools.sandbox import SandboxedExecute

ERROR_NAME = "IntegrityError"

# Runs in the kernel before any notebook cell: the code of tools/integrity_guard.py from its `def` on (its module
# docstring stays out of the student's kernel: it would become __doc__ there), then the lines that make the guard
# with the session's key (GUARD_INSTALL's "{key}" is replaced, nowhere else: the guard's own f-strings hold "{key}"
# too) and delete the maker. Everything it needs later is bound there, in closures.
_GUARD_FILE = Path(__file__).with_name("integrity_guard.py").read_text(encoding="utf-8")
GUARD_MODULE = "\n" + _GUARD_FILE[_GUARD_FILE.index("def _genlib_make_integrity_guard("):]
GUARD_INSTALL = """

(_genlib_integrity_mark, _genlib_integrity_record, _genlib_integrity_check, _genlib_integrity_verdict_begin,
 _genlib_integrity_verdict_take) = _genlib_make_integrity_guard("{key}")
del _genlib_make_integrity_guard
"""


def guard_source(key_hex: str) -> str:
    """The code that installs the guard with ``key_hex`` (64 hex digits) as its signing key: the key appears
    once, in the install lines (replacing "{key}" in the guard's code too would rewrite its f-strings)."""
    return GUARD_MODULE + GUARD_INSTALL.replace("{key}", key_hex)


def _is_grade_cell(cell) -> bool:
    return cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade", False)


def _is_locked_setup_cell(cell) -> bool:
    nbgrader = cell.metadata.get("nbgrader", {})
    return (cell.cell_type == "code" and nbgrader.get("locked", False)
            and not nbgrader.get("grade", False) and not nbgrader.get("solution", False))


RECORD_KEY = "genlib_record"  # a test cell's metadata: what its checks recorded (JSON text), for tools/verdict.py
MAX_RECORD_CHARS = 20_000_000


def parse_record(text, grade_id: str) -> dict:
    """A test cell's record as it came out of the kernel, checked: {"cell": grade_id, "entries": [...]}.

    Anything else (not a string, not JSON, another cell's record, too long) becomes {"error": why}.
    """
    if not isinstance(text, str):
        return {"error": "no record came back from the kernel"}
    if len(text) > MAX_RECORD_CHARS:
        return {"error": f"the record is longer than {MAX_RECORD_CHARS} characters"}
    try:
        record = json.loads(text)
    except ValueError:
        return {"error": "the record is not JSON"}
    if (not isinstance(record, dict) or record.get("cell") != grade_id
            or not isinstance(record.get("entries"), list)):
        return {"error": f"the record is not the record of {grade_id}"}
    return {"cell": grade_id, "entries": record["entries"]}


def integrity_flags(notebook) -> list[str]:
    """The reasons the guard gave for test cells it did not run, from an autograded notebook."""
    return [output.get("evalue", "") for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if output.get("ename") == ERROR_NAME]


class GuardedExecute(SandboxedExecute):
    """nbgrader's Execute, sandboxed, that refuses to run a test cell after the kernel was tampered with."""

    # How long to wait for a cell's last outputs after its reply (nbclient's default is 4 s; a
    # busy grading machine can be slower, and a lost output would read as a failed check).
    iopub_timeout = Integer(30).tag(config=True)
    install_timeout = Integer(180, help="Seconds to install the guard (it imports torch).").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._key = secrets.token_hex(32)
        self._guard_installed = False
        return super().preprocess(nb, resources, km)

    def _run_hidden(self, code: str, expressions: dict | None = None) -> dict:
        """Execute ``code`` silently (no outputs, no history, nothing in the notebook) and evaluate
        ``expressions`` after it; return the reply's content.

        The expressions' values come back in the reply on the shell channel (Jupyter's
        user_expressions), not as printed output, so none is lost on a busy machine, and IPython
        evaluates them without passing them through input transformers.
        """
        message_id = self.kc.execute(code, silent=True, store_history=False, user_expressions=expressions or {},
                                     allow_stdin=False, stop_on_error=False)
        return self.wait_for_reply(message_id)["content"]

    def _check(self, then: dict | None = None) -> list[str]:
        """The guard's list of problems; an answer that is missing or not signed is one.

        ``then``: more user expressions, evaluated after the check in the same request.
        """
        nonce = secrets.token_hex(16)
        reply = self._run_hidden("", {"verdict": f"_genlib_integrity_check({nonce!r})", **(then or {})})
        verdict = reply.get("user_expressions", {}).get("verdict", {})
        try:
            signed = ast.literal_eval(verdict["data"]["text/plain"])
            message, _, signature = signed.rpartition(" ")
        except (KeyError, TypeError, ValueError, SyntaxError, AttributeError):
            return ["the integrity check could not run: the guard was removed or replaced"]
        expected = hmac.new(bytes.fromhex(self._key), message.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected) or json.loads(message).get("nonce") != nonce:
            return ["the integrity check's answer was forged"]
        return json.loads(message)["problems"]

    def _install_guard(self) -> None:
        source = guard_source(self._key)
        cell_timeout, self.timeout = self.timeout, max(self.timeout or 0, self.install_timeout)
        try:
            reply = self._run_hidden(source)
        finally:
            self.timeout = cell_timeout
        if reply.get("status") != "ok":
            raise RuntimeError(f"the grading guard could not be installed: {reply.get('ename')}: {reply.get('evalue')}")
        self._guard_installed = True

    def _take_record(self, grade_id: str) -> str:
        """What the test cell's checks recorded (genlib.grading), taken out of the kernel as JSON text."""
        try:
            reply = self._run_hidden("", {"record": "_genlib_integrity_verdict_take()"})
            text = ast.literal_eval(reply["user_expressions"]["record"]["data"]["text/plain"])
        except Exception:  # a dead or stuck kernel, an expression that failed, a value that is not a literal
            text = None
        return json.dumps(parse_record(text, grade_id))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        if not self._guard_installed:
            self._install_guard()
        if _is_grade_cell(cell):
            grade_id = cell.metadata["nbgrader"].get("grade_id", "")
            cell.metadata[RECORD_KEY] = json.dumps({"error": "the test cell was not run"})  # never the submitted one
            # after the check, in the same request: the checks of this cell record what they compare, which the
            # grader takes out after the cell and compares outside the kernel (tools/verdict.py)
            problems = self._check({"begin": f"_genlib_integrity_verdict_begin({grade_id!r})"})
            if problems:
                cell.outputs = [new_output("error", ename=ERROR_NAME, evalue="; ".join(problems), traceback=[
                    f"{ERROR_NAME}: this test cell was not run, because earlier code changed how later cells run: "
                    + "; ".join(problems) + ". The submission is flagged for grading by hand."])]
                return cell, self.resources
            try:
                cell, resources = super().preprocess_cell(cell, resources, index)
            finally:
                cell.metadata[RECORD_KEY] = self._take_record(grade_id)
            return cell, resources
        if _is_locked_setup_cell(cell):
            self._run_hidden("", {"mark": "_genlib_integrity_mark()"})
            cell, resources = super().preprocess_cell(cell, resources, index)
            self._run_hidden("", {"record": "_genlib_integrity_record()"})
            return cell, resources
        return super().preprocess_cell(cell, resources, index)
