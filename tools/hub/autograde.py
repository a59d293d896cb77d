"""`sudo genlib-autograde UNIT`: the hub instructor's sandboxed autograding (run as root).

The instructor collects submissions with nbgrader (formgrader or `nbgrader collect UNIT`) into
~/course/grading/submitted/<student>/UNIT/. This command autogrades each of them exactly as
`make grade` does (tools/course.py: every kernel in the sandbox of tools/sandbox.py, the
integrity guard of tools/integrity.py, the outside verdict of tools/verdict.py written into the gradebook; --jobs submissions at once, default one per core), then
gives the files back to the instructor, who goes on in the formgrader (feedback, release). It
runs as root because the sandbox needs root.

What root reads from the instructor's folder is data (notebooks, the SQLite gradebook): the
nbgrader configuration comes from this repository (tools/hub/nbgrader_config.py), not from the
course folder, and a course folder holding symbolic links is refused.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import pwd
import re
import sys
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

from tools.course import _is_in_gradebook, autograde, release
from tools.verdict import ensure_expected
from tools.grade import stderr_to

HERE = Path(__file__).resolve().parent
UNIT = re.compile(r"^[0-9]{2}_[A-Za-z0-9_]+$")


def _symlinks(root: Path) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        found += [os.path.join(folder, n) for n in dirs + files if os.path.islink(os.path.join(folder, n))]
    return found


def _give_back(root: Path, owner: str) -> None:
    entry = pwd.getpwnam(owner)
    for part in ("grading", "exercises"):
        for folder, dirs, files in os.walk(root / part):
            os.lchown(folder, entry.pw_uid, entry.pw_gid)
            for name in dirs + files:
                os.lchown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid)


def _api() -> NbGraderAPI:
    """nbgrader's API on the course, configured from this repository's tools/hub/nbgrader_config.py."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(HERE)).load_config()
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    api.log.setLevel("ERROR")
    return api


def _grade(task):
    unit, student, root = task
    return autograde(unit, student, root, _api())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("unit", help="the unit to grade, e.g. 01_vae_recap")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="submissions graded at once (default: the number of CPU cores)")
    args = parser.parse_args(argv)
    root = Path(os.environ["GENLIB_HUB_COURSE_ROOT"])
    owner = os.environ["GENLIB_HUB_COURSE_OWNER"]
    if os.geteuid() != 0:
        print("genlib-autograde runs each kernel in the grading sandbox, which needs root: "
              "run it as `sudo genlib-autograde UNIT`.", file=sys.stderr)
        return 2
    if not UNIT.match(args.unit) or not (root / "solutions" / args.unit).is_dir():
        print(f"No unit {args.unit!r} in {root / 'solutions'}.", file=sys.stderr)
        return 2
    links = _symlinks(root)
    if links:
        print(f"Refusing to grade as root in a course folder with symbolic links: {', '.join(links[:5])}",
              file=sys.stderr)
        return 2
    submitted = root / "grading" / "submitted"
    students = sorted(p.name for p in submitted.iterdir() if (p / args.unit).is_dir()) if submitted.is_dir() else []
    if not students:
        print(f"No submissions of {args.unit} in {submitted}: collect them first (formgrader, or "
              f"`nbgrader collect {args.unit}`).")
        return 0
    failed = 0
    log_path = root / "grading" / "autograde.log"  # the libraries' warnings, as with make grade
    print(f"{'student':<20} {'unit':<20} {'score':>7} {'max':>5}  status", flush=True)
    try:
        with stderr_to(log_path):
            api = _api()
            if not _is_in_gradebook(api, args.unit):
                release(args.unit, root, api)  # once, before the workers share the gradebook
            ensure_expected(args.unit, root, api.config)  # the solution's expected records, once, likewise
            tasks = [(args.unit, student, root) for student in students]
            jobs = max(1, min(args.jobs, len(tasks)))
            with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                for score in pool.map(_grade, tasks):
                    status = "ok" if score.ok and not score.flag else f"FLAGGED: {score.flag}" if score.ok \
                        else f"NOT GRADED: {score.error}"
                    failed += not score.ok
                    if score.overruled:
                        status += f"; overruled by the outside verdict: {', '.join(score.overruled)}"
                    print(f"{score.student:<20} {args.unit:<20} {score.score:>7.1f} {score.max_score:>5.0f}  {status}",
                          flush=True)
    finally:
        _give_back(root, owner)
    print(f"{len(students)} submission(s) autograded in the sandbox, {failed} could not be graded "
          f"(library warnings: {log_path}). Next: generate and release feedback in the formgrader.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
