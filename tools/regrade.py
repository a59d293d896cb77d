"""make regrade UNIT=<unit>: fix an assignment after students have submitted, and regrade it.

When a test cell of solutions/<unit>/ (nbgrader's source) was wrong, or its points were, fix the cell
there, then run this. It
  1. reads every earlier score of the unit from the gradebook (per test cell and in total);
  2. regenerates the release exercises/<unit>/ (nbgrader generate_assignment --force). With
     submissions in the gradebook, nbgrader updates the existing cells' code, checksums and points
     in the gradebook (its SaveCells step), and refuses to add, remove or rename a graded cell;
  3. autogrades every submission of the unit again (nbgrader autograde --force on each
     grading/submitted/<student>/<unit>/, sandboxed as in make grade): nbgrader puts the
     gradebook's (now fixed) test cells and points into each submission before running it, so the
     new scores come from the fixed tests, and the outside verdict (tools/verdict.py) compares them with
     the fixed solution's expected values, recorded again because the solution changed. A manual score a grader gave a cell is kept by nbgrader
     (it only rewrites the autograded score) and the cell is flagged for a grader's review;
  4. appends one row per student and test cell, and one per student for the total, to
     grading/regrade_log.csv: the earlier and new points possible and score, and the grading status.
     Earlier regrades' rows stay in the file.

What nbgrader does (0.9.6, read in its source and seen in tests/test_regrade.py): generate_assignment
with submissions present raises "Cannot add or remove cells ... because there are submissions
associated with it" when the set of cells changed, and then deletes the release folder (which
--force had emptied already). So this command checks the graded cells first and names what changed,
and puts the earlier release back if nbgrader fails all the same. Autograde restores each locked test cell from the gradebook and takes
a grade cell's points from the gradebook, whatever the submitted notebook holds.

After it: commit exercises/<unit>/ and hand the fixed release to the students who have not submitted
yet (on the hub: the formgrader's release, or `nbgrader release_assignment <unit> --force`), and
export the grades again (make grades).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import os
import re
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader import utils as nbutils
from nbgrader.api import Gradebook, MissingEntry

from tools.course import ROOT, _in_directory, autograde_many, load_config, make_api, release, submissions, units
from tools.grade import stderr_to
from tools.sandbox import UNSANDBOXED_ENV, sandbox_problem

LOG_NAME = "regrade_log.csv"
LOG_COLUMNS = ["time", "unit", "student", "cell", "points_before", "points_after", "score_before", "score_after",
               "status"]
TOTAL = "(total)"


class RegradeError(RuntimeError):
    """The regrade cannot go ahead; the message says why and what to do."""


@dataclass
class UnitState:
    """A unit in the gradebook: each grade cell's points and code, and each submission's scores."""
    points: dict[str, float] = field(default_factory=dict)
    code: dict[str, str] = field(default_factory=dict)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # student -> {cell: score}
    totals: dict[str, float] = field(default_factory=dict)  # student -> total


def read_unit(db_url: str, unit: str) -> UnitState:
    """What the gradebook holds for ``unit`` now (empty when the unit is not in it)."""
    state = UnitState()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's warnings about nbgrader's relationships
        with Gradebook(db_url) as gradebook:
            try:
                assignment = gradebook.find_assignment(unit)
            except MissingEntry:
                return state
            for notebook in assignment.notebooks:
                sources = {cell.name: cell.source for cell in notebook.source_cells}
                for cell in notebook.grade_cells:
                    state.points[cell.name] = float(cell.max_score)
                    state.code[cell.name] = sources.get(cell.name, "")
            for submission in assignment.submissions:
                student = submission.student.id
                state.scores[student] = {grade.name: float(grade.score)
                                         for notebook in submission.notebooks for grade in notebook.grades}
                state.totals[student] = float(submission.score)
    return state


def _cells(notebook) -> dict[str, set[str]]:
    kinds = {"graded": nbutils.is_grade, "answer": nbutils.is_solution, "task": nbutils.is_task}
    return {kind: {c.metadata.nbgrader["grade_id"] for c in notebook.cells if test(c)} for kind, test in kinds.items()}


def check_same_cells(root: Path, unit: str, db_url: str) -> None:
    """Raise RegradeError when solutions/<unit> adds, removes or renames a graded, answer or task cell
    that the gradebook knows (nbgrader refuses that once submissions exist)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Gradebook(db_url) as gradebook:
            try:
                notebooks = gradebook.find_assignment(unit).notebooks
            except MissingEntry:
                return
            known = {nb.name: {"graded": {c.name for c in nb.grade_cells},
                               "answer": {c.name for c in nb.solution_cells},
                               "task": {c.name for c in nb.task_cells}} for nb in notebooks}
    source = Path(root) / "solutions" / unit
    for name, before in known.items():
        path = source / f"{name}.ipynb"
        if not path.is_file():
            raise RegradeError(f"{path} is gone, but the gradebook has submissions of it: put it back.")
        now = _cells(nbformat.read(path, as_version=4))
        changes = [f"{kind} cells added: {sorted(now[kind] - before[kind])}" for kind in before
                   if now[kind] - before[kind]]
        changes += [f"{kind} cells removed: {sorted(before[kind] - now[kind])}" for kind in before
                    if before[kind] - now[kind]]
        if changes:
            raise RegradeError(
                f"{path.relative_to(root)} no longer has the cells its submissions were graded with ("
                + "; ".join(changes) + "). nbgrader cannot add, remove or rename cells once students have "
                "submitted: keep every cell id (grade_id) as it was and change only the code or points of a cell.")


