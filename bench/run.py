"""make bench: time every notebook and the autograder against the course's budgets.

Prints a table and writes bench/results.json. Budgets (DESIGN.md, on 2 CPU cores):
a lecture <= 180 s, an exercise solution <= 60 s; autograding one submission <= 5 s;
a batch of 50 submissions <= 120 s.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import submissions as subs  # noqa: E402
from tools.course import autograde_many, make_api, release, units  # noqa: E402
from tools.notebooks import execute_notebook  # noqa: E402

BUDGETS = {"lecture": 180.0, "solution": 60.0, "autograde_one": 5.0, "autograde_batch_50": 120.0}
BATCH = 50


def time_notebooks() -> list[dict]:
    rows = []
    for kind, paths in (("lecture", sorted((ROOT / "lectures").glob("*.ipynb"))),
                        ("solution", sorted((ROOT / "solutions").glob("*/*.ipynb")))):
        for path in paths:
            _, seconds = execute_notebook(path)
            rows.append({"item": str(path.relative_to(ROOT)), "kind": kind, "seconds": round(seconds, 1),
                         "budget": BUDGETS[kind], "within": seconds <= BUDGETS[kind]})
            print(f"  ran {rows[-1]['item']} in {seconds:.1f} s", flush=True)
    return rows


def time_autograding(jobs: int) -> list[dict]:
    """Autograde one solution submission, then a batch of 50, per unit, on a temporary course copy."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        shutil.copytree(ROOT / "solutions", course / "solutions")
        shutil.copy(ROOT / "nbgrader_config.py", course)
        api = make_api(course)
        for unit in units(course):
            release(unit, course, api)
            filled = subs.fill(subs.released(course, unit), subs.solution_answers(ROOT, unit))
            for i in range(BATCH + 1):
                subs.submit(course, f"student{i:03d}", unit, filled)
            [(one, seconds)] = list(autograde_many([("student000", unit)], course))
            assert one.ok and one.score == one.max_score, one
            rows.append({"item": f"autograde one submission ({unit})", "kind": "autograde_one",
                         "seconds": round(seconds, 1), "budget": BUDGETS["autograde_one"],
                         "within": seconds <= BUDGETS["autograde_one"]})
            print(f"  autograded one {unit} submission in {seconds:.1f} s", flush=True)
            pairs = [(f"student{i:03d}", unit) for i in range(1, BATCH + 1)]
            start = time.perf_counter()
            scores = [score for score, _ in autograde_many(pairs, course, jobs=jobs)]
            seconds = time.perf_counter() - start
            assert all(s.ok and s.score == s.max_score for s in scores), [s for s in scores if not s.ok][:1]
            rows.append({"item": f"autograde {BATCH} submissions ({unit}, {jobs} at a time)",
                         "kind": "autograde_batch_50", "seconds": round(seconds, 1),
                         "budget": BUDGETS["autograde_batch_50"], "within": seconds <= BUDGETS["autograde_batch_50"],
                         "seconds_per_submission": round(seconds / BATCH, 2)})
            print(f"  autograded {BATCH} {unit} submissions in {seconds:.1f} s", flush=True)
    return rows


def main() -> None:
    jobs = int(os.environ.get("BENCH_JOBS", os.cpu_count() or 1))
    print(f"benchmark on {os.cpu_count()} CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    rows = time_notebooks() + time_autograding(jobs)
    print(f"\n{'item':<62} {'seconds':>8} {'budget':>7}  within?")
    for row in rows:
        print(f"{row['item']:<62} {row['seconds']:>8.1f} {row['budget']:>7.0f}  {'yes' if row['within'] else 'NO'}")
    results = {"machine": {"cpu_cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                           "torch": torch.__version__, "grading_jobs": jobs},
               "date": time.strftime("%Y-%m-%d"), "rows": rows}
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten {Path('bench') / 'results.json'}")


if __name__ == "__main__":
    main()
