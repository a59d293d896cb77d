"""Unit 08 benchmark: the four families side by side on the digits, 3 seeds each, one table.

For every family (VAE, GAN, flow, diffusion; ``genlib.families.RECIPES``) and seed 0, 1, 2: train on
the 1,000 training digits, then measure on the 447 test digits
- the test NLL bound in bits per dimension (``genlib.families.test_bits_per_dim``; none for the GAN),
- FID (95% bootstrap interval), KID and precision/recall of 1,000 samples against the test digits,
  with the course's digits feature network, beside the real-vs-real floor (1,000 training digits),
- wall and CPU seconds to train, milliseconds to sample 1,000 images, parameter count.
It also evaluates the shipped models (``weights/families_*.pt``, seed 0 of the same recipes, built by
``tools/weights_families.py``) with the same functions: the lecture recomputes those figures.

Targets (issue 11): every likelihood family below 2.175 bits/dim (intro_dgm's VAE on the same
split), the best at or below 2.0, as the mean over 3 seeds.

Writes genlib/tables/unit08_families_table.json (the lecture's one source of numbers).
Run alone: ``python bench/run.py unit08_families``. Jobs run 3 at a time, one thread each (2 cores: the
third keeps both busy while one job evaluates); the table is rewritten after every job.
"""
from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from genlib import results

TABLE_PATH = results.path("unit08_families_table")
SEEDS = (0, 1, 2)
N_SAMPLES = 1000
N_BOOT = 200
TARGET_EVERY = 2.175  # bits/dim: intro_dgm's VAE on the same split
TARGET_BEST = 2.0
REFERENCES = {  # Tomczak's intro_dgm on the same split, as reported (bits/dim)
    "VAE (intro_dgm)": 2.175,
    "RealNVP (intro_dgm), as a discrete bound": 3.70,
}
METRICS = ("bits_bound", "bits_best", "fid", "fid_low", "fid_high", "kid", "kid_std_error", "precision", "recall",
           "train_seconds", "train_cpu_seconds", "sample_ms", "parameters")


def real_features() -> tuple[torch.Tensor, torch.Tensor]:
    """Features of the test digits (the reference) and of the training digits (the floor's second set)."""
    from genlib.data import load_digits
    from genlib.models.features import extract_features, load_feature_network

    network = load_feature_network("digits")
    return (extract_features(network, load_digits("test", shape="image")[0]),
            extract_features(network, load_digits("train", shape="image")[0]))


def evaluate(family: str, model, seed: int = 0, config: dict | None = None) -> dict:
    """Every figure of the table for one trained model (the lecture calls this for the shipped models)."""
    from genlib import families
    from genlib.data import load_digits
    from genlib.models.features import extract_features, load_feature_network

    x_test, _ = load_digits("test", scale="levels")
    bits = families.test_bits_per_dim(family, model, x_test, seed=seed, config=config)
    sample_ms = families.sampling_milliseconds(family, model, N_SAMPLES)
    images = families.sample_images(family, model, N_SAMPLES, seed=seed)
    f_test, _ = real_features()
    f_fake = extract_features(load_feature_network("digits"), images)
    quality = families.sample_quality(f_test, f_fake, n_boot=N_BOOT, seed=seed)
    return {"bits_bound": bits["bound"], "bits_best": bits["best"], "iw_samples": bits["iw_samples"],
            **quality, "sample_ms": sample_ms, "parameters": families.n_parameters(family, model)}


def job(family: str, seed: int | None) -> dict:
    """Train (seed) or load (seed None: the shipped weights) one model and evaluate it, on one thread."""
    torch.set_num_threads(1)
    from genlib import families

    if seed is None:
        model = families.load(family)
        saved = torch.load(families.weights_path(family), map_location="cpu", weights_only=True)
        return {"family": family, "seed": "shipped", **evaluate(family, model, 0, saved["recipe"])}
    model, info = families.fit(family, seed)
    return {"family": family, "seed": seed, **evaluate(family, model, seed),
            "train_seconds": info["seconds"], "train_cpu_seconds": info["cpu_seconds"],
            "best_epoch": info.get("best_epoch")}


def _summary(runs: list[dict]) -> dict:
    out = {"n_seeds": len(runs), "seeds": [r["seed"] for r in runs]}
    for key in METRICS:
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            out[f"{key}_mean"] = statistics.fmean(values)
            out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
            out[f"{key}_min"], out[f"{key}_max"] = min(values), max(values)
    return out


def floor() -> dict:
    """Real against real: the test digits against the 1,000 training digits, with the same metrics."""
    from genlib import families

    f_test, f_train = real_features()
    return families.sample_quality(f_test, f_train, n_boot=N_BOOT, seed=0)