def _release_keeping_backup(unit: str, root: Path, api) -> None:
    """nbgrader generate_assignment --force, with the earlier release put back if it fails."""
    released = Path(root) / "exercises" / unit
    with tempfile.TemporaryDirectory() as scratch:
        backup = Path(scratch) / unit
        if released.is_dir():
            shutil.copytree(released, backup)
        try:
            release(unit, root, api)
        except Exception as error:
            if backup.is_dir():
                shutil.rmtree(released, ignore_errors=True)
                shutil.copytree(backup, released)
            raise RegradeError(f"nbgrader could not regenerate {unit}; the earlier release was put back.\n{error}")


def _stated_total(root: Path, unit: str) -> float | None:
    """The '(N points)' of the unit's title line, if it states one."""
    notebook = nbformat.read(Path(root) / "solutions" / unit / f"{unit}.ipynb", as_version=4)
    match = re.search(r"\((\d+(?:\.\d+)?) points\)", notebook.cells[0].source.splitlines()[0]) if notebook.cells else None
    return float(match.group(1)) if match else None


def _fmt(value) -> str:
    return "" if value is None else format(round(value, 4), "g")


def regrade(unit: str, root: Path = ROOT, *, jobs: int = 1) -> tuple[list[dict], list[str]]:
    """Regenerate ``unit``, autograde all its submissions again, append the log; return (log rows, notes)."""
    root = Path(root)
    db_url = load_config(root).CourseDirectory.db_url
    check_same_cells(root, unit, db_url)
    before = read_unit(db_url, unit)
    api = make_api(root)
    with _in_directory(root):
        _release_keeping_backup(unit, root, api)
    after_cells = read_unit(db_url, unit)
    notes = []
    for cell in sorted(after_cells.points):
        old_points, new_points = before.points.get(cell), after_cells.points[cell]
        if old_points is not None and old_points != new_points:
            notes.append(f"{cell}: points {_fmt(old_points)} -> {_fmt(new_points)}")
        if before.code.get(cell) is not None and before.code[cell] != after_cells.code.get(cell):
            notes.append(f"{cell}: test code changed")
    if not notes:
        notes.append("no test cell's code or points changed in the gradebook; regrading anyway")
    stated, total_points = _stated_total(root, unit), sum(after_cells.points.values())
    if stated is not None and stated != total_points:
        notes.append(f"the title of solutions/{unit} states ({_fmt(stated)} points) but the test cells now give "
                     f"{_fmt(total_points)}: update the title")
    pairs = [(student, u) for student, u in submissions(root) if u == unit]
    on_file = {student for student, _ in pairs}
    for student in sorted(set(before.scores) - on_file):
        notes.append(f"{student} has scores in the gradebook but no grading/submitted/{student}/{unit}/: not regraded")
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    rows = []
    for score, _ in autograde_many(pairs, root, jobs=jobs):
        now = UnitState() if score.ok else read_unit(db_url, unit)  # not graded: what the gradebook holds now
        student = score.student
        status = "ok" if score.ok and not score.flag else f"flagged: {score.flag}" if score.ok else f"error: {score.error}"
        if score.overruled:
            status += "; overruled by the outside verdict: " + "; ".join(f"{c}: {w}" for c, w in score.overruled.items())
        cells_after = score.cells if score.ok else now.scores.get(student, {})
        for cell in sorted(after_cells.points):
            rows.append({"time": stamp, "unit": unit, "student": student, "cell": cell,
                         "points_before": _fmt(before.points.get(cell)), "points_after": _fmt(after_cells.points[cell]),
                         "score_before": _fmt(before.scores.get(student, {}).get(cell)),
                         "score_after": _fmt(cells_after.get(cell)), "status": status})
        rows.append({"time": stamp, "unit": unit, "student": student, "cell": TOTAL,
                     "points_before": _fmt(sum(before.points.values()) if before.points else None),
                     "points_after": _fmt(total_points), "score_before": _fmt(before.totals.get(student)),
                     "score_after": _fmt(score.score if score.ok else now.totals.get(student)), "status": status})
    _append_log(root / "grading" / LOG_NAME, rows)
    return rows, notes


