"""Render tissue maps into MR-like images, separately from the anatomy.

The forward model, applied to a batch at once:

1. **Contrast**: every tissue t gets a mean intensity mu_t, plus a little
   within-tissue texture, x = mu_t + sigma_t * eps, eps a fine random texture. A preset
   ``Style`` fixes mu; ``style="random"`` draws mu_t ~ U(0, 1) per image and
   tissue, as SynthSeg does, so a model trained on it cannot rely on contrast.
2. **Bias field**: x <- x * exp(beta * b(x, y)), with b a smooth random field
   (a 4 x 4 grid of N(0, 1) values, bicubically upsampled): coil shading.
3. **Partial volume**: a separable Gaussian blur of ``blur_sigma_px`` pixels.
4. **Acquisition**: complex Gaussian noise is added to the signal, the k-space
   of the complex image is truncated, and its magnitude is taken, as an MR scanner
   acquires and a zero-filled reconstruction shows it: the noise is band-limited
   like the anatomy, and its statistics stay Rician. A ``resolution_factor`` f
   (acquired pixel over rendered pixel) keeps the spatial frequencies up to
   1 / (2 f) cycles per pixel on each axis and sets the rest to zero (with its
   faint Gibbs ringing); any real f >= 1 is honoured as given, per image. The
   noise n_1 + i n_2 is drawn with std (1 / snr) / sqrt(mean w^2) per channel (w
   the k-space window), so that after the truncation its std is 1 / snr:
   ``snr`` is the SNR of a tissue of unit intensity in the final image.
5. **Magnitude**: sqrt(Re^2 + Im^2) of the reconstructed complex image.
6. **Scaling** to [0, 1]: divide by the 99.5th percentile of each image, clip.

Every ``Style`` field is a number, or a (low, high) pair drawn uniformly per
image. Randomness comes from a ``torch.Generator`` seeded with ``seed``, so the
same call gives the same images.

Presets (``STYLES``); intensities of a unit scale, before the final scaling:

=============== ===== ========== ===== ===== ===== ===== ==== ========== ====
style           blood myocardium scar  lung  liver fat   SNR  resolution bias
=============== ===== ========== ===== ===== ===== ===== ==== ========== ====
cine_vendor_a   0.88  0.32       0.34  0.05  0.40  0.85  40   1 (sharp)  0.15
cine_vendor_b   0.90  0.13       0.15  0.07  0.28  0.72  28   1          0.25
cine_vendor_c   0.86  0.28       0.30  0.07  0.42  0.92  24   1.35       0.35
lge             0.50  0.03       0.95  0.03  0.28  0.50  22   1          0.25
random          U(0, 1) per image and tissue         10-50  1-1.75     0-0.4
=============== ===== ========== ===== ===== ===== ===== ==== ========== ====

- ``cine_vendor_a``: bSSFP cine, clean and sharp, medium blood-myocardium contrast.
- ``cine_vendor_b``: the strongest blood-myocardium contrast, darker surroundings.
- ``cine_vendor_c``: a bSSFP vendor too (blood/myocardium about 3, inside
  bSSFP's 2.5-4), slightly greyer myocardium and brighter fat than A, the
  noisiest, the coarsest acquisition (1.35 x the pixel) and the strongest coil
  shading.
- ``lge``: late gadolinium enhancement (inversion recovery): healthy myocardium
  nulled black, scar bright, blood intermediate-bright.
- ``random``: SynthSeg-style domain randomisation of every parameter.

Air is 0 in every preset (it shows only noise); the chest wall sits just below
the myocardium in cine (skeletal muscle).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from genlib._validation import as_generator, check_choice, check_ndim
from genlib.data.cardiac.labels import N_TISSUES, TISSUE_NAMES, check_label_map

_BIAS_GRID = 4  # control points per side of the bias field
_LIMITS = {  # valid (low, high) of each scalar field
    "tissue_mean": (0.0, 1.0),
    "tissue_std": (0.0, 0.5),
    "snr": (0.0, math.inf),
    "blur_sigma_px": (0.0, 5.0),
    "resolution_factor": (1.0, 8.0),
    "bias_strength": (0.0, 2.0),
}


def _as_range(name: str, spec) -> tuple[float, float]:
    """A number or a (low, high) pair as (low, high), checked against ``_LIMITS``."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        low = high = float(spec)
    elif isinstance(spec, (tuple, list)) and len(spec) == 2 and all(isinstance(v, (int, float)) for v in spec):
        low, high = float(spec[0]), float(spec[1])
    else:
        raise ValueError(f"{name} must be a number or a (low, high) pair, got {spec!r}.")
    lo, hi = _LIMITS[name.split("[")[0]]
    ok_snr = name != "snr" or (low > 0 and (low == high or math.isfinite(high)))
    if not (lo <= low <= high <= hi and ok_snr) or math.isnan(low) or math.isnan(high):
        bounds = "(0, inf]" if name == "snr" else f"[{lo:g}, {hi:g}]"
        raise ValueError(
            f"{name} must lie in {bounds} with low <= high, got {spec!r}."
        )
    return low, high


