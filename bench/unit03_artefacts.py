"""Unit 03/07 artefact benchmark: do SPADE's images carry artefacts that real renders do not?

Measured for each shipped SPADE generator, against **real renders of the same label maps** (the data
engine's renders of the same phantom crops, ``cp.SIZE`` x ``cp.SIZE`` over ``cp.FOV_MM``: 48 x 48, 128 mm; the
"before" section and the four early pilots were measured at 32 x 32, 100 mm):

- ``conditional_spade`` (unit 03, labelled crops of the three cine vendors): real = ``styled_crops(N, seed=20)``;
- ``scenario_spade`` (unit 07's experiment, site vendor A): real = vendor-A renders of ``sample_crops(N, seed=24)``;
- ``lge_spade`` (unit 07, LGE with a scar label): healthy (NOR) crops ``sample_crops(N, seed=23)`` with a scar
  **painted** by ``add_scar`` (LAD sector, 90 degrees, transmural), as lecture 07 paints them; real = the LGE
  render of the same crops with the painted pixels made scar tissue (and, for reference, without the scar).
  The renderer scales each image by its brightest tissue, so a scar darkens the blood of the real renders too.

Per model (``genlib.metrics.spectral``; each synthetic image is paired with the real render of its map):

- the **high-frequency ratio**: power above 0.25 cycles per pixel, synthetic over real, per pair, then the mean
  and geometric mean over pairs. Synthetic images drawn with the encoder's code of their own real render
  (mu(x): the same map, the model's closest style; reconstruction), and with codes from the prior N(0, I);
- the **grid-phase excess** at periods 2 and 4 (``grid_phase_excess``): whether the synthetic images' edges
  fall on one phase of the 2- or 4-pixel grid more than the real renders' (1: no; the blocks of a label map
  shrunk by nearest neighbour to the coarsest SPADE layers, SIZE / 4 wide, end between pixels 3 and 4, 7 and 8,
  ...: phase 3);
- the **checkerboard score** at period 2 (the Nyquist frequency: alternate pixels, a dotted rim) and period 4
  (4-pixel blocks: the coarsest SPADE grid is 4x coarser than the image), synthetic (prior codes) and real;
- **region means** (label 0-3 and, for LGE, the painted scar): LV blood, myocardium, RV, background; the
  **outer rim** (background pixels 4-adjacent to the myocardium) against the background two pixels further out,
  and the rim's **roughness** (mean |difference| between neighbouring rim pixels: a dotted rim is rough; the real
  renders' rim holds a 1-pixel epicardial fat ring that no label marks, and noise);
- the **real-vs-real floor** of each measure: the same maps rendered again with other render seeds, against the
  first renders (what the measures give when nothing is wrong);
- **label fidelity** (cine models): Dice (RV, myocardium, LV) of the shipped segmenter on the synthetic images.

Nothing is tuned here: the seeds (20-24) are apart from every training seed (0-7, 21 for the LGE training
crops is a different sampler call: ``scar_crops``; ours are plain ``sample_crops``), the cut-off 0.25 and the
periods 2 and 4 were fixed before any measurement. Targets (set before the fix was measured): the synthetic
checkerboard scores within 2x of the real renders'; LGE LV blood (painted scars) within 0.05 of real. The
period-2 checkerboard score was at or below the real renders' in every model before the fix too, so its rows
report rather than test; the measure that found the artefact, the grid-phase excess of reconstructions at
periods 2 and 4, has a target of at most the real-vs-real floor + ``GRID_TARGET`` (0.02; set before the 48 x 48
generators were measured).

Sections of the table ``genlib/tables/unit03_artefacts_table.json``:
- ``"before"``: the shipped weights with the architecture they were trained with (nearest-neighbour label maps
  and upsampling), measured at the commit it records (32 x 32, 100 mm), before area labels and bilinear upsampling;
- ``"current"``: what ``run()`` (``make bench``) measures with the shipped weights and the current code;
- ``"pilots"``: unit 03's ``train_spade`` recipe (``PILOT_STEPS`` steps, one thread, the same crops:
  ``styled_crops(PILOT_N, seed=2)`` as ``tools/weights_conditional.py``; LGE: ``scar_crops(PILOT_N, seed=21)``
  as ``tools/weights_synthesis.py``) for the architectures of ``VARIANTS``, measured the same way, one entry per
  (data engine commit, seed); each entry records its commit and seed. These four pilots (32 x 32 crops, two
  seeds, measured on the evaluation seeds) are not the evidence for the architecture: see the next one;
- ``"controlled_pilot"``: old against new architecture at the current crops, ``PILOT_STEPS`` steps of the same
  recipe, training seeds ``CONTROLLED_SEEDS``; each trained pair measured on a **selection set** of maps and
  codes (``SELECTION_SEEDS``, where the architecture is chosen, by the rule stated beside the constants) and,
  reported apart, on the evaluation set (``SEEDS``); per measure the mean over seeds of old - new with a 95 %
  interval from a bootstrap that resamples the training seeds and the images (paired: the same images for both
  architectures). Dice uses the shipped segmenter.

Run: ``python -m bench.unit03_artefacts`` (the "current" section), ``--label before`` (the same, stored as
"before"), ``--summary`` (the committed pilots side by side), ``--pilot`` (trains the variants: a few CPU-minutes
each), ``--controlled`` (the controlled pilot: about 4 CPU-minutes per training seed at 48 x 48), ``--check``
(measures conditional_spade again and compares it with the table's "current" within ``CHECK_TOLERANCE``).
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from genlib import results  # noqa: E402

TABLE_NAME = "unit03_artefacts_table"
N = 512
SEEDS = {"cine": 20, "styles": 21, "hcm": 22, "lge": 23, "scenario": 24}
CUTOFF = 0.25
PERIODS = (2, 4)
PILOT_STEPS = 600
PILOT_N = 3000
VARIANTS = {  # SPADEGenerator's keyword arguments
    "old: nearest labels, nearest upsampling": {"label_resize": "nearest", "upsample": "nearest"},
    "area labels, nearest upsampling": {"label_resize": "area", "upsample": "nearest"},
    "nearest labels, bilinear upsampling": {"label_resize": "nearest", "upsample": "bilinear"},
    "new: area labels, bilinear upsampling": {"label_resize": "area", "upsample": "bilinear"},
}
LGE_VARIANTS = ("old: nearest labels, nearest upsampling", "new: area labels, bilinear upsampling")
CHECKER_TARGET = 2.0  # synthetic score at most this many times the real renders'
LV_BLOOD_TARGET = 0.05
CHECK_TOLERANCE = 1e-4
GRID_TARGET = 0.02  # grid-phase excess (periods 2 and 4, reconstructions) at most the real-vs-real floor's + 0.02
# The controlled pilot: old vs new architecture at the current crops, on training seeds and a
# selection set of maps that the bench's evaluation (SEEDS) does not use; the decision is taken on the selection set.
# Seeds of the initial weights and mini-batches (the training crops stay the same). The first run (2026-12-06) used
# seeds 0-2 and did not meet the rule below; before any further seed was trained the count was fixed at 8 (seeds
# 0-7, all rerun so that one run holds every pair), with the same rule, and the run is final whatever it shows.
CONTROLLED_SEEDS = tuple(range(8))
SELECTION_SEEDS = {"cine": 30, "styles": 31}  # maps/renders and prior codes of the selection set
BOOTSTRAP_REPS = 2000
# Decision rule, fixed before the controlled pilot was run: keep the new architecture only if, on the selection
# set, the 95 % interval of (old - new) grid-phase excess at period 4 lies above 0, the interval of
# (|HF ratio - 1| old - new) does not lie below 0 and the interval of mean Dice (old - new) does not lie above 0.01.
REGIONS = {"background": 0, "RV blood": 1, "myocardium": 2, "LV blood": 3}


def _prior(n: int, seed: int, z_dim: int = 8) -> torch.Tensor:
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


def _rim(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Background pixels 4-adjacent to the myocardium, and background pixels 3 steps away (not nearer)."""
    from torch.nn import functional as F

    myo = (labels == 2).float()[:, None]  # (N, 1, H, W)
    cross = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=torch.float32)[None, None]
    grown = [myo]
    for _ in range(3):
        grown.append((F.conv2d(grown[-1], cross, padding=1) > 0).float())
    background = labels == 0
    rim = (grown[1][:, 0] > 0) & (grown[0][:, 0] == 0) & background
    far = (grown[3][:, 0] > 0) & (grown[2][:, 0] == 0) & background
    return rim, far


