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
TARGETS = {"phantom_slices_per_second": 2000.0}  # higher is better
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


def _phantom_worker(args) -> int:
    """Make ``n_batches`` batches of labelled, rendered 64x64 slices on one thread; return the count."""
    n_batches, batch_size, seed = args
    torch.set_num_threads(1)
    from genlib.data.cardiac import render, sample_phantoms

    for i in range(n_batches):
        phantoms = sample_phantoms(batch_size, phase=None, seed=seed + i)
        render(phantoms.tissues, "random", seed=seed + i)
    return n_batches * batch_size


def time_phantoms(batch_size: int = 512, n_batches: int = 8) -> list[dict]:
    """Throughput of the cardiac engine: subjects -> labels and tissues -> rendered images, 64x64."""
    import concurrent.futures
    import multiprocessing

    workers = os.cpu_count() or 1
    _phantom_worker((1, batch_size, 999))  # warm-up: caches and lazy imports
    rows = []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        list(pool.map(_phantom_worker, [(1, batch_size, 999)] * workers))  # start and warm the workers
        start = time.perf_counter()
        count = sum(pool.map(_phantom_worker, [(n_batches, batch_size, 100 * w) for w in range(workers)]))
        rate = count / (time.perf_counter() - start)
    rows.append({"item": f"cardiac phantoms, 64x64 with labels ({workers} workers x 1 thread, batch {batch_size})",
                 "kind": "phantom_slices_per_second", "value": round(rate), "target": TARGETS["phantom_slices_per_second"],
                 "within": rate >= TARGETS["phantom_slices_per_second"]})
    print(f"  phantoms: {rate:.0f} slices/s", flush=True)
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
    rows = time_phantoms() + time_notebooks() + time_autograding(jobs)
    print(f"\n{'item':<78} {'measured':>9} {'target':>8}  within?")
    for row in rows:
        if "seconds" in row:
            measured, target = f"{row['seconds']:.1f} s", f"<= {row['budget']:.0f} s"
        else:
            measured, target = f"{row['value']:.0f}/s", f">= {row['target']:.0f}/s"
        print(f"{row['item']:<78} {measured:>9} {target:>8}  {'yes' if row['within'] else 'NO'}")
    results = {"machine": {"cpu_cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                           "torch": torch.__version__, "grading_jobs": jobs},
               "date": time.strftime("%Y-%m-%d"), "rows": rows}
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten {Path('bench') / 'results.json'}")


if __name__ == "__main__":
    main()
