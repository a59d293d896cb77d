"""Running the experiment: one arm for one seed (``run_arm``, with its leak check), every arm for every seed.
"""
from __future__ import annotations

import time

import torch

from genlib.synthesis import scenario
from genlib.synthesis.experiment.config import EXTRA_POOL, SMALL, ExperimentConfig
from genlib.synthesis.experiment.pools import load_models, models_used, pools_of, prepare_pools, scenario_data
from genlib.synthesis.experiment.scoring import evaluate
from genlib.synthesis.experiment.training import train_arm


def run_arm(config: ExperimentConfig, arm: str, seed: int, *, data: dict, models: dict | None = None,
            progress: bool = False, cache: dict | None = None) -> dict:
    """Train one arm for one seed and score it: "arm", "seed", "dice" and "hd95" (N, 3), "selection", "cpu_seconds".

    Before training it checks (``scenario.check_no_leak``) that no labelled target-vendor image and no
    test image or map reaches the arm's pools or the models it uses (the reference arm's pool excepted).
    """
    pools = prepare_pools(config, seed, (arm,), data=data, models=models, cache=cache)
    if models is None and arm in ("c", "c+b", "d", "u-cycle"):
        models = load_models()
    used = models_used(arm, models) if models is not None and "provenance" in models else {}
    scenario.check_no_leak({k: pools[k] for k in pools_of(arm)}, data["test"], used)
    start = time.process_time()
    net, selection = train_arm(arm, pools, config, seed, validation=data["validation"], progress=progress)
    cpu = round(time.process_time() - start, 1)
    return {"arm": arm, "seed": seed, **evaluate(net, data["test"]), "selection": selection, "cpu_seconds": cpu}


def run_experiment(config: ExperimentConfig = SMALL, *, models: dict | None = None, progress: bool = True) -> list[dict]:
    """Every arm for every seed, on one thread (restored afterwards): these small networks train faster on one
    thread than on two (``bench/NOTES.md``). Returns ``run_arm``'s results."""
    data = scenario_data(config)
    models = models if models is not None else (load_models() if set(config.arms) & set(EXTRA_POOL) - {"r"} else None)
    threads, cache = torch.get_num_threads(), {}
    torch.set_num_threads(1)
    try:
        return [run_arm(config, arm, seed, data=data, models=models, progress=progress, cache=cache)
                for seed in config.seeds for arm in config.arms]
    finally:
        torch.set_num_threads(threads)
