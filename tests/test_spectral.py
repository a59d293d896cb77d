"""genlib.metrics.spectral: high-frequency power and the checkerboard score, on images of known spectrum."""
import math

import numpy as np
import pytest
import torch

from genlib.metrics.spectral import (
    checkerboard_score, grid_phase_energy, grid_phase_excess, high_frequency_power, high_frequency_ratio, power_spectrum,
    radial_frequency, summary,
)

H = 32


def grid(h=H, w=H):
    return torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")


def smooth_images(n=6, seed=0, h=H):
    """Gaussian blobs of random centre and width: a spectrum that falls fast with frequency."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = grid(h, h)
    centres = 8 + (h - 16) * torch.rand(n, 2, generator=g, dtype=torch.float64)
    widths = 3 + 3 * torch.rand(n, generator=g, dtype=torch.float64)
    return torch.stack([torch.exp(-((yy - c[0]) ** 2 + (xx - c[1]) ** 2) / (2 * s**2)) for c, s in zip(centres, widths)])


def test_power_spectrum_obeys_parseval():
    x = torch.rand(3, 1, 16, 20, generator=torch.Generator().manual_seed(1))
    power = power_spectrum(x)
    assert power.shape == (3, 16, 20)
    deviations = ((x[:, 0] - x[:, 0].mean(dim=(-2, -1), keepdim=True)) ** 2).sum(dim=(-2, -1))
    torch.testing.assert_close(power.sum(dim=(-2, -1)), deviations.double(), rtol=1e-5, atol=1e-6)
    assert torch.all(power[:, 0, 0].abs() < 1e-12)


def test_radial_frequency_matches_numpy():
    f = radial_frequency(8, 6)
    ref = np.hypot(np.fft.fftfreq(8)[:, None], np.fft.fftfreq(6)[None, :])
    np.testing.assert_allclose(f.numpy(), ref)


def test_high_frequency_power_is_the_power_above_the_cutoff():
    yy, xx = grid()
    low = torch.cos(2 * math.pi * 2 * xx / H)        # f = 1/16 cycles per pixel, below 0.25
    high = 0.5 * torch.cos(2 * math.pi * 12 * yy / H)  # f = 12/32 = 0.375, above 0.25
    hf = high_frequency_power(low + high, cutoff=0.25)
    # A cosine of amplitude a has mean square a^2 / 2: only the high one counts.
    torch.testing.assert_close(hf, torch.tensor([0.125], dtype=torch.float64))
    assert high_frequency_power(low, cutoff=0.25).item() < 1e-20


def test_ratio_is_one_for_the_same_images_and_detects_added_and_removed_detail():
    real = smooth_images() + 0.05 * torch.randn(6, H, H, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(high_frequency_ratio(real, real), torch.ones(6, dtype=torch.float64))
    noisier = real + 0.05 * torch.randn(6, H, H, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert (high_frequency_ratio(noisier, real) > 1.5).all()
    kernel = torch.ones(1, 1, 3, 3, dtype=torch.float64) / 9
    blurred = torch.nn.functional.conv2d(real[:, None], kernel, padding=1)
    assert (high_frequency_ratio(blurred, real) < 0.5).all()


def test_checkerboard_added_to_smooth_images_is_detected():
    smooth = smooth_images()
    yy, xx = grid()
    checker = (-1.0) ** (yy + xx)
    assert (checkerboard_score(smooth) < 1).all()
    assert (checkerboard_score(smooth + 0.01 * checker) > 10).all()


@pytest.mark.parametrize("pattern", ["rows", "columns"])
def test_period_two_stripes_of_either_orientation_are_detected(pattern):
    smooth = smooth_images()
    yy, xx = grid()
    added = (-1.0) ** (yy if pattern == "rows" else xx)
    assert (checkerboard_score(smooth + 0.01 * added) > 10).all(), pattern


def test_a_dotted_rim_scores_above_one_and_the_same_rim_solid_below():
    """Alternate bright pixels on a ring (a dotted rim around the myocardium) against the solid ring."""
    smooth = smooth_images()
    yy, xx = grid()
    ring = ((yy - 15.5) ** 2 + (xx - 15.5) ** 2).sqrt()
    ring = ((ring > 9) & (ring < 11)).double()
    dotted = checkerboard_score(smooth + 0.1 * ring * ((yy + xx) % 2))
    solid = checkerboard_score(smooth + 0.1 * ring)
    assert (dotted > 1.5).all() and (solid < 0.5).all()
    assert (dotted > 5 * solid).all()


def test_white_noise_scores_about_one_and_a_smooth_image_below():
    noise = torch.randn(200, H, H, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert 0.9 < checkerboard_score(noise).mean().item() < 1.1
    assert 0.9 < checkerboard_score(noise, period=4).mean().item() < 1.1
    assert (checkerboard_score(smooth_images(), period=4) < 1).all()


def test_period_four_blocks_are_detected_and_not_confused_with_period_two():
    smooth = smooth_images()
    yy, xx = grid()
    blocks = torch.cos(2 * math.pi * xx / 4)
    assert (checkerboard_score(smooth + 0.05 * blocks, period=4) > 10).all()
    assert (checkerboard_score(smooth + 0.05 * blocks, period=2) < 1).all()


def test_shapes_accepted():
    x = smooth_images(2)
    for images in (x, x[:, None], x[0], x.numpy()):
        assert checkerboard_score(images).ndim == 1
        assert high_frequency_power(images).ndim == 1


def test_summary():
    s = summary(torch.tensor([1.0, 4.0]))
    assert s["mean"] == 2.5 and s["n"] == 2
    assert abs(s["geometric_mean"] - 2.0) < 1e-12
    assert "geometric_mean" not in summary([-1.0, 1.0])


@pytest.mark.parametrize("call, message", [
    (lambda: checkerboard_score(torch.rand(2, 3, 8, 8)), "grey images"),
    (lambda: checkerboard_score(torch.rand(2, 2, 1, 8, 8)), "must have shape"),
    (lambda: checkerboard_score(torch.rand(2, 2)), "at least 4 x 4"),
    (lambda: checkerboard_score(torch.rand(1, 10, 10), period=4), "multiples of period=4"),
    (lambda: checkerboard_score(torch.rand(1, 8, 8), period=1), "period must be an integer >= 2"),
    (lambda: checkerboard_score(torch.full((1, 8, 8), float("nan"))), "NaN"),
    (lambda: high_frequency_power(torch.rand(1, 8, 8), cutoff=0.5), "between 0 and 0.5"),
    (lambda: high_frequency_ratio(torch.rand(2, 8, 8), torch.rand(3, 8, 8)), "same shape"),
    (lambda: high_frequency_ratio(torch.rand(1, 8, 8), torch.ones(1, 8, 8)), "no power above cutoff"),
    (lambda: summary([]), "at least one"),
])
def test_errors_say_the_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_non_tensor_input_is_a_type_error():
    with pytest.raises(TypeError, match="torch.Tensor or a numpy array"):
        checkerboard_score("image")


def blocky(images, factor=4):
    """Shrink by keeping one pixel per block, then grow back by repeating it: edges on the block grid."""
    small = images[:, ::factor, ::factor]
    return small.repeat_interleave(factor, 1).repeat_interleave(factor, 2)


def test_grid_phase_energy_against_a_direct_loop():
    x = torch.rand(2, 9, 10, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    energy = grid_phase_energy(x, period=3)
    for p in range(3):
        cols = [((x[:, :, j + 1] - x[:, :, j]) ** 2) for j in range(9) if j % 3 == p]
        rows = [((x[:, i + 1, :] - x[:, i, :]) ** 2) for i in range(8) if i % 3 == p]
        expected = torch.stack(cols, 2).mean(dim=(1, 2)) + torch.stack(rows, 1).mean(dim=(1, 2))
        torch.testing.assert_close(energy[:, p], expected)


def test_blocks_of_a_coarse_grid_are_found_at_their_phase_and_real_pairs_score_one():
    g = torch.Generator().manual_seed(6)
    real = smooth_images(50, seed=6) + 0.05 * torch.randn(50, H, H, generator=g, dtype=torch.float64)
    again = smooth_images(50, seed=6) + 0.05 * torch.randn(50, H, H, generator=g, dtype=torch.float64)
    same = grid_phase_excess(again, real, period=4)
    assert same["excess"] < 1.05
    blocks = blocky(smooth_images(50, seed=6)) + 0.05 * torch.randn(50, H, H, generator=g, dtype=torch.float64)
    found = grid_phase_excess(blocks, real, period=4)
    assert found["excess"] > 1.2 and found["phase"] == 3  # blocks end between pixels 3 and 4, 7 and 8, ...


def test_grid_phase_errors_say_the_fix():
    with pytest.raises(ValueError, match="period must be an integer >= 2"):
        grid_phase_energy(torch.rand(1, 8, 8), period=0)
    with pytest.raises(ValueError, match="larger than period=8"):
        grid_phase_energy(torch.rand(1, 8, 8), period=8)
    with pytest.raises(ValueError, match="paired images"):
        grid_phase_excess(torch.rand(2, 8, 8), torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="no edges at some phase"):
        grid_phase_excess(torch.rand(1, 8, 8), torch.ones(1, 8, 8))


@pytest.mark.parametrize("measure", [lambda s, r: grid_phase_excess(s, r, period=4), high_frequency_ratio])
def test_paired_measures_reject_images_of_another_size(measure):
    """The same number of images but of another size is not a pair (4 x 48 x 48 against 4 x 32 x 32)."""
    g = torch.Generator().manual_seed(7)
    with pytest.raises(ValueError, match=r"same shape.*\(4, 48, 48\) and \(4, 32, 32\).*of the same size"):
        measure(torch.rand(4, 1, 48, 48, generator=g), torch.rand(4, 1, 32, 32, generator=g))
    same = measure(torch.rand(4, 1, 48, 48, generator=g), torch.rand(4, 48, 48, generator=g))  # (N, 1, H, W) ~ (N, H, W)
    assert same is not None
