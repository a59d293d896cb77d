"""Unit 07: does the experiment's headline depend on the one scenario generator behind every synthetic arm?

The committed table (``bench/unit07_synthesis.py``) trains five U-Net seeds per arm but one scenario SPADE
(``genlib/weights/synthesis_scenario_spade.pt``: ``style_recipes.SCENARIO_RECIPE``, 1,200 steps, seed 0), so its
intervals hold the generator fixed. This check trains a second generator the same way with seed ``GENERATOR_SEED``
(``bench.unit07_style._train``, the call that made the shipped model), runs arm (c) with it for U-Net seeds 0-4
(``experiment.FULL``, nothing else changed), and compares it, subject by subject, with the committed table's
(u-hist) runs on the unseen vendors' myocardium Dice (paired two-level bootstrap, as the table). (u-hist) uses no
generator; on a machine with the table's arithmetic its rerun reproduces the table (checked for this table:
every per-subject Dice equal to the table's three decimals). The rule (train, run, report whatever it shows,
change nothing in the experiment) was written before the runs (bench/NOTES.md).

``python bench/run.py unit07_generator_seed`` (or ``python -m bench.unit07_generator_seed``; about 30 CPU-min,
two processes of one thread) writes genlib/tables/unit07_generator_seed.json; ``compare`` alone turns saved runs
into that table, ``rows`` turns the table into ``make bench``'s rows.
"""
from __future__ import annotations

import concurrent.futures
import json
import time

import numpy as np

from genlib import results as committed

TABLE_PATH = committed.path("unit07_generator_seed")
GENERATOR_SEED = 1
STEPS = 1200  # the shipped scenario SPADE's steps (tools/weights_synthesis.py)


def train_generator(seed: int = GENERATOR_SEED) -> tuple:
    """The scenario SPADE and style encoder of ``SCENARIO_RECIPE`` with another seed, on one thread."""
    import torch

    from bench import unit07_style
    from genlib.synthesis.style_recipes import SCENARIO_RECIPE

    torch.set_num_threads(1)
    generator, encoder, cost = unit07_style._train(SCENARIO_RECIPE, seed, STEPS)
    return generator, encoder, cost


def run_c(generator, encoder, seed: int) -> list:
    """Arm (c) of ``experiment.FULL`` for one U-Net seed with the given generator: per-subject Dice (N, 3)."""
    import torch

    from genlib.synthesis import experiment as ex

    torch.set_num_threads(1)
    models = ex.load_models()  # the scenario's label VAE and provenance; the SPADE replaced below
    models["generator"], models["encoder"] = generator, encoder
    run = ex.run_arm(ex.FULL, "c", seed, data=ex.scenario_data(ex.FULL), models=models, cache={})
    return run["dice"].tolist()


def compare(dice_by_seed: dict, table: dict | None = None) -> dict:
    """(c) with the other generator against the table's (u-hist), and the table's own (c), on the unseen
    vendors' myocardium Dice. ``dice_by_seed``: {U-Net seed: (N, 3) per-subject Dice of arm (c)}."""
    from genlib.synthesis import experiment as ex
    from genlib.synthesis.statistics import paired_bootstrap

    table = table if table is not None else committed.load("unit07_synthesis_table")
    vendors = np.asarray(table["test"]["vendors"])
    stored = {(r["arm"], r["seed"]): np.asarray(r["dice"], dtype=float) for r in table["per_subject"]}
    seeds = sorted(int(s) for s in dice_by_seed)
    if seeds != list(table["config"]["seeds"]):
        raise ValueError(f"dice_by_seed must hold the table's U-Net seeds {table['config']['seeds']}, got {seeds}.")
    myo = ex.CLASSES.index("myo")
    other = {s: np.asarray(dice_by_seed[s], dtype=float) for s in seeds}

    def scores(get, mask):
        return np.stack([get(s)[mask, myo] for s in seeds])

    unseen = vendors != "A"
    baseline = scores(lambda s: stored[("u-hist", s)], unseen)
    out = {"generator_seed": GENERATOR_SEED, "steps": STEPS, "subset": "unseen vendors", "class": "myo",
           "metric": "dice", "baseline": "u-hist", "target": table["headline"]["target"]}
    for name, get in (("other generator", lambda s: other[s]), ("table's generator", lambda s: stored[("c", s)])):
        result = paired_bootstrap(scores(get, unseen), baseline)
        out[name] = {"mean_dice": {v: round(float(np.nanmean(scores(get, vendors == v))), 4) for v in "ABC"}
                     | {"unseen vendors": round(float(np.nanmean(scores(get, unseen))), 4)},
                     "minus_baseline": {k: (round(v, 4) if isinstance(v, float) else
                                            [round(x, 4) for x in v] if isinstance(v, list) else v)
                                        for k, v in result.items()}}
    return out


def rows(table: dict) -> list[dict]:
    """``make bench``'s rows: the headline comparison with the other generator, and with the table's."""
    out = []
    for name, target in (("other generator", f">= {100 * table['target']:.0f} points, interval above 0"), ("table's generator", "(reported)")):
        d = table[name]["minus_baseline"]
        met = d["mean"] >= table["target"] and d["low"] > 0
        out.append({"item": f"(c) with the {name} (seed {table['generator_seed'] if name == 'other generator' else 0}) - (u-hist): "
                            "unseen vendors' myocardium Dice, paired two-level bootstrap 95% interval",
                    "measured": f"{100 * d['mean']:+.1f} points [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]",
                    "target": target, "within": bool(met) if name == "other generator" else None})
    return out


def run(workers: int = 2) -> list[dict]:
    """Train the other generator, run arm (c) with it, write the table; ``make bench``'s rows."""
    from bench import machine

    start = time.perf_counter()
    generator, encoder, cost = train_generator()
    seeds = list(committed.load("unit07_synthesis_table")["config"]["seeds"])
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        dice = dict(zip(seeds, pool.map(run_c, [generator] * len(seeds), [encoder] * len(seeds), seeds)))
    table = compare(dice) | {"date": time.strftime("%Y-%m-%d"), "commit": machine.commit(),
                             "arithmetic": machine.arithmetic(), "training": cost,
                             "wall_s": round(time.perf_counter() - start, 1)}
    TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")
    return rows(table)


if __name__ == "__main__":
    for row in run():
        print(f"{row['item']}: {row['measured']} (target {row['target']})")
