"""make grades: export nbgrader's gradebook as CSV files that Canvas and Moodle import.

One row per student of the gradebook, one column per assignment (unit), each cell the student's
points for that unit as nbgrader holds them (autograded score, or the manual score where a grader
set one). Written to grading/lms/canvas.csv and grading/lms/moodle.csv.

A missing submission is an **empty cell**, not 0, unless ``--missing zero`` is given: an empty
cell tells the LMS "no grade" (Moodle's importer reads '' and '-' as no grade, see below), so a
late submission graded afterwards is not mistaken for a zero. ``--missing zero`` writes 0 instead,
for courses where a missing submission scores nothing.

What the layouts are, and where they were checked (2026-12, from public sources, not by importing
into a live Canvas or Moodle):

Canvas (Grades > Import; Instructure's guide "How do I import grades in the Gradebook?" was not read
itself: the layout below is the one Canvas's own gradebook export writes, as reproduced by tools that
import into Canvas, and Ohio State's guide "Import CSV File for Carmen Grades", which lists the
required columns and says a new assignment column creates an assignment):
    Student, ID, SIS User ID, SIS Login ID, Section, <one column per assignment>
  then a second row whose first cell is "Points Possible" and which holds each assignment's points
  (Canvas's export writes it as "    Points Possible", four spaces first, and tools that copy that
  row back write it so; PrairieLearn's apps/prairielearn/src/lib/canvas-csv.ts names the same five
  fixed columns and writes the row without the spaces). An instructor's tests reported in PrairieLearn issue #4547:
  Canvas matches a student by Student (the name, "Last, First" or "First Last") with SIS Login ID,
  the Section column must exist but may be blank, and an assignment column is matched to an existing
  assignment by its exact name (or by "Name (canvas assignment id)" as Canvas's export writes it);
  an unknown name creates a new assignment. Here: Student = "Last, First" from the gradebook, or the
  student id when the gradebook has no names; ID = nbgrader's ``lms_user_id`` (empty when unset);
  SIS Login ID = the nbgrader student id (``--canvas-login sis_user_id`` puts it under SIS User ID
  instead); Section empty. How Canvas treats an empty cell on import was not verified.

Moodle (Grades > Import > CSV file; MoodleDocs "Grade import", and the importer's source
grade/import/csv/classes/load_data.php): the first row is a header; on the preview page the
instructor maps one column to identify users ("Map from" a column, "Map to" one of userid,
username, useridnumber, useremail) and each other column to a grade item (or a new one). Every row
must map to an existing user, or the whole import stops; a grade cell '' or '-' is "no grade"; a
grade above the site's maximum (100 unless raised) is refused. So the file has no "points" row:
    Username, Email address, First name, Last name, <one column per assignment>
with Username = the nbgrader student id (map it to "username"; or map "Email address" to
"useremail" when the gradebook holds emails). Set each Moodle grade item's maximum to the unit's
points, which this command prints.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from tools.course import ROOT, load_config

CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_ROW = "    Points Possible"  # as Canvas's own export writes it
MOODLE_FIXED = ["Username", "Email address", "First name", "Last name"]
MISSING = {"blank": "", "zero": "0"}


@dataclass
class Student:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""


@dataclass
class GradeTable:
    """The gradebook's totals: ``points[assignment]`` its maximum, ``scores[(student, assignment)]`` a
    submission's score (absent: no submission), ``manual`` the submissions that still need grading by hand."""
    assignments: list[str] = field(default_factory=list)
    points: dict[str, float] = field(default_factory=dict)
    students: list[Student] = field(default_factory=list)
    scores: dict[tuple[str, str], float] = field(default_factory=dict)
    manual: list[tuple[str, str]] = field(default_factory=list)


def read_gradebook(db_url: str) -> GradeTable:
    """Every student and assignment of the nbgrader gradebook at ``db_url`` (e.g. 'sqlite:///.../gradebook.db')."""
    table = GradeTable()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's warnings about nbgrader's relationships
        with Gradebook(db_url) as gradebook:
            for assignment in sorted(gradebook.assignments, key=lambda a: a.name):
                table.assignments.append(assignment.name)
                table.points[assignment.name] = float(assignment.max_score)
            for student in sorted(gradebook.students, key=lambda s: s.id):
                table.students.append(Student(student.id, student.first_name or "", student.last_name or "",
                                              student.email or "", student.lms_user_id or ""))
                for name in table.assignments:
                    try:
                        submission = gradebook.find_submission(name, student.id)
                    except MissingEntry:
                        continue
                    table.scores[student.id, name] = float(submission.score)
                    if submission.needs_manual_grade:
                        table.manual.append((student.id, name))
    return table


