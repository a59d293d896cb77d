"""make grades (tools/gradebook_export.py): the Canvas and Moodle files of a gradebook built with
nbgrader's own Gradebook API (three students, two units, one submission missing), checked as text."""
import subprocess
import sys
import warnings

import pytest
from nbgrader.api import Gradebook

from tests.conftest import ROOT
from tools import gradebook_export as export

# unit -> {grade cell: points}; student -> {unit: {cell: score}} (no entry: no submission)
UNITS = {"01_vae_recap": {"test-a": 4, "test-b": 6}, "02_gans": {"test-c": 2, "test-d": 3}}
STUDENTS = {
    "ada": dict(first_name="Ada", last_name="Lovelace", email="ada@example.org", lms_user_id="1001"),
    "bob": {},  # as nbgrader autograde adds a student: an id and nothing else
    "chen": dict(first_name="Li", last_name="Chen", email="li.chen@example.org"),
}
SCORES = {
    "ada": {"01_vae_recap": {"test-a": 4, "test-b": 6}, "02_gans": {"test-c": 2, "test-d": 1.5}},
    "bob": {"01_vae_recap": {"test-a": 4, "test-b": 0}},  # no 02_gans submission
    "chen": {"01_vae_recap": {"test-a": 0, "test-b": 0}, "02_gans": {"test-c": 2, "test-d": 3}},
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder whose grading/gradebook.db holds the table above (no notebook is run)."""
    root = tmp_path_factory.mktemp("lms")
    (root / "grading").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's warnings while nbgrader adds submissions
        with Gradebook(f"sqlite:///{root / 'grading' / 'gradebook.db'}") as gradebook:
            for unit, cells in UNITS.items():
                gradebook.add_assignment(unit)
                gradebook.add_notebook(unit, unit)
                for cell, points in cells.items():
                    gradebook.add_grade_cell(cell, unit, unit, max_score=points, cell_type="code")
            for student, info in STUDENTS.items():
                gradebook.add_student(student, **info)
                for unit, cells in SCORES[student].items():
                    gradebook.add_submission(unit, student)
                    for cell, score in cells.items():
                        grade = gradebook.find_grade(cell, unit, unit, student)
                        grade.auto_score, grade.needs_manual_grade = score, False
                    gradebook.db.commit()
    return root


CANVAS = """\
Student,ID,SIS User ID,SIS Login ID,Section,01_vae_recap,02_gans
    Points Possible,,,,,10,5
"Lovelace, Ada",1001,,ada,,10,3.5
bob,,,bob,,4,
"Chen, Li",,,chen,,0,5
"""
MOODLE = """\
Username,Email address,First name,Last name,01_vae_recap,02_gans
ada,ada@example.org,Ada,Lovelace,10,3.5
bob,,,,4,
chen,li.chen@example.org,Li,Chen,0,5
"""


def _db(course):
    return f"sqlite:///{course / 'grading' / 'gradebook.db'}"


def test_canvas_file_is_exactly_the_import_layout(course):
    assert export.canvas_csv(export.read_gradebook(_db(course))) == CANVAS


def test_moodle_file_is_exactly_the_import_layout(course):
    assert export.moodle_csv(export.read_gradebook(_db(course))) == MOODLE


def test_missing_as_zero_only_fills_the_missing_cell(course):
    table = export.read_gradebook(_db(course))
    assert export.canvas_csv(table, missing="zero") == CANVAS.replace("bob,,,bob,,4,\n", "bob,,,bob,,4,0\n")
    assert export.moodle_csv(table, missing="zero") == MOODLE.replace("bob,,,,4,\n", "bob,,,,4,0\n")


def test_student_id_under_sis_user_id_when_asked(course):
    text = export.canvas_csv(export.read_gradebook(_db(course)), login_column="sis_user_id")
    assert text.splitlines()[2] == '"Lovelace, Ada",1001,ada,,,10,3.5'


def test_bad_options_say_what_is_expected(course):
    table = export.read_gradebook(_db(course))
    with pytest.raises(ValueError, match=r"missing must be one of \['blank', 'zero'\].*got 'none'"):
        export.moodle_csv(table, missing="none")
    with pytest.raises(ValueError, match="login_column must be 'sis_login_id' or 'sis_user_id'"):
        export.canvas_csv(table, login_column="email")


def test_make_grades_command_writes_both_files(course):
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    run = subprocess.run([sys.executable, "-m", "tools.gradebook_export", "--root", str(course)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (course / "grading" / "lms" / "canvas.csv").read_text() == CANVAS
    assert (course / "grading" / "lms" / "moodle.csv").read_text() == MOODLE
    assert "3 student(s), 2 assignment(s); 1 missing submission(s) written as empty cells." in run.stdout
    assert run.stderr == "", run.stderr
