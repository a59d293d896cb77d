"""Unit 08 benchmark: the stronger variant of each likelihood family, against the 2.0 bits/dim target.

``bench/unit08_families.py`` measures the variant each unit teaches (unit 01's VAE, unit 05's RealNVP,
unit 06's diffusion). This bench measures the variants that repair what those give up, on the same split
(train rows [:1000], validation [1000:1350], test [1350:], 17 levels), every choice made on validation:

- **VAE -> PixelVAE** (``genlib.models.pixelvae``): unit 01's encoder (K = 16) with a PixelCNN decoder
  conditioned on z (the baselines' PixelCNN plus dropout 0.3), free bits 0.25 nats per dimension, Adam
  lr 1e-3, batch 32, 60 epochs, the epoch with the lowest validation -ELBO kept. Reported: -ELBO (10
  draws of z) and the importance-weighted bound with 1,000 draws, per seed, and the equal mixture of the
  seeds (the log-mean-exp of their IW bounds, a bound on that mixture's NLL). Its pixel samples are judged
  as samples (FID, precision, recall with the digits feature network, as in unit 08's families table).
  How the recipe was chosen (validation IW bound with 20 draws, seed 0, one run each on a shared machine):
  the PixelCNN alone 2.092 (the baselines' recipe) and 2.076 with dropout 0.3; PixelVAE K = 16, free bits
  0.25, dropout 0.3: 2.055 after 30 epochs, still falling, so 60 epochs (see ``PIXELVAE_VALIDATION_RUNS``).
- **diffusion -> the same trained model, repaired after training** (``genlib.models.diffusion.decoder``):
  three denoisers trained with unit 08's recipe (``genlib.families.fit("diffusion", seed)``), then
  (1) KL-optimal reverse variances estimated on the training digits (2 draws per image and step) and
  (2) a learned 17-level decoder p(x_0 | x_1) (a 4-layer conv net, 40 epochs, the epoch with the lowest
  validation L_0 kept). The bound is printed term by term for the fixed and the repaired model.
  How it was chosen: on the shipped model's validation bound, KL-optimal variances alone moved 2.438 to
  2.282 (with the Gaussian decoder's variance picked from 5 values on validation, 0.005); the learned
  decoder moved L_0 from 0.99 to 0.83 bits/dim on validation.
- **diffusion -> a variational diffusion model, retrained on its own bound** (``genlib.models.diffusion.vdm``,
  ``--vdm``; VDM, Kingma et al., 2021): continuous-time training loss with low-discrepancy t, a linear
  gamma(t) whose endpoints are learned (initialised at -10 and 6), the exact 17-level decoder
  p(x | z_0) = softmax_k(-(z_0 - alpha_0 x_k)^2 / (2 sigma_0^2)), and a denoiser whose per-pixel posterior over
  the 17 levels adds a residual conv net's logits (3 blocks, 64 channels) to the exact Gaussian likelihood of
  each level. Adam lr 2e-3, batch 64, gradient norm clipped at 1, EMA of the weights (decay 0.999); training stops
  after ``max_cpu_seconds`` of process CPU (200, within the issue's 10 CPU-minutes per model), and the EMA weights
  with the lowest validation bound (4 draws per validation image, every 10 epochs) are kept.
  Reported: -ELBO of the T = 1000 step model (``VDM_EVAL_STEPS``; a concrete sampler, so a bound on that model's
  discrete NLL; the continuous-time value, its T -> infinity limit, beside it), per seed, with its Monte Carlo
  standard error. Draws per test image: chosen from 20 pilot draws on validation for a standard error of 0.004,
  capped at 120. Samples for FID: 1,000 per seed with 100 ancestral steps (a cheaper sampler than the bound's).
  How it was chosen: the architecture, schedule initialisation, optimiser and EMA were set once, not tuned (no
  time to compare alternatives); one run on seed 0 without a CPU cap showed the validation bound still falling at
  epoch 60 (``VDM_VALIDATION_RUNS``: 3.42, 2.72, 2.37, 2.20, 2.09, 2.02 at epochs 10..60), so the stopping point
  is the CPU cap and the kept epoch is the validation minimum. The test split decided nothing. The cap, 200
  CPU-s, was set so that three seeds fit one session on the shared machine (load average about 11); on seed 0
  the validation bound was nearly flat but still falling there (1.875 at epoch 130, 1.873 at 140, kept epoch 143,
  the last; the table has every seed's curve), so a larger cap might lower it further. The Monte Carlo target was not met within the 120-draw cap: about 0.009 bits/dim per
  seed (the per-draw variance comes mostly from t); importance-sampled t or a schedule shape chosen to
  minimise the variance (VDM, sec. 5) would lower it without changing the bound.
  Run alone: ``python -m bench.unit08_frontier --vdm`` (about 20 CPU-minutes, one process on one thread).
- **the ablation**: a PixelCNN trained with the PixelVAE's decoder recipe (dropout 0.3, 60 epochs, the same
  optimiser, the epoch with the lowest validation bits/dim kept) and no z, 3 seeds (``--ablation`` runs it alone and adds it to the table):
  what the PixelVAE gains over it is what z adds, not what the longer, regularised training adds.
- **flow**: its stronger variant (an autoregressive spline flow with variational dequantisation) has its own bench, ``bench/unit08_flow_frontier.py``.

Each job (family, seed) runs in its own process on one thread, two at a time (2 cores). The table records
the commit, CPU model, torch version, wall and CPU seconds per job and the load average at the start.

Writes genlib/tables/unit08_frontier_table.json (lecture 08 reads it with ``genlib.results.load``).
Run: ``python bench/run.py unit08_frontier`` (about 60 CPU-minutes).
"""
from __future__ import annotations

