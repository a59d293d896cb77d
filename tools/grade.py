"""make grade: autograde every submission in grading/submitted, print and save a score table.

Put each student's notebook at grading/submitted/<student_id>/<unit>/<unit>.ipynb
(``nbgrader collect`` puts them there when the course uses nbgrader's exchange).
"""
import argparse
import csv
import sys
import os
from pathlib import Path

from tools.course import ROOT, autograde_many, submissions, units


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="the course folder (default: this repository)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="submissions graded at once (default: the number of CPU cores)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    scores_csv = root / "grading" / "scores.csv"
    found = submissions(root)
    if not found:
        print("No submissions to grade.\n"
              f"Put each student's notebook at grading/submitted/<student_id>/<unit>/<unit>.ipynb, with <unit> one of: "
              f"{', '.join(units(root))}.\nWith nbgrader's exchange, `nbgrader collect <unit>` puts them there.")
        return 0
    rows = []
    print(f"{'student':<20} {'unit':<20} {'score':>7} {'max':>5}  {'seconds':>7}  status", flush=True)
    for score, seconds in autograde_many(found, root, jobs=args.jobs):
        student, unit = score.student, score.unit
        status = "ok" if score.ok else f"NOT GRADED: {score.error}"
        print(f"{student:<20} {unit:<20} {score.score:>7.1f} {score.max_score:>5.0f}  {seconds:>7.1f}  {status}", flush=True)
        rows.append({"student": student, "unit": unit, "score": score.score, "max_score": score.max_score,
                     "status": "ok" if score.ok else "error", "error": score.error})
    with open(scores_csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    failed = sum(r["status"] != "ok" for r in rows)
    print(f"\n{len(rows)} submission(s) graded, {failed} could not be graded; table saved to {scores_csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
