"""Unit 03 benchmark: do conditional images really show the anatomy they were asked for?

Targets (issue 6), from the shipped weights (``genlib/weights/conditional_*.pt``, ``tools/weights_conditional.py``):
- **label fidelity**: the SPADE generator's images of 500 unseen phantom label maps (style codes
  z ~ N(0, I)), segmented by the U-Net trained on real-style phantoms of the three cine vendors, give a
  Dice against the input maps of at least 0.85 (mean over RV, myocardium, LV; pooled over the set);
- **CycleGAN label survival** (reported): the U-Net segments 500 unseen vendor-A images before and after
  translation to vendor C; an image's labels survive when the two segmentations agree with a mean
  foreground Dice >= 0.8. Reported for the shipped model (lambda = 10) and for the one trained without the
  cycle and identity losses (lambda = 0).

The U-Net's Dice on real images of the same maps is reported as the ceiling. Run alone:
``python bench/run.py unit03_conditional``.
"""
from __future__ import annotations

import time

import torch

N_TEST = 500
THRESHOLD = 0.8


def _dice_text(dice) -> str:
    return ", ".join(f"{name} {float(d):.3f}" for name, d in zip(("RV", "myo", "LV"), dice))


def run() -> list[dict]:
    from genlib.data.cardiac import render
    from genlib.metrics.fidelity import label_fidelity, label_survival
    from genlib.models import conditional_pretrained as cp

    torch.set_num_threads(1)
    start = time.perf_counter()
    segmenter = cp.load_conditional("segmenter")
    generator, _ = cp.load_conditional("spade")
    test = cp.sample_crops(N_TEST, seed=1000)
    real = render(test.tissues, "cine_vendor_a", seed=0)
    with torch.no_grad():
        synthetic = generator(test.labels, torch.randn(N_TEST, cp.Z_DIM, generator=torch.Generator().manual_seed(0)))
    fidelity, ceiling = label_fidelity(segmenter, synthetic, test.labels), label_fidelity(segmenter, real, test.labels)
    rows = [
        {"item": f"SPADE label fidelity: U-Net Dice of {N_TEST} synthetic images vs their input maps (mean of RV, myo, LV)",
         "measured": f"{float(fidelity.mean()):.3f} ({_dice_text(fidelity)})", "target": ">= 0.85",
         "within": bool(fidelity.mean() >= 0.85), "dice_mean": round(float(fidelity.mean()), 4),
         "dice_per_class": [round(float(d), 4) for d in fidelity]},
        {"item": f"U-Net Dice on {N_TEST} real vendor-A images of the same maps (the ceiling)",
         "measured": f"{float(ceiling.mean()):.3f} ({_dice_text(ceiling)})", "target": "report", "within": None,
         "dice_mean": round(float(ceiling.mean()), 4), "dice_per_class": [round(float(d), 4) for d in ceiling]},
    ]
    test_a = render(cp.sample_crops(N_TEST, seed=1001).tissues, cp.CYCLE_STYLES[0], seed=1)
    for name, label in (("cyclegan", "lambda = 10"), ("cyclegan_nocycle", "lambda = 0 (no cycle, no identity)")):
        g_ab, _ = cp.load_conditional(name)
        with torch.no_grad():
            fraction, dice = label_survival(segmenter, test_a, g_ab(test_a), threshold=THRESHOLD)
        rows.append({"item": f"CycleGAN {label}: fraction of {N_TEST} vendor A -> C translations whose labels survive "
                             f"(mean foreground Dice before/after >= {THRESHOLD})",
                     "measured": f"{fraction:.1%} (mean Dice {float(dice.nanmean()):.3f})", "target": "report",
                     "within": None, "survival_fraction": round(fraction, 4),
                     "dice_mean": round(float(dice.nanmean()), 4)})
    for row in rows:
        row["elapsed_seconds"] = round(time.perf_counter() - start, 1)
        print(f"  {row['item']}: {row['measured']}", flush=True)
    return rows
