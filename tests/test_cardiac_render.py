"""Tests of the cardiac renderer: tissue maps -> MR-like images, per style, noise and blur."""
from __future__ import annotations

import dataclasses
import doctest
import importlib
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from genlib.data.cardiac.labels import BLOOD, LIVER, LUNG, MYOCARDIUM, N_TISSUES, SCAR
from genlib.data.cardiac.pathology import SubjectParams
from genlib.data.cardiac.phantom import make_slices, sample_phantoms
from genlib.data.cardiac.render import (
    STYLES, Style, bias_field, gaussian_blur, render, rician_noise,
)

CINE = ("cine_vendor_a", "cine_vendor_b", "cine_vendor_c")


@pytest.fixture(scope="module")
def phantoms():
    return sample_phantoms(16, phase=None, seed=0)


@pytest.fixture(scope="module")
def infarcts():
    return sample_phantoms(12, pathology="MINF", slice_level=0.3, seed=1)


def tissue_mean(images: torch.Tensor, tissues: torch.Tensor, tissue: int) -> float:
    """Mean intensity over the pixels of one tissue, eroded by a pixel to avoid partial volume."""
    mask = torch.as_tensor(ndimage.binary_erosion((tissues == tissue).numpy(), structure=np.ones((1, 3, 3))))
    return images[:, 0][mask].mean().item()


def flat_style(**changes) -> Style:
    """A style without bias, texture or blur: what remains is contrast and noise."""
    return dataclasses.replace(STYLES["cine_vendor_a"], tissue_std=0.0, bias_strength=0.0,
                               blur_sigma_px=0.0, resolution_factor=1.0, **changes)


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("size", [32, 64, 128])
def test_shape_dtype_and_range(style, size):
    tissues = make_slices([SubjectParams(), SubjectParams(pathology="MINF", scar_territory="LAD",
                                                          scar_width_deg=90, scar_transmurality=1.0)],
                          size=size)[1]
    images = render(tissues, style, seed=3)
    assert images.shape == (2, 1, size, size) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert images.max() == 1.0, "each image is scaled to fill [0, 1]"


def test_same_seed_same_images(phantoms):
    for style in STYLES:
        assert torch.equal(render(phantoms.tissues, style, seed=5), render(phantoms.tissues, style, seed=5))


def test_different_seeds_differ_by_noise_only(phantoms):
    a, b = render(phantoms.tissues, "cine_vendor_a", seed=0), render(phantoms.tissues, "cine_vendor_a", seed=1)
    assert not torch.equal(a, b)
    correlation = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]
    assert correlation > 0.9, "the anatomy is the same; only noise and shading change"
    # Without bias field or texture, a fixed style's only randomness is the noise.
    quiet = flat_style()
    a, b = render(phantoms.tissues, quiet, seed=0), render(phantoms.tissues, quiet, seed=1)
    assert abs((a - b).mean()) < 2e-3
    no_noise_a = render(phantoms.tissues, quiet, snr=math.inf, seed=0)
    no_noise_b = render(phantoms.tissues, quiet, snr=math.inf, seed=1)
    assert torch.equal(no_noise_a, no_noise_b)


def test_cine_blood_bright_myocardium_dark_lungs_darkest(phantoms):
    for style in CINE:
        images = render(phantoms.tissues, style, seed=2)
        blood, myocardium, lung = (tissue_mean(images, phantoms.tissues, t) for t in (BLOOD, MYOCARDIUM, LUNG))
        assert blood > myocardium + 0.2 and myocardium > lung, style


def test_lge_scar_bright_myocardium_nulled(infarcts):
    images = render(infarcts.tissues, "lge", seed=4)
    scar = images[:, 0][infarcts.tissues == SCAR].mean().item()
    healthy = tissue_mean(images, infarcts.tissues, MYOCARDIUM)
    blood = tissue_mean(images, infarcts.tissues, BLOOD)
    assert scar > blood > healthy + 0.2
    assert healthy < 0.15
    # In cine the scar does not stand out.
    cine = render(infarcts.tissues, "cine_vendor_a", seed=4)
    assert cine[:, 0][infarcts.tissues == SCAR].mean() < tissue_mean(cine, infarcts.tissues, BLOOD) - 0.2