import concurrent.futures
import json
import math
import multiprocessing
import os
import platform
import statistics
import time

import torch

from bench import machine
from genlib import results

TABLE_PATH = results.path("unit08_frontier_table")
SEEDS = (0, 1, 2)
WORKERS = 2
N_LEVELS = 17
TARGET_EVERY = 2.0  # bits/dim, every likelihood family (mean over 3 seeds, test split)
TARGET_BEST = 1.90
PIXELVAE = dict(latent_dim=16, hidden_dim=256, free_bits=0.25, dropout=0.3, epochs=60, batch_size=32, lr=1e-3)
PIXELVAE_VALIDATION_RUNS = {  # validation IW bound (20 draws), seed 0: how the recipe was chosen
    "PixelCNN alone, the baselines' recipe": 2.092,
    "PixelCNN alone, dropout 0.3, 25 epochs": 2.076,
    "PixelVAE K=16, free bits 0.25, dropout 0.3, 30 epochs (last epoch)": 2.055,
}
IW_SAMPLES = 1000
DECODER = dict(channels=64, epochs=40, batch_size=32, lr=1e-3)
N_FID_SAMPLES = 1000
VDM = dict(channels=64, n_blocks=3, emb_dim=64, gamma_min=-10.0, gamma_max=6.0, learn_schedule=True, epochs=1000,
           max_cpu_seconds=200, batch_size=64, lr=2e-3, ema_decay=0.999, eval_every=10, eval_draws=4)
VDM_VALIDATION_RUNS = {  # the one tuning run (seed 0, this recipe, no CPU cap): validation bound (4 draws) of the EMA weights
    "epoch 10 (13 CPU-s)": 3.4175, "epoch 20 (27 CPU-s)": 2.7207, "epoch 30 (42 CPU-s)": 2.3732,
    "epoch 40 (55 CPU-s)": 2.1994, "epoch 50 (69 CPU-s)": 2.0925, "epoch 60 (83 CPU-s)": 2.0248,
}
VDM_EVAL_STEPS = 1000  # the T of the reported bound (a concrete T-step model); the continuous-time value beside it
VDM_SAMPLE_STEPS = 100  # ancestral steps for the FID samples (the T = 1000 sampler costs ten times more)
VDM_PILOT_DRAWS = 20
VDM_TARGET_SE = 0.004
VDM_MAX_DRAWS = 120


def _bits(nll_nats: torch.Tensor) -> float:
    return float(nll_nats.double().mean() / (64 * math.log(2)))


def _sample_quality(images01: torch.Tensor, seed: int) -> dict:
    from bench.unit08_families import real_features
    from genlib import families
    from genlib.models.features import extract_features, load_feature_network

    test_features, _ = real_features()
    fake = extract_features(load_feature_network("digits"), images01)
    return families.sample_quality(test_features, fake, seed=seed)


