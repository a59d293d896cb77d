"""Spectral measures of generator artefacts: high-frequency energy and periodic (checkerboard) patterns.

A generator that upsamples badly leaves its signature in the Fourier spectrum (Odena et al. 2016,
"Deconvolution and checkerboard artifacts"): energy at the frequency of the upsampling grid, a
period-2 pattern for a 2x step (the Nyquist frequency, 1/2 cycle per pixel), a period-4 pattern for
a map resampled from a grid 4x coarser. Real images have no reason to prefer those frequencies.

For an image x of H x W pixels, with its mean removed, the power spectrum is

    P(k_y, k_x) = |DFT(x - mean x)(k_y, k_x)|^2 / (H W),      sum_k P = sum_pixels (x - mean x)^2,

at frequencies f = k / H (and k / W) in cycles per pixel, |f| <= 1/2. Three measures, per image:

- ``high_frequency_power(x, cutoff)``: the power above a radial frequency |f| > cutoff, divided by H W
  (a mean square, in intensity^2): edges, noise and artefacts.
- ``high_frequency_ratio(synthetic, real, cutoff)``: that power of each synthetic image over that of
  the real image it is paired with (e.g. a real render of the same label map): 1 when they match,
  above 1 when the generator adds high frequencies, below 1 when it is smoother.
- ``checkerboard_score(x, period)``: the mean power on the frequency lines of a period-``period``
  pattern (k_x = W / period or k_y = H / period, every k on the other axis) over the mean power on the
  lines next to them (k +- 1). White noise scores about 1, a smooth image below 1; a period-2
  pattern added to a smooth image scores far above 1, whatever its orientation along the other axis.

A periodic pattern confined to a few places (a seam along the edges of a coarse grid's blocks) holds too
little energy to stand out of a noisy spectrum. The grid's **phase** finds it: on a grid of period p, the
edges of the blocks sit at fixed positions j = p - 1 (between pixels p - 1 and p), 2p - 1, ..., the same in every
image, while the anatomy's edges fall anywhere.

- ``grid_phase_energy(x, period)``: the mean squared difference between neighbouring pixels, across the
  boundary j | j + 1, for each phase j mod ``period`` (rows and columns together), per image.
- ``grid_phase_excess(synthetic, real, period)``: per phase, the set's mean of that energy, synthetic over real
  (paired maps, so where the anatomy sits cancels), then the largest phase's ratio over the mean phase's.
  1 when the synthetic edges fall on the grid no more than the real ones; above 1 when one phase has extra
  edges (blocks of the coarse grid).

All functions take images of shape (N, 1, H, W), (N, H, W) or (H, W), float, and return one value per image.
"""
from __future__ import annotations

import numbers

import torch

from genlib._validation import as_tensor, check_finite


def _images(name: str, images) -> torch.Tensor:
    """(N, 1, H, W), (N, H, W) or (H, W) -> float64 (N, H, W)."""
    x = as_tensor(name, images).detach()
    if not x.is_floating_point():
        x = x.double()
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"{name} must be grey images (N, 1, H, W), got {x.shape[1]} channels in shape "
                             f"{tuple(x.shape)}. Measure one channel at a time: {name}[:, c:c + 1].")
        x = x[:, 0]
    elif x.ndim == 2:
        x = x[None]
    elif x.ndim != 3:
        raise ValueError(f"{name} must have shape (N, 1, H, W), (N, H, W) or (H, W), got shape {tuple(x.shape)}.")
    if len(x) == 0 or min(x.shape[-2:]) < 4:
        raise ValueError(f"{name} must hold at least one image of at least 4 x 4 pixels, got shape {tuple(x.shape)}.")
    check_finite(name, x)
    return x.double().cpu()


def _paired(synthetic, real) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets as (N, H, W), checked to be pairs: the same number of images of the same size."""
    s, r = _images("synthetic", synthetic), _images("real", real)
    if s.shape != r.shape:
        raise ValueError(f"synthetic and real must be paired images of the same shape, got {tuple(s.shape)} and "
                         f"{tuple(r.shape)}. Pass one real image per synthetic one, of the same size (e.g. a render "
                         "of the same label map).")
    return s, r


def power_spectrum(images) -> torch.Tensor:
    """P(k_y, k_x) = |DFT(x - mean x)|^2 / (H W) of each image, unshifted (index k = frequency k / H).

    Parameters
    ----------
    images : torch.Tensor or array, shape (N, 1, H, W), (N, H, W) or (H, W)

    Returns
    -------
    torch.Tensor, float64, shape (N, H, W)
        Sums to the image's sum of squared deviations from its mean (Parseval); P[:, 0, 0] = 0.
    """
    x = _images("images", images)
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    h, w = x.shape[-2:]
    return torch.fft.fft2(x).abs() ** 2 / (h * w)  # (N, H, W)


def radial_frequency(height: int, width: int) -> torch.Tensor:
    """|f| in cycles per pixel on the unshifted DFT grid, shape (height, width), from 0 to sqrt(2) / 2."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(width, dtype=torch.float64)[None, :]
    return torch.sqrt(fy**2 + fx**2)  # (H, W)


