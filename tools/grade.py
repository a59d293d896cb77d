"""make grade: autograde every submission in grading/submitted, print and save a score table.

Put each student's notebook at grading/submitted/<student_id>/<unit>/<unit>.ipynb
(``nbgrader collect`` puts them there when the course uses nbgrader's exchange).

Every student kernel runs in a sandbox (tools/sandbox.py). Where it cannot (no bubblewrap, not
root, not Linux), grading stops and says why, unless you pass --unsandboxed: then the students'
code runs with your permissions and can read the solutions and hidden tests on this machine.

The score is the outside verdict's (tools/verdict.py): a test cell nbgrader passed keeps its
points only if what its checks recorded in the kernel matches the solution's expected values,
compared here, outside the student's kernel. The row names the cells it overruled (set to 0 in the
gradebook), scores.csv's ``overruled`` column says why, and they are listed after the table.

Before a submission's score is trusted, its student cells are screened without running them
(tools/screening.py): a hit does not change the score; the row says FLAGGED with the first hit,
scores.csv's ``screening`` column holds them all, and grading/screening.txt lists them, one
"flagged for a person: <student> <unit> cell C line N: <reason>" a line, for a person to read.

On success it prints the score table and nothing else: what the libraries write while grading
(SQLAlchemy's and nbgrader's warnings, the kernels' messages) goes to grading/grade.log, named
in the table's last line; if grading breaks, the log's last lines are shown with the error.
"""
import argparse
import contextlib
import csv
import os
import sys
from pathlib import Path

from tools.course import ROOT, autograde_many, submissions, units
from tools.sandbox import UNSANDBOXED_ENV, sandbox_problem
from tools.screening import screen_file


def screened(root: Path, student: str, unit: str) -> list:
    """The screening hits of one submission (tools/screening.py), against the unit's release."""
    return screen_file(root / "grading" / "submitted" / student / unit / f"{unit}.ipynb",
                       root / "exercises" / unit / f"{unit}.ipynb")


@contextlib.contextmanager
def stderr_to(log_path: Path, *, tail: int = 30):
    """Send everything written to stderr (file descriptor 2) to ``log_path``, by this process and by
    the processes it starts (grading workers, kernels), until the block ends. If the block raises,
    the log's last ``tail`` lines are printed to the restored stderr before the error goes on."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    terminal = os.dup(2)
    # A new file (never one a link points to: genlib-autograde writes as root into the instructor's
    # folder), readable by its owner only: the sandboxed kernels inherit the descriptor, but cannot
    # reopen the file to read it.
    with contextlib.suppress(FileNotFoundError):
        log_path.unlink()
    log = os.open(log_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    os.dup2(log, 2)
    try:
        yield
    except BaseException:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        size = os.fstat(log).st_size  # read through the descriptor: the name may point elsewhere by now
        lines = os.pread(log, min(size, 2**20), max(0, size - 2**20)).decode(errors="replace").splitlines()
        print("\n".join([f"grading stopped; the last lines of {log_path}:"] + lines[-tail:]), file=sys.stderr)
        raise
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        os.close(terminal)
        os.close(log)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="the course folder (default: this repository)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="submissions graded at once (default: the number of CPU cores)")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="grade even where the sandbox cannot run: student code gets YOUR permissions")
    args = parser.parse_args(argv)
    problem = sandbox_problem()
    if problem and not args.unsandboxed:
        print(f"Not grading: the sandbox for student code cannot run here: {problem}\n"
              "Without it a submission can read the solutions and hidden tests, change the gradebook or use the "
              "network. Pass --unsandboxed (make grade ARGS=--unsandboxed) to grade with your own permissions anyway.",
              file=sys.stderr)
        return 2
    if args.unsandboxed:
        os.environ[UNSANDBOXED_ENV] = "1"  # read by the grading processes (spawned: they inherit it)
        if problem:
            print(f"WARNING: grading without a sandbox ({problem}); student code runs with your permissions.",
                  file=sys.stderr)
    root = args.root.resolve()
    scores_csv = root / "grading" / "scores.csv"
    found = submissions(root)
    if not found:
        print("No submissions to grade.\n"
              f"Put each student's notebook at grading/submitted/<student_id>/<unit>/<unit>.ipynb, with <unit> one of: "
              f"{', '.join(units(root))}.\nWith nbgrader's exchange, `nbgrader collect <unit>` puts them there.")
        return 0
    rows, screening_lines, overruled_lines = [], [], []
    log_path = root / "grading" / "grade.log"
    print(f"{'student':<20} {'unit':<20} {'score':>7} {'max':>5}  {'seconds':>7}  status", flush=True)
    with stderr_to(log_path):
        for score, seconds in autograde_many(found, root, jobs=args.jobs):
            student, unit = score.student, score.unit
            status = "ok" if score.ok and not score.flag else "flagged" if score.ok else "error"
            shown = {"ok": "ok", "flagged": f"FLAGGED: {score.flag}", "error": f"NOT GRADED: {score.error}"}[status]
            hits = screened(root, student, unit)
            if hits:
                more = f" (+{len(hits) - 1} more in grading/screening.txt)" if len(hits) > 1 else ""
                shown = ("FLAGGED: " if status == "ok" else shown + "; ") + f"for a person: {hits[0]}{more}"
                screening_lines += [f"flagged for a person: {student} {unit} {hit}" for hit in hits]
            if score.overruled:
                shown += f"; overruled by the outside verdict: {', '.join(score.overruled)}"
                overruled_lines += [f"overruled: {student} {unit} {cell}: {why}" for cell, why in score.overruled.items()]
            print(f"{student:<20} {unit:<20} {score.score:>7.1f} {score.max_score:>5.0f}  {seconds:>7.1f}  {shown}",
                  flush=True)
            rows.append({"student": student, "unit": unit, "score": score.score, "max_score": score.max_score,
                         "status": status, "error": score.error or score.flag,
                         "overruled": "; ".join(f"{cell}: {why}" for cell, why in score.overruled.items()),
                         "screening": "; ".join(str(hit) for hit in hits)})
    with open(scores_csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    screening_txt = root / "grading" / "screening.txt"
    screening_txt.write_text("".join(line + "\n" for line in screening_lines))
    if overruled_lines:
        print("\nTest cells nbgrader passed that the outside verdict set to 0 (their checks' records do not match "
              "the solution's):\n" + "\n".join(overruled_lines))
    failed = sum(r["status"] == "error" for r in rows)
    flagged = sum(r["status"] == "flagged" for r in rows)
    screened_count = sum(bool(r["screening"]) for r in rows)
    overruled = sum(bool(r["overruled"]) for r in rows)
    print(f"\n{len(rows)} submission(s) graded, {failed} could not be graded, {flagged} flagged for grading by hand, "
          f"{overruled} with test cells overruled by the outside verdict, "
          f"{screened_count} flagged for a person by screening ({screening_txt}); table saved to {scores_csv}")
    logged = len(log_path.read_text(errors="replace").splitlines())
    print(f"Messages of the libraries while grading (warnings, nbgrader's log): {logged} lines in {log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