def test_styles_change_intensities_not_anatomy(phantoms):
    """The vendors differ in blood-myocardium contrast; the tissue each pixel shows is unchanged."""
    contrast = {}
    for style in CINE:
        images = render(phantoms.tissues, style, seed=6)
        blood, myocardium = (tissue_mean(images, phantoms.tissues, t) for t in (BLOOD, MYOCARDIUM))
        contrast[style] = blood - myocardium
    values = sorted(contrast.values())
    assert min(np.diff(values)) > 0.05, contrast
    # The same anatomy under every style: two vendors' images correlate, and render leaves its input alone.
    tissues = phantoms.tissues.clone()
    a, c = render(tissues, "cine_vendor_a", seed=6), render(tissues, "cine_vendor_c", seed=6)
    assert torch.corrcoef(torch.stack([a.flatten(), c.flatten()]))[0, 1] > 0.8
    assert torch.equal(tissues, phantoms.tissues)


def test_random_style_randomises_contrast_per_image(phantoms):
    images = render(phantoms.tissues, "random", seed=7)
    blood = torch.stack([images[i, 0][phantoms.tissues[i] == BLOOD].mean() for i in range(len(images))])
    assert blood.std() > 0.15, "SynthSeg-style contrast should vary from image to image"


def test_higher_snr_lower_noise_in_a_flat_region():
    tissues = torch.full((4, 64, 64), LIVER, dtype=torch.int64)
    tissues[:, :4] = BLOOD  # something brighter, so the scaling does not hinge on the liver
    liver_mean = STYLES["cine_vendor_a"].tissue_mean[LIVER]
    relative_std = []
    for snr in (5.0, 20.0, 80.0):
        images = render(tissues, flat_style(), snr=snr, seed=0)[:, 0, 16:, :]
        relative_std.append((images.std() / images.mean()).item())
        # Independent reference: at high SNR the Rician noise is about Gaussian, std 1 / snr.
        if snr >= 20:
            assert relative_std[-1] == pytest.approx(1 / (snr * liver_mean), rel=0.15)
    assert relative_std[0] > relative_std[1] > relative_std[2]


def test_rician_noise_matches_rayleigh_and_rice_moments():
    generator = torch.Generator().manual_seed(0)
    sigma = torch.tensor([0.1, 0.1])
    signal = torch.zeros(2, 1, 200, 200)
    signal[1] = 1.0
    noisy = rician_noise(signal, sigma, generator)
    # Zero signal: Rayleigh, mean sigma sqrt(pi / 2). Strong signal: E[M^2] = s^2 + 2 sigma^2.
    assert noisy[0].mean().item() == pytest.approx(0.1 * math.sqrt(math.pi / 2), rel=0.02)
    assert (noisy[1] ** 2).mean().item() == pytest.approx(1.0 + 2 * 0.01, rel=0.01)
    assert (noisy >= 0).all()


def test_gaussian_blur_matches_scipy():
    x = torch.rand(3, 1, 40, 40, generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([0.5, 1.0, 2.0])
    blurred = gaussian_blur(x, sigma)
    for i, s in enumerate(sigma.tolist()):
        reference = ndimage.gaussian_filter(x[i, 0].double().numpy(), s, mode="constant",
                                            truncate=math.ceil(3 * 2.0) / s)
        np.testing.assert_allclose(blurred[i, 0].numpy(), reference, atol=1e-5)


def test_bias_field_is_smooth_and_multiplicative():
    generator = torch.Generator().manual_seed(0)
    field = bias_field(8, 64, 64, torch.full((8,), 0.3), generator)
    assert field.shape == (8, 1, 64, 64) and (field > 0).all()
    log_field = field.log()
    neighbour_step = (log_field[..., 1:] - log_field[..., :-1]).abs().max()
    assert neighbour_step < 0.05 * (log_field.max() - log_field.min()) + 1e-6, "low frequency only"
    assert torch.allclose(bias_field(2, 32, 32, torch.zeros(2), generator), torch.ones(2, 1, 32, 32))


def test_resolution_loss_removes_fine_detail():
    tissues = torch.zeros(1, 64, 64, dtype=torch.int64)
    tissues[:, ::2] = BLOOD  # stripes one pixel wide
    sharp = flat_style(snr=math.inf)
    coarse = dataclasses.replace(sharp, resolution_factor=2.0)
    assert render(tissues, coarse)[..., 8:-8, 8:-8].std() < 0.5 * render(tissues, sharp)[..., 8:-8, 8:-8].std()


def test_every_preset_is_documented_and_valid():
    assert set(STYLES) == {"cine_vendor_a", "cine_vendor_b", "cine_vendor_c", "lge", "random"}
    for name, style in STYLES.items():
        assert style.name == name
        assert isinstance(style, Style)


# ----------------------------------------------------------------------------- validation


def test_unknown_style_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"style must be one of 'cine_vendor_a', 'cine_vendor_b', "
                                         r"'cine_vendor_c', 'lge', 'random'; got 'siemens'"):
        render(torch.zeros(1, 8, 8, dtype=torch.int64), "siemens")
    with pytest.raises(TypeError, match=r"style must be a name in STYLES or a Style"):
        render(torch.zeros(1, 8, 8, dtype=torch.int64), 3)