def _number(value: float) -> str:
    """Points as the LMS reads them: 10, 7.5, 0.25 (no trailing .0, no float noise)."""
    return format(round(value, 4), "g")


def _score(table: GradeTable, student: str, assignment: str, missing: str) -> str:
    if (student, assignment) not in table.scores:
        return MISSING[missing]
    return _number(table.scores[student, assignment])


def _display_name(student: Student) -> str:
    if student.last_name and student.first_name:
        return f"{student.last_name}, {student.first_name}"
    return student.last_name or student.first_name or student.id


def _write(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def canvas_csv(table: GradeTable, *, missing: str = "blank", login_column: str = "sis_login_id") -> str:
    """The Canvas gradebook import file (see the module docstring for the layout and its sources)."""
    _check_missing(missing)
    if login_column not in ("sis_login_id", "sis_user_id"):
        raise ValueError(f"login_column must be 'sis_login_id' or 'sis_user_id', got {login_column!r}")
    rows = [CANVAS_FIXED + table.assignments,
            [CANVAS_POINTS_ROW, "", "", "", ""] + [_number(table.points[a]) for a in table.assignments]]
    for student in table.students:
        user_id, login_id = (student.id, "") if login_column == "sis_user_id" else ("", student.id)
        rows.append([_display_name(student), student.lms_user_id, user_id, login_id, ""]
                    + [_score(table, student.id, a, missing) for a in table.assignments])
    return _write(rows)


def moodle_csv(table: GradeTable, *, missing: str = "blank") -> str:
    """The Moodle grade import file (see the module docstring for the layout and its sources)."""
    _check_missing(missing)
    rows = [MOODLE_FIXED + table.assignments]
    for student in table.students:
        rows.append([student.id, student.email, student.first_name, student.last_name]
                    + [_score(table, student.id, a, missing) for a in table.assignments])
    return _write(rows)


def _check_missing(missing: str) -> None:
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {sorted(MISSING)} (an empty cell, or 0), got {missing!r}")


def export(root: Path = ROOT, out: Path | None = None, *, missing: str = "blank",
           login_column: str = "sis_login_id", db_url: str | None = None) -> tuple[GradeTable, dict[str, Path]]:
    """Write canvas.csv and moodle.csv for the course at ``root`` into ``out`` (default root/grading/lms)."""
    db_url = db_url or load_config(root).CourseDirectory.db_url
    table = read_gradebook(db_url)
    out = Path(out) if out else Path(root) / "grading" / "lms"
    out.mkdir(parents=True, exist_ok=True)
    paths = {"canvas": out / "canvas.csv", "moodle": out / "moodle.csv"}
    paths["canvas"].write_text(canvas_csv(table, missing=missing, login_column=login_column), encoding="utf-8")
    paths["moodle"].write_text(moodle_csv(table, missing=missing), encoding="utf-8")
    return table, paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="the course folder (default: this repository)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the files (default: grading/lms)")
    parser.add_argument("--missing", choices=sorted(MISSING), default="blank",
                        help="a missing submission as an empty cell (blank, the default) or as 0 (zero)")
    parser.add_argument("--canvas-login", choices=["sis_login_id", "sis_user_id"], default="sis_login_id",
                        help="the Canvas column that holds the nbgrader student id (default: SIS Login ID)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not (root / "grading" / "gradebook.db").exists():
        print(f"No gradebook at {root / 'grading' / 'gradebook.db'}: grade first (make grade).", file=sys.stderr)
        return 1
    table, paths = export(root, args.out, missing=args.missing, login_column=args.canvas_login)
    missing = sum((s.id, a) not in table.scores for s in table.students for a in table.assignments)
    shown = "empty cells" if args.missing == "blank" else "0"
    print(f"{len(table.students)} student(s), {len(table.assignments)} assignment(s); "
          f"{missing} missing submission(s) written as {shown}.")
    for name in table.assignments:
        print(f"  {name:<24} {_number(table.points[name]):>5} points")
    for kind, path in paths.items():
        print(f"{kind:<7} {path}")
    if table.manual:
        listed = ", ".join(f"{s}/{a}" for s, a in table.manual[:5]) + (" ..." if len(table.manual) > 5 else "")
        print(f"Note: {len(table.manual)} submission(s) still need grading by hand ({listed}); "
              "their exported score is what nbgrader holds now.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
