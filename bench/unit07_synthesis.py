"""Unit 07 benchmark: does synthetic data help a segmenter trained on one site's labels, on unseen vendors?

The experiment is ``genlib.synthesis.experiment`` (configuration ``FULL``) on the scenario of
``genlib.synthesis.scenario``: labels from one site (vendor A: 20 subjects, 16 NOR, 4 slices each), unlabelled
images of vendors B and C (200 each), a validation set of 6 other site subjects (vendor A), and a test set of
900 other subjects (3 vendors x 5 ACDC groups x 60, one slice each). Every generative model an arm uses
(``genlib/weights/synthesis_scenario_*.pt``) was trained on the site's labelled set and the unlabelled images only;
``scenario.check_no_leak`` asserts it before every run. Arms (a), (b), (r), (u-hist), (u-cycle), (c), (c+b),
(d), (e); 5 seeds each; every arm keeps the checkpoint best on the site's validation set.

How each setting was chosen. None was chosen on the test set, and none by looking at any arm's result:
- sizes, steps (1,500), batch (16), learning rate (3e-3) and the U-Net: the earlier version of the experiment's;
- the augmentation of (b) and (c+b): nnU-Net's published defaults (``augment.NNUNET``), written down first;
- the shares of the synthetic pool's sources and styles (0.5/0.25/0.25 and 0.2/0.6/0.2), the synthetic
  fraction (0.5), and (u-hist)'s match fraction (0.5): fixed a priori, the same fraction for every mixing arm;
- the disease edits' sizes: ACDC's published definitions (``scenario.DISEASE_EDITS``);
- the checkpoint of every arm: the best mean Dice on the site's vendor-A validation set (the only labelled
  data the scenario has outside training), every 250 steps;
- the target's comparison is the better synthetic arm (c or c+b) against the strongest arm without a
  generator (a, b, r, u-hist), both picked on the test set's unseen vendors: the first pick favours the
  synthetic side, the second the baseline; every pair is in the table, so no conclusion rests on the picks
  (the sizes, steps, batch and learning rate are the earlier version's, which was scored on the same test
  set; none was changed after any result of this version).

Statistics: per-subject Dice and HD95; paired two-level bootstrap 95 % intervals (seeds, then subjects) of
the mean difference (``genlib.synthesis.statistics``), with the per-seed differences beside them; no
correction for the many comparisons printed (the target's is the one pre-specified).

Reproducibility: the table records the commit, the CPU model, torch's version, a fingerprint of the machine's
arithmetic (``bench.machine.arithmetic``) and the wall and CPU time; every run is seeded and runs on one thread,
which reproduces on a machine with the same arithmetic only. ``python -m bench.unit07_synthesis --check``
reruns arms (a) and (c) of seed 0 and compares their per-subset mean Dice with the table's (``check``).

Writes genlib/tables/unit07_synthesis_table.json after every job (``complete: false`` until all are done).
Run alone: ``python bench/run.py unit07_synthesis``; ``python -m bench.unit07_synthesis rows`` rewrites this
section of genlib/tables/results.json from the table; ``... finalise`` recomputes a stopped run's statistics;
``... resume`` runs only the jobs a stopped run's committed table lacks (when the code and the scenario weights
are those of its commit) and writes the full table and its rows.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import platform
import subprocess
import time
from pathlib import Path

from genlib import results as committed

TABLE_PATH = committed.path("unit07_synthesis_table")
TARGET_GAIN = 0.03  # Dice (as a fraction): the best synthetic arm over the strongest arm without a generator
CHECK_TOLERANCE = 0.002  # Dice: a rerun with the table's arithmetic must match each per-subset mean this closely
SEED_SPREAD = 3  # a rerun with other arithmetic: within this many seed standard deviations of the committed value
BUDGET_SECONDS = 1800
MACHINE_KEYS = ("commit", "cpu_model", "cpu_cores", "torch", "arithmetic", "python", "platform")
_CACHE: dict = {}


def _cached():
    from genlib.synthesis import experiment as ex

    if not _CACHE:
        _CACHE["data"] = ex.scenario_data(ex.FULL)
        _CACHE["models"] = ex.load_models()
    return _CACHE["data"], _CACHE["models"]


def job(arm: str, seed: int) -> dict:
    """Train and score one arm for one seed on one thread."""
    import torch

    from genlib.synthesis import experiment as ex

    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    data, models = _cached()
    run = ex.run_arm(ex.FULL, arm, seed, data=data, models=models, cache=_CACHE.setdefault("pools", {}))
    return {**run, "dice": run["dice"].round(3).tolist(), "hd95": run["hd95"].round(1).tolist(),
            "wall_seconds": round(time.perf_counter() - start, 1), "cpu_seconds": round(time.process_time() - cpu, 1)}


def _subset_means(run: dict, masks: dict) -> dict:
    import numpy as np

    from genlib.synthesis import experiment as ex

    out = {}
    for subset, mask in masks.items():
        for metric in ("dice", "hd95"):
            values = np.asarray(run[metric], dtype=float)[mask]
            for k, name in enumerate(ex.CLASSES):
                out[f"{subset}|{name}|{metric}"] = round(float(np.nanmean(values[:, k])), 4)
    return out


def machine() -> dict:
    import torch

    from bench import machine as where

    return {"commit": where.commit(), "cpu_model": where.cpu_model(), "cpu_cores": os.cpu_count(),
            "torch": torch.__version__, "arithmetic": where.arithmetic(), "python": platform.python_version(),
            "platform": platform.platform()}


def comparisons(runs: list[dict], masks: dict) -> list[dict]:
    """Paired bootstrap of every synthetic arm against every other fair arm, per subset, class and metric."""
    from genlib.synthesis import experiment as ex
    from genlib.synthesis.statistics import paired_bootstrap

    arms = {r["arm"] for r in runs}
    out = []
    for arm in [a for a in ex.SYNTHETIC if a in arms]:
        for baseline in [b for b in ("a", "b", "r", "u-hist", "u-cycle", "d") if b in arms]:
            seeds = sorted({r["seed"] for r in runs if r["arm"] == arm} & {r["seed"] for r in runs if r["arm"] == baseline})
            both = [r for r in runs if r["seed"] in seeds]
            for subset, mask in masks.items():
                for name in ex.CLASSES:
                    for metric in ("dice", "hd95"):
                        result = paired_bootstrap(ex.scores(both, arm, metric, name, mask),
                                                  ex.scores(both, baseline, metric, name, mask), seed=0)
                        out.append({"arm": arm, "baseline": baseline, "subset": subset, "class": name,
                                    "metric": metric, "n_seeds": len(seeds), **result})
    return out


def summary(runs: list[dict], masks: dict) -> list[dict]:
    """Per arm, subset, class and metric: the mean over seeds of the per-subject mean, std and per-seed values."""
    from genlib.synthesis import experiment as ex
    from genlib.synthesis.statistics import seed_summary

    out = []
    for arm in [a for a in ex.ARMS if any(r["arm"] == a for r in runs)]:
        for subset, mask in masks.items():
            for name in ex.CLASSES:
                for metric in ("dice", "hd95"):
                    s = seed_summary(ex.scores(runs, arm, metric, name, mask))
                    out.append({"arm": arm, "subset": subset, "class": name, "metric": metric,
                                "n_seeds": len(s["per_seed"]), **s})
    return out


def headline(table: dict) -> dict | None:
    """The target's comparison: the best synthetic arm against the strongest arm without a generator."""
    from genlib.synthesis import experiment as ex

    cell = {(s["arm"], s["subset"], s["class"], s["metric"]): s for s in table["summary"]}
    means = {a: cell[(a, "unseen vendors", "myo", "dice")]["mean"] for a in ex.ARMS if (a, "unseen vendors", "myo", "dice") in cell}
    baselines = [a for a in ex.NO_GENERATOR if a in means]
    synthetic = [a for a in ex.SYNTHETIC if a in means]
    if not baselines or not synthetic:
        return None
    strongest, best = max(baselines, key=means.get), max(synthetic, key=means.get)
    comparison = next(c for c in table["comparisons"] if c["arm"] == best and c["baseline"] == strongest
                      and c["subset"] == "unseen vendors" and c["class"] == "myo" and c["metric"] == "dice")
    return {"synthetic_arm": best, "strongest_baseline": strongest, **comparison,
            "target": TARGET_GAIN, "met": comparison["mean"] >= TARGET_GAIN and comparison["low"] > 0}


