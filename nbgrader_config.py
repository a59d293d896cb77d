"""nbgrader configuration of the course (read by `nbgrader ...` run from this folder).

solutions/  (source: solution code and hidden tests)  --make release-->  exercises/ (student release)
Everything nbgrader writes lives under grading/ (git-ignored), created here so that a
fresh clone can generate and autograde at once.
"""
import os
import sys

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

COURSE_ROOT = os.path.dirname(os.path.abspath(__file__))
GRADING = os.path.join(COURSE_ROOT, "grading")

c.CourseDirectory.root = COURSE_ROOT
c.CourseDirectory.course_id = "genai-med"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
c.CourseDirectory.solution_directory = "grading/solution"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(GRADING, "gradebook.db")
c.Exchange.root = os.path.join(GRADING, "exchange")

# Every student notebook runs with the course's kernel; a cell that runs longer than this
# (an infinite loop) is interrupted and scores 0, and the rest of the batch is graded.
c.Execute.timeout = int(os.environ.get("GENLIB_CELL_TIMEOUT", "60"))
# Every student kernel runs in a sandbox (tools/sandbox.py: bubblewrap, an unprivileged uid, no network,
# of the course only genlib/ and weights/, read-only; CPU, memory and process limits). Grading
# refuses to run without it unless GENLIB_GRADE_UNSANDBOXED=1 (make grade ARGS=--unsandboxed).
# And a test cell runs only if earlier cells did not change how cells run (tools/integrity.py:
# patched helpers, modules or builtins, IPython transformers): else it scores 0 and is flagged.
# The same preprocessor takes out of the kernel what each test cell's checks compared (plain JSON, in the
# autograded notebook's metadata); the step after it, in nbgrader's process (tools/verdict.py), compares
# that with the solution's expected values and fails each test cell whose record does not match.
if COURSE_ROOT not in sys.path:
    sys.path.insert(0, COURSE_ROOT)  # the `nbgrader` command's own sys.path does not hold this folder
from nbgrader.converters.autograde import Autograde  # noqa: E402
from tools.integrity import GuardedExecute  # noqa: E402
from tools.verdict import OutsideVerdict  # noqa: E402

_defaults = Autograde.class_traits()["autograde_preprocessors"].default()
c.Autograde.autograde_preprocessors = [q for p in _defaults
                                       for q in ([GuardedExecute, OutsideVerdict] if p.__name__ == "Execute" else [p])]
# Students' feedback shows each hidden-test cell's name, points and passed/failed, never its code,
# markers or outputs (tools/feedback.py): for `nbgrader generate_feedback` and the formgrader alike.
from nbgrader.converters.generate_feedback import GenerateFeedback  # noqa: E402
from tools.feedback import HideHiddenTests  # noqa: E402

_feedback = GenerateFeedback.class_traits()["preprocessors"].default()  # GetGrades, CSSHTMLHeaderPreprocessor
_after = [p.__name__ for p in _feedback].index("GetGrades") + 1  # it needs the scores GetGrades reads
c.GenerateFeedback.preprocessors = _feedback[:_after] + [HideHiddenTests] + _feedback[_after:]
# Test cells a student deleted are put back before grading.
c.OverwriteCells.add_missing_cells = True
# Released notebooks carry no cell outputs.
c.ClearOutput.enabled = True

for sub in ("submitted", "autograded", "feedback", "solution", "exchange"):
    os.makedirs(os.path.join(GRADING, sub), exist_ok=True)