def _per_tissue(name: str, spec) -> tuple[tuple[float, float], ...]:
    """One range per tissue: a tuple of N_TISSUES entries, or one entry for every tissue."""
    if isinstance(spec, (tuple, list)) and len(spec) == N_TISSUES:
        return tuple(_as_range(f"{name}[{TISSUE_NAMES[t]}]", s) for t, s in enumerate(spec))
    if isinstance(spec, (tuple, list)) and len(spec) not in (2, N_TISSUES):
        raise ValueError(
            f"{name} must have one entry per tissue ({N_TISSUES}: {', '.join(TISSUE_NAMES.values())}), "
            f"or be a single number or (low, high) pair; got {len(spec)} entries."
        )
    return (_as_range(name, spec),) * N_TISSUES


@dataclass(frozen=True)
class Style:
    """How tissues look: contrast, texture, bias, blur, resolution and noise.

    Each field is a number, or a (low, high) pair drawn uniformly per image.

    Parameters
    ----------
    name : str
    tissue_mean : tuple of N_TISSUES entries, or one entry for all, each in [0, 1]
        Mean intensity mu_t of each tissue, in ``TISSUE_NAMES`` order (air, blood,
        myocardium, scar, lung, liver, fat, chest wall).
    tissue_std : same form as tissue_mean, each in [0, 0.5]
        Within-tissue texture sigma_t (per-pixel Gaussian, before the blur).
    snr : float in (0, inf] or (low, high)
        Signal-to-noise ratio of a unit-intensity tissue; the Rician noise has
        std 1 / snr per complex channel. ``math.inf`` turns noise off.
    blur_sigma_px : float in [0, 5] or (low, high)
        Partial-volume Gaussian blur, in pixels of the rendered image: in mm it is
        this times the rendered pixel size (field of view / size).
    resolution_factor : float in [1, 8] or (low, high)
        Acquisition pixel size over rendered pixel size (1: no resolution loss).
        Relative, like the blur: vendor C's 1.35 acquires 2.1 mm pixels in a
        128 px / 200 mm image (1.56 mm), 3.6 mm in the course's 48 px / 128 mm
        crops (2.67 mm) and 4.2 mm at 64 px / 200 mm (3.125 mm); its blur of 0.5
        px is 0.8, 1.3 and 1.6 mm. A vendor is thus the same image at every
        size, not the same scanner: its contrast to the other vendors stays the
        same when the crops change.
    bias_strength : float in [0, 2] or (low, high)
        beta of the bias field exp(beta * b); 0 turns it off.
    """

    name: str
    tissue_mean: tuple
    tissue_std: tuple | float = 0.02
    snr: float | tuple = 20.0
    blur_sigma_px: float | tuple = 0.6
    resolution_factor: float | tuple = 1.0
    bias_strength: float | tuple = 0.2

    def __post_init__(self):
        _per_tissue("tissue_mean", self.tissue_mean)
        _per_tissue("tissue_std", self.tissue_std)
        for name in ("snr", "blur_sigma_px", "resolution_factor", "bias_strength"):
            _as_range(name, getattr(self, name))