def _table(jobs: list[dict], wall: float, workers: int, n_jobs: int, load, info: dict, *, final: bool = True) -> dict:
    from genlib.synthesis import experiment as ex

    data, _ = _cached()
    masks = ex.subsets(data["test"])
    runs = sorted(jobs, key=lambda j: (list(ex.ARMS).index(j["arm"]), j["seed"]))
    table = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "complete": len(jobs) == n_jobs,
        "jobs_done": len(jobs), "jobs_total": n_jobs,
        "config": dataclasses.asdict(ex.FULL),
        "arms": ex.ARMS,
        "machine": {**info, "workers": workers, "threads_per_run": 1, "load_average_at_start": load,
                    "load_average_at_end": list(os.getloadavg())},
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(sum(j["cpu_seconds"] for j in jobs), 1),
        "test": {"vendors": data["test"]["vendors"], "groups": data["test"]["groups"]},
        "runs": [{k: j[k] for k in ("arm", "seed", "selection", "wall_seconds", "cpu_seconds")}
                 | {"subset_means": _subset_means(j, masks)} for j in runs],
        "per_subject": [{k: j[k] for k in ("arm", "seed", "dice", "hd95")} for j in runs],
    }
    table["summary"] = summary(runs, masks)
    table["comparisons"] = comparisons(runs, masks) if final else []  # the bootstraps take a while: at the end
    table["headline"] = headline(table) if final else None
    return table


