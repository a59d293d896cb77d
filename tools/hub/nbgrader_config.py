"""nbgrader configuration of the course on the local JupyterHub (one file for every role).

tools/hub/setup.py copies it to PREFIX/etc/common/, which every user's server reads (their
JUPYTER_CONFIG_PATH, set by tools/hub/jupyterhub_config.py together with the variables below),
with tools/feedback.py beside it as genlib_feedback.py (feedback without the hidden tests):

    GENLIB_HUB_ROLE         student | instructor | grader (the root-run `genlib-autograde`)
    GENLIB_HUB_EXCHANGE     nbgrader's exchange root (PREFIX/exchange)
    GENLIB_HUB_COURSE_ROOT  the instructor's course folder (instructor and grader only)

The course folder has the repository's layout (solutions/ = source, exercises/ = release,
grading/ = submitted, autograded, feedback, gradebook.db), so tools/course.py grades it as it
grades the repository. Autograding runs student code: only the grader role (root, through the
instructor's `sudo genlib-autograde UNIT`) may do it, inside the sandbox (tools/sandbox.py) and
under the integrity guard (tools/integrity.py); the instructor's own server refuses to.
"""
import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

ROLE = os.environ.get("GENLIB_HUB_ROLE", "student")
c.CourseDirectory.course_id = "genai-med"
c.Exchange.root = os.environ.get("GENLIB_HUB_EXCHANGE", "/srv/genlib-hub/exchange")
c.Exchange.path_includes_course = True  # students fetch into ~/genai-med/<unit>/

if ROLE in ("instructor", "grader"):
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import Execute

    COURSE_ROOT = os.environ["GENLIB_HUB_COURSE_ROOT"]
    c.CourseDirectory.root = COURSE_ROOT
    c.CourseDirectory.source_directory = "solutions"
    c.CourseDirectory.release_directory = "exercises"
    c.CourseDirectory.submitted_directory = "grading/submitted"
    c.CourseDirectory.autograded_directory = "grading/autograded"
    c.CourseDirectory.feedback_directory = "grading/feedback"
    c.CourseDirectory.solution_directory = "grading/solution"
    c.CourseDirectory.db_url = "sqlite:///" + os.path.join(COURSE_ROOT, "grading", "gradebook.db")
    c.Execute.timeout = int(os.environ.get("GENLIB_CELL_TIMEOUT", "60"))
    c.OverwriteCells.add_missing_cells = True
    c.ClearOutput.enabled = True

    if ROLE == "grader":
        from tools.integrity import GuardedExecute  # the repository's, importable only by the grader (root)
        from tools.verdict import OutsideVerdict  # then the outside verdict, in the grader's process

        runner = [GuardedExecute, OutsideVerdict]
    else:
        class RefuseExecute(Execute):
            """Autograding from the instructor's own server would run student code as the instructor."""

            def preprocess(self, nb, resources=None, km=None):
                raise RuntimeError(
                    "On this hub, autograde in a terminal: `sudo genlib-autograde UNIT` runs every submission "
                    "in the grading sandbox (it needs root); the formgrader would run student code as you.")

        runner = [RefuseExecute]
    _defaults = Autograde.class_traits()["autograde_preprocessors"].default()
    c.Autograde.autograde_preprocessors = [q for p in _defaults for q in (runner if p.__name__ == "Execute" else [p])]

    # Students' feedback shows each hidden-test cell's name, points and passed/failed, never its code
    # (tools/feedback.py). The instructor's server imports the copy setup.py put beside this file
    # (the hub's users never read the repository); the grader, run from the repository, its original.
    from nbgrader.converters.generate_feedback import GenerateFeedback

    _copy = os.path.join(os.path.dirname(os.path.abspath(__file__)), "genlib_feedback.py")
    if os.path.exists(_copy):
        import importlib.util

        _spec = importlib.util.spec_from_file_location("genlib_feedback", _copy)
        _module = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_module)
        HideHiddenTests = _module.HideHiddenTests
    else:
        from tools.feedback import HideHiddenTests
    _feedback = GenerateFeedback.class_traits()["preprocessors"].default()  # GetGrades, CSSHTMLHeaderPreprocessor
    _after = [p.__name__ for p in _feedback].index("GetGrades") + 1  # it needs the scores GetGrades reads
    c.GenerateFeedback.preprocessors = _feedback[:_after] + [HideHiddenTests] + _feedback[_after:]
    if ROLE == "instructor":
        for sub in ("submitted", "autograded", "feedback", "solution"):
            os.makedirs(os.path.join(COURSE_ROOT, "grading", sub), exist_ok=True)
