"""The course's nbgrader pipeline, as functions: units, release, autograde, scores.

Used by ``make release`` (tools/release.py), ``make grade`` (tools/grade.py), the
benchmark and the round-trip tests. Every function takes the course root, so the tests
can run the real pipeline on a temporary copy of the course.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from tools.integrity import integrity_flags
from tools.verdict import ensure_expected, overruled_cells

ROOT = Path(__file__).resolve().parents[1]
# nbgrader runs `alembic` as a subprocess: it must find the one beside this Python.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def units(root: Path = ROOT) -> list[str]:
    """The graded units: folders NN_topic of solutions/ that hold NN_topic.ipynb."""
    return sorted(p.name for p in (Path(root) / "solutions").iterdir()
                  if (p / f"{p.name}.ipynb").is_file())


def load_config(root: Path = ROOT, **overrides) -> Config:
    """Read root/nbgrader_config.py (nbgrader's API does not read it by itself).

    ``overrides`` are "Section.option" = value pairs, e.g. ``{"Execute.timeout": 5}``.
    """
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    for key, value in overrides.items():
        section, option = key.split(".")
        setattr(config[section], option, value)
    return config


@contextlib.contextmanager
def _in_directory(path: Path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def make_api(root: Path = ROOT, *, quiet: bool = True, **overrides) -> NbGraderAPI:
    """An NbGraderAPI on the course at ``root`` with its nbgrader_config.py."""
    config = load_config(root, **overrides)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    if quiet:
        api.log.setLevel(logging.ERROR)
    return api


def _check(result: dict, what: str) -> dict:
    if not result.get("success"):
        raise RuntimeError(f"{what} failed:\n{result.get('error', '')}\n{result.get('log', '')}")
    return result


def release(unit: str, root: Path = ROOT, api: NbGraderAPI | None = None) -> Path:
    """Regenerate exercises/<unit>/ from solutions/<unit>/ (nbgrader generate_assignment)."""
    api = api or make_api(root)
    with _in_directory(root):
        _check(api.generate_assignment(unit, force=True), f"nbgrader generate_assignment {unit}")
    released = Path(root) / "exercises" / unit / f"{unit}.ipynb"
    leaks = [m for m in SOLUTION_MARKERS if m in released.read_text()]
    if leaks:
        raise RuntimeError(f"{released} still contains {leaks}: check the markers in the solution notebook.")
    return released


def submissions(root: Path = ROOT) -> list[tuple[str, str]]:
    """(student, unit) pairs found in grading/submitted/<student>/<unit>/."""
    submitted = Path(root) / "grading" / "submitted"
    if not submitted.is_dir():
        return []
    known = set(units(root))
    return sorted((s.name, u.name) for s in submitted.iterdir() if s.is_dir()
                  for u in s.iterdir() if u.is_dir() and u.name in known)


@dataclass
class Score:
    """One autograded submission: the total, and the points of each test cell."""
    student: str
    unit: str
    score: float = 0.0
    max_score: float = 0.0
    cells: dict[str, float] = field(default_factory=dict)
    error: str = ""  # could not be graded: why
    flag: str = ""  # graded, but the integrity guard refused to run some test cells: why (grade by hand)
    # test cells nbgrader passed that the outside verdict (tools/verdict.py) set to 0: {grade_id: why}
    overruled: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.error


def _is_in_gradebook(api: NbGraderAPI, unit: str) -> bool:
    with Gradebook(api.coursedir.db_url) as gradebook:
        try:
            gradebook.find_assignment(unit)
            return bool(gradebook.find_assignment(unit).notebooks)
        except MissingEntry:
            return False


def read_score(api: NbGraderAPI, unit: str, student: str) -> Score:
    """The autograded score of one submission, from the gradebook."""
    with Gradebook(api.coursedir.db_url) as gradebook:
        submission = gradebook.find_submission(unit, student)
        cells = {grade.name: grade.score for notebook in submission.notebooks for grade in notebook.grades}
        return Score(student, unit, submission.score, submission.max_score, cells)


def _failure_reason(result: dict) -> str:
    """The most specific exception line of a failed nbgrader run (e.g. 'NotJSONError: ...')."""
    text = result.get("log", "") + "\n" + result.get("error", "")
    causes = [m.group(0).strip() for m in re.finditer(r"^\s*[\w.]*(?:Error|Exception): .*$", text, re.M)
              if "NbGraderException" not in m.group(0)]
    return causes[0] if causes else "nbgrader could not process the submission (see its log)"


def autograde(unit: str, student: str, root: Path = ROOT, api: NbGraderAPI | None = None) -> Score:
    """Autograde grading/submitted/<student>/<unit>/ and return its score.

    nbgrader runs the submission (sandboxed, guarded: tools/integrity.py); then, still in nbgrader's
    autograde, the outside verdict (tools/verdict.py) compares what each test cell's checks recorded
    with the solution's expected values, in the grader's process, and fails every test cell that ran
    without error but whose record does not match (``Score.overruled``).

    A submission that cannot be graded (a corrupt notebook, a missing file) comes back
    with ``error`` set instead of raising, so a batch goes on.
    """
    api = api or make_api(root)
    with _in_directory(root):
        if not _is_in_gradebook(api, unit):
            release(unit, root, api)  # a fresh clone has no gradebook yet
        ensure_expected(unit, root, api.config)  # the solution's expected values (tools/verdict.py)
        result = api.autograde(unit, student, force=True)
    if not result.get("success"):
        reason = _failure_reason(result)
        if "DeadKernelError" in reason:
            reason += (" (the submission ended or crashed the kernel: os._exit, or a fork bomb that used up the "
                       "sandbox's process limit; grade it by hand)")
        return Score(student, unit, error=reason)
    autograded = Path(root) / "grading" / "autograded" / student / unit / f"{unit}.ipynb"
    if not autograded.exists():
        return Score(student, unit, error="nbgrader wrote no autograded notebook: "
                                         "the submission ended the kernel's process; grade it by hand")
    notebook = nbformat.read(autograded, as_version=4)
    score = read_score(api, unit, student)
    score.overruled = overruled_cells(notebook)
    flags = integrity_flags(notebook)
    if flags:
        score.flag = f"{flags[0]} (test cells not run: {len(flags)}; grade it by hand)"
    return score


def _autograde_timed(args) -> tuple[Score, float]:
    unit, student, root = args
    start = time.perf_counter()
    score = autograde(unit, student, root, make_api(root))
    return score, time.perf_counter() - start


def autograde_many(pairs: list[tuple[str, str]], root: Path = ROOT, *, jobs: int = 1):
    """Autograde (student, unit) pairs, ``jobs`` at a time; yields (Score, seconds) in order.

    Each worker process has its own nbgrader API; they share the SQLite gradebook.
    """
    api = make_api(root)
    with _in_directory(root):
        for unit in sorted({unit for _, unit in pairs}):
            if not _is_in_gradebook(api, unit):
                release(unit, root, api)  # before the workers start, so only one process writes it
            ensure_expected(unit, root, api.config)  # the solution's expected records, likewise
    tasks = [(unit, student, Path(root)) for student, unit in pairs]
    if jobs <= 1:
        yield from map(_autograde_timed, tasks)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        yield from pool.map(_autograde_timed, tasks)