def rim_roughness(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean |difference| between outer-rim pixels that are 4-neighbours of each other (a dotted rim: large)."""
    x = images[:, 0]
    rim, _ = _rim(labels)
    across = rim[:, :, 1:] & rim[:, :, :-1]  # rim pixels beside each other in a row
    down = rim[:, 1:, :] & rim[:, :-1, :]
    steps = torch.cat([(x[:, :, 1:] - x[:, :, :-1]).abs()[across], (x[:, 1:, :] - x[:, :-1, :]).abs()[down]])
    return float(steps.mean())


def region_means(images: torch.Tensor, labels: torch.Tensor, extra: dict | None = None) -> dict:
    """Mean intensity per region over all pixels of the set; the rim and its far background."""
    x = images[:, 0]
    masks = {name: labels == value for name, value in REGIONS.items()}
    masks["outer rim"], masks["background 3 px out"] = _rim(labels)
    masks.update(extra or {})
    return {name: float(x[m].mean()) if m.any() else None for name, m in masks.items()}


def spectral_measures(synthetic: torch.Tensor, real: torch.Tensor) -> dict:
    from genlib.metrics.spectral import (
        checkerboard_score, grid_phase_excess, high_frequency_power, high_frequency_ratio, summary,
    )

    out = {"hf_ratio": summary(high_frequency_ratio(synthetic, real, CUTOFF)),
           "hf_power": {"synthetic": float(high_frequency_power(synthetic, CUTOFF).mean()),
                        "real": float(high_frequency_power(real, CUTOFF).mean())}}
    for p in PERIODS:
        s, r = checkerboard_score(synthetic, p), checkerboard_score(real, p)
        out[f"checkerboard_p{p}"] = {"synthetic": summary(s)["mean"], "real": summary(r)["mean"],
                                     "synthetic_median": summary(s)["median"], "real_median": summary(r)["median"]}
        out[f"grid_phase_p{p}"] = grid_phase_excess(synthetic, real, p)
    return out


@torch.no_grad()
def measure_cine(generator, encoder, labels, real, real_again=None, segmenter=None,
                 seed: int = SEEDS["styles"]) -> dict:
    """Spectral measures, region means and label fidelity of a 4-class generator against ``real``."""
    from genlib.metrics.segmentation import dice_per_class
    from genlib.models.unet import predict_labels

    generator.eval()
    encoder.eval()
    mu, _ = encoder(real)
    recon = generator(labels, mu)
    sampled = generator(labels, _prior(len(labels), seed, generator.z_dim))
    out = {"reconstruction": spectral_measures(recon, real), "prior": spectral_measures(sampled, real),
           "l1_reconstruction": float((recon - real).abs().mean()),
           "means": {"real": region_means(real, labels), "reconstruction": region_means(recon, labels),
                     "prior": region_means(sampled, labels)}}
    out["rim_roughness"] = {"real": rim_roughness(real, labels), "reconstruction": rim_roughness(recon, labels),
                            "prior": rim_roughness(sampled, labels)}
    if real_again is not None:
        out["floor"] = spectral_measures(real_again, real)
    if segmenter is not None:
        dice = dice_per_class(predict_labels(segmenter, sampled), labels)
        out["dice_rv_myo_lv_prior"] = [float(d) for d in dice]
    return out


@torch.no_grad()
def measure_lge(generator, encoder, n: int = N) -> dict:
    """The LGE generator on healthy maps with a painted scar, against LGE renders of the same crops."""
    from genlib.data.cardiac import render
    from genlib.data.cardiac.labels import SCAR as SCAR_TISSUE
    from genlib.models import conditional_pretrained as cp
    from genlib.synthesis.scar import SCAR, add_scar

    crops = cp.sample_crops(n, seed=SEEDS["lge"], pathology="NOR")
    labels = crops.labels
    painted = add_scar(labels, "LAD", width_deg=90.0, transmurality=1.0)
    tissues = crops.tissues.clone()
    tissues[painted == SCAR] = SCAR_TISSUE  # the painted scar as tissue: its real render
    real = render(tissues, "lge", seed=SEEDS["lge"])  # (n, 1, H, W)
    real_unpainted = render(crops.tissues, "lge", seed=SEEDS["lge"])
    real_again = render(tissues, "lge", seed=SEEDS["lge"] + 500)
    generator.eval()
    encoder.eval()
    mu, _ = encoder(real)
    mu_unpainted, _ = encoder(real_unpainted)
    prior = _prior(n, SEEDS["styles"], generator.z_dim)
    images = {"painted_prior": generator(painted, prior), "painted_encoded": generator(painted, mu),
              "unpainted_prior": generator(labels, prior), "unpainted_encoded": generator(labels, mu_unpainted)}
    scar = {"painted scar": painted == SCAR}
    out = {"means": {"real": region_means(real, labels, scar), "real_unpainted": region_means(real_unpainted, labels)}}
    for name, x in images.items():
        out["means"][name] = region_means(x, labels, scar)
    out["painted_prior"] = spectral_measures(images["painted_prior"], real)
    out["painted_encoded"] = spectral_measures(images["painted_encoded"], real)
    out["unpainted_encoded"] = spectral_measures(images["unpainted_encoded"], real_unpainted)
    out["floor"] = spectral_measures(real_again, real)
    out["rim_roughness"] = {"real": rim_roughness(real, labels), **{k: rim_roughness(x, labels) for k, x in images.items()}}
    out["lv_blood"] = {name: out["means"][name]["LV blood"] for name in out["means"]}
    out["scar_pixels_per_map"] = float(scar["painted scar"].sum() / n)
    return out


def _styled(tissues, seed: int, noise_seed: int) -> torch.Tensor:
    """Each crop rendered in a vendor drawn uniformly, as cp.styled_crops."""
    from genlib.data.cardiac import render
    from genlib.models import conditional_pretrained as cp

    images = torch.empty(len(tissues), 1, cp.SIZE, cp.SIZE)
    style = torch.randint(3, (len(tissues),), generator=torch.Generator().manual_seed(seed))
    for s, name in enumerate(cp.CINE_STYLES):
        rows = (style == s).nonzero().flatten()
        images[rows] = render(tissues[rows], name, seed=noise_seed + 1000 * s)
    return images


def cine_set(seed: int = SEEDS["cine"], n: int = N) -> tuple:
    """(labels, real renders, the same maps rendered again with other render seeds: the real-vs-real floor)."""
    from genlib.models import conditional_pretrained as cp

    crops = cp.sample_crops(n, seed=seed)
    return crops.labels, _styled(crops.tissues, seed, seed), _styled(crops.tissues, seed, seed + 500)


def eval_sets() -> dict:
    """The real renders the generators are measured against (fixed seeds, see the docstring)."""
    from genlib.data.cardiac import render
    from genlib.models import conditional_pretrained as cp

    hcm = cp.sample_crops(N // 2, seed=SEEDS["hcm"], pathology="HCM")
    scenario = cp.sample_crops(N, seed=SEEDS["scenario"])
    # (labels, real renders, real renders again with other render seeds: the real-vs-real floor)
    return {"cine": cine_set(SEEDS["cine"], N),
            "hcm": (hcm.labels, _styled(hcm.tissues, SEEDS["hcm"], SEEDS["hcm"]), None),
            "scenario": (scenario.labels, render(scenario.tissues, "cine_vendor_a", seed=SEEDS["scenario"]),
                         render(scenario.tissues, "cine_vendor_a", seed=SEEDS["scenario"] + 500))}


def architecture(generator) -> dict:
    """How the generator resizes labels and upsamples (the code before issue 20's fix had neither option)."""
    return {"label_resize": getattr(generator, "label_resize", "nearest (no option)"),
            "upsample": getattr(generator, "upsample", "nearest (no option)"),
            "parameters": sum(p.numel() for p in generator.parameters())}


def measure_shipped() -> dict:
    from genlib.models import conditional_pretrained as cp
    from genlib.synthesis import pretrained as sp

    sets = eval_sets()
    segmenter = cp.load_conditional("segmenter")
    models = {}
    generator, encoder = cp.load_conditional("spade")
    models["conditional_spade"] = {"architecture": architecture(generator),
                                   **measure_cine(generator, encoder, *sets["cine"], segmenter=segmenter)}
    models["conditional_spade"]["hcm"] = measure_cine(generator, encoder, *sets["hcm"])["means"]
    generator, encoder = sp.load_synthesis("scenario_spade")
    models["scenario_spade"] = {"architecture": architecture(generator),
                                **measure_cine(generator, encoder, *sets["scenario"], segmenter=segmenter)}
    generator, encoder = sp.load_synthesis("lge_spade")
    models["lge_spade"] = {"architecture": architecture(generator), **measure_lge(generator, encoder)}
    return models


def _meta(start_wall: float, start_cpu: float, load: list) -> dict:
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "commit": machine.commit(), "cpu_model": machine.cpu_model(),
            "torch": torch.__version__, "python": platform.python_version(),
            "machine": {"cpu_cores": os.cpu_count(), "threads": torch.get_num_threads(),
                        "load_average_at_start": load},
            "wall_seconds": time.perf_counter() - start_wall, "cpu_seconds": time.process_time() - start_cpu}


def _load_table() -> dict:
    path = results.path(TABLE_NAME)
    return json.loads(path.read_text()) if path.exists() else {}


def _write_table(table: dict) -> None:
    results.path(TABLE_NAME).write_text(json.dumps(table, indent=1) + "\n")


def measure(label: str = "current") -> dict:
    load = list(os.getloadavg())
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    models = measure_shipped()
    section = {"models": models, **_meta(start_wall, start_cpu, load),
               "what": "shipped weights (genlib/weights) with the code at this commit"}
    table = _load_table()
    table[label] = section
    table["settings"] = {"n": N, "seeds": SEEDS, "cutoff_cycles_per_pixel": CUTOFF, "periods": list(PERIODS),
                         "checker_target_times_real": CHECKER_TARGET, "lv_blood_target_abs": LV_BLOOD_TARGET,
                         "grid_excess_target_above_floor": GRID_TARGET}
    _write_table(table)
    print_models(label, models)
    return section


def _fmt(value, spec=".3f") -> str:
    return "-" if value is None else format(value, spec)


def _grid(spec: dict) -> str:
    g2, g4 = spec.get("grid_phase_p2"), spec.get("grid_phase_p4")
    return "-" if g4 is None else f"{g2['excess']:.3f}/{g4['excess']:.3f}@{g4['phase']}"


def print_models(label: str, models: dict) -> None:
    print(f"\n[{label}] {'model':<18} {'HF ratio (mu)':>13} {'HF ratio (prior)':>16} {'chk2 syn/real':>15} "
          f"{'chk4 syn/real':>15} {'grid2/grid4@':>16} {'rim/far syn':>12} {'rim/far real':>12}")
    for name, m in models.items():
        if name == "lge_spade":
            spec, prior, means = m["unpainted_encoded"], m["painted_prior"], m["means"]
            syn, real = means["painted_prior"], means["real"]
        else:
            spec, prior, means = m["reconstruction"], m["prior"], m["means"]
            syn, real = means["prior"], means["real"]
        chk = [f"{prior[f'checkerboard_p{p}']['synthetic']:.2f}/{prior[f'checkerboard_p{p}']['real']:.2f}" for p in PERIODS]
        print(f"{'':<{len(label) + 3}}{name:<18} {spec['hf_ratio']['mean']:>13.2f} {prior['hf_ratio']['mean']:>16.2f} "
              f"{chk[0]:>15} {chk[1]:>15} {_grid(spec):>16} {_fmt(syn['outer rim'], '.2f')}/{_fmt(syn['background 3 px out'], '.2f'):>7} "
              f"{_fmt(real['outer rim'], '.2f')}/{_fmt(real['background 3 px out'], '.2f'):>7}")
    for name, m in models.items():
        if "floor" in m:
            f = m["floor"]
            print(f"{'':<{len(label) + 3}}{'(real vs real)':<18} {f['hf_ratio']['mean']:>13.2f} {'':>16} "
                  + " ".join(f"{f[f'checkerboard_p{p}']['synthetic']:.2f}/{f[f'checkerboard_p{p}']['real']:.2f}".rjust(15)
                             for p in PERIODS) + f" {_grid(f):>16}   floor of {name}")
    print("rim roughness: " + "; ".join(f"{name} " + ", ".join(f"{k} {v:.3f}" for k, v in m["rim_roughness"].items())
                                        for name, m in models.items() if "rim_roughness" in m))
    if "lge_spade" in models:
        lv = models["lge_spade"]["lv_blood"]
        print("LGE LV blood mean: " + ", ".join(f"{k} {_fmt(v)}" for k, v in lv.items()))
    if "conditional_spade" in models and "hcm" in models["conditional_spade"]:
        h = models["conditional_spade"]["hcm"]
        print("HCM myocardium mean (conditional_spade): " + ", ".join(f"{k} {_fmt(v['myocardium'])}" for k, v in h.items()))


def _train_variant(kwargs: dict, data: tuple, n_labels: int, steps: int, seed: int = 0) -> tuple:
    from genlib.models import conditional_pretrained as cp
    from genlib.models.conditional_training import train_spade

    torch.manual_seed(seed)
    generator = cp.spade_generator(n_labels, **kwargs)
    encoder, discriminator = cp.style_encoder(), cp.patch_discriminator(1)
    start = time.process_time()
    history = train_spade(generator, encoder, discriminator, *data, steps=steps, seed=seed)
    return generator, encoder, time.process_time() - start, history


def _save(save_dir, name: str, generator, encoder) -> None:
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        torch.save({"generator": generator.state_dict(), "encoder": encoder.state_dict()}, Path(save_dir) / f"{name}.pt")


def pilot(steps: int = PILOT_STEPS, n: int = PILOT_N, lge: bool = True, save_dir: str | None = None,
          seed: int = 0, variants=tuple(VARIANTS), label: str | None = None) -> dict:
    """Train each architecture of ``variants`` with unit 03's recipe on the same crops; measure it.

    ``seed`` seeds the initial weights and the mini-batches (the crops stay the same). Stored as the table's
    ``"pilots"[label]`` (default ``"seed<seed>"``), beside the other pilots.
    """
    from genlib.models import conditional_pretrained as cp
    from genlib.synthesis.scar import N_SCAR_LABELS, scar_crops

    load = list(os.getloadavg())
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    sets = eval_sets()
    segmenter = cp.load_conditional("segmenter")
    labels, images, _ = cp.styled_crops(n, seed=2)
    out = {"steps": steps, "n_train": n, "seed": seed, "variants": {}, "lge_variants": {}}
    for name in variants:
        kwargs = VARIANTS[name]
        generator, encoder, cpu, history = _train_variant(kwargs, (labels, images), 4, steps, seed)
        row = {"kwargs": kwargs, "train_cpu_seconds": cpu, "parameters": architecture(generator)["parameters"],
               "l1_last_50": sum(history["l1"][-50:]) / 50,
               **measure_cine(generator, encoder, *sets["cine"], segmenter=segmenter)}
        row["hcm"] = measure_cine(generator, encoder, *sets["hcm"])["means"]
        out["variants"][name] = row
        _save(save_dir, f"cine_{len(out['variants'])}", generator, encoder)
        print(f"pilot {name}: {cpu:.0f} CPU-s", flush=True)
    if lge:
        lge_labels, lge_images = scar_crops(n, seed=21)
        for name in LGE_VARIANTS:
            generator, encoder, cpu, history = _train_variant(VARIANTS[name], (lge_labels, lge_images), N_SCAR_LABELS,
                                                              steps, seed)
            out["lge_variants"][name] = {"kwargs": VARIANTS[name], "train_cpu_seconds": cpu,
                                         "parameters": architecture(generator)["parameters"],
                                         "l1_last_50": sum(history["l1"][-50:]) / 50, **measure_lge(generator, encoder)}
            _save(save_dir, f"lge_{len(out['lge_variants'])}", generator, encoder)
            print(f"pilot LGE {name}: {cpu:.0f} CPU-s", flush=True)
    out.update(_meta(start_wall, start_cpu, load))
    table = _load_table()
    table.setdefault("pilots", {})[label or f"seed{seed}"] = out
    _write_table(table)
    print_models("pilot", {f"{k[:16]}": v for k, v in out["variants"].items()})
    if out["lge_variants"]:
        print_models("pilot LGE", {"lge_spade": v for k, v in list(out["lge_variants"].items())[:1]})
        print_models("pilot LGE", {"lge_spade": v for k, v in list(out["lge_variants"].items())[1:]})
    return out


def remeasure(save_dir: str, label: str) -> dict:
    """Measure the pilot's saved variants again (after a change of the measures), keeping their training figures."""
    from genlib.models import conditional_pretrained as cp
    from genlib.synthesis.scar import N_SCAR_LABELS

    table = _load_table()
    out = table["pilots"][label]
    sets = eval_sets()
    segmenter = cp.load_conditional("segmenter")
    for kind, key, n_labels in (("cine", "variants", 4), ("lge", "lge_variants", N_SCAR_LABELS)):
        for i, (name, row) in enumerate(out[key].items(), start=1):
            state = torch.load(Path(save_dir) / f"{kind}_{i}.pt")
            generator = cp.spade_generator(n_labels, **row["kwargs"])
            encoder = cp.style_encoder()
            generator.load_state_dict(state["generator"])
            encoder.load_state_dict(state["encoder"])
            if kind == "cine":
                row.update(measure_cine(generator, encoder, *sets["cine"], segmenter=segmenter))
                row["hcm"] = measure_cine(generator, encoder, *sets["hcm"])["means"]
            else:
                row.update(measure_lge(generator, encoder))
    out["remeasured"] = time.strftime("%Y-%m-%d %H:%M")
    _write_table(table)
    return out


def per_image_measures(generator, encoder, labels, real, segmenter, prior_seed: int) -> dict:
    """Per-image quantities of a cine generator against ``real`` (for paired bootstraps over images).

    grid energies of the reconstructions mu(x) at periods 2 and 4 (N, p); their high-frequency ratio against the
    real render (N,); Dice counts of the segmenter on prior-code images: |P and T|, |P| + |T| (N, 3: RV, myo, LV).
    """
    from genlib.metrics.segmentation import _overlaps
    from genlib.metrics.spectral import grid_phase_energy, high_frequency_ratio
    from genlib.models.unet import predict_labels

    generator.eval()
    encoder.eval()
    with torch.no_grad():
        mu, _ = encoder(real)
        recon = generator(labels, mu)
        sampled = generator(labels, _prior(len(labels), prior_seed, generator.z_dim))
    inter, sizes = _overlaps(predict_labels(segmenter, sampled), labels, 4, False)
    return {**{f"grid_p{p}": grid_phase_energy(recon, p) for p in PERIODS},
            "hf_ratio": high_frequency_ratio(recon, real, CUTOFF), "dice_inter": inter, "dice_sizes": sizes}


def _excess(synthetic_energy: torch.Tensor, real_energy: torch.Tensor) -> torch.Tensor:
    ratio = synthetic_energy.mean(0) / real_energy.mean(0)
    return ratio.max() / ratio.mean()


def _stats(m: dict, real_grid: dict, idx: torch.Tensor) -> dict:
    """The set-level statistics of one trained model over the images ``idx``."""
    dice = 2 * m["dice_inter"][idx].sum(0) / m["dice_sizes"][idx].sum(0)
    return {**{f"grid_p{p}": float(_excess(m[f"grid_p{p}"][idx], real_grid[p][idx])) for p in PERIODS},
            "hf_ratio": float(m["hf_ratio"][idx].mean()), "hf_distance": float((m["hf_ratio"][idx].mean() - 1).abs()),
            "dice_mean": float(dice.mean()), "dice_rv_myo_lv": [float(d) for d in dice]}


def paired_bootstrap(old: list, new: list, real_grid: dict, reps: int = BOOTSTRAP_REPS, seed: int = 0) -> dict:
    """95 % intervals of (old - new), averaged over training seeds; seeds and images resampled (hierarchical).

    ``old``, ``new``: per training seed, ``per_image_measures`` of the two architectures on the SAME images (paired
    by seed and by image). Each replicate draws the training seeds with replacement and one resample of the images,
    shared by both architectures and all seeds.
    """
    n_seeds, n_images = len(old), len(real_grid[PERIODS[0]])
    everything = torch.arange(n_images)
    keys = [f"grid_p{p}" for p in PERIODS] + ["hf_ratio", "hf_distance", "dice_mean"]

    def difference(seeds, idx) -> dict:
        out = {k: 0.0 for k in keys}
        for k in seeds.tolist():
            a, b = _stats(old[k], real_grid, idx), _stats(new[k], real_grid, idx)
            for key in keys:
                out[key] += (a[key] - b[key]) / len(seeds)
        return out

    point = difference(torch.arange(n_seeds), everything)
    g = torch.Generator().manual_seed(seed)
    draws = {k: [] for k in keys}
    for _ in range(reps):
        d = difference(torch.randint(n_seeds, (n_seeds,), generator=g), torch.randint(n_images, (n_images,), generator=g))
        for key in keys:
            draws[key].append(d[key])
    out = {}
    for key in keys:
        v = torch.tensor(draws[key], dtype=torch.float64)
        out[key] = {"old_minus_new": point[key], "ci95": [float(torch.quantile(v, 0.025)), float(torch.quantile(v, 0.975))]}
    return out


def controlled_pilot(steps: int = PILOT_STEPS, n: int = PILOT_N, seeds=CONTROLLED_SEEDS, save_dir: str | None = None,
                     reps: int = BOOTSTRAP_REPS, n_eval: int = N) -> dict:
    """Old vs new architecture at the current crops, ``len(seeds)`` training seeds each, paired bootstrap intervals.

    Both are trained with unit 03's recipe (``train_spade``, ``steps`` steps, ``styled_crops(n, seed=2)``) from the
    same seed; each pair is measured on the selection set (``SELECTION_SEEDS``, where the architecture is chosen) and,
    reported apart, on the bench's evaluation set (``SEEDS``). Stored as the table's ``"controlled_pilot"``.
    """
    from genlib.metrics.spectral import grid_phase_energy
    from genlib.models import conditional_pretrained as cp

    load = list(os.getloadavg())
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    old_name, new_name = LGE_VARIANTS
    sets = {"selection": cine_set(SELECTION_SEEDS["cine"], n_eval) + (SELECTION_SEEDS["styles"],),
            "evaluation": cine_set(SEEDS["cine"], n_eval) + (SEEDS["styles"],)}
    real_grid = {name: {p: grid_phase_energy(real, p) for p in PERIODS} for name, (_, real, _, _) in sets.items()}
    floors = {name: {f"grid_p{p}": grid_phase_excess_floor(real, again, p) for p in PERIODS}
              for name, (_, real, again, _) in sets.items()}
    segmenter = cp.load_conditional("segmenter")
    labels, images, _ = cp.styled_crops(n, seed=2)
    measured = {name: {old_name: [], new_name: []} for name in sets}
    runs = []
    for seed in seeds:
        for arch in (old_name, new_name):
            generator, encoder, cpu, history = _train_variant(VARIANTS[arch], (labels, images), 4, steps, seed)
            _save(save_dir, f"controlled_seed{seed}_{'old' if arch == old_name else 'new'}", generator, encoder)
            run = {"seed": seed, "architecture": arch, "train_cpu_seconds": cpu, "l1_last_50": sum(history["l1"][-50:]) / 50}
            for name, (set_labels, real, _, prior_seed) in sets.items():
                m = per_image_measures(generator, encoder, set_labels, real, segmenter, prior_seed)
                measured[name][arch].append(m)
                run[name] = _stats(m, real_grid[name], torch.arange(len(real)))
            runs.append(run)
            print(f"seed {seed} {arch}: {cpu:.0f} CPU-s; selection {run['selection']}", flush=True)
    out = {"steps": steps, "n_train": n, "seeds": list(seeds), "n_eval": n_eval, "bootstrap_reps": reps,
           "selection_seeds": SELECTION_SEEDS, "evaluation_seeds": {"cine": SEEDS["cine"], "styles": SEEDS["styles"]},
           "floors": floors, "runs": runs,
           "bootstrap_old_minus_new": {name: paired_bootstrap(measured[name][old_name], measured[name][new_name],
                                                              real_grid[name], reps) for name in sets}}
    out.update(_meta(start_wall, start_cpu, load))
    table = _load_table()
    table["controlled_pilot"] = out
    _write_table(table)
    print_controlled(out)
    return out


def grid_phase_excess_floor(real, again, period: int) -> float:
    """The real-vs-real floor: a second render of the same maps against the first."""
    from genlib.metrics.spectral import grid_phase_excess

    return grid_phase_excess(again, real, period)["excess"]


def print_controlled(out: dict | None = None) -> None:
    """The controlled pilot: per seed and architecture, then the bootstrap intervals of old - new."""
    out = _load_table()["controlled_pilot"] if out is None else out
    for name in ("selection", "evaluation"):
        f = out["floors"][name]
        print(f"\n[{name} set] floor grid4 {f['grid_p4']:.4f}, grid2 {f['grid_p2']:.4f}")
        print(f"{'seed':>4} {'architecture':<40} {'grid4':>7} {'grid2':>7} {'HF':>6} {'Dice':>6} {'RV/myo/LV':>16}")
        for r in out["runs"]:
            m = r[name]
            print(f"{r['seed']:>4} {r['architecture']:<40} {m['grid_p4']:>7.4f} {m['grid_p2']:>7.4f} {m['hf_ratio']:>6.3f} "
                  f"{m['dice_mean']:>6.3f} {'/'.join(f'{d:.3f}' for d in m['dice_rv_myo_lv']):>16}")
        for key, v in out["bootstrap_old_minus_new"][name].items():
            print(f"     old - new {key:<12} {v['old_minus_new']:+.4f}  95 % [{v['ci95'][0]:+.4f}, {v['ci95'][1]:+.4f}]")


def print_pilots(table: dict | None = None) -> None:
    """The pilots side by side: per run and architecture, the measures on reconstructions mu(x) and their floors."""
    table = _load_table() if table is None else table
    print(f"{'pilot':<36} {'architecture':<40} {'grid4':>6} {'grid2':>6} {'HF':>5} {'chk2':>5} {'rim':>5} "
          f"{'Dice RV/myo/LV':>15} {'CPU-s':>6}")
    for label, run in table.get("pilots", {}).items():
        for name, v in run["variants"].items():
            r = v["reconstruction"]
            print(f"{label:<36} {name:<40} {r['grid_phase_p4']['excess']:>6.3f} {r['grid_phase_p2']['excess']:>6.3f} "
                  f"{r['hf_ratio']['mean']:>5.2f} {v['prior']['checkerboard_p2']['synthetic']:>5.2f} "
                  f"{v['rim_roughness']['reconstruction']:>5.3f} {'/'.join(f'{d:.2f}' for d in v['dice_rv_myo_lv_prior']):>15} "
                  f"{v['train_cpu_seconds']:>6.0f}")
        f = next(iter(run["variants"].values()))
        print(f"{label:<36} {'(real vs real floor; real rim)':<40} {f['floor']['grid_phase_p4']['excess']:>6.3f} "
              f"{f['floor']['grid_phase_p2']['excess']:>6.3f} {f['floor']['hf_ratio']['mean']:>5.2f} "
              f"{f['prior']['checkerboard_p2']['real']:>5.2f} {f['rim_roughness']['real']:>5.3f}")
        for name, v in run.get("lge_variants", {}).items():
            print(f"{label:<36} LGE {name:<36} {v['painted_prior']['grid_phase_p4']['excess']:>6.3f} "
                  f"{v['painted_prior']['grid_phase_p2']['excess']:>6.3f}  LV blood painted {v['lv_blood']['painted_prior']:.3f}"
                  f" vs real {v['lv_blood']['real']:.3f}; unpainted {v['lv_blood']['unpainted_prior']:.3f} vs real "
                  f"{v['lv_blood']['real_unpainted']:.3f}")


def rows_of(section: dict) -> list[dict]:
    """The bench rows (genlib/tables/results.json) of a measurement."""
    rows = []
    for name, m in section["models"].items():
        prior = m["painted_prior"] if name == "lge_spade" else m["prior"]
        for p in PERIODS:
            c = prior[f"checkerboard_p{p}"]
            ratio = c["synthetic"] / c["real"]
            rows.append({"item": f"{name}: period-{p} checkerboard score, synthetic / real renders",
                         "measured": f"{c['synthetic']:.2f} / {c['real']:.2f}", "target": f"<= {CHECKER_TARGET:g}x real",
                         "within": ratio <= CHECKER_TARGET, "ratio": ratio})
        spec = m["unpainted_encoded"] if name == "lge_spade" else m["reconstruction"]
        grid = m["painted_encoded"] if name == "lge_spade" else spec  # paired with the renders the floor uses
        for p in PERIODS:  # the measure that found the artefact, against the floor of two renders of the same maps
            excess, floor = grid[f"grid_phase_p{p}"]["excess"], m["floor"][f"grid_phase_p{p}"]["excess"]
            rows.append({"item": f"{name}: period-{p} grid-phase excess of reconstructions mu(x) (real-vs-real floor)",
                         "measured": f"{excess:.3f} ({floor:.3f})", "target": f"<= floor + {GRID_TARGET:g}",
                         "within": excess <= floor + GRID_TARGET, "gap": excess - floor})
        rows.append({"item": f"{name}: high-frequency power (> {CUTOFF} c/px) synthetic / real, mean over pairs",
                     "measured": f"{spec['hf_ratio']['mean']:.2f}", "target": "(reported)", "within": None,
                     "ratio": spec["hf_ratio"]["mean"]})
    if "lge_spade" in section["models"]:
        lv = section["models"]["lge_spade"]["lv_blood"]
        gap = abs(lv["painted_prior"] - lv["real"])
        rows.append({"item": "lge_spade: LV blood mean, painted scars (prior styles) vs real LGE renders",
                     "measured": f"{lv['painted_prior']:.2f} vs {lv['real']:.2f}",
                     "target": f"within {LV_BLOOD_TARGET}", "within": gap <= LV_BLOOD_TARGET, "gap": gap})
    return rows


def run() -> list[dict]:
    torch.set_num_threads(1)
    return rows_of(measure("current"))


def check() -> None:
    """Measure conditional_spade again; its figures must equal the table's "current" ones (deterministic)."""
    from genlib.models import conditional_pretrained as cp

    table = _load_table()
    if "current" not in table:
        raise SystemExit("the table has no 'current' section yet: run `python -m bench.unit03_artefacts` first "
                         "(after `make weights` when the architecture changed)")
    stored = table["current"]["models"]["conditional_spade"]
    generator, encoder = cp.load_conditional("spade")
    again = measure_cine(generator, encoder, *eval_sets()["cine"])
    pairs = [("hf_ratio mean", stored["reconstruction"]["hf_ratio"]["mean"], again["reconstruction"]["hf_ratio"]["mean"]),
             ("checkerboard p2", stored["prior"]["checkerboard_p2"]["synthetic"], again["prior"]["checkerboard_p2"]["synthetic"])]
    for name, a, b in pairs:
        print(f"conditional_spade {name}: table {a:.5f}, now {b:.5f}")
        if abs(a - b) > CHECK_TOLERANCE * max(1.0, abs(a)):
            raise SystemExit(f"conditional_spade {name} no longer reproduces the table")


if __name__ == "__main__":
    import argparse

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="current", help="section to write: current (default) or before")
    parser.add_argument("--pilot", action="store_true", help="train the VARIANTS with unit 03's recipe and measure them")
    parser.add_argument("--steps", type=int, default=PILOT_STEPS)
    parser.add_argument("--no-lge", action="store_true", help="pilot: skip the LGE variants")
    parser.add_argument("--seed", type=int, default=0, help="pilot: seed of the weights and batches")
    parser.add_argument("--pilot-label", default=None, help="pilot: its key in the table's 'pilots' (default seed<N>)")
    parser.add_argument("--old-and-new-only", dest="all_variants", action="store_false",
                        help="pilot: train only the old and the new architecture (not the two mixed ones)")
    parser.add_argument("--save", default=None, help="pilot: a folder to save the trained variants in")
    parser.add_argument("--remeasure", default=None, help="measure the pilot variants saved in this folder again")
    parser.add_argument("--summary", action="store_true", help="print the committed pilots side by side")
    parser.add_argument("--controlled", action="store_true",
                        help="old vs new at the current crops on CONTROLLED_SEEDS, bootstrap intervals (about 4 CPU-min a seed)")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.summary:
        print_pilots()
        if "controlled_pilot" in _load_table():
            print_controlled()
    elif args.controlled:
        controlled_pilot(args.steps, save_dir=args.save)
    elif args.check:
        check()
    elif args.remeasure:
        remeasure(args.remeasure, args.pilot_label or f"seed{args.seed}")
    elif args.pilot:
        pilot(args.steps, lge=not args.no_lge, save_dir=args.save, seed=args.seed,
              variants=tuple(VARIANTS) if args.all_variants else LGE_VARIANTS, label=args.pilot_label)
    else:
        for row in rows_of(measure(args.label)):
            print(row["item"], "|", row["measured"], "|", row["target"])