def _check_cutoff(cutoff) -> float:
    if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real) or not 0 < cutoff < 0.5:
        raise ValueError(f"cutoff must be a radial frequency in cycles per pixel, between 0 and 0.5 (Nyquist) "
                         f"exclusive, got {cutoff!r}. 0.25 keeps the upper half of each axis's band.")
    return float(cutoff)


def high_frequency_power(images, cutoff: float = 0.25) -> torch.Tensor:
    """Mean square of the image's content above the radial frequency ``cutoff``.

    Parameters
    ----------
    images : torch.Tensor or array, shape (N, 1, H, W), (N, H, W) or (H, W)
    cutoff : float in (0, 0.5)
        In cycles per pixel; power at |f| > cutoff counts.

    Returns
    -------
    torch.Tensor, float64, shape (N,)
        sum_{|f| > cutoff} P(f) / (H W): the variance the image would lose under an ideal low-pass filter.
    """
    cutoff = _check_cutoff(cutoff)
    power = power_spectrum(images)  # (N, H, W)
    h, w = power.shape[-2:]
    mask = radial_frequency(h, w) > cutoff  # (H, W)
    return (power * mask).sum(dim=(-2, -1)) / (h * w)


def high_frequency_ratio(synthetic, real, cutoff: float = 0.25) -> torch.Tensor:
    """Per pair, the high-frequency power of a synthetic image over that of its real counterpart.

    Parameters
    ----------
    synthetic, real : torch.Tensor or array, shape (N, 1, H, W), (N, H, W) or (H, W)
        Paired: image i of ``synthetic`` against image i of ``real`` (e.g. the same label map).
    cutoff : float in (0, 0.5)

    Returns
    -------
    torch.Tensor, float64, shape (N,)
        ``high_frequency_power(synthetic) / high_frequency_power(real)``; average it over the pairs
        (the mean, or the geometric mean to weigh halving and doubling alike).
    """
    s, r = _paired(synthetic, real)
    hf_real = high_frequency_power(r, cutoff)
    if (hf_real <= 0).any():
        bad = int((hf_real <= 0).nonzero()[0, 0])
        raise ValueError(f"real image {bad} has no power above cutoff={cutoff} (a constant or very smooth image), "
                         "so the ratio is undefined. Pair with real images that have texture, or lower cutoff.")
    return high_frequency_power(s, cutoff) / hf_real


def checkerboard_score(images, period: int = 2) -> torch.Tensor:
    """Power of a period-``period`` pattern against the frequencies beside it, per image.

    Parameters
    ----------
    images : torch.Tensor or array, shape (N, 1, H, W), (N, H, W) or (H, W)
        H and W must be multiples of ``period``.
    period : int >= 2
        2: the checkerboard / alternate-pixel pattern of a 2x upsampling (the Nyquist frequency);
        4: blocks of a grid 4x coarser.

    Returns
    -------
    torch.Tensor, float64, shape (N,)
        Mean power on the lines k_y = +-H / period (all k_x) and k_x = +-W / period (all k_y), over the mean
        power on the lines one frequency step beside them (k +- 1). About 1 for white noise, below 1 for a
        smooth image (its spectrum falls with frequency), far above 1 with a periodic pattern.
    """
    if isinstance(period, bool) or not isinstance(period, numbers.Integral) or period < 2:
        raise ValueError(f"period must be an integer >= 2 (2: checkerboard, 4: 4-pixel blocks), got {period!r}.")
    power = power_spectrum(images)  # (N, H, W)
    h, w = power.shape[-2:]
    if h % period or w % period or min(h, w) // period < 2:
        raise ValueError(f"images must be H x W with H and W multiples of period={period} and at least "
                         f"{2 * period} pixels, got {h} x {w}. Crop them, e.g. images[..., :{h - h % period}, "
                         f":{w - w % period}].")

    def lines(ky: set[int], kx: set[int]) -> torch.Tensor:
        mask = torch.zeros(h, w, dtype=torch.bool)
        mask[sorted(k % h for k in ky), :] = True
        mask[:, sorted(k % w for k in kx)] = True
        mask[0, 0] = False
        return mask

    ky, kx = h // period, w // period
    on = lines({ky, -ky}, {kx, -kx})
    beside = lines({ky - 1, ky + 1, -ky - 1, -ky + 1}, {kx - 1, kx + 1, -kx - 1, -kx + 1}) & ~on
    mean_on = (power * on).sum(dim=(-2, -1)) / on.sum()
    mean_beside = (power * beside).sum(dim=(-2, -1)) / beside.sum()
    return mean_on / mean_beside.clamp_min(torch.finfo(torch.float64).tiny)


