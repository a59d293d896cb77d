"""make bench: time every notebook and the autograder against the course's budgets, and run the
units' quality benchmarks (bench/unitNN_*.py).

Prints a table per section and writes genlib/tables/results.json; `make bench ONLY="unit02_gans"`
(or `python bench/run.py SECTION ...`) runs some sections and keeps the others' stored results.

Budgets (DESIGN.md, on 2 CPU cores):
a lecture <= 180 s, an exercise solution <= 60 s; autograding one submission <= 5 s;
a batch of 50 submissions <= 120 s, sandboxed, at most 20 % slower than unsandboxed.
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

from genlib import results as committed

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


def _grade_batch(course: Path, pairs: list, jobs: int, *, sandboxed: bool) -> float:
    """Seconds to autograde ``pairs``; every submission must score full marks."""
    from tools.sandbox import UNSANDBOXED_ENV

    previous = os.environ.pop(UNSANDBOXED_ENV, None)
    if not sandboxed:
        os.environ[UNSANDBOXED_ENV] = "1"  # the spawned grading processes inherit it
    try:
        start = time.perf_counter()
        scores = [score for score, _ in autograde_many(pairs, course, jobs=jobs)]
        seconds = time.perf_counter() - start
    finally:
        os.environ.pop(UNSANDBOXED_ENV, None)
        if previous is not None:
            os.environ[UNSANDBOXED_ENV] = previous
    assert all(s.ok and s.score == s.max_score for s in scores), [s for s in scores if not s.ok][:1]
    return seconds


def time_autograding(jobs: int) -> list[dict]:
    """Autograde one solution submission per unit; then 50 submissions of unit 01, sandboxed and not.

    The batch target (DESIGN.md, issue 12) is for sandboxed grading; the unsandboxed batch, run
    just after on the same copy of the course, measures what the sandbox costs.
    """
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        shutil.copytree(ROOT / "solutions", course / "solutions")
        shutil.copy(ROOT / "nbgrader_config.py", course)
        api = make_api(course)
        for unit in units(course):
            release(unit, course, api)
            filled = subs.fill(subs.released(course, unit), subs.solution_answers(ROOT, unit))
            for i in range(2 * BATCH + 1):
                subs.submit(course, f"student{i:03d}", unit, filled)
            [(one, seconds)] = list(autograde_many([("student000", unit)], course))
            assert one.ok and one.score == one.max_score, one
            rows.append({"item": f"autograde one submission ({unit}, sandboxed)", "kind": "autograde_one",
                         "seconds": round(seconds, 1), "budget": BUDGETS["autograde_one"],
                         "within": seconds <= BUDGETS["autograde_one"]})
            print(f"  autograded one {unit} submission in {seconds:.1f} s", flush=True)
        unit = units(course)[0]
        batch = {mode: [(f"student{i:03d}", unit) for i in range(first, first + BATCH)]
                 for mode, first in (("sandboxed", 1), ("unsandboxed", 1 + BATCH))}
        seconds = {mode: _grade_batch(course, pairs, jobs, sandboxed=mode == "sandboxed") for mode, pairs in batch.items()}
        for mode in ("sandboxed", "unsandboxed"):
            within = seconds[mode] <= BUDGETS["autograde_batch_50"] if mode == "sandboxed" else None
            rows.append({"item": f"autograde {BATCH} submissions ({unit}, {jobs} at a time, {mode})",
                         "kind": "autograde_batch_50", "seconds": round(seconds[mode], 1),
                         "budget": BUDGETS["autograde_batch_50"], "within": within,
                         "seconds_per_submission": round(seconds[mode] / BATCH, 2)})
            print(f"  autograded {BATCH} {unit} submissions {mode} in {seconds[mode]:.1f} s", flush=True)
        overhead = seconds["sandboxed"] / seconds["unsandboxed"] - 1
        rows.append({"item": "sandbox overhead per submission (sandboxed / unsandboxed - 1)", "kind": "sandbox_overhead",
                     "measured": f"{100 * overhead:+.1f} %", "target": "<= +20 %", "within": overhead <= 0.20,
                     "overhead": round(overhead, 3)})
    return rows


# Each section returns rows: {"item", "measured" (text), "target" (text), "within": True/False/None
# (None: reported, not a target)} plus its numbers. Unit sections live in bench/unitNN_*.py and
# define ``run() -> list[dict]``; they are found by name, so a unit adds its file and nothing else.
CORE_SECTIONS = {"phantoms": lambda jobs: time_phantoms(), "notebooks": lambda jobs: time_notebooks(),
                 "autograding": time_autograding}


def unit_sections() -> dict:
    import importlib

    sections = {}
    for path in sorted((ROOT / "bench").glob("unit*.py")):
        module = importlib.import_module(f"bench.{path.stem}")
        sections[path.stem] = lambda jobs, module=module: module.run()
    return sections


def _display(row: dict) -> dict:
    """Fill in the table's text columns for the core rows (seconds against a budget, or a rate)."""
    if "measured" in row:
        return row
    if "seconds" in row:
        target = f"<= {row['budget']:.0f} s" if row["within"] is not None else "(for comparison)"
        return {**row, "measured": f"{row['seconds']:.1f} s", "target": target}
    return {**row, "measured": f"{row['value']:.0f}/s", "target": f">= {row['target']:.0f}/s"}


def print_table(sections: dict) -> None:
    verdict = {True: "yes", False: "NO", None: "(reported)"}
    for name, section in sections.items():
        print(f"\n[{name}] {section['date']}")
        print(f"{'item':<78} {'measured':>16} {'target':>16}  within?")
        for row in section["rows"]:
            row = _display(row)
            print(f"{row['item']:<78} {row['measured']:>16} {row['target']:>16}  {verdict[row['within']]}")


def main(argv: list[str] | None = None) -> None:
    import argparse

    sections = {**CORE_SECTIONS, **unit_sections()}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", metavar="SECTION",
                        help=f"run only these sections (default: all): {', '.join(sections)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only) - set(sections))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(sections)}")
    chosen = args.only or list(sections)
    jobs = int(os.environ.get("BENCH_JOBS", os.cpu_count() or 1))
    print(f"benchmark on {os.cpu_count()} CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    results_path = committed.path("results")
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    stored = results.get("sections", {})
    for name in chosen:
        print(f"[{name}]", flush=True)
        stored[name] = {"date": time.strftime("%Y-%m-%d"), "rows": [_display(r) for r in sections[name](jobs)]}
    print_table({name: stored[name] for name in chosen})
    # Re-read before writing: another `make bench SECTION` may have stored its rows meanwhile.
    latest = json.loads(results_path.read_text()).get("sections", {}) if results_path.exists() else {}
    stored = {**latest, **{name: stored[name] for name in chosen}}
    results = {"machine": {"cpu_cores": os.cpu_count(), "platform": platform.platform(),
                           "python": platform.python_version(), "torch": torch.__version__, "grading_jobs": jobs},
               "sections": {name: stored[name] for name in sections if name in stored}}
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten {results_path.relative_to(ROOT)} (sections run now: {', '.join(chosen)})")


if __name__ == "__main__":
    main()
