"""Unit 02 benchmark: mode collapse on the 2-D toys, the vanilla GAN against its fixes, 5 seeds.

For each toy (ring8, grid25) and each method (vanilla GAN, WGAN-GP, spectral norm, PacGAN)
a GAN is trained from 5 seeds with the same nets and number of generator steps; 2,500
samples are scored with the VEEGAN/PacGAN measurement (genlib.metrics.mode_coverage:
high quality = within 3 std of the nearest mode; a mode is covered if it is the nearest
mode of a high-quality sample). Runs go two at a time, one torch thread each.

Run alone: ``python bench/run.py unit02_gans``. Besides its rows in bench/results.json it
writes bench/unit02_gans_table.json, which lecture 02 loads and shows beside the papers'
numbers (the lecture does not train 40 GANs).

Targets (issue 5): our best fix covers 8/8 ring modes with >= 95% high quality and
>= 24.8/25 grid modes with >= 93% high quality (means over 5 seeds), training <= 60 s per
seed on CPU.
"""
from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE_PATH = ROOT / "bench" / "unit02_gans_table.json"
SEEDS = (0, 1, 2, 3, 4)
N_SAMPLES = 2500
N_SAVED = 500  # samples of seed 0 kept in the table for the lecture's figure
TOYS = ("ring8", "grid25")
# The shared recipe: nets, optimiser and budget are the same for every method.
# Two time-scales (a discriminator 4x faster) and a learning rate decayed linearly to 0 sharpened
# the modes most in our trials (one seed on the ring, PacGAN: 45% HQ at 2000 steps with
# lr_d = lr_g = 1e-3, 69% with lr_d = 4e-3; 90% at 6000 steps with lr_d = 1e-3).
# 12,000 steps use the 60 s per seed on 2 idle cores (2026-12-03: 10,000 vanilla steps took 40 s with
# two runs at a time). Single-seed trials on the grid (2026-12-03) found no setting that reaches
# both targets: a vanilla GAN sharpens (93-95% HQ at 10,000-12,000 steps) but covers 14-21 modes;
# packing covers 20-25 modes but its HQ stays low (PacGAN2 58% at 12,000 steps, 86% at 20,000 with
# 20 modes; PacGAN4 9-25%). Wider nets (256, 512), lr_d = 1e-3, two D steps, a 4-D latent and an EMA
# of G did not change that.
RECIPE = {"steps": 12000, "batch_size": 256, "hidden": 128, "depth": 3, "latent_dim": 2,
          "lr_g": 1e-3, "lr_d": 4e-3, "betas": (0.5, 0.999), "lr_decay": True}
# What each method changes in the recipe.
METHODS = {
    "vanilla GAN": {"loss": "nonsaturating"},
    "WGAN-GP": {"loss": "wgan-gp", "gp_weight": 10.0},
    "spectral norm": {"loss": "nonsaturating", "spectral_norm": True},
    "PacGAN": {"loss": "nonsaturating", "pack": {"ring8": 2, "grid25": 4}},
}
TARGETS = {"ring8": {"modes": 8.0, "hq": 0.95}, "grid25": {"modes": 24.8, "hq": 0.93}}
SECONDS_PER_SEED = 60.0
# Published rows (means over seeds): VEEGAN (Srivastava et al., 2017) Table 1; PacGAN (Lin et al., 2018) Table 1.
PAPERS = [
    {"source": "VEEGAN Table 1", "method": "GAN", "toy": "ring8", "modes": 1.0, "hq": 0.993},
    {"source": "VEEGAN Table 1", "method": "VEEGAN", "toy": "ring8", "modes": 8.0, "hq": 0.529},
    {"source": "VEEGAN Table 1", "method": "GAN", "toy": "grid25", "modes": 3.3, "hq": 0.005},
    {"source": "VEEGAN Table 1", "method": "VEEGAN", "toy": "grid25", "modes": 24.6, "hq": 0.40},
    {"source": "PacGAN Table 1", "method": "PacGAN2", "toy": "ring8", "modes": 7.9, "hq": 0.956},
    {"source": "PacGAN Table 1", "method": "PacGAN4", "toy": "grid25", "modes": 24.8, "hq": 0.936},
]


def train_one(toy_name: str, method: str, seed: int) -> dict:
    """Train one GAN on one thread; return its coverage, time and (seed 0) some samples."""
    import torch

    torch.set_num_threads(1)
    from genlib.data import make_toy
    from genlib.metrics import mode_coverage
    from genlib.models.gan import MLPDiscriminator, MLPGenerator
    from genlib.models.gan_training import train_gan

    options = METHODS[method]
    pack = options.get("pack", {}).get(toy_name, 1)
    toy = make_toy(toy_name)
    torch.manual_seed(seed)
    generator = MLPGenerator(RECIPE["latent_dim"], 2, RECIPE["hidden"], RECIPE["depth"])
    discriminator = MLPDiscriminator(2, RECIPE["hidden"], RECIPE["depth"], pack=pack,
                                     spectral_norm=options.get("spectral_norm", False))
    history = train_gan(generator, discriminator, toy.sample, steps=RECIPE["steps"], loss=options["loss"],
                        batch_size=RECIPE["batch_size"], lr_g=RECIPE["lr_g"], lr_d=RECIPE["lr_d"], betas=RECIPE["betas"],
                        d_steps=options.get("d_steps", 1), gp_weight=options.get("gp_weight", 10.0),
                        lr_decay=RECIPE["lr_decay"], seed=seed)
    samples = generator.sample(N_SAMPLES, generator=torch.Generator().manual_seed(10_000 + seed))
    result = mode_coverage(samples, toy.means, toy.std)
    row = {"toy": toy_name, "method": method, "seed": seed, "modes": result.modes_covered,
           "hq": result.high_quality_fraction, "seconds": history["seconds"], "steps": RECIPE["steps"]}
    if seed == SEEDS[0]:
        row["samples"] = [[round(float(a), 4), round(float(b), 4)] for a, b in samples[:N_SAVED].tolist()]
    return row


