"""Students' feedback without the hidden tests: an nbgrader preprocessor for GenerateFeedback.

nbgrader 0.9.6 writes the autograded notebook as the feedback HTML, hidden tests included: their
source between the ``### BEGIN/END HIDDEN TESTS`` markers, and their outputs (a failed assert's
traceback shows the line and the expected value). The autograded notebook must keep them (it is
what was graded); the feedback must not. ``HideHiddenTests`` runs after nbgrader's ``GetGrades``
(which puts each cell's score and points into its metadata) and, in every cell that holds a
hidden-test region:

- removes the region, markers included, leaving the lines the student saw in the release (the
  "# Check that ..." comment, and any visible asserts beside the hidden ones) and a comment saying
  that the hidden tests are not shown;
- replaces the cell's outputs by one line: the cell's name, its points and passed/failed (with the
  exception's class name when it failed, e.g. AssertionError), never the traceback or the message,
  which hold the hidden lines and the expected values. (nbgrader's template adds the cell's name
  and score above it, and a table of contents of every test cell's score at the top.)

Visible test cells and the student's own cells are left as they are. The course's
nbgrader_config.py puts it into ``GenerateFeedback.preprocessors``, so ``nbgrader
generate_feedback``, the formgrader's "Generate Feedback" and the hub all use it.

``leaked_lines`` is the check the tests run on generated feedback (and an instructor can run
before releasing it): the lines of hidden tests that a feedback HTML file shows.

The module imports only nbgrader, nbformat and the standard library: tools/hub/setup.py copies it
beside the hub's nbgrader configuration, where the hub's users (who never read this repository)
import it.
"""
from __future__ import annotations

import html
import keyword
import re

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


def split_hidden(source: str, begin: str = BEGIN, end: str = END) -> tuple[list[str], list[str], bool]:
    """The lines before the first hidden region and after the last one, and whether there was one.

    Lines between regions (rare) are kept after the first; every region's lines, markers
    included, are dropped. A region left open drops everything after its start.
    """
    before, after, found, inside = [], [], False, False
    for line in source.split("\n"):
        if begin in line:
            found, inside = True, True
        elif end in line and inside:
            inside = False
        elif not inside:
            (after if found else before).append(line)
    return before, after, found


def status(cell) -> tuple[str, str]:
    """("passed" | "failed" | "not graded", "3 of 3 points, passed") for a graded cell."""
    meta = cell.metadata.get("nbgrader", {})
    score, points = meta.get("score"), meta.get("points")
    if score is None or points is None:
        return "not graded", "not graded yet"
    verdict = "passed" if float(score) >= float(points) else "failed"
    unit = "point" if float(points) == 1 else "points"
    return verdict, f"{float(score):g} of {float(points):g} {unit}, {verdict}"


class HideHiddenTests(NbGraderPreprocessor):
    """Replace each hidden-test region of a feedback notebook by its name, points and pass/fail."""

    begin_test_delimeter = Unicode(BEGIN, help="The marker that opens a hidden-test region").tag(config=True)
    end_test_delimeter = Unicode(END, help="The marker that closes a hidden-test region").tag(config=True)
    # configurable, as in nbgrader's GetGrades: the HTML exporter sets it for every preprocessor
    display_data_priority = List(NbGraderPreprocessor.display_data_priority.default_value).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        before, after, found = split_hidden(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        if not found:
            return cell, resources
        name = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {cell_index}")
        verdict, summary = status(cell)
        errors = [o.get("ename", "") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if verdict == "failed" and errors and errors[0]:
            summary += f" ({errors[0]})"
        cell.source = "\n".join(before + [f"# (the hidden tests of {name} are not shown)"] + after).strip("\n")
        cell.outputs = [new_output("stream", name="stdout",
                                   text=f"{name}: {summary}. Its hidden tests and their messages are not shown.\n")]
        return cell, resources


# ---- the check: which hidden-test lines does a feedback file show? --------------------------------

def hidden_test_lines(notebook, begin: str = BEGIN, end: str = END) -> set[str]:
    """The lines (stripped) inside the hidden-test regions of ``notebook`` (nbgrader's source), less
    the trivial ones: shorter than 4 characters (blank, brackets) or a bare keyword (``else:``, ``pass``).
    """
    lines = set()
    for cell in notebook.cells:
        inside = False
        for line in cell.source.split("\n"):
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside:
                text = line.strip()
                if len(text) >= 4 and not keyword.iskeyword(text.rstrip(":")):
                    lines.add(text)
    return lines


def feedback_text(page: str) -> str:
    """What a feedback HTML page holds as text: its tags removed and entities decoded (code is split
    into highlighting spans, so a hidden line is found only here), followed by the decoded source."""
    return html.unescape(re.sub(r"<[^>]+>", "", page)) + "\n" + html.unescape(page)


def leaked_lines(page: str, source_notebook, known: str = "") -> list[str]:
    """The hidden-test lines of ``source_notebook`` that the feedback HTML ``page`` shows, other than
    those found in ``known`` (what the student already has: the release and their own submission)."""
    text = feedback_text(page)
    return sorted(line for line in hidden_test_lines(source_notebook) if line in text and line not in known)