def pixelvae_job(seed: int) -> dict:
    torch.set_num_threads(1)
    from genlib.data import load_digits
    from genlib.models.pixelvae import fit_pixelvae

    data = {s: load_digits(s, scale="levels")[0] for s in ("train", "val", "test")}
    recipe = {k: v for k, v in PIXELVAE.items() if k not in ("epochs", "batch_size", "lr")}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    model, info = fit_pixelvae(data["train"], data["val"], seed=seed, epochs=PIXELVAE["epochs"],
                               batch_size=PIXELVAE["batch_size"], lr=PIXELVAE["lr"], **recipe)
    train_cpu = time.process_time() - cpu0
    out = {"family": "pixelvae", "seed": seed, "best_epoch": info["best_epoch"],
           "val_bits_per_validation": [round(v, 4) for v in info["val_bits_per_dim"]],
           "train_seconds": info["seconds"], "train_cpu_seconds": train_cpu,
           "parameters": sum(p.numel() for p in model.parameters()),
           "kl_per_dimension_test": [round(v, 3) for v in model.kl_per_dimension(data["test"]).tolist()]}
    with torch.no_grad():
        for split in ("val", "test"):
            x = data[split]
            g = torch.Generator().manual_seed(seed + 10)
            elbo = torch.stack([model.importance_weighted_bound(x, 1, generator=g) for _ in range(10)]).mean(0)
            iw = model.importance_weighted_bound(x, IW_SAMPLES, generator=torch.Generator().manual_seed(seed + 20))
            out[f"{split}_bits_elbo"], out[f"{split}_bits_iw"] = _bits(-elbo), _bits(-iw)
            out[f"_log_p_iw_{split}"] = iw.double().tolist()
        samples = model.sample(N_FID_SAMPLES, generator=torch.Generator().manual_seed(seed + 30)) / (N_LEVELS - 1)
    out["samples"] = _sample_quality(samples, seed)
    out["job_seconds"] = time.perf_counter() - wall0
    out["job_cpu_seconds"] = time.process_time() - cpu0
    return out


def pixelcnn_ablation_job(seed: int) -> dict:
    """The PixelVAE's decoder recipe without z: a PixelCNN with dropout 0.3, 60 epochs, the same optimiser (Adam,
    lr, batch), keeping the epoch with the lowest validation bits/dim (the PixelVAE keeps its lowest validation
    -ELBO, every 2 epochs). What the PixelVAE gains over it is z's."""
    torch.set_num_threads(1)
    from genlib.data import load_digits
    from genlib.models.pixelcnn import bits_per_dim_of, fit_pixelcnn

    data = {s: load_digits(s, scale="levels")[0] for s in ("train", "val", "test")}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    model, info = fit_pixelcnn(data["train"], data["val"], seed=seed, epochs=PIXELVAE["epochs"],
                               batch_size=PIXELVAE["batch_size"], lr=PIXELVAE["lr"], dropout=PIXELVAE["dropout"])
    return {"family": "pixelcnn_ablation", "seed": seed, "best_epoch": info["best_epoch"],
            "val_bits": bits_per_dim_of(model, data["val"]), "test_bits": bits_per_dim_of(model, data["test"]),
            "train_cpu_seconds": info["cpu_seconds"], "parameters": sum(p.numel() for p in model.parameters()),
            "job_seconds": time.perf_counter() - wall0, "job_cpu_seconds": time.process_time() - cpu0}


def ablation() -> dict:
    """Run ``pixelcnn_ablation_job`` for every seed and add it to the stored table (its own date and commit)."""
    table = json.loads(TABLE_PATH.read_text())
    wall0 = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        runs = list(pool.map(pixelcnn_ablation_job, SEEDS))
    for r in runs:
        print(f"  PixelCNN, the PixelVAE's recipe without z, seed {r['seed']}: test {r['test_bits']:.4f} bits/dim "
              f"(best epoch {r['best_epoch']}), {r['train_cpu_seconds']:.0f} CPU-s", flush=True)
    table["pixelcnn_ablation"] = {
        "what": "a PixelCNN trained with the PixelVAE's decoder recipe (dropout, epochs, optimiser; the epoch with the "
                "lowest validation bits/dim kept) and no z: what the PixelVAE gains over it is z's",
        "date": time.strftime("%Y-%m-%d %H:%M"), "commit": machine.commit(), "load_average_at_start": list(os.getloadavg()),
        "wall_seconds": time.perf_counter() - wall0, "runs": runs,
        "test_bits": _summary([r["test_bits"] for r in runs])}
    TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")
    return table["pixelcnn_ablation"]