def job_inputs(paths: list[str]) -> list[str]:
    """Of the repository paths given, those a job's result depends on: genlib's code and the scenario's weights
    (``genlib/weights/synthesis_scenario*``), not the committed tables nor the other weights."""
    def counts(path: str) -> bool:
        if path.startswith("genlib/tables/"):
            return False
        return not path.startswith("genlib/weights/") or path.startswith("genlib/weights/synthesis_scenario")
    return [path for path in paths if path.startswith("genlib/") and counts(path)]


def _partial_run(info: dict) -> tuple[list[dict], float, dict]:
    """The jobs of a stopped run's table, its wall time and its machine record (with ``resumed_at``).

    Raises SystemExit when the table is complete, when the job inputs (``job_inputs``) of the working tree
    differ from those of the commit the partial run recorded, or when this machine's arithmetic differs from the
    partial run's (``bench.machine.arithmetic``): its jobs would not be the ones a full run here gives.
    """
    table = committed.load("unit07_synthesis_table")
    if table.get("complete", True):
        raise SystemExit("the committed unit07_synthesis table is complete: nothing to resume (run it in full)")
    then = table["machine"]["commit"]
    changed = job_inputs(subprocess.run(["git", "diff", "--name-only", then, "--", "genlib"], capture_output=True,
                                        text=True, cwd=Path(__file__).resolve().parents[1], check=True).stdout.split())
    if changed:
        raise SystemExit(f"cannot resume: {len(changed)} file(s) the jobs depend on differ from the partial run's "
                         f"commit {then[:10]} ({', '.join(changed[:4])}); run the benchmark in full")
    if table["machine"].get("arithmetic") != info["arithmetic"]:
        raise SystemExit("cannot resume: this machine's arithmetic differs from the partial run's (a seeded job "
                         "would not give the same numbers here); run the benchmark in full")
    jobs = [{**run, **scores} for run, scores in zip(table["runs"], table["per_subject"])]
    kept = {k: table["machine"][k] for k in MACHINE_KEYS}
    return jobs, table["wall_seconds"], {**kept, "resumed_at": {k: info[k] for k in ("commit", "cpu_model")}}