def _summary(runs: list[dict]) -> dict:
    import numpy as np

    modes, hq, seconds = (np.array([r[k] for r in runs], dtype=float) for k in ("modes", "hq", "seconds"))
    return {"modes_mean": float(modes.mean()), "modes_std": float(modes.std()), "hq_mean": float(hq.mean()),
            "hq_std": float(hq.std()), "seconds_mean": float(seconds.mean()), "seconds_max": float(seconds.max()),
            "per_seed": [{"seed": r["seed"], "modes": r["modes"], "hq": round(r["hq"], 4), "seconds": round(r["seconds"], 1)}
                         for r in runs]}


def _table(runs: list[dict], n_jobs: int, workers: int, wall: float) -> dict:
    """The lecture's table from the runs finished so far (all of them when ``complete``)."""
    table = {"recipe": {**RECIPE, "betas": list(RECIPE["betas"])}, "methods": METHODS, "seeds": list(SEEDS),
             "n_samples": N_SAMPLES, "machine": {"cpu_cores": os.cpu_count(), "platform": platform.platform(),
                                                 "workers": workers, "threads_per_run": 1},
             "date": time.strftime("%Y-%m-%d %H:%M"), "wall_seconds": round(wall, 1),
             "complete": len(runs) == n_jobs, "runs_done": len(runs), "runs_total": n_jobs,
             "rows": [], "papers": PAPERS, "samples": {}}
    for toy in TOYS:
        for method in METHODS:
            mine = sorted((r for r in runs if r["toy"] == toy and r["method"] == method), key=lambda r: r["seed"])
            if mine:
                table["rows"].append({"toy": toy, "method": method, "n_seeds": len(mine), **_summary(mine)})
            table["samples"].update({f"{toy}/{method}": r["samples"] for r in mine if "samples" in r})
    return table


def run(workers: int = 2) -> list[dict]:
    # seed-major order: if the run is stopped early, every method has as many seeds as possible
    jobs = [(toy, method, seed) for seed in SEEDS for toy in TOYS for method in METHODS]
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    runs: list[dict] = []
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(train_one, *job) for job in jobs]
        for future in concurrent.futures.as_completed(futures):
            runs.append(future.result())
            r = runs[-1]
            print(f"  {r['toy']:<7} {r['method']:<14} seed {r['seed']}: {r['modes']} modes, {r['hq']:.1%} HQ, "
                  f"{r['seconds']:.0f} s ({len(runs)}/{len(jobs)})", flush=True)
            TABLE_PATH.write_text(json.dumps(_table(runs, len(jobs), workers, time.perf_counter() - start), indent=1) + "\n")
    wall = time.perf_counter() - start
    table = _table(runs, len(jobs), workers, wall)
    rows = []
    for summary in table["rows"]:
        rows.append({"item": f"{summary['toy']}: {summary['method']} ({RECIPE['steps']} steps, {summary['n_seeds']} seeds)",
                     "measured": f"{summary['modes_mean']:.1f}+-{summary['modes_std']:.1f} modes, "
                                 f"{summary['hq_mean']:.1%} HQ, {summary['seconds_mean']:.0f} s/seed",
                     "target": "(reported)", "within": None,
                     **{k: summary[k] for k in ("modes_mean", "modes_std", "hq_mean", "hq_std", "seconds_mean")}})
    for toy in TOYS:
        fixes = [r for r in table["rows"] if r["toy"] == toy and r["method"] != "vanilla GAN"]
        best = max(fixes, key=lambda r: (r["modes_mean"], r["hq_mean"]))
        target = TARGETS[toy]
        within = (best["modes_mean"] >= target["modes"] and best["hq_mean"] >= target["hq"]
                  and best["seconds_mean"] <= SECONDS_PER_SEED)
        rows.append({"item": f"{toy}: best fix ({best['method']}): modes, HQ, s/seed (mean of 5 seeds)",
                     "measured": f"{best['modes_mean']:.1f}, {best['hq_mean']:.1%}, {best['seconds_mean']:.0f} s",
                     "target": f">={target['modes']:g}, >={target['hq']:.0%}, <=60 s", "within": within,
                     "modes_mean": best["modes_mean"], "hq_mean": best["hq_mean"], "seconds_mean": best["seconds_mean"],
                     "steps": RECIPE["steps"]})
    rows.append({"item": f"all {len(jobs)} runs, {workers} at a time (wall time)", "measured": f"{wall:.0f} s",
                 "target": "(reported)", "within": None, "seconds": round(wall, 1)})
    print(f"  written {TABLE_PATH.relative_to(ROOT)}", flush=True)
    return rows


if __name__ == "__main__":
    for row in run():
        print(row["item"], row["measured"], row["target"], row["within"])