def _terms_bits(terms: dict) -> dict:
    d = terms["diffusion"]
    return {"L_T": _bits(terms["prior"]), "L_0": _bits(terms["reconstruction"]),
            "t=2..5": _bits(d[:, 0:4].sum(1)), "t=6..20": _bits(d[:, 4:19].sum(1)), "t=21..T": _bits(d[:, 19:].sum(1)),
            "total": _bits(terms["total"])}


def diffusion_job(seed: int) -> dict:
    torch.set_num_threads(1)
    from genlib import families
    from genlib.data import load_digits
    from genlib.models.diffusion import fit_categorical_decoder, kl_optimal_variances, levels_to_signed

    cpu0, wall0 = time.process_time(), time.perf_counter()
    model, info = families.fit("diffusion", seed)
    data = {s: levels_to_signed(load_digits(s, scale="levels", shape="image")[0], N_LEVELS) for s in
            ("train", "val", "test")}
    eps_model, betas = model.eps_model, model.betas
    cpu_fix = time.process_time()
    variances = kl_optimal_variances(eps_model, data["train"], betas, generator=torch.Generator().manual_seed(seed))
    decoder, decoder_info = fit_categorical_decoder(eps_model, betas, data["train"], data["val"], n_levels=N_LEVELS,
                                                    seed=seed, **DECODER)
    repair_cpu = time.process_time() - cpu_fix
    out = {"family": "diffusion", "seed": seed, "train_cpu_seconds": info["cpu_seconds"],
           "train_seconds": info["seconds"], "repair_cpu_seconds": repair_cpu,
           "decoder_best_epoch": decoder_info["best_epoch"],
           "decoder_val_l0_per_epoch": [round(v, 4) for v in decoder_info["val_bits_per_dim"]],
           "variances": variances.tolist(),
           "parameters_denoiser": sum(p.numel() for p in eps_model.parameters()),
           "parameters_decoder": sum(p.numel() for p in decoder.parameters())}
    with torch.no_grad():
        for split in ("val", "test"):
            x = data[split]
            fixed = model.elbo_terms(x, n_levels=N_LEVELS, generator=torch.Generator().manual_seed(seed))
            repaired = model.elbo_terms(x, n_levels=N_LEVELS, generator=torch.Generator().manual_seed(seed),
                                        variances=variances, decoder=decoder)
            out[f"{split}_terms_fixed"], out[f"{split}_terms_repaired"] = _terms_bits(fixed), _terms_bits(repaired)
    out["job_seconds"] = time.perf_counter() - wall0
    out["job_cpu_seconds"] = time.process_time() - cpu0
    return out


def _vdm_bound(model, x, n_draws: int, seed: int, n_steps: int | None = None) -> dict:
    r = model.bits_per_dim(x, n_draws, n_steps=n_steps, generator=torch.Generator().manual_seed(seed))
    return {"bits": r["bits"], "se_mc": r["se_mc"], "se_images": r["se_images"], "n_draws": n_draws,
            "terms": r["terms"], "_per_image": r["per_image"].tolist()}