def run(workers: int = 2, *, resume: bool = False) -> list[dict]:
    """Train and score every (arm, seed) job, ``workers`` at a time; ``resume``: only those a stopped run's
    committed partial table lacks (``_partial_run``), its wall time added to this run's."""
    from genlib.synthesis import experiment as ex

    jobs = [(arm, seed) for seed in ex.FULL.seeds for arm in ex.FULL.arms]
    n_jobs = len(jobs)
    load, info = list(os.getloadavg()), machine()
    done, earlier_wall = [], 0.0
    if resume:
        done, earlier_wall, info = _partial_run(info)
        finished = {(j["arm"], j["seed"]) for j in done}
        jobs = [j for j in jobs if j not in finished]
        print(f"resuming: {len(done)} of {n_jobs} jobs done at commit {info['commit'][:10]}", flush=True)
    start = time.perf_counter() - earlier_wall
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(job, *j) for j in jobs]
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            done.append(r)
            print(f"  ({r['arm']}) seed {r['seed']}: best step {r['selection']['best_step']}, "
                  f"{r['wall_seconds']:.0f} s wall, {r['cpu_seconds']:.0f} s CPU ({len(done)}/{n_jobs})", flush=True)
            try:  # a failure here must not lose the runs still going: report it and go on
                TABLE_PATH.write_text(json.dumps(_table(done, time.perf_counter() - start, workers, n_jobs, load,
                                                        info, final=False)) + "\n")
            except Exception as error:  # noqa: BLE001
                print(f"  could not write the partial table: {error!r}", flush=True)
    table = _table(done, time.perf_counter() - start, workers, n_jobs, load, info)
    TABLE_PATH.write_text(json.dumps(table) + "\n")
    return rows_of(table)


def rows_of(table: dict) -> list[dict]:
    """The bench rows (genlib/tables/results.json) of a table, complete or not."""
    rows = []
    for s in table["summary"]:
        if s["subset"] == "unseen vendors" and s["class"] == "myo" and s["metric"] == "dice":
            hd = next(h for h in table["summary"] if h["arm"] == s["arm"] and h["subset"] == "unseen vendors"
                      and h["class"] == "myo" and h["metric"] == "hd95")
            rows.append({"item": f"({s['arm']}) {table['arms'][s['arm']]}: unseen vendors' myocardium, "
                                 f"{s['n_seeds']} seeds", "measured": f"Dice {s['mean']:.3f}+-{s['std']:.3f}, "
                                                                     f"HD95 {hd['mean']:.1f}+-{hd['std']:.1f} mm",
                         "target": "(reported)", "within": None})
    h = table.get("headline")
    if h:
        rows.append({"item": f"({h['synthetic_arm']}) - ({h['strongest_baseline']}, the strongest arm without a "
                             f"generator): unseen vendors' myocardium Dice, paired two-level bootstrap 95% interval",
                     "measured": f"{100 * h['mean']:+.1f} points [{100 * h['low']:+.1f}, {100 * h['high']:+.1f}] "
                                 f"(per seed {', '.join(f'{100 * d:+.1f}' for d in h['per_seed'])})",
                     "target": f">= {100 * TARGET_GAIN:.0f} points, interval above 0", "within": h["met"]})
    rows.append({"item": f"{table['jobs_done']} of {table['jobs_total']} (arm, seed) jobs, "
                         f"{table['machine']['workers']} at a time", "measured":
                 f"{table['wall_seconds']:.0f} s wall, {table['cpu_seconds']:.0f} s CPU",
                 "target": f"<= {BUDGET_SECONDS} s on 2 cores", "within": table["wall_seconds"] <= BUDGET_SECONDS})
    return rows