# Tissue order: air, blood, myocardium, scar, lung, liver, fat, chest wall.
_CINE_STD = (0.0, 0.02, 0.015, 0.015, 0.05, 0.02, 0.03, 0.03)
STYLES = {
    # Cine bSSFP: bright blood and fat, dark myocardium, dark lungs. Scar looks like
    # myocardium (cine does not show it). The vendors differ in contrast, noise and sharpness.
    "cine_vendor_a": Style("cine_vendor_a", (0.0, 0.88, 0.32, 0.34, 0.05, 0.40, 0.85, 0.26), _CINE_STD,
                           snr=40.0, blur_sigma_px=0.55, resolution_factor=1.0, bias_strength=0.15),
    "cine_vendor_b": Style("cine_vendor_b", (0.0, 0.90, 0.13, 0.15, 0.07, 0.28, 0.72, 0.11), _CINE_STD,
                           snr=28.0, blur_sigma_px=0.6, resolution_factor=1.0, bias_strength=0.25),
    # Vendor C is a bSSFP vendor as well: bright blood (blood/myocardium about 3), dark lungs. It differs
    # from A and B in what scanners and protocols change: a coarser acquisition matrix, lower SNR, stronger
    # coil shading, and contrast within bSSFP's range (flip angle, TR and field strength move it).
    "cine_vendor_c": Style("cine_vendor_c", (0.0, 0.86, 0.28, 0.30, 0.07, 0.42, 0.92, 0.24), _CINE_STD,
                           snr=24.0, blur_sigma_px=0.5, resolution_factor=1.35, bias_strength=0.35),
    # Late gadolinium enhancement (inversion recovery): healthy myocardium nulled,
    # scar bright, blood intermediate-bright.
    "lge": Style("lge", (0.0, 0.50, 0.03, 0.95, 0.03, 0.28, 0.50, 0.18),
                 (0.0, 0.03, 0.01, 0.03, 0.03, 0.02, 0.03, 0.03),
                 snr=22.0, blur_sigma_px=0.6, resolution_factor=1.0, bias_strength=0.25),
    # SynthSeg-style domain randomisation: every tissue's mean drawn in [0, 1] per image.
    "random": Style("random", (0.0, 1.0), tissue_std=(0.0, 0.06), snr=(10.0, 50.0), blur_sigma_px=(0.3, 1.0),
                    resolution_factor=(1.0, 1.75), bias_strength=(0.0, 0.4)),
}