def vdm_job(seed: int, on_bound=None) -> dict:
    """Train a VDM (``genlib.models.diffusion.vdm``) with the recipe ``VDM``, then estimate its bound.

    The number of (t, eps) draws per test image is chosen on validation: ``VDM_PILOT_DRAWS`` draws per validation
    image give the per-draw variance, and the test split gets enough draws for a Monte Carlo standard error of
    ``VDM_TARGET_SE`` bits/dim (at least ``VDM_PILOT_DRAWS``, at most ``VDM_MAX_DRAWS``). ``on_bound(out)`` is called
    once the bound is known, before the samples are drawn (the bench saves there)."""
    torch.set_num_threads(1)
    from genlib.data import load_digits
    from genlib.models.diffusion import levels_to_signed
    from genlib.models.diffusion.vdm import fit_vdm

    data = {s: levels_to_signed(load_digits(s, scale="levels", shape="image")[0], N_LEVELS) for s in
            ("train", "val", "test")}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    model, info = fit_vdm(data["train"], data["val"], seed=seed, **VDM)
    out = {"family": "vdm", "seed": seed, "best_epoch": info["best_epoch"], "epochs_run": info["epochs_run"],
           "val_bits_during_training": [[e, round(b, 4)] for e, b in info["val_bits"]],
           "train_cpu_seconds": info["cpu_seconds"], "train_seconds": info["seconds"],
           "parameters": sum(p.numel() for p in model.parameters()),
           "gamma_0": float(model.gamma(torch.zeros(())).detach()), "gamma_1": float(model.gamma(torch.ones(())).detach())}
    with torch.no_grad():
        pilot = _vdm_bound(model, data["val"], VDM_PILOT_DRAWS, seed + 100)
        # per-draw variance of the split mean, from the pilot: se_mc^2 * n_draws
        n = math.ceil((pilot["se_mc"] * math.sqrt(VDM_PILOT_DRAWS) / VDM_TARGET_SE) ** 2)
        n = int(min(max(n, VDM_PILOT_DRAWS), VDM_MAX_DRAWS))
        out["val_pilot"] = {k: v for k, v in pilot.items() if not k.startswith("_")}
        out["test_steps"] = _vdm_bound(model, data["test"], n, seed + 300, n_steps=VDM_EVAL_STEPS)
        out["test_continuous"] = _vdm_bound(model, data["test"], n, seed + 200)
        out["job_cpu_seconds_to_bound"] = time.process_time() - cpu0
        if on_bound is not None:
            on_bound(out)
        samples = model.sample(N_FID_SAMPLES, n_steps=VDM_SAMPLE_STEPS, generator=torch.Generator().manual_seed(seed + 30))
    out["samples"] = _sample_quality(samples / (N_LEVELS - 1), seed)
    out["job_seconds"] = time.perf_counter() - wall0
    out["job_cpu_seconds"] = time.process_time() - cpu0
    return out


def _vdm_entry(runs: list[dict], load_at_start: list, wall0: float) -> dict:
    done = [r for r in runs if "test_steps" in r]
    per_image = torch.tensor([r["test_steps"]["_per_image"] for r in done], dtype=torch.float64)  # (seeds, N)
    entry = {
        "what": "a variational diffusion model (genlib.models.diffusion.vdm), retrained on its own bound: learned "
                "schedule endpoints, exact 17-level decoder, continuous-time training loss",
        "date": time.strftime("%Y-%m-%d %H:%M"), "commit": machine.commit(), "cpu_model": machine.cpu_model(),
        "torch": torch.__version__, "threads_per_run": 1, "runs_at_a_time": 1, "load_average_at_start": load_at_start,
        "wall_seconds": time.perf_counter() - wall0, "recipe": VDM, "validation_runs": VDM_VALIDATION_RUNS,
        "eval": {"steps": VDM_EVAL_STEPS, "sample_steps": VDM_SAMPLE_STEPS, "pilot_draws": VDM_PILOT_DRAWS,
                 "target_se": VDM_TARGET_SE, "max_draws": VDM_MAX_DRAWS},
        "seeds_done": [r["seed"] for r in done],
        "runs": [{k: ({kk: vv for kk, vv in v.items() if not kk.startswith("_")} if isinstance(v, dict) else v)
                  for k, v in r.items()} for r in done],
        "test_bits_steps": _summary([r["test_steps"]["bits"] for r in done]),
        "test_bits_continuous": _summary([r["test_continuous"]["bits"] for r in done]),
        "test_se_images_of_seed_mean": float(per_image.mean(0).std() / math.sqrt(per_image.shape[1])),
        "test_se_mc_of_seed_mean": math.sqrt(sum(r["test_steps"]["se_mc"] ** 2 for r in done)) / len(done),
        "train_cpu_seconds": _summary([r["train_cpu_seconds"] for r in done])}
    with_samples = [r for r in done if "samples" in r]
    if with_samples:
        entry.update({k: _summary([r["samples"][k] for r in with_samples]) for k in ("fid", "precision", "recall")})
    return entry