def check(arms=("a", "c")) -> bool:
    """Rerun ``arms`` of seed 0 and compare every per-subset mean Dice with the committed table.

    On a machine with the table's arithmetic (``bench.machine.arithmetic``) the rerun must match to
    ``CHECK_TOLERANCE``. On another, rounding differs from the first step and the rerun is a perturbed training
    run, so it must lie within the table's own seed-to-seed variation: each figure within ``SEED_SPREAD``
    standard deviations (across the table's seeds of that arm) of the committed seed 0.
    """
    import statistics

    from bench import machine as where
    from genlib.synthesis import experiment as ex

    table = committed.load("unit07_synthesis_table")
    same = where.same_arithmetic(table["machine"])
    print("this machine's arithmetic is the table's: reproduction to rounding expected" if same else
          "this machine's arithmetic differs from the table's (or the table predates the fingerprint): the rerun "
          f"must lie within {SEED_SPREAD} seed standard deviations", flush=True)
    ok = True
    for arm in arms:
        runs = [r["subset_means"] for r in table["runs"] if r["arm"] == arm]
        stored = next(r for r in table["runs"] if r["arm"] == arm and r["seed"] == 0)["subset_means"]
        rerun = job(arm, 0)
        fresh = _subset_means(rerun, ex.subsets(_cached()[0]["test"]))
        worst = ("", 0.0, 0.0)
        for key, value in stored.items():
            if not key.endswith("|dice"):
                continue
            allowed = CHECK_TOLERANCE if same else max(CHECK_TOLERANCE,
                                                       SEED_SPREAD * statistics.stdev(r[key] for r in runs))
            difference = abs(fresh[key] - value)
            if difference / allowed > worst[1] / max(worst[2], 1e-12):
                worst = (key, difference, allowed)
            ok &= difference <= allowed
        print(f"({arm}) seed 0, rerun in {rerun['wall_seconds']:.0f} s: closest to its limit {worst[0]}, "
              f"difference {worst[1]:.4f} (allowed {worst[2]:.4f})", flush=True)
    print(f"check {'passed' if ok else 'FAILED'}: table of commit {table['machine']['commit'][:10]}, "
          f"rerun on {where.cpu_model()}", flush=True)
    return ok


def finalise() -> dict:
    """Recompute the summary, the comparisons and the headline of the committed table from its per-subject
    scores (for a run stopped early: the table then says it is incomplete)."""
    table = committed.load("unit07_synthesis_table")
    jobs = [{**run, **scores} for run, scores in zip(table["runs"], table["per_subject"])]
    final = _table(jobs, table["wall_seconds"], table["machine"]["workers"], table["jobs_total"],
                   table["machine"]["load_average_at_start"], {k: table["machine"][k] for k in
                                                               MACHINE_KEYS if k in table["machine"]})
    final["date"] = table["date"]
    TABLE_PATH.write_text(json.dumps(final) + "\n")
    return final


def store_rows() -> list[dict]:
    """Write this section's rows from the current table into genlib/tables/results.json."""
    path = committed.path("results")
    rows = rows_of(committed.load("unit07_synthesis_table"))
    stored = json.loads(path.read_text())
    stored["sections"]["unit07_synthesis"] = {"date": time.strftime("%Y-%m-%d"), "rows": rows}
    path.write_text(json.dumps(stored, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["rows"]:  # python -m bench.unit07_synthesis rows
        for row in store_rows():
            print(row["item"], "|", row["measured"], "|", row["target"], "|", row["within"])
    elif sys.argv[1:] == ["finalise"]:  # python -m bench.unit07_synthesis finalise
        print(finalise()["headline"])
    elif sys.argv[1:] == ["resume"]:  # python -m bench.unit07_synthesis resume: finish a stopped run
        for row in run(resume=True):
            print(row["item"], "|", row["measured"], "|", row["target"], "|", row["within"])
        store_rows()
    elif sys.argv[1:] == ["--check"]:
        sys.exit(0 if check() else 1)
    else:
        for row in run():
            print(row["item"], "|", row["measured"], "|", row["target"], "|", row["within"])
