"""Red team: studied attacks on unit 01's score, graded in one batch with honest submissions.

The attacks (tests/redteam/unit01.py) are written by a student who has read every file of the
repository, the integrity guard included: code-object and defaults swaps on the test helpers,
tampering with the guard's closure, key and state, objects and tensor subclasses that agree with
any expected value, lazy patching from inside the graded functions, a thread, a signal handler,
an exception that escapes its test cell, fake pass lines, a torch function mode. The batch runs
through `python -m tools.grade` (what `make grade` runs: real nbgrader, every kernel sandboxed),
beside the solution, a blank release, one part solved, and the stubs the attacks start from.

Each attack must score 0 on the test cells it aims at, or be flagged for a person by the static
screening (tools/screening.py); the honest submissions keep their scores and are flagged or
overruled by nothing. What stops each attack is printed (pytest -s) and summed up in the README:
the outside verdict (tools/verdict.py: a test cell nbgrader passed whose checks recorded values
that do not match the solution's is set to 0), the guard (the attacks that leave a change behind:
a swapped code object, new defaults, a torch mode), or only the screening (r16, which records the
expected value as its answer: the verdict's limit, measured).
"""
import csv
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.redteam.unit01 import ATTACKS, STUBS
from tools import submissions as subs
from tools.course import make_api, read_score, release
from tools.sandbox import sandbox_problem

pytestmark = pytest.mark.nbgrader
UNIT = "01_vae_recap"
SANDBOX_PROBLEM = sandbox_problem()
# The attacks run real code in a kernel: never with the grader's permissions.
needs_sandbox = pytest.mark.skipif(SANDBOX_PROBLEM is not None, reason=f"no grading sandbox here: {SANDBOX_PROBLEM}")
HONEST = {"h-solution": 10, "h-blank": 0, "h-only-kl": 2, "h-stubs": 0}  # student -> expected total


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade the attacks and the honest submissions in one run of tools.grade; return rows and cell scores."""
    course = tmp_path_factory.mktemp("redteam")
    shutil.copytree(ROOT / "solutions" / UNIT, course / "solutions" / UNIT)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    release(UNIT, course, make_api(course))
    released, answers = subs.released(course, UNIT), subs.solution_answers(ROOT, UNIT)
    honest = {"h-solution": subs.fill(released, answers), "h-blank": released,
              "h-only-kl": subs.fill(released, answers, only=["kl_to_standard_normal"]),
              "h-stubs": subs.fill(released, STUBS)}
    attacks = {student: subs.fill(released, code) for student, (_, code, _) in ATTACKS.items()}
    for student, notebook in {**honest, **attacks}.items():
        subs.submit(course, student, UNIT, notebook)
    env = dict(os.environ, GENLIB_CELL_TIMEOUT="20")
    run = subprocess.run([sys.executable, "-m", "tools.grade", "--root", str(course)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"make grade failed:\n{run.stdout}\n{run.stderr[-3000:]}"
    with open(course / "grading" / "scores.csv") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    api = make_api(course)
    cells = {student: read_score(api, UNIT, student).cells for student in rows if rows[student]["status"] != "error"}
    return {"rows": rows, "cells": cells, "stdout": run.stdout,
            "screening_txt": (course / "grading" / "screening.txt").read_text()}


@needs_sandbox
@pytest.mark.parametrize("student", list(HONEST))
def test_honest_submissions_keep_their_scores_and_are_not_flagged(batch, student):
    row = batch["rows"][student]
    assert row["status"] == "ok" and row["screening"] == "" and row["overruled"] == "", row
    assert float(row["score"]) == HONEST[student], (row, batch["cells"][student])


@needs_sandbox
@pytest.mark.parametrize("student", list(ATTACKS))
def test_attack_scores_zero_where_it_aims_or_is_flagged(batch, student):
    kind, _, touched = ATTACKS[student]
    row, cells = batch["rows"][student], batch["cells"].get(student, {})
    aimed = list(cells) if touched == "all" else touched
    points = sum(cells.get(name, 0) for name in aimed)
    guard = row["status"] == "flagged"
    screened = bool(row["screening"])
    overruled = [part.split(":")[0] for part in row["overruled"].split("; ") if part]
    print(f"\n{student} ({kind}): {float(row['score']):g}/10, {points:g} on the cells it aims at; "
          f"outside verdict overruled {len(overruled)} cell(s){': ' + ', '.join(overruled) if overruled else ''}; "
          f"guard {'FLAGGED' if guard else '-'}; screening: {row['screening'] or '-'}")
    assert points == 0 or screened, f"{student} ({kind}) scored {points} on {aimed} and was not flagged: {cells}"
    if screened:
        assert f"flagged for a person: {student} {UNIT} cell" in batch["screening_txt"]
        assert f"{student:<20} {UNIT:<20}" in batch["stdout"] and "for a person: cell" in batch["stdout"]


@needs_sandbox
def test_every_attack_is_flagged_by_screening(batch):
    """Screening alone catches the whole suite: a person reads each of these submissions."""
    missed = [student for student in ATTACKS if not batch["rows"][student]["screening"]]
    assert not missed, f"attacks the screening did not flag: {missed}"


# Attacks that leave a change behind them, which the guard now sees (tools/integrity.py): a swapped code object,
# new keyword defaults, a torch function mode that stays on. Their test cells are not run: 0 points, flagged.
GUARD_STOPS = ["r01-code-swap", "r02-kwdefaults", "r15-torch-mode"]


@needs_sandbox
@pytest.mark.parametrize("student", GUARD_STOPS)
def test_the_guard_stops_what_stays_changed(batch, student):
    row = batch["rows"][student]
    assert row["status"] == "flagged" and float(row["score"]) == 0, row


# Attacks that switch the checks off inside the kernel without leaving a change the guard can see (the guard's closure
# or key, a one-shot code swap): nbgrader passed their test cells; the outside verdict found no record, or too few
# comparisons, and set those cells to 0.
OUTSIDE_STOPS = ["r03-guard-closure", "r04-key-theft", "r09-lazy-code"]


@needs_sandbox
@pytest.mark.parametrize("student", OUTSIDE_STOPS)
def test_the_outside_verdict_stops_checks_switched_off_in_the_kernel(batch, student):
    row = batch["rows"][student]
    assert float(row["score"]) == 0 and row["overruled"], row
    assert f"overruled: {student} {UNIT} test-" in batch["stdout"]


@needs_sandbox
def test_recording_the_expected_value_is_left_to_the_screening(batch):
    """The verdict's limit: in the kernel, a check's expected value is there to be recorded as the answer."""
    row = batch["rows"]["r16-record-expected"]
    assert row["screening"] and "__code__" in row["screening"], row
    print(f"\nr16-record-expected: {float(row['score']):g}/10 (overruled: {row['overruled'] or '-'})")