def vdm() -> dict:
    """Run ``vdm_job`` for every seed, one at a time on one thread, and add it to the stored table (own date, commit).

    The table is rewritten as soon as each seed's bound is known, and again after its samples are scored, so an
    interrupted run keeps the seeds it finished (``seeds_done``)."""
    load_at_start = list(os.getloadavg())
    wall0 = time.perf_counter()
    runs: list[dict] = []

    def save(current: dict) -> None:
        table = json.loads(TABLE_PATH.read_text())
        table["vdm"] = _vdm_entry(runs + ([current] if current not in runs else []), load_at_start, wall0)
        TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")

    for seed in SEEDS:
        r = vdm_job(seed, on_bound=save)
        runs.append(r)
        save(r)
        print(f"  VDM seed {seed}: test {r['test_steps']['bits']:.4f} +- {r['test_steps']['se_mc']:.4f} bits/dim "
              f"(T = {VDM_EVAL_STEPS}), continuous {r['test_continuous']['bits']:.4f}; best epoch {r['best_epoch']} of "
              f"{r['epochs_run']}, {r['train_cpu_seconds']:.0f} CPU-s to train, FID {r['samples']['fid']:.1f}", flush=True)
    return json.loads(TABLE_PATH.read_text())["vdm"]


def _job(spec: tuple[str, int]) -> dict:
    family, seed = spec
    return pixelvae_job(seed) if family == "pixelvae" else diffusion_job(seed)


def _summary(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def summarise(runs: list[dict]) -> dict:
    vae = sorted((r for r in runs if r["family"] == "pixelvae"), key=lambda r: r["seed"])
    diff = sorted((r for r in runs if r["family"] == "diffusion"), key=lambda r: r["seed"])
    out: dict = {}
    if vae:
        log_p = torch.tensor([r["_log_p_iw_test"] for r in vae], dtype=torch.float64)
        out["pixelvae"] = {
            "test_bits_iw": _summary([r["test_bits_iw"] for r in vae]),
            "test_bits_elbo": _summary([r["test_bits_elbo"] for r in vae]),
            "mixture_test_bits_iw": _bits(-(torch.logsumexp(log_p, 0) - math.log(len(vae)))),
            "fid": _summary([r["samples"]["fid"] for r in vae]),
            "precision": _summary([r["samples"]["precision"] for r in vae]),
            "recall": _summary([r["samples"]["recall"] for r in vae]),
            "train_cpu_seconds": _summary([r["train_cpu_seconds"] for r in vae]),
        }
    if diff:
        out["diffusion"] = {
            "test_bits_fixed": _summary([r["test_terms_fixed"]["total"] for r in diff]),
            "test_bits_repaired": _summary([r["test_terms_repaired"]["total"] for r in diff]),
            "test_terms_repaired_mean": {k: statistics.fmean(r["test_terms_repaired"][k] for r in diff)
                                         for k in diff[0]["test_terms_repaired"]},
            "test_terms_fixed_mean": {k: statistics.fmean(r["test_terms_fixed"][k] for r in diff)
                                      for k in diff[0]["test_terms_fixed"]},
            "train_cpu_seconds": _summary([r["train_cpu_seconds"] + r["repair_cpu_seconds"] for r in diff]),
        }
    return out


def run() -> list[dict]:
    load_at_start = list(os.getloadavg())
    wall0 = time.perf_counter()
    specs = [(f, s) for s in SEEDS for f in ("pixelvae", "diffusion")]
    runs = []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        for r in pool.map(_job, specs):
            runs.append(r)
            main = r.get("test_bits_iw", r.get("test_terms_repaired", {}).get("total"))
            print(f"  {r['family']} seed {r['seed']}: test {main:.4f} bits/dim, {r['job_cpu_seconds']:.0f} CPU-s, "
                  f"{r['job_seconds']:.0f} s", flush=True)
    table = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "commit": machine.commit(), "cpu_model": machine.cpu_model(),
        "torch": torch.__version__, "python": platform.python_version(),
        "machine": {"cpu_cores": os.cpu_count(), "platform": platform.platform(), "workers": WORKERS,
                    "threads_per_run": 1, "load_average_at_start": load_at_start},
        "wall_seconds": time.perf_counter() - wall0,
        "unit": "bits/dim: bounds on the discrete NLL of the 447 test digits (17 levels), nats / (64 ln 2)",
        "split": {"train": "rows [:1000]", "val": "rows [1000:1350]", "test": "rows [1350:]"},
        "targets": {"every_family_at_most": TARGET_EVERY, "best_at_most": TARGET_BEST},
        "recipes": {"pixelvae": PIXELVAE, "pixelvae_iw_samples": IW_SAMPLES, "diffusion_decoder": DECODER},
        "pixelvae_validation_runs": PIXELVAE_VALIDATION_RUNS,
        "chosen_on_validation": {"pixelvae": "the epoch with the lowest validation -ELBO; the recipe from the runs "
                                             "in pixelvae_validation_runs",
                                 "diffusion_decoder": "the epoch with the lowest validation L_0"},
        "runs": [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs],
        "summary": summarise(runs),
    }
    TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")
    ablation()
    vdm()
    return rows_of(json.loads(TABLE_PATH.read_text()))


