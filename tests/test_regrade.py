"""make regrade (tools/regrade.py): fixing a unit's tests after students have submitted, in one real
nbgrader round trip on a copy of unit 01.

The copy is released with a wrong hidden test (it expects KL(N(0, I) || N(0, I)) = 1, so the
instructor's own solution fails it); a solution and a blank release are submitted and graded. Then
the test is fixed in solutions/ and, in the same fix, another hidden test's points go from 2 to 3;
`python -m tools.regrade` (what `make regrade` runs) must update the gradebook's cells and points,
regrade both submissions and log the earlier and new scores. A change nbgrader cannot apply once
students have submitted (a new or renamed cell) is refused with the cells named, and the release is
left as it was.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import warnings

import nbformat
import pytest

from tests.conftest import ROOT
from tools import regrade as rg
from tools import submissions as subs
from tools.course import autograde_many, load_config, make_api, read_score, release
from tools.sandbox import UNSANDBOXED_ENV, sandbox_problem

pytestmark = pytest.mark.nbgrader
UNIT = "01_vae_recap"
UNSANDBOXED = sandbox_problem() is not None and os.geteuid() != 0  # as in test_nbgrader: root must sandbox
WRONG_LINE = ('assert abs(float(kl_to_standard_normal(torch.zeros(1, 2), torch.zeros(1, 2))) - 1.0) < 1e-6, '
              '"KL of N(0, I) to itself"\n')
MARKER = "### BEGIN HIDDEN TESTS\n"


def _solution_path(course):
    return course / "solutions" / UNIT / f"{UNIT}.ipynb"


def _edit_cell(course, grade_id, edit):
    path = _solution_path(course)
    notebook = nbformat.read(path, as_version=4)
    edit(subs.cell(notebook, grade_id))
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def regraded(tmp_path_factory):
    """Grade the unit with the wrong test, fix it (and a point value), run the regrade command."""
    course = tmp_path_factory.mktemp("regrade")
    shutil.copytree(ROOT / "solutions" / UNIT, course / "solutions" / UNIT)
    shutil.copy(ROOT / "nbgrader_config.py", course)

    def break_kl_test(cell):
        cell.source = cell.source.replace(MARKER, MARKER + WRONG_LINE, 1)

    _edit_cell(course, "test-kl-hidden", break_kl_test)
    release(UNIT, course, make_api(course))
    released = subs.released(course, UNIT)
    subs.submit(course, "s-solution", UNIT, subs.fill(released, subs.solution_answers(ROOT, UNIT)))
    subs.submit(course, "s-blank", UNIT, released)
    if UNSANDBOXED:
        os.environ[UNSANDBOXED_ENV] = "1"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy's warnings while nbgrader adds the submissions
            pairs = [("s-solution", UNIT), ("s-blank", UNIT)]
            first = {score.student: score for score, _ in autograde_many(pairs, course)}
    finally:
        if UNSANDBOXED:
            os.environ.pop(UNSANDBOXED_ENV, None)
    original = subs.cell(nbformat.read(ROOT / "solutions" / UNIT / f"{UNIT}.ipynb", as_version=4), "test-kl-hidden")

    def fix_kl_test(cell):
        cell.source = original.source

    def more_points(cell):
        cell.metadata.nbgrader["points"] = 3

    _edit_cell(course, "test-kl-hidden", fix_kl_test)
    _edit_cell(course, "test-elbo-hidden", more_points)
    command = [sys.executable, "-m", "tools.regrade", UNIT, "--root", str(course), "--jobs", "2"]
    run = subprocess.run(command + (["--unsandboxed"] if UNSANDBOXED else []), cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    with open(course / "grading" / "regrade_log.csv") as handle:
        log = list(csv.DictReader(handle))
    return {"course": course, "first": first, "run": run, "log": log, "api": make_api(course)}


def test_before_the_fix_the_wrong_test_failed_the_solution(regraded):
    first = regraded["first"]
    assert first["s-solution"].ok and first["s-solution"].score == 9, first["s-solution"].cells
    assert first["s-solution"].cells["test-kl-hidden"] == 0 and first["s-solution"].max_score == 10
    assert first["s-blank"].ok and first["s-blank"].score == 0


def test_regrade_command_succeeds_and_names_the_changes(regraded):
    run = regraded["run"]
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert run.stderr == "", run.stderr
    assert "test-elbo-hidden: points 2 -> 3" in run.stdout
    assert "test-kl-hidden: test code changed" in run.stdout
    assert "states (10 points) but the test cells now give 11: update the title" in run.stdout
    assert "2 submission(s) regraded" in run.stdout


def test_gradebook_has_the_fixed_points_and_new_scores(regraded):
    api = regraded["api"]
    solution, blank = read_score(api, UNIT, "s-solution"), read_score(api, UNIT, "s-blank")
    assert (solution.score, solution.max_score) == (11, 11), solution.cells
    assert solution.cells["test-kl-hidden"] == 1 and solution.cells["test-elbo-hidden"] == 3
    assert (blank.score, blank.max_score) == (0, 11), blank.cells
    state = rg.read_unit(load_config(regraded["course"]).CourseDirectory.db_url, UNIT)
    assert state.points["test-elbo-hidden"] == 3 and WRONG_LINE not in state.code["test-kl-hidden"]


def test_release_carries_the_new_points_and_no_hidden_test(regraded):
    released = subs.released(regraded["course"], UNIT)
    assert subs.cell(released, "test-elbo-hidden").metadata.nbgrader["points"] == 3
    assert "BEGIN HIDDEN TESTS" not in json.dumps(released)


def test_log_keeps_earlier_and_new_scores_per_cell_and_in_total(regraded):
    log = {(row["student"], row["cell"]): row for row in regraded["log"]}
    assert len(regraded["log"]) == 2 * (8 + 1), "one row per student and test cell, and one per student's total"
    want = {
        ("s-solution", "test-kl-hidden"): ("1", "1", "0", "1"),
        ("s-solution", "test-elbo-hidden"): ("2", "3", "2", "3"),
        ("s-solution", "test-kl-visible"): ("1", "1", "1", "1"),
        ("s-solution", rg.TOTAL): ("10", "11", "9", "11"),
        ("s-blank", "test-elbo-hidden"): ("2", "3", "0", "0"),
        ("s-blank", rg.TOTAL): ("10", "11", "0", "0"),
    }
    for key, values in want.items():
        row = log[key]
        assert (row["points_before"], row["points_after"], row["score_before"], row["score_after"]) == values, row
        assert row["unit"] == UNIT and row["status"] == "ok", row


def test_a_new_or_renamed_cell_is_refused_and_the_release_kept(regraded, tmp_path):
    course = regraded["course"]
    released = (course / "exercises" / UNIT / f"{UNIT}.ipynb").read_text()
    db_url = load_config(course).CourseDirectory.db_url
    renamed = tmp_path / "renamed"
    shutil.copytree(course / "solutions", renamed / "solutions")

    def rename(cell):
        cell.metadata.nbgrader["grade_id"] = "test-kl-hidden-2"

    _edit_cell(renamed, "test-kl-hidden", rename)
    with pytest.raises(rg.RegradeError, match=r"graded cells added: \['test-kl-hidden-2'\]; "
                                              r"graded cells removed: \['test-kl-hidden'\]"):
        rg.check_same_cells(renamed, UNIT, db_url)
    # A new locked cell passes that check, but nbgrader refuses it and deletes the release folder.
    path = _solution_path(course)
    original = path.read_text()
    notebook = nbformat.read(path, as_version=4)
    note = nbformat.v4.new_markdown_cell("A note added mid-term.")
    note.metadata["nbgrader"] = {"grade": False, "grade_id": "note-added", "locked": True, "schema_version": 3,
                                 "solution": False, "task": False}
    notebook.cells.insert(1, note)
    nbformat.write(notebook, path)
    try:
        with pytest.raises(rg.RegradeError, match="(?s)the earlier release was put back.*Cannot add or remove cells"):
            rg.regrade(UNIT, course)
    finally:
        path.write_text(original)
    assert (course / "exercises" / UNIT / f"{UNIT}.ipynb").read_text() == released