def _draw(spec: tuple[float, float], n: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform draws in [low, high], shape (n,)."""
    low, high = spec
    u = torch.rand(n, generator=generator)
    return low + (high - low) * u if high > low else torch.full((n,), low)


def _draw_per_tissue(specs, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, N_TISSUES) draws, one column per tissue."""
    low = torch.tensor([s[0] for s in specs])
    high = torch.tensor([s[1] for s in specs])
    return low + (high - low) * torch.rand(n, N_TISSUES, generator=generator)


@lru_cache(maxsize=16)
def _bicubic_weights(size: int) -> torch.Tensor:
    """(size, _BIAS_GRID) matrix W that upsamples a grid bicubically along one axis.

    Bicubic upsampling is separable: a coarse grid C becomes W_h C W_w^T.
    """
    eye = torch.eye(_BIAS_GRID).view(_BIAS_GRID, 1, _BIAS_GRID, 1)
    return F.interpolate(eye, size=(size, 1), mode="bicubic", align_corners=True).view(_BIAS_GRID, size).T


def bias_field(n: int, height: int, width: int, strength: torch.Tensor,
               generator: torch.Generator) -> torch.Tensor:
    """Smooth multiplicative fields exp(beta * b), shape (n, 1, height, width).

    ``b`` is a ``_BIAS_GRID`` x ``_BIAS_GRID`` grid of N(0, 1) values bicubically
    upsampled; ``strength`` is beta, shape (n,).
    """
    coarse = torch.randn(n, _BIAS_GRID, _BIAS_GRID, generator=generator)
    smooth = _bicubic_weights(height) @ coarse @ _bicubic_weights(width).T  # (n, H, W)
    return torch.exp(strength.view(n, 1, 1) * smooth).view(n, 1, height, width)


def texture(n: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """A fine-grained random texture of unit variance, shape (n, 1, height, width).

    N(0, 1) noise in 2 x 2 pixel blocks (the blur rounds them off): four times
    fewer normal draws than one per pixel.
    """
    coarse = torch.randn(n, 1, (height + 1) // 2, 1, (width + 1) // 2, 1, generator=generator)
    blocks = coarse.expand(-1, -1, -1, 2, -1, 2).reshape(n, 1, 2 * coarse.shape[2], 2 * coarse.shape[4])
    return blocks[:, :, :height, :width]


def gaussian_blur(x: torch.Tensor, sigma_px: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one sigma per image (zero padding: MR borders are air).

    Parameters
    ----------
    x : torch.Tensor, shape (N, 1, H, W)
    sigma_px : torch.Tensor, shape (N,)
        Standard deviation in pixels (0: no blur).

    Returns
    -------
    torch.Tensor, shape (N, 1, H, W)
    """
    n, _, h, w = x.shape
    radius = max(1, math.ceil(3 * float(sigma_px.max())))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma_px.clamp(min=1e-3)[:, None]) ** 2)  # (N, K)
    kernel = kernel / kernel.sum(1, keepdim=True)
    x = x.reshape(1, n, h, w)  # images as channels: one grouped convolution per axis
    x = F.conv2d(x, kernel.view(n, 1, 1, -1), padding=(0, radius), groups=n)
    x = F.conv2d(x, kernel.view(n, 1, -1, 1), padding=(radius, 0), groups=n)
    return x.view(n, 1, h, w)


def _kspace_window(factor: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Weight of every k-space bin of an acquisition with pixels ``factor`` times larger, (N, 1, H, W).

    On each axis of n pixels the acquired bandwidth is B = n / factor samples: the frequency bins m (cycles
    per image) with |m| <= (B - 1) / 2 are kept (weight 1), the next one with the fraction of a bin that B
    leaves, the rest set to zero (zero-filled). The kept weights sum to B, so any real factor >= 1 is
    honoured as given (1.35 is 1.35, not rounded); factor 1 keeps every bin.
    """
    n = factor.shape[0]

    def window(size: int) -> torch.Tensor:  # (N, size): weight of each bin along one axis
        bins = torch.fft.fftfreq(size) * size  # cycles per image
        bandwidth = size / factor.view(n, 1)
        return (bandwidth / 2 - bins.abs().view(1, -1) + 0.5).clamp(0.0, 1.0)

    return window(h).view(n, 1, h, 1) * window(w).view(n, 1, 1, w)


def _lose_resolution(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Acquire each (real, noise-free) image with pixels ``factor`` times larger, by truncating its k-space.

    Parameters
    ----------
    x : torch.Tensor, shape (N, 1, H, W)
    factor : torch.Tensor, shape (N,), each >= 1

    Returns
    -------
    torch.Tensor, shape (N, 1, H, W): the real part of the zero-filled reconstruction (``_kspace_window``).
    """
    n, _, h, w = x.shape
    factor = factor.to(torch.float32).clamp(min=1.0)
    if bool((factor == 1.0).all()):
        return x
    out = torch.fft.ifft2(torch.fft.fft2(x.float()) * _kspace_window(factor, h, w)).real.to(x.dtype)
    return torch.where((factor > 1.0).view(n, 1, 1, 1), out, x)


def acquire(x: torch.Tensor, factor: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """MR acquisition of a real signal: complex Gaussian noise, k-space truncation, magnitude.

    y = |IFFT(w * FFT(x + n_1 + i n_2))|, with w the window of ``_kspace_window``: the noise is band-limited
    as the anatomy is, and y is Rician. n_1, n_2 ~ N(0, s^2) with s = sigma / sqrt(mean w^2), so that the
    noise of y has std ``sigma`` per channel whatever the factor. With factor 1 this is ``rician_noise``.

    Parameters
    ----------
    x : torch.Tensor, shape (N, 1, H, W)
        Noise-free (real) signal.
    factor : torch.Tensor, shape (N,), each >= 1
        Acquired pixel over rendered pixel.
    sigma : torch.Tensor, shape (N,)
        Noise std per complex channel in the final image (0: no noise).

    Returns
    -------
    torch.Tensor, shape (N, 1, H, W), >= 0
    """
    n, _, h, w = x.shape
    factor = factor.to(torch.float32).clamp(min=1.0)
    keep = _kspace_window(factor, h, w)  # (N, 1, H, W)
    gain = torch.rsqrt((keep**2).mean((1, 2, 3)))  # (N,): 1 at factor 1
    s = (sigma * gain).view(-1, 1, 1, 1)
    n_1 = torch.randn(x.shape, generator=generator).mul_(s)
    n_2 = torch.randn(x.shape, generator=generator).mul_(s)
    if bool((factor == 1.0).all()):
        return torch.hypot(x + n_1, n_2)
    z = torch.complex((x + n_1).float(), n_2.float())
    truncated = torch.fft.ifft2(torch.fft.fft2(z) * keep)
    return torch.where((factor > 1.0).view(n, 1, 1, 1), truncated.abs(), torch.hypot(x + n_1, n_2).float()).to(x.dtype)


def rician_noise(x: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Magnitude of a complex signal with Gaussian noise: sqrt((x + n_1)^2 + n_2^2).

    Parameters
    ----------
    x : torch.Tensor, shape (N, 1, H, W)
        Noise-free (real) signal.
    sigma : torch.Tensor, shape (N,)
        Noise std per complex channel.
    """
    sigma = sigma.view(-1, 1, 1, 1)
    n_1 = torch.randn(x.shape, generator=generator).mul_(sigma)
    n_2 = torch.randn(x.shape, generator=generator).mul_(sigma)
    return torch.hypot(x + n_1, n_2)


def _scale_to_unit(x: torch.Tensor, quantile: float = 0.995) -> torch.Tensor:
    """Divide each image by its ``quantile`` intensity and clip to [0, 1].

    The quantile is estimated on every 4th pixel: as good, four times cheaper.
    """
    flat = x.flatten(1)[:, ::4] if x[0].numel() >= 1024 else x.flatten(1)  # (N, P')
    k = max(1, math.ceil(quantile * flat.shape[1]))
    top = flat.kthvalue(k, dim=1).values.clamp(min=1e-6)  # (N,)
    return (x / top.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)


def _check_tissues(tissues) -> torch.Tensor:
    """Tissue maps as (N, H, W) int64; bad values raise through ``check_label_map``."""
    valid_fast = (isinstance(tissues, torch.Tensor) and tissues.dtype == torch.int64 and tissues.numel() > 0
                  and int(tissues.min()) >= 0 and int(tissues.max()) < N_TISSUES)
    if not valid_fast:  # the full check (a sort of all values) only when something is off
        tissues = check_label_map(tissues, name="tissues", n_values=N_TISSUES)
    check_ndim("tissues", tissues, 3, "(N, H, W)")
    return tissues


def render(tissues, style: str | Style = "cine_vendor_a", *, snr: float | None = None,
           seed: int = 0) -> torch.Tensor:
    """Turn tissue maps into MR-like images.

    Parameters
    ----------
    tissues : torch.Tensor, int64, shape (N, H, W)
        ``TISSUE_NAMES`` codes 0..7, e.g. from ``make_slices``.
    style : str or Style
        A name in ``STYLES`` ("cine_vendor_a", "cine_vendor_b", "cine_vendor_c",
        "lge", "random") or a ``Style``.
    snr : float, optional
        Overrides the style's SNR (signal of a unit-intensity tissue over the
        noise std); ``math.inf`` renders without noise.
    seed : int or torch.Generator
        Seed of the private ``torch.Generator``: same seed, same images (a Generator's draws continue).

    Returns
    -------
    torch.Tensor, float32, shape (N, 1, H, W), values in [0, 1]

    Examples
    --------
    >>> from genlib.data.cardiac.phantom import sample_phantoms
    >>> images = render(sample_phantoms(4).tissues, "lge", seed=1)
    >>> images.shape
    torch.Size([4, 1, 64, 64])
    """
    if isinstance(style, str):
        check_choice("style", style, tuple(STYLES))
        style = STYLES[style]
    elif not isinstance(style, Style):
        raise TypeError(f"style must be a name in STYLES or a Style, got {type(style).__name__}.")
    tissues = _check_tissues(tissues)
    snr_range = _as_range("snr", snr) if snr is not None else _as_range("snr", style.snr)
    generator = as_generator(seed)
    n, h, w = tissues.shape

    # Per-image draws, always in the same order, so a seed fixes every one of them.
    mean = _draw_per_tissue(_per_tissue("tissue_mean", style.tissue_mean), n, generator)  # (N, T)
    std = _draw_per_tissue(_per_tissue("tissue_std", style.tissue_std), n, generator)  # (N, T)
    beta = _draw(_as_range("bias_strength", style.bias_strength), n, generator)  # (N,)
    blur = _draw(_as_range("blur_sigma_px", style.blur_sigma_px), n, generator)
    factor = _draw(_as_range("resolution_factor", style.resolution_factor), n, generator)
    snr_n = _draw(snr_range, n, generator) if math.isfinite(snr_range[1]) else torch.full((n,), math.inf)

    flat = tissues.reshape(n, -1)  # (N, P)
    x = mean.gather(1, flat).view(n, 1, h, w)
    if (std > 0).any():
        x = x + std.gather(1, flat).view(n, 1, h, w) * texture(n, h, w, generator)
    x = x * bias_field(n, h, w, beta, generator)
    x = gaussian_blur(x, blur)
    x = acquire(x, factor, 1.0 / snr_n, generator)  # complex noise, k-space truncation, magnitude
    return _scale_to_unit(x).float()
