"""Train unit 03's conditional models and write them to genlib/weights/conditional_*.pt.

- ``conditional_segmenter.pt``: ``UNet(base_channels=8)`` trained on 48 x 48 crops (128 mm) rendered in the three
  cine vendors' styles: it measures label fidelity (SPADE) and label survival (CycleGAN).
- ``conditional_spade.pt``: ``SPADEGenerator`` + ``StyleEncoder``, trained as a VAE-GAN on (labels, cine image).
- ``conditional_pix2pix.pt``: ``UNetGenerator`` translating cine (vendor A) into LGE of the same anatomy.
- ``conditional_cyclegan.pt``: G_AB, G_BA between cine vendors A and C, unpaired (lambda = 10).
- ``conditional_cyclegan_nocycle.pt``: the same without the cycle and identity losses (the failure case).
- ``conditional_cgan.pt``: the conditional digits generator.
- ``conditional_vaegan.pt``, ``conditional_vae.pt``: a VAE-GAN on the digits, and the same nets trained as a plain VAE.

Deterministic: every stage seeds itself and runs on one thread; the stages run in two processes (one per
core). ``python -m tools.weights conditional`` runs it and prints each model's check (label fidelity,
label survival). ``build(weights_dir, short=True)`` trains every model for a few steps only (the test).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from genlib.data import load_digits
from genlib.data.cardiac import render
from genlib.metrics.segmentation import dice_per_class
from genlib.models import conditional_pretrained as cp
from genlib.models.cgan import train_cgan
from genlib.models.conditional_training import train_cyclegan, train_pix2pix, train_spade
from genlib.models.unet import fit_segmenter, predict_labels
from genlib.models.vaegan import VAEGAN, train_vaegan
from tools.weights import one_thread, train_groups

FULL = dict(n_train=3000, seg_epochs=10, spade_steps=1200, pix2pix_steps=600, cycle_steps=400, cgan_steps=3000,
            vaegan_steps=1000)
SHORT = dict(n_train=64, seg_epochs=1, spade_steps=2, pix2pix_steps=2, cycle_steps=2, cgan_steps=2, vaegan_steps=2)
STAGES = ("segmenter", "spade", "pix2pix", "cyclegan", "cyclegan_nocycle", "cgan", "vaegan", "vae")


def _report(name: str, start: float, text: str) -> None:
    print(f"{name}: {time.perf_counter() - start:.0f} s wall, {time.process_time():.0f} s CPU so far, {text}", flush=True)


def build_segmenter(weights_dir: Path, c: dict):
    start = time.perf_counter()
    labels, images, _ = cp.styled_crops(c["n_train"], seed=0)
    torch.manual_seed(0)
    net = cp.cardiac_segmenter()
    fit_segmenter(net, images, labels, epochs=c["seg_epochs"], batch_size=32, lr=3e-3, seed=0, device="cpu",
                  progress=False)
    val_labels, val_images, _ = cp.styled_crops(500, seed=1)
    dice = dice_per_class(predict_labels(net, val_images), val_labels)
    _report("segmenter", start, f"validation Dice (RV, myo, LV) {[round(float(d), 3) for d in dice]}")
    return net, cp.save_conditional("segmenter", {"segmenter": net}, weights_dir)


def build_spade(weights_dir: Path, c: dict):
    start = time.perf_counter()
    labels, images, _ = cp.styled_crops(c["n_train"], seed=2)
    torch.manual_seed(0)
    generator, encoder, discriminator = cp.spade_generator(), cp.style_encoder(), cp.patch_discriminator(1)
    history = train_spade(generator, encoder, discriminator, labels, images, steps=c["spade_steps"], seed=0)
    _report("spade", start, f"L1 {history['l1'][0]:.3f} -> {history['l1'][-1]:.3f}")
    return cp.save_conditional("spade", {"generator": generator, "encoder": encoder}, weights_dir)


def build_pix2pix(weights_dir: Path, c: dict):
    start = time.perf_counter()
    tissues = cp.sample_crops(c["n_train"], seed=4).tissues
    cine, lge = render(tissues, "cine_vendor_a", seed=0), render(tissues, "lge", seed=1)
    torch.manual_seed(0)
    generator, discriminator = cp.translation_generator(), cp.patch_discriminator(2)
    history = train_pix2pix(generator, discriminator, cine, lge, steps=c["pix2pix_steps"], seed=0)
    _report("pix2pix", start, f"L1 {history['l1'][0]:.3f} -> {history['l1'][-1]:.3f}")
    return cp.save_conditional("pix2pix", {"generator": generator}, weights_dir)


def build_cyclegan(weights_dir: Path, c: dict, cycle_weight: float):
    start = time.perf_counter()
    name = "cyclegan" if cycle_weight else "cyclegan_nocycle"
    domain_a = render(cp.sample_crops(c["n_train"], seed=5).tissues, cp.CYCLE_STYLES[0], seed=0)
    domain_b = render(cp.sample_crops(c["n_train"], seed=6).tissues, cp.CYCLE_STYLES[1], seed=1)  # other anatomy
    torch.manual_seed(0)
    g_ab, g_ba = cp.translation_generator(), cp.translation_generator()
    d_a, d_b = cp.patch_discriminator(1), cp.patch_discriminator(1)
    history = train_cyclegan(g_ab, g_ba, d_a, d_b, domain_a, domain_b, steps=c["cycle_steps"],
                             cycle_weight=cycle_weight, seed=0)
    _report(name, start, f"cycle L1 {history['cycle'][0]:.3f} -> {history['cycle'][-1]:.3f}")
    return cp.save_conditional(name, {"g_ab": g_ab, "g_ba": g_ba}, weights_dir)


def build_cgan(weights_dir: Path, c: dict):
    start = time.perf_counter()
    x, y = load_digits("train", shape="image")
    torch.manual_seed(0)
    generator, discriminator = cp.cgan_digits()
    history = train_cgan(generator, discriminator, x, y, steps=c["cgan_steps"], seed=0)
    _report("cgan", start, f"last D loss {history['d_loss'][-1]:.3f}, G loss {history['g_loss'][-1]:.3f}")
    return cp.save_conditional("cgan", {"generator": generator}, weights_dir)


def build_vaegan(weights_dir: Path, c: dict, gan_weight: float) -> Path:
    start = time.perf_counter()
    name = "vaegan" if gan_weight else "vae"
    x, _ = load_digits("train", shape="image")
    torch.manual_seed(0)
    model = VAEGAN()
    history = train_vaegan(model, x, steps=c["vaegan_steps"], gan_weight=gan_weight, seed=0)
    _report(name, start, f"reconstruction term {history['rec'][0]:.3f} -> {history['rec'][-1]:.3f}")
    return cp.save_conditional(name, {"model": model}, weights_dir)


BUILDERS = {
    "segmenter": lambda d, c: build_segmenter(d, c)[1],
    "spade": build_spade,
    "pix2pix": build_pix2pix,
    "cyclegan": lambda d, c: build_cyclegan(d, c, 10.0),
    "cyclegan_nocycle": lambda d, c: build_cyclegan(d, c, 0.0),
    "cgan": build_cgan,
    "vaegan": lambda d, c: build_vaegan(d, c, 1.0),
    "vae": lambda d, c: build_vaegan(d, c, 0.0),
}
# two lists of about equal CPU time (measured: segmenter 140 s, SPADE 270 s, pix2pix 70 s, each CycleGAN 110 s,
# cGAN 120 s, VAE-GAN 80 s, VAE 25 s on one core), one per core
GROUPS = (("segmenter", "spade", "vae"), ("pix2pix", "cyclegan", "cyclegan_nocycle", "cgan", "vaegan"))


def _train(weights_dir: Path, short: bool, stages) -> list[Path]:
    with one_thread():
        return [BUILDERS[stage](weights_dir, SHORT if short else FULL) for stage in stages]


def check(weights_dir: Path, short: bool = False) -> dict[str, float]:
    """Print and return the shipped models' checks: SPADE's label fidelity, the CycleGANs' label survival."""
    n = 32 if short else 500
    segmenter = cp.load_conditional("segmenter", weights_dir)
    figures = {}
    if cp.weights_path("spade", weights_dir).exists():
        generator, _ = cp.load_conditional("spade", weights_dir)
        val_labels = cp.sample_crops(n, seed=3).labels
        with torch.no_grad():
            fake = generator(val_labels, torch.randn(n, cp.Z_DIM, generator=torch.Generator().manual_seed(0)))
        dice = dice_per_class(predict_labels(segmenter, fake), val_labels)
        figures["spade_fidelity"] = float(dice.mean())
        print(f"SPADE label fidelity: Dice (RV, myo, LV) {[round(float(d), 3) for d in dice]}", flush=True)
    test_a = render(cp.sample_crops(n, seed=7).tissues, cp.CYCLE_STYLES[0], seed=2)
    for name in ("cyclegan", "cyclegan_nocycle"):
        if cp.weights_path(name, weights_dir).exists():
            g_ab, _ = cp.load_conditional(name, weights_dir)
            with torch.no_grad():
                dice = dice_per_class(predict_labels(segmenter, g_ab(test_a)), predict_labels(segmenter, test_a))
            figures[name + "_survival_dice"] = float(dice.nanmean())
            print(f"{name}: label survival Dice A -> B (RV, myo, LV) {[round(float(d), 3) for d in dice]}", flush=True)
    return figures


def build(weights_dir: Path, short: bool = False, only=STAGES, jobs: int = 2) -> list[Path]:
    """Train the models of ``only``, each on one thread, and return the files written (``short``: a few steps each).

    With ``jobs = 2`` the stages run in two processes, one per core (the ``GROUPS``); every stage seeds
    itself, so the files are the same as with ``jobs = 1``. Then ``check`` prints the figures that need
    the segmenter (when its weights are there).
    """
    weights_dir = Path(weights_dir)
    unknown = [stage for stage in only if stage not in STAGES]
    if unknown:
        raise ValueError(f"only must list stages among {STAGES}, got {unknown}.")
    groups = [[stage for stage in group if stage in only] for group in GROUPS] if jobs > 1 else [list(only)]
    written = train_groups(_train, weights_dir, short, groups)
    if cp.weights_path("segmenter", weights_dir).exists():
        with one_thread():
            check(weights_dir, short)
    return written
