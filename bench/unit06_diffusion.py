"""Unit 06 benchmark: diffusion models on the digits (a bound in bits/dim) and on 2-D toys.

Targets (issue 9):
- the digits test NLL bound in bits per dimension: the negative ELBO with the discretised
  decoder, an upper bound on the discrete NLL of the 17-level test digits (same split and unit
  as units 01 and 05), printed beside the VAE (unit 01) and flow (unit 05) figures when their
  sections are in genlib/tables/results.json; for the shipped T = 100 model and the few-step T = 5 model
  (``genlib/weights/diffusion_digits_T*.pt``, trained by ``tools/weights_diffusion.py``);
- 2-D toys: held-out -ELBO against the true differential entropy (reported: the gap is what the
  model leaves), and the mode coverage of 2,500 samples with unit 02's metric (target: every mode).

Run alone: ``python bench/run.py unit06_diffusion``.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from genlib import results

TOY_STEPS = 3000
TOY_CONFIGS = {  # beta_1: the decoder's std sqrt(beta_1) must be below the modes' std for a tight L_0
    "moons": dict(T=100, beta_1=None, hidden=128, batch_size=512, lr=3e-3),
    "ring8": dict(T=100, beta_1=1e-5, hidden=128, batch_size=512, lr=3e-3),
}
N_SAMPLES = 2500


def _other_units() -> dict[str, tuple[float | None, str]]:
    """The digits figures of units 01 and 05 stored in genlib/tables/results.json: {unit: (bits/dim, item)}."""
    path = results.path("results")
    sections = json.loads(path.read_text()).get("sections", {}) if path.exists() else {}
    found = {}
    for section, label in (("unit01_vae", "VAE"), ("unit05_flows", "flow")):
        rows = [r for r in sections.get(section, {}).get("rows", []) if "bits_per_dim" in r]
        found[label] = (rows[0]["bits_per_dim"], rows[0]["item"]) if rows else (None, f"{section} not in genlib/tables/results.json")
    return found


def digits_rows() -> list[dict]:
    from genlib.data.digits import load_digits
    from genlib.metrics import bits_per_dim
    from genlib.models.diffusion import levels_to_signed
    from genlib.models.diffusion.pretrained import DIGITS_DIFFUSION, load_digits_diffusion

    x_test, _ = load_digits("test", scale="levels", shape="image")
    x_test = levels_to_signed(x_test)
    others = _other_units()
    beside = ", ".join(f"{label} {value:.3f}" if value is not None else f"{label}: {item}"
                       for label, (value, item) in others.items())
    rows = []
    for T in sorted(DIGITS_DIFFUSION, reverse=True):
        model = load_digits_diffusion(T)
        start = time.perf_counter()
        terms = model.elbo_terms(x_test, n_levels=17, generator=torch.Generator().manual_seed(0))
        seconds = time.perf_counter() - start
        to_bits = 1 / (64 * math.log(2))
        bound = bits_per_dim(terms["total"])
        parts = {"prior_bits": terms["prior"].mean().item() * to_bits,
                 "denoising_bits": terms["diffusion"].sum(1).mean().item() * to_bits,
                 "reconstruction_bits": terms["reconstruction"].mean().item() * to_bits}
        print(f"  digits T = {T}: test bound {bound:.3f} bits/dim (L_T {parts['prior_bits']:.3f}, "
              f"L_1..L_T-1 {parts['denoising_bits']:.3f}, L_0 {parts['reconstruction_bits']:.3f}); {beside}; "
              f"ELBO of 447 digits in {seconds:.0f} s", flush=True)
        rows.append({"item": f"digits test bound, diffusion T={T}, -ELBO with discretised decoder (bits/dim)",
                     "measured": f"{bound:.3f}", "target": f"report beside {beside}", "within": None,
                     "bits_per_dim": round(bound, 4), **{k: round(v, 4) for k, v in parts.items()},
                     "others": {label: value for label, (value, _) in others.items()},
                     "elbo_seconds": round(seconds, 1), "T": T, **DIGITS_DIFFUSION[T]})
    return rows


def toy_rows() -> list[dict]:
    from genlib.data.toys import make_toy
    from genlib.metrics import mode_coverage
    from genlib.models.diffusion import GaussianDiffusion, MLPDenoiser, linear_betas

    rows = []
    for name, c in TOY_CONFIGS.items():
        toy = make_toy(name)
        torch.manual_seed(0)
        betas = linear_betas(c["T"]) if c["beta_1"] is None else linear_betas(c["T"], c["beta_1"], 20.0 / c["T"])
        model = GaussianDiffusion(MLPDenoiser(2, hidden_dim=c["hidden"]), betas)
        optimizer = torch.optim.Adam(model.parameters(), lr=c["lr"])
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, TOY_STEPS)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for step in range(TOY_STEPS):
            loss = model.loss(toy.sample(c["batch_size"], seed=step))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        model.eval()
        nelbo = model.negative_elbo(toy.sample(5000, seed=10**6), generator=torch.Generator().manual_seed(0)).mean().item()
        entropy = toy.entropy_estimate(400_000, seed=7)
        samples = model.sample(N_SAMPLES, (2,), generator=torch.Generator().manual_seed(1))
        coverage = mode_coverage(samples, toy.means, toy.std)
        gap = nelbo - entropy
        print(f"  {name}: held-out -ELBO {nelbo:.3f}, entropy {entropy:.3f}, gap {gap:.3f} nats; modes "
              f"{coverage.modes_covered}/{coverage.n_modes}, high quality {coverage.high_quality_fraction:.1%} "
              f"({TOY_STEPS} steps, {cpu:.0f} s CPU, {wall:.0f} s wall)", flush=True)
        common = {"steps": TOY_STEPS, "cpu_seconds": round(cpu, 1), "wall_seconds": round(wall, 1), **c}
        rows.append({"item": f"{name}: held-out -ELBO - entropy (MLP denoiser, T={c['T']})", "measured": f"{gap:.3f} nats",
                     "target": "reported (>= 0: a bound)", "within": None, "gap_nats": round(gap, 4),
                     "nelbo_nats": round(nelbo, 4), "entropy_nats": round(entropy, 4), **common})
        rows.append({"item": f"{name}: modes covered by {N_SAMPLES} samples (unit 02 metric, 3 std)",
                     "measured": f"{coverage.modes_covered}/{coverage.n_modes}, hq {coverage.high_quality_fraction:.1%}",
                     "target": f"{coverage.n_modes}/{coverage.n_modes} modes", "within": coverage.modes_covered == coverage.n_modes,
                     "modes_covered": coverage.modes_covered, "n_modes": coverage.n_modes,
                     "high_quality_fraction": round(coverage.high_quality_fraction, 4), **common})
    return rows


def run() -> list[dict]:
    torch.set_num_threads(1)
    return digits_rows() + toy_rows()


if __name__ == "__main__":
    for row in run():
        print(row)
