"""Train unit 03's conditional models and write them to weights/conditional_*.pt.

- ``conditional_segmenter.pt``: ``UNet(base_channels=8)`` trained on 32 x 32 crops rendered in the three
  cine vendors' styles: it measures label fidelity (SPADE) and label survival (CycleGAN).
- ``conditional_spade.pt``: ``SPADEGenerator`` + ``StyleEncoder``, trained as a VAE-GAN on (labels, cine image).
- ``conditional_pix2pix.pt``: ``UNetGenerator`` translating cine (vendor A) into LGE of the same anatomy.
- ``conditional_cyclegan.pt``: G_AB, G_BA between cine vendors A and C, unpaired (lambda = 10).
- ``conditional_cyclegan_nocycle.pt``: the same without the cycle and identity losses (the failure case).
- ``conditional_cgan.pt``: the conditional digits generator.
- ``conditional_vaegan.pt``, ``conditional_vae.pt``: a VAE-GAN on the digits, and the same nets trained as a plain VAE.

Deterministic: fixed seeds and one thread. ``python -m tools.weights conditional`` runs it and prints
each model's check. ``build(weights_dir, short=True)`` trains every model for a few steps only (the test).
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

FULL = dict(n_train=3000, seg_epochs=10, spade_steps=1200, pix2pix_steps=600, cycle_steps=400, cgan_steps=3000,
            vaegan_steps=1000)
SHORT = dict(n_train=64, seg_epochs=1, spade_steps=2, pix2pix_steps=2, cycle_steps=2, cgan_steps=2, vaegan_steps=2)
STAGES = ("segmenter", "spade", "pix2pix", "cyclegan", "cyclegan_nocycle", "cgan", "vaegan")


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


def build_spade(weights_dir: Path, c: dict, segmenter):
    start = time.perf_counter()
    labels, images, _ = cp.styled_crops(c["n_train"], seed=2)
    torch.manual_seed(0)
    generator, encoder, discriminator = cp.spade_generator(), cp.style_encoder(), cp.patch_discriminator(1)
    history = train_spade(generator, encoder, discriminator, labels, images, steps=c["spade_steps"], seed=0)
    val_labels = cp.sample_crops(500, seed=3).labels
    with torch.no_grad():
        fake = generator(val_labels, torch.randn(500, cp.Z_DIM, generator=torch.Generator().manual_seed(0)))
    dice = dice_per_class(predict_labels(segmenter, fake), val_labels)
    _report("spade", start, f"L1 {history['l1'][0]:.3f} -> {history['l1'][-1]:.3f}; label fidelity Dice "
            f"{[round(float(d), 3) for d in dice]} (mean {float(dice.mean()):.3f})")
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


def build_cyclegan(weights_dir: Path, c: dict, segmenter, cycle_weight: float):
    start = time.perf_counter()
    name = "cyclegan" if cycle_weight else "cyclegan_nocycle"
    domain_a = render(cp.sample_crops(c["n_train"], seed=5).tissues, cp.CYCLE_STYLES[0], seed=0)
    domain_b = render(cp.sample_crops(c["n_train"], seed=6).tissues, cp.CYCLE_STYLES[1], seed=1)  # other anatomy
    torch.manual_seed(0)
    g_ab, g_ba = cp.translation_generator(), cp.translation_generator()
    d_a, d_b = cp.patch_discriminator(1), cp.patch_discriminator(1)
    history = train_cyclegan(g_ab, g_ba, d_a, d_b, domain_a, domain_b, steps=c["cycle_steps"],
                             cycle_weight=cycle_weight, seed=0)
    test_a = render(cp.sample_crops(300, seed=7).tissues, cp.CYCLE_STYLES[0], seed=2)
    with torch.no_grad():
        before, after = predict_labels(segmenter, test_a), predict_labels(segmenter, g_ab(test_a))
    dice = dice_per_class(after, before)
    _report(name, start, f"cycle L1 {history['cycle'][0]:.3f} -> {history['cycle'][-1]:.3f}; label survival "
            f"Dice A -> B {[round(float(d), 3) for d in dice]}")
    return cp.save_conditional(name, {"g_ab": g_ab, "g_ba": g_ba}, weights_dir)


def build_cgan(weights_dir: Path, c: dict):
    start = time.perf_counter()
    x, y = load_digits("train", shape="image")
    torch.manual_seed(0)
    generator, discriminator = cp.cgan_digits()
    history = train_cgan(generator, discriminator, x, y, steps=c["cgan_steps"], seed=0)
    _report("cgan", start, f"last D loss {history['d_loss'][-1]:.3f}, G loss {history['g_loss'][-1]:.3f}")
    return cp.save_conditional("cgan", {"generator": generator}, weights_dir)


def build_vaegan(weights_dir: Path, c: dict) -> list[Path]:
    x, _ = load_digits("train", shape="image")
    written = []
    for name, gan_weight in (("vaegan", 1.0), ("vae", 0.0)):
        start = time.perf_counter()
        torch.manual_seed(0)
        model = VAEGAN()
        history = train_vaegan(model, x, steps=c["vaegan_steps"], gan_weight=gan_weight, seed=0)
        _report(name, start, f"reconstruction term {history['rec'][0]:.3f} -> {history['rec'][-1]:.3f}")
        written.append(cp.save_conditional(name, {"model": model}, weights_dir))
    return written


def build(weights_dir: Path, short: bool = False, only=STAGES) -> list[Path]:
    """Train the models of ``only`` on one thread and return the files written (``short``: a few steps each).

    The CycleGAN and SPADE checks use the segmenter: trained first when "segmenter" is in ``only``,
    otherwise loaded from ``weights_dir``.
    """
    c, weights_dir = (SHORT if short else FULL), Path(weights_dir)
    unknown = [stage for stage in only if stage not in STAGES]
    if unknown:
        raise ValueError(f"only must list stages among {STAGES}, got {unknown}.")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    written, segmenter = [], None
    try:
        if "segmenter" in only:
            segmenter, path = build_segmenter(weights_dir, c)
            written.append(path)
        elif {"spade", "cyclegan", "cyclegan_nocycle"} & set(only):
            segmenter = cp.load_conditional("segmenter", weights_dir)
        if "spade" in only:
            written.append(build_spade(weights_dir, c, segmenter))
        if "pix2pix" in only:
            written.append(build_pix2pix(weights_dir, c))
        if "cyclegan" in only:
            written.append(build_cyclegan(weights_dir, c, segmenter, 10.0))
        if "cyclegan_nocycle" in only:
            written.append(build_cyclegan(weights_dir, c, segmenter, 0.0))
        if "cgan" in only:
            written.append(build_cgan(weights_dir, c))
        if "vaegan" in only:
            written += build_vaegan(weights_dir, c)
        return written
    finally:
        torch.set_num_threads(threads)