def _append_log(path: Path, rows: list[dict]) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerows(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("unit", help="the unit whose tests were fixed, e.g. 01_vae_recap")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course folder (default: this repository)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="grade even where the sandbox cannot run: student code gets YOUR permissions")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    known = units(root)
    if args.unit not in known:
        print(f"No unit {args.unit!r} in solutions/; the units are: {', '.join(known)}", file=sys.stderr)
        return 2
    problem = sandbox_problem()
    if problem and not args.unsandboxed:
        print(f"Not regrading: the sandbox for student code cannot run here: {problem}\n"
              "Pass --unsandboxed (make regrade UNIT=... ARGS=--unsandboxed) to grade with your own permissions anyway.",
              file=sys.stderr)
        return 2
    if args.unsandboxed:
        os.environ[UNSANDBOXED_ENV] = "1"
    log_path = root / "grading" / "regrade.log"
    try:
        with stderr_to(log_path):
            rows, notes = regrade(args.unit, root, jobs=args.jobs)
    except RegradeError as error:
        print(f"Not regraded: {error}", file=sys.stderr)
        return 1
    print(f"Regraded {args.unit}. What changed:")
    for note in notes:
        print(f"  {note}")
    print(f"{'student':<20} {'before':>7} {'after':>7} {'max':>9}  status")
    for row in rows:
        if row["cell"] == TOTAL:
            maximum = f"{row['points_before'] or '-'}->{row['points_after']}"
            print(f"{row['student']:<20} {row['score_before'] or '-':>7} {row['score_after'] or '-':>7} "
                  f"{maximum:>9}  {row['status']}")
    print(f"{sum(r['cell'] == TOTAL for r in rows)} submission(s) regraded; earlier and new scores per cell appended "
          f"to {root / 'grading' / LOG_NAME}; the libraries' messages are in {log_path}")
    print(f"Next: commit exercises/{args.unit}/, release it again to the students, and export the grades (make grades).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