def _table(runs: list[dict], shipped: list[dict], wall: float, workers: int, n_jobs: int) -> dict:
    from genlib import families

    return {"date": time.strftime("%Y-%m-%d %H:%M"), "seeds": list(SEEDS), "n_samples": N_SAMPLES, "n_boot": N_BOOT,
            "recipes": families.RECIPES, "references": REFERENCES,
            "targets": {"every_below": TARGET_EVERY, "best_at_most": TARGET_BEST},
            "machine": {"cpu_cores": os.cpu_count(), "platform": platform.platform(), "workers": workers,
                        "threads_per_run": 1, "load_average_at_start": list(os.getloadavg())},
            "wall_seconds": round(wall, 1), "complete": len(runs) + len(shipped) == n_jobs,
            "jobs_done": len(runs) + len(shipped), "jobs_total": n_jobs,
            "floor": floor(),
            "families": {f: _summary(sorted((r for r in runs if r["family"] == f), key=lambda r: r["seed"]))
                         for f in families.FAMILIES if any(r["family"] == f for r in runs)},
            "runs": sorted(runs, key=lambda r: (r["family"], r["seed"])),
            "shipped": {r["family"]: r for r in shipped}}


def run(workers: int = 3) -> list[dict]:
    from genlib import families

    jobs = [(f, s) for s in SEEDS for f in ("flow", "diffusion", "vae", "gan")]  # seed-major, the long ones first
    jobs += [(f, None) for f in families.FAMILIES if families.weights_path(f).exists()]
    start = time.perf_counter()
    runs, shipped = [], []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(job, *j) for j in jobs]
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            (shipped if r["seed"] == "shipped" else runs).append(r)
            bits = "-" if r["bits_best"] is None else f"{r['bits_best']:.3f}"
            print(f"  {r['family']:<9} seed {r['seed']}: bits/dim {bits}, FID {r['fid']:.1f}, "
                  f"train {r.get('train_seconds', 0):.0f} s ({len(runs) + len(shipped)}/{len(jobs)})", flush=True)
            # the table so far after every job: a run stopped early still leaves every finished seed
            partial = _table(runs, shipped, time.perf_counter() - start, workers, len(jobs))
            TABLE_PATH.write_text(json.dumps(partial, indent=1) + "\n")
    table = _table(runs, shipped, time.perf_counter() - start, workers, len(jobs))
    TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")
    return rows_of(table)


def rows_of(table: dict) -> list[dict]:
    """The bench rows (genlib/tables/results.json) of a table, complete or not."""
    rows = []
    for family, s in table["families"].items():
        has_bits = "bits_best_mean" in s
        bits = (f"{s['bits_best_mean']:.3f}+-{s['bits_best_std']:.3f} bits/dim, " if has_bits else "")
        rows.append({"item": f"{family}: test bound, FID, train and sampling cost ({s['n_seeds']} seeds)",
                     "measured": f"{bits}FID {s['fid_mean']:.1f}+-{s['fid_std']:.1f}, {s['train_seconds_mean']:.0f} s "
                                 f"to train, {s['sample_ms_mean']:.0f} ms / {N_SAMPLES} samples",
                     "target": f"< {TARGET_EVERY} bits/dim" if has_bits else "(reported: no likelihood)",
                     "within": (s["bits_best_mean"] < TARGET_EVERY) if has_bits else None,
                     **{k: v for k, v in s.items() if k != "seeds"}})
    likelihood = {f: s["bits_best_mean"] for f, s in table["families"].items() if "bits_best_mean" in s}
    if likelihood:
        best = min(likelihood, key=likelihood.get)
        rows.append({"item": "best likelihood family, mean test bound (bits/dim)",
                     "measured": f"{best} {likelihood[best]:.3f}", "target": f"<= {TARGET_BEST}",
                     "within": likelihood[best] <= TARGET_BEST, "family": best, "bits_per_dim": likelihood[best]})
    rows.append({"item": f"{table['jobs_done']} of {table['jobs_total']} jobs, {table['machine']['workers']} at a time "
                         "(wall time)", "measured": f"{table['wall_seconds']:.0f} s", "target": "(reported)", "within": None,
                 "seconds": table["wall_seconds"], "complete": table["complete"]})
    return rows


def store_rows() -> list[dict]:
    """Write this section's rows from the current table into genlib/tables/results.json (for a run stopped early)."""
    results_path = results.path("results")
    rows = rows_of(json.loads(TABLE_PATH.read_text()))
    results = json.loads(results_path.read_text())
    results["sections"]["unit08_families"] = {"date": time.strftime("%Y-%m-%d"), "rows": rows}
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    return rows


def update_shipped() -> dict:
    """Evaluate the shipped weights again and store them in the table (after ``make weights``)."""
    from genlib import families

    table = json.loads(TABLE_PATH.read_text())
    table["shipped"] = {f: job(f, None) for f in families.FAMILIES if families.weights_path(f).exists()}
    TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")
    return table["shipped"]


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["shipped"]:  # python -m bench.unit08_families shipped
        for family, r in update_shipped().items():
            print(family, {k: r[k] for k in ("bits_best", "fid", "precision", "recall")})
    elif sys.argv[1:] == ["rows"]:  # python -m bench.unit08_families rows
        for row in store_rows():
            print(row["item"], "|", row["measured"], "|", row["target"], "|", row["within"])
    else:
        for row in run():
            print(row)