def rows_of(table: dict) -> list[dict]:
    """The bench rows (genlib/tables/results.json) of the table. The diffusion family's target row is the VDM's;
    the flow family's stronger variant has its own bench (``bench/unit08_flow_frontier.py``)."""
    rows = []
    s = table["summary"]
    if "pixelvae" in s:
        v = s["pixelvae"]
        mean = v["test_bits_iw"]["mean"]
        rows.append({"item": "PixelVAE (VAE with a PixelCNN decoder), IW-1000 bound, 3 seeds: test bits/dim",
                     "measured": f"{mean:.3f}+-{v['test_bits_iw']['std']:.3f}", "target": f"<= {TARGET_EVERY}",
                     "within": mean <= TARGET_EVERY, "bits_per_dim": mean})
        rows.append({"item": "equal mixture of the 3 PixelVAEs (IW bound): test bits/dim",
                     "measured": f"{v['mixture_test_bits_iw']:.3f}", "target": f"best <= {TARGET_BEST}",
                     "within": v["mixture_test_bits_iw"] <= TARGET_BEST, "bits_per_dim": v["mixture_test_bits_iw"]})
    if "pixelcnn_ablation" in table:
        a = table["pixelcnn_ablation"]["test_bits"]
        rows.append({"item": "PixelCNN with the PixelVAE's recipe and no z (ablation), 3 seeds: test bits/dim",
                     "measured": f"{a['mean']:.3f}+-{a['std']:.3f}", "target": "(reported)", "within": None,
                     "bits_per_dim": a["mean"]})
    if "diffusion" in s:
        d = s["diffusion"]
        mean = d["test_bits_repaired"]["mean"]
        rows.append({"item": "diffusion with KL-optimal variances and a learned 17-level decoder, 3 seeds: test bits/dim",
                     "measured": f"{mean:.3f}+-{d['test_bits_repaired']['std']:.3f} (fixed: "
                                 f"{d['test_bits_fixed']['mean']:.3f})",
                     "target": "(reported: a step towards the VDM row)", "within": None, "bits_per_dim": mean})
    if "vdm" in table:
        v = table["vdm"]["test_bits_steps"]
        rows.append({"item": f"VDM (learned schedule, exact 17-level decoder), T = {table['vdm']['eval']['steps']} "
                             "bound, 3 seeds: test bits/dim",
                     "measured": f"{v['mean']:.3f}+-{v['std']:.3f}", "target": f"<= {TARGET_EVERY}",
                     "within": v["mean"] <= TARGET_EVERY, "bits_per_dim": v["mean"]})
    return rows


if __name__ == "__main__":
    import sys

    from bench import unit08_frontier as bench  # workers pickle bench.unit08_frontier's functions, not __main__'s

    if sys.argv[1:] == ["--ablation"]:
        bench.ablation()
        raise SystemExit
    if sys.argv[1:] == ["--vdm"]:
        bench.vdm()
        raise SystemExit
    for row in bench.run():
        print(row["item"], "|", row["measured"])