def grid_phase_energy(images, period: int = 4) -> torch.Tensor:
    """Mean squared neighbour difference across each phase of a period-``period`` grid, per image.

    Parameters
    ----------
    images : torch.Tensor or array, shape (N, 1, H, W), (N, H, W) or (H, W)
    period : int >= 2

    Returns
    -------
    torch.Tensor, float64, shape (N, period)
        Column p: the mean of (x[i, j + 1] - x[i, j])^2 over j = p mod period and of
        (x[i + 1, j] - x[i, j])^2 over i = p mod period, added.
    """
    if isinstance(period, bool) or not isinstance(period, numbers.Integral) or period < 2:
        raise ValueError(f"period must be an integer >= 2 (the coarse grid's block size in pixels), got {period!r}.")
    x = _images("images", images)
    if min(x.shape[-2:]) <= period:
        raise ValueError(f"images must be larger than period={period} pixels on each side, got {tuple(x.shape[-2:])}.")
    dx = (x[:, :, 1:] - x[:, :, :-1]) ** 2  # (N, H, W - 1): across the boundary j | j + 1
    dy = (x[:, 1:, :] - x[:, :-1, :]) ** 2  # (N, H - 1, W)
    return torch.stack([dx[:, :, p::period].mean(dim=(1, 2)) + dy[:, p::period, :].mean(dim=(1, 2))
                        for p in range(period)], dim=1)  # (N, period)


def grid_phase_excess(synthetic, real, period: int = 4) -> dict:
    """How much more the synthetic images' edges fall on one phase of a period-``period`` grid than the real ones'.

    Parameters
    ----------
    synthetic, real : torch.Tensor or array, shape (N, 1, H, W), (N, H, W) or (H, W)
        Paired, as in ``high_frequency_ratio`` (the same maps, so the anatomy's positions cancel).
    period : int >= 2

    Returns
    -------
    dict
        "ratio_per_phase": list of ``period`` floats, the set's mean ``grid_phase_energy`` synthetic over real;
        "excess": their largest over their mean (1: no phase preferred; 1.15: one phase 15 % above the mean);
        "phase": the phase p of the largest (the boundary between pixels p and p + 1, mod period).
    """
    synthetic, real = _paired(synthetic, real)
    s, r = grid_phase_energy(synthetic, period), grid_phase_energy(real, period)
    real_mean = r.mean(0)
    if (real_mean <= 0).any():
        raise ValueError("real images have no edges at some phase (constant images?), so the ratio is undefined. "
                         "Pair with real images that have texture.")
    ratio = s.mean(0) / real_mean  # (period,)
    return {"ratio_per_phase": [float(v) for v in ratio], "excess": float(ratio.max() / ratio.mean()),
            "phase": int(ratio.argmax())}


def summary(values) -> dict[str, float]:
    """Mean, geometric mean (for positive values), median and the 25/75 % quantiles of per-image values."""
    v = _values(values)
    out = {"mean": float(v.mean()), "median": float(v.median()),
           "q25": float(torch.quantile(v, 0.25)), "q75": float(torch.quantile(v, 0.75)), "n": int(len(v))}
    if (v > 0).all():
        out["geometric_mean"] = float(torch.exp(torch.log(v).mean()))
    return out


def _values(values) -> torch.Tensor:
    v = as_tensor("values", values).double().flatten()
    if len(v) == 0:
        raise ValueError("values must hold at least one per-image value, got none.")
    check_finite("values", v)
    return v


__all__ = ["power_spectrum", "radial_frequency", "high_frequency_power", "high_frequency_ratio",
           "checkerboard_score", "grid_phase_energy", "grid_phase_excess", "summary"]
