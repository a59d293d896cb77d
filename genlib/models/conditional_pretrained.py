"""Unit 03's cardiac data, model configurations and trained weights (genlib/weights/conditional_*.pt).

The cardiac models of units 03 and 07 work on **48 x 48 crops with a 128 mm field of
view** (``SIZE``, ``FOV_MM``; ``PIXEL_MM`` = 2.67 mm pixels, finer than the data engine's default
64 x 64 / 200 mm slices of 3.125 mm), a bit over half the pixels of a 64 x 64 slice. The field is
chosen to hold an adult heart whole, the large DCM and ARV hearts included, where a 100 mm field
cut many of them (``tests/test_crops_hold_the_heart.py`` checks it; the measured shares are in
``bench/NOTES.md``). Sizes that mean millimetres (morphological edits, elastic warps) are set in mm
and converted with ``mm_to_pixels``, so that they keep their meaning if the crops change.

``tools/weights_conditional.py`` trains the models (``make weights``); lectures load them with
``load_conditional(name)``:

=============== ========================================================== =========================
name            what                                                       returns
=============== ========================================================== =========================
"segmenter"     ``UNet(base_channels=8)`` trained on the three cine vendors a ``UNet``
"spade"         ``SPADEGenerator`` + ``StyleEncoder``, trained as a VAE-GAN (generator, encoder)
"pix2pix"       ``UNetGenerator``: cine (vendor A) -> LGE, paired            a ``UNetGenerator``
"cyclegan"      G_AB, G_BA between vendors A and C, unpaired                 (g_ab, g_ba)
"cyclegan_nocycle" the same, trained with no cycle and no identity loss      (g_ab, g_ba)
"cgan"          ``ConditionalGenerator`` on the 8x8 digits                    a ``ConditionalGenerator``
"vaegan"        ``VAEGAN`` on the 8x8 digits                                 a ``VAEGAN``
"vae"           the same nets trained as a plain VAE (gan_weight = 0)        a ``VAEGAN``
=============== ========================================================== =========================
"""
from __future__ import annotations

import math

from pathlib import Path

import torch

from genlib._validation import as_seed, check_choice
from genlib.models.cgan import ConditionalDiscriminator, ConditionalGenerator
from genlib.models.spade import SPADEGenerator, StyleEncoder
from genlib.models.translation import PatchGANDiscriminator, UNetGenerator
from genlib.models.unet import UNet
from genlib.models.vaegan import VAEGAN
from genlib import pretrained

WEIGHTS_DIR = pretrained.WEIGHTS_DIR  # the package's folder, through the registry
SIZE, FOV_MM = 48, 128.0
PIXEL_MM = FOV_MM / SIZE  # 2.67 mm
CINE_STYLES = ("cine_vendor_a", "cine_vendor_b", "cine_vendor_c")
CYCLE_STYLES = ("cine_vendor_a", "cine_vendor_c")  # domains A and B of the CycleGAN
Z_DIM = 8
MODELS = ("segmenter", "spade", "pix2pix", "cyclegan", "cyclegan_nocycle", "cgan", "vaegan", "vae")


def mm_to_pixels(mm: float) -> int:
    """A length in mm as a whole number of the crops' pixels (``PIXEL_MM``), rounded half up: 0 mm -> 0.

    Raises ValueError for a length that is not a finite number >= 0 (an edit size or a warp amplitude).
    """
    try:
        value = float(mm)
    except (TypeError, ValueError):
        raise ValueError(f"mm must be a length in mm (a number >= 0), got {mm!r}.") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"mm must be a finite length >= 0 in mm, got {mm!r}: give the size of the edit or warp in "
                         f"mm (one crop pixel is {PIXEL_MM:.2f} mm).")
    return int(math.floor(value / PIXEL_MM + 0.5))


def sample_crops(n: int, *, seed: int = 0, pathology: str | None = None, phase=None):
    """n random phantom slices as SIZE x SIZE crops (FOV_MM): a ``PhantomBatch`` (labels, tissues (n, SIZE, SIZE))."""
    from genlib.data.cardiac import sample_phantoms  # the data layer, loaded on use

    return sample_phantoms(n, size=SIZE, pathology=pathology, phase=phase, seed=seed, field_of_view_mm=FOV_MM)