@pytest.mark.parametrize("tissues, match", [
    (torch.full((1, 8, 8), N_TISSUES, dtype=torch.int64),
     r"tissues holds unexpected values \[8\]; valid values are 0..7"),
    (-torch.ones(1, 8, 8, dtype=torch.int64), r"tissues holds unexpected values \[-1\]"),
    (torch.full((1, 8, 8), 1.5), r"tissues must hold integer label values"),
    (torch.zeros(8, 8, dtype=torch.int64), r"tissues must have 3 dimensions \(N, H, W\).*unsqueeze\(0\)"),
])
def test_bad_tissue_maps_raise(tissues, match):
    with pytest.raises(ValueError, match=match):
        render(tissues)


def test_other_integer_types_are_accepted_and_bad_values_named():
    _, tissues = make_slices(SubjectParams())
    assert torch.equal(render(tissues.to(torch.int32), seed=0), render(tissues, seed=0))
    with pytest.raises(ValueError, match=r"tissues holds unexpected values \[12\]"):
        render(torch.where(tissues == LUNG, 12, tissues))


@pytest.mark.parametrize("changes, match", [
    (dict(tissue_mean=(0.0, 0.9)), None),  # a (low, high) range for every tissue is fine
    (dict(tissue_mean=(0.0, 0.9, 0.3)), r"tissue_mean must have one entry per tissue \(8: air, blood pool"),
    (dict(tissue_mean=(0.0, 1.5, 0.3, 0.3, 0.1, 0.4, 0.8, 0.3)), r"tissue_mean\[blood pool\] must lie in \[0, 1\]"),
    (dict(tissue_std=-0.1), r"tissue_std must lie in \[0, 0.5\]"),
    (dict(snr=0.0), r"snr must lie in \(0, inf\]"),
    (dict(snr=(30.0, 10.0)), r"snr must lie in \(0, inf\] with low <= high"),
    (dict(blur_sigma_px=9.0), r"blur_sigma_px must lie in \[0, 5\]"),
    (dict(resolution_factor=0.5), r"resolution_factor must lie in \[1, 8\]"),
    (dict(bias_strength="high"), r"bias_strength must be a number or a \(low, high\) pair"),
])
def test_bad_styles_raise(changes, match):
    if match is None:
        dataclasses.replace(STYLES["cine_vendor_a"], **changes)
        return
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(STYLES["cine_vendor_a"], **changes)


def test_a_generator_renders_like_its_int_seed(phantoms):
    tissues = phantoms.tissues[:2]
    assert torch.equal(render(tissues, seed=5), render(tissues, seed=torch.Generator().manual_seed(5)))
    assert torch.equal(render(tissues, seed=5), render(tissues, seed=np.int64(5)))


def test_bad_render_arguments_raise():
    tissues = torch.zeros(1, 8, 8, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"snr must lie in \(0, inf\]"):
        render(tissues, snr=-3.0)
    with pytest.raises(TypeError, match=r"seed must be an int or a torch.Generator, got float"):
        render(tissues, seed=1.5)


def test_docstring_examples_run():
    # By module path: the package may export a function of the same name.
    module = importlib.import_module("genlib.data.cardiac.render")
    assert doctest.testmod(module).failed == 0
