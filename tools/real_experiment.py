"""Run unit 07's experiment on your own ACDC or M&Ms folder (issue 26).

    python -m tools.real_experiment --data <folder> --layout acdc|mnms|mnms2 [--source VENDOR] [--small] [--out DIR]

1. reads the per-subject table of ``<folder>`` (``genlib.data.cardiac``: ACDC, M&Ms-1's ``OpenDataset``
   folder, or M&Ms-2's ``MnM2`` folder) and writes it to ``<out>/subjects.json`` with each subject's
   clinical measures (volumes, EF, LV mass, indexed by body surface area when height and weight are known);
2. assigns subjects to the roles site / validation / unlabelled / test (``genlib.synthesis.real``): by
   vendor for M&Ms (labels from ``--source`` only, default the vendor with the most labelled subjects), at
   random for ACDC; writes ``<out>/roles.json``;
3. retrains the scenario's SPADE generator + style encoder, label VAE and CycleGAN on the site's labelled
   slices and the unlabelled images, with ``tools/weights_synthesis.py``'s step counts (``FULL``; ``--small``
   a quarter of them; ``--smoke`` its ``SHORT`` test setting), into ``<out>/weights/``;
4. runs the experiment's arms (all but (r); ``--small``: (a) and (c), one seed, ``experiment.SMALL``'s
   steps) and writes ``<out>/real_synthesis_table.json``, a table of the same shape as
   ``genlib/tables/unit07_synthesis_table.json`` (summary, paired bootstrap comparisons, headline) with
   per-subject scores. It never writes into genlib/tables.

``--smoke`` runs every step for a few iterations only (the test of the path; its numbers mean nothing).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE_NAME = "real_synthesis_table.json"


def model_steps(size: str) -> dict:
    """The scenario models' step counts: weights_synthesis.FULL, a quarter of it, or SHORT."""
    from tools import weights_synthesis as ws

    if size == "smoke":
        return dict(ws.SHORT)
    if size == "small":
        return {k: max(1, v // 4) if k.endswith("_steps") else v for k, v in ws.FULL.items()}
    return dict(ws.FULL)


def build_table(runs: list[dict], data: dict, config, *, wall: float, info: dict, layout: str) -> dict:
    """The table, in the shape of unit07_synthesis_table.json (bench.unit07_synthesis's statistics)."""
    from bench import unit07_synthesis as bench
    from genlib.synthesis import experiment as ex
    from genlib.synthesis import real

    masks = real.subsets(data)
    jobs = [{**r, "dice": r["dice"].round(3).tolist(), "hd95": r["hd95"].round(1).tolist()} for r in runs]
    table = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "complete": True, "jobs_done": len(jobs), "jobs_total": len(jobs),
        "config": dataclasses.asdict(config), "arms": {a: ex.ARMS[a] for a in real.REAL_ARMS},
        "machine": {**info, "workers": 1, "threads_per_run": 1}, "wall_seconds": round(wall, 1),
        "cpu_seconds": round(sum(j["cpu_seconds"] for j in jobs), 1),
        "test": {"vendors": data["test"]["subject_vendors"], "groups": data["test"]["subject_groups"],
                 "subjects": data["test"]["subject_ids"]},
        "runs": [{"arm": j["arm"], "seed": j["seed"], "selection": j["selection"], "wall_seconds": None,
                  "cpu_seconds": j["cpu_seconds"], "subset_means": bench._subset_means(j, masks)} for j in jobs],
        "per_subject": [{k: j[k] for k in ("arm", "seed", "dice", "hd95")} for j in jobs],
        "data": {"layout": layout, "source": list(data["source"]), "targets": list(data["targets"]),
                 "n_slices": {k: len(data[k]["images"]) for k in ("site", "validation", "unlabelled", "test")}},
    }
    table["summary"] = bench.summary(runs, masks)
    table["comparisons"] = bench.comparisons(runs, masks)
    table["headline"] = bench.headline(table)
    return table


def _jsonable(value):
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m tools.real_experiment", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the data folder (ACDC training, M&Ms OpenDataset, MnM2)")
    parser.add_argument("--layout", required=True, choices=("acdc", "mnms", "mnms2"))
    parser.add_argument("--source", default=None, help="M&Ms: the vendor whose labels the site has")
    parser.add_argument("--out", default="real_experiment_out", help="output folder (never genlib/tables)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subject split")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_true", help="arms (a) and (c), one seed, shorter training")
    size.add_argument("--smoke", action="store_true", help="a few steps of everything: checks the path only")
    args = parser.parse_args(argv)

    import torch

    from bench.unit07_synthesis import machine
    from genlib.synthesis import real
    from genlib.data.cardiac.mnms import as_columns

    out = Path(args.out).resolve()
    if out == (ROOT / "genlib" / "tables").resolve() or (ROOT / "genlib" / "tables").resolve() in out.parents:
        raise SystemExit(f"--out {out} is inside genlib/tables, which holds the committed tables only; "
                         "choose another folder.")
    out.mkdir(parents=True, exist_ok=True)
    size_name = "smoke" if args.smoke else "small" if args.small else "full"
    config = {"smoke": real.SMOKE, "small": real.SMALL, "full": real.FULL}[size_name]
    start = time.perf_counter()
    torch.set_num_threads(1)
    rows = real.load_subjects(args.data, args.layout)
    labelled = [r for r in rows if r.labelled]
    source = args.source
    if args.layout != "acdc" and source is None:
        source = Counter(r.vendor for r in labelled).most_common(1)[0][0]
    if args.layout == "acdc":
        source = None
    roles = real.make_roles(labelled, source=source, seed=args.seed)
    (out / "roles.json").write_text(json.dumps({k: list(v) for k, v in roles.items()}, indent=1) + "\n")
    print(f"{len(rows)} subjects ({len(labelled)} labelled); roles: "
          + ", ".join(f"{k} {len(roles[k])}" for k in ("site", "validation", "unlabelled", "test"))
          + f"; source {roles['source']}, targets {roles['targets']}", flush=True)
    data = real.real_data(rows, roles)
    (out / "subjects.json").write_text(json.dumps(_jsonable(as_columns(rows)), indent=1) + "\n")
    needs_models = set(config.arms) & {"c", "c+b", "d", "u-cycle"}
    models = real.train_models(data, out / "weights", model_steps(size_name)) if needs_models else None
    runs = real.run_experiment(config, data=data, models=models, progress=True)
    table = build_table(runs, data, config, wall=time.perf_counter() - start, info=machine(), layout=args.layout)
    table["machine"]["load_average_at_end"] = list(os.getloadavg())
    path = out / TABLE_NAME
    path.write_text(json.dumps(_jsonable(table)) + "\n")
    print(f"wrote {path}; headline: {table['headline']}", flush=True)
    return table


if __name__ == "__main__":
    main()