def styled_crops(n: int, *, seed: int | torch.Generator = 0, styles=CINE_STYLES):
    """Random crops, each rendered in a style drawn uniformly from ``styles``.

    ``seed`` (an int, or a torch.Generator that gives one, ``as_seed``) seeds the crops, the style draw and,
    as ``seed + 1000 * s``, the rendering in style s.

    Returns
    -------
    labels : torch.Tensor, int64, shape (n, SIZE, SIZE)
    images : torch.Tensor, float32, shape (n, 1, SIZE, SIZE), in [0, 1]
    style_index : torch.Tensor, int64, shape (n,)
        Index into ``styles``.
    """
    from genlib.data.cardiac import render

    seed = as_seed(seed)  # one int: the function derives several seeds from it
    batch = sample_crops(n, seed=seed)
    style_index = torch.randint(len(styles), (n,), generator=torch.Generator().manual_seed(seed))
    images = torch.empty(n, 1, SIZE, SIZE)
    for s, style in enumerate(styles):
        rows = (style_index == s).nonzero().flatten()
        if len(rows):
            images[rows] = render(batch.tissues[rows], style, seed=seed + 1000 * s)
    return batch.labels, images, style_index


def cardiac_segmenter() -> UNet:
    """An untrained segmenter for the crops: ``UNet(base_channels=8, depth=3)``, (B, 1, SIZE, SIZE) -> (B, 4, SIZE, SIZE)."""
    return UNet(base_channels=8, depth=3)


def spade_generator(n_labels: int = 4, **architecture) -> SPADEGenerator:
    """An untrained ``SPADEGenerator`` for the crops: labels (B, SIZE, SIZE), z (B, 8) -> (B, 1, SIZE, SIZE).

    Two upsamplings from a SIZE / 4 grid (12 x 12 at SIZE = 48). ``n_labels``: 4 for the cine maps, more for
    maps with extra labels (LGE scars). ``architecture``: ``label_resize`` and ``upsample`` (``SPADEGenerator``'s
    defaults, nearest and nearest, when not given; ``bench/unit03_artefacts.py`` passes both architectures).
    """
    return SPADEGenerator(n_labels=n_labels, size=SIZE, z_dim=Z_DIM, channels=32, n_up=2, hidden=16, **architecture)


def style_encoder() -> StyleEncoder:
    """An untrained ``StyleEncoder``: (B, 1, SIZE, SIZE) -> mu, log_var (B, 8)."""
    return StyleEncoder(z_dim=Z_DIM, channels=16)


def translation_generator() -> UNetGenerator:
    """An untrained pix2pix / CycleGAN generator for the crops: ``UNetGenerator(channels=16, depth=3)``."""
    return UNetGenerator(channels=16, depth=3)


def patch_discriminator(in_channels: int = 1) -> PatchGANDiscriminator:
    """An untrained PatchGAN for the crops (10 x 10 logits at SIZE = 48, of 34 x 34-pixel patches, 91 mm)."""
    return PatchGANDiscriminator(in_channels=in_channels, channels=16, n_layers=2)


def cgan_digits() -> tuple[ConditionalGenerator, ConditionalDiscriminator]:
    """An untrained conditional generator and discriminator for the 8x8 digits."""
    return ConditionalGenerator(latent_dim=16, n_classes=10), ConditionalDiscriminator(n_classes=10)


def _empty(name: str) -> dict[str, torch.nn.Module]:
    if name == "segmenter":
        return {"segmenter": cardiac_segmenter()}
    if name == "spade":
        return {"generator": spade_generator(), "encoder": style_encoder()}
    if name == "pix2pix":
        return {"generator": translation_generator()}
    if name in ("cyclegan", "cyclegan_nocycle"):
        return {"g_ab": translation_generator(), "g_ba": translation_generator()}
    if name in ("vaegan", "vae"):
        return {"model": VAEGAN()}
    return {"generator": cgan_digits()[0]}


def weights_path(name: str, weights_dir: str | Path | None = None) -> Path:
    """Where ``name``'s weights live: ``genlib/weights/conditional_<name>.pt`` (``pretrained.path``)."""
    check_choice("name", name, MODELS)
    return pretrained.path(f"conditional_{name}", weights_dir)


def save_conditional(name: str, modules: dict[str, torch.nn.Module], weights_dir: str | Path) -> Path:
    """Write ``modules``' state dicts, in float16 (half the size), to ``weights_dir/conditional_<name>.pt``."""
    check_choice("name", name, MODELS)
    return pretrained.save(f"conditional_{name}", modules, weights_dir)


def load_conditional(name: str, weights_dir: str | Path | None = None):
    """A trained model of unit 03, in eval mode, on the CPU (see the table above for what each name returns)."""
    check_choice("name", name, MODELS)
    return pretrained.load_into(f"conditional_{name}", _empty(name), weights_dir, what=f"the {name!r} model")
