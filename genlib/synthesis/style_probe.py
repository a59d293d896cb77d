"""Does a style code carry style? Posterior collapse measured four ways, and a linear probe.

A style encoder q(z | x) = N(mu(x), diag sigma^2(x)) trained as a VAE can **collapse**: the KL term pulls
q(z | x) onto the prior N(0, I) in every dimension the decoder does not need, and a SPADE generator needs
little, because the label map already tells it most of the image. These functions measure how much is left:

- ``kl_per_dimension``: KL(q(z_d | x) || N(0, 1)) averaged over images, one value per dimension (nats);
  a collapsed dimension has KL near 0 (its posterior *is* the prior, whatever the image).
- ``active_units``: Burda et al. (2016)'s count, the dimensions whose posterior mean varies across images,
  Var_x(mu_d(x)) > 0.01.
- ``top_direction_share``: the share of the codes' variance on their first principal direction (1: the
  codes lie on a line, one number per image).
- ``probe_r2``: a **style probe**, a ridge regression from the code to the rendering parameters that made
  each image (``probe_set``: contrast, blur, noise, bias-field strength, each drawn per image), R^2 per
  parameter on held-out images. A code that carries a parameter predicts it (R^2 near 1); one that does not
  scores near 0 or below.
- ``image_statistics``: the probe's **ceiling**, a few statistics a reader of the image who knows its tissue
  map would measure (tissue ratios, edge sharpness, residual noise, smooth shading). Fed to ``probe_r2`` in
  place of a code, they show how much of each parameter the images themselves reveal: below 1 wherever
  partial volume, the bias field or the anatomy blur a parameter's trace.
- ``tissue_means``: the mean intensity of each tissue over a set of images, to compare what a generator paints
  from a vendor's codes with that vendor's real images (the generator's side of the question).
- ``pixel_spread``: per-pixel standard deviation across the images of one anatomy, averaged over pixels:
  how much appearance a set of styles spans, comparable with real renders of that anatomy by the vendors.

The probe images are rendered by ``genlib.data.cardiac.render`` with one ``Style`` per image whose
parameters are drawn over (a little beyond) the span of the three cine vendor presets, read from
``STYLES`` at call time.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from genlib.data.cardiac.labels import CHEST_WALL, FAT, LIVER, LUNG
from genlib.data.cardiac.render import STYLES, Style, render
from genlib.models import conditional_pretrained as cp

PARAMETERS = ("contrast", "blur", "noise", "bias")
CINE_VENDORS = ("cine_vendor_a", "cine_vendor_b", "cine_vendor_c")
ACTIVE_THRESHOLD = 0.01  # Burda, Grosse and Salakhutdinov (2016), "Importance weighted autoencoders", sec. 5.2
BLOOD, MYOCARDIUM = 1, 2  # tissue codes (TISSUE_NAMES order)


def _codes(name: str, codes, min_rows: int = 2) -> torch.Tensor:
    codes = torch.as_tensor(codes, dtype=torch.float64)
    if codes.ndim != 2 or len(codes) < min_rows:
        raise ValueError(f"{name} must have shape (N, z_dim) with N >= {min_rows}, got {tuple(codes.shape)}.")
    return codes


def kl_per_dimension(mu, log_var) -> torch.Tensor:
    """Mean over images of KL(N(mu_d, exp(log_var_d)) || N(0, 1)) per dimension d, in nats.

    Parameters
    ----------
    mu, log_var : torch.Tensor, shape (N, z_dim)

    Returns
    -------
    torch.Tensor, float64, shape (z_dim,); its sum is the mean KL of the whole code.
    """
    mu, log_var = _codes("mu", mu, 1), _codes("log_var", log_var, 1)
    if mu.shape != log_var.shape:
        raise ValueError(f"mu and log_var must have the same shape, got {tuple(mu.shape)} and {tuple(log_var.shape)}.")
    return (0.5 * (mu**2 + log_var.exp() - 1.0 - log_var)).mean(0)


def active_units(mu, threshold: float = ACTIVE_THRESHOLD) -> int:
    """Burda et al.'s active units: the number of dimensions d with Var_x(mu_d(x)) > ``threshold``.

    Parameters
    ----------
    mu : torch.Tensor, shape (N, z_dim)
        Posterior means of N images.
    threshold : float

    Returns
    -------
    int
    """
    return int((_codes("mu", mu).var(0) > threshold).sum())


def top_direction_share(codes) -> float:
    """Share of the centred codes' variance on their first principal direction, in [1 / z_dim, 1].

    Parameters
    ----------
    codes : torch.Tensor, shape (N, z_dim)
    """
    codes = _codes("codes", codes)
    singular = torch.linalg.svdvals(codes - codes.mean(0))
    energy = singular**2
    return float(energy[0] / energy.sum()) if energy.sum() > 0 else 1.0


def probe_set(n: int, *, seed: int = 0, tissues: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """``n`` crops, each rendered with its own drawn rendering parameters: the probe's images and targets.

    Per image: the tissue means are a random convex combination (Dirichlet(1, 1, 1) weights) of the three cine
    vendors' means; blur sigma ~ U(0.3, 1.2) px; SNR ~ U(15, 50), noise = 1 / SNR; bias strength ~ U(0, 0.5);
    no extra resolution loss. These spans hold the three vendor presets (blur and resolution loss both act as
    blur here). ``contrast`` is the myocardium / blood ratio of the drawn means (low: strong contrast).

    Parameters
    ----------
    n : int
    seed : int
        Seeds the anatomies (``cp.sample_crops``), the parameters and the rendering.
    tissues : torch.Tensor of int, shape (n, SIZE, SIZE), optional
        Tissue maps to render instead of fresh crops.

    Returns
    -------
    images : torch.Tensor, float32, shape (n, 1, SIZE, SIZE)
    params : dict
        "contrast", "blur", "noise", "bias": float64 arrays of shape (n,).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}.")
    if tissues is None:
        tissues = cp.sample_crops(n, seed=seed, phase=None).tissues
    if len(tissues) != n:
        raise ValueError(f"tissues must hold n = {n} maps, got {len(tissues)}.")
    rng = np.random.default_rng(seed)
    vendor_means = np.array([STYLES[v].tissue_mean for v in CINE_VENDORS], dtype=float)  # (3, T)
    stds = STYLES[CINE_VENDORS[0]].tissue_std
    weights = rng.dirichlet(np.ones(len(CINE_VENDORS)), n)  # (n, 3)
    means = weights @ vendor_means  # (n, T)
    params = {"contrast": means[:, MYOCARDIUM] / means[:, BLOOD], "blur": rng.uniform(0.3, 1.2, n),
              "noise": 1.0 / rng.uniform(15.0, 50.0, n), "bias": rng.uniform(0.0, 0.5, n)}
    images = torch.cat([
        render(tissues[i:i + 1], Style(f"probe {i}", tuple(float(m) for m in means[i]), stds,
                                       snr=float(1.0 / params["noise"][i]), blur_sigma_px=float(params["blur"][i]),
                                       resolution_factor=1.0, bias_strength=float(params["bias"][i])),
               seed=seed * 100_003 + i)
        for i in range(n)])
    return images, params


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre, scale = train.mean(0), train.std(0)
    keep = scale > 1e-12  # a constant dimension carries nothing: drop it
    return (train[:, keep] - centre[keep]) / scale[keep], (test[:, keep] - centre[keep]) / scale[keep]


def probe_r2(codes_train, targets_train, codes_test, targets_test, *, alpha: float = 1.0) -> np.ndarray:
    """Ridge regression from standardised codes to each target, R^2 on held-out images.

    The probe is linear and its codes are standardised per dimension, so it measures what the code makes
    linearly readable, whatever each dimension's scale; alpha is the ridge penalty on that scale.

    Parameters
    ----------
    codes_train, codes_test : array, shape (N, z_dim) and (M, z_dim)
    targets_train, targets_test : array, shape (N, P) and (M, P), or (N,) and (M,)
    alpha : float

    Returns
    -------
    np.ndarray, shape (P,): 1 - SSE / SST on the test images (SST about the test targets' mean); 1 is a
    perfect probe, 0 no better than predicting the mean, below 0 worse.
    """
    x_train, x_test = (np.asarray(c, dtype=float) for c in (codes_train, codes_test))
    y_train, y_test = (np.asarray(t, dtype=float) for t in (targets_train, targets_test))
    squeeze = y_train.ndim == 1
    y_train, y_test = y_train.reshape(len(y_train), -1), y_test.reshape(len(y_test), -1)
    if x_train.ndim != 2 or x_test.ndim != 2 or x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"codes_train and codes_test must be (N, z_dim) and (M, z_dim), got {x_train.shape} "
                         f"and {x_test.shape}.")
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError(f"codes and targets must have one row per image: train {len(x_train)} vs {len(y_train)}, "
                         f"test {len(x_test)} vs {len(y_test)}.")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha!r}.")
    for name, array in (("codes_train", x_train), ("codes_test", x_test), ("targets_train", y_train),
                        ("targets_test", y_test)):
        if not np.isfinite(array).all():
            raise ValueError(f"{name} holds NaN or infinite values; drop those rows (or columns) before probing.")
    x_train, x_test = _standardise(x_train, x_test)
    y_centre = y_train.mean(0)
    predicted = np.broadcast_to(y_centre, y_test.shape)  # (M, P): a constant code predicts the mean
    if x_train.shape[1]:
        gram = x_train.T @ x_train + alpha * np.eye(x_train.shape[1])
        predicted = x_test @ np.linalg.solve(gram, x_train.T @ (y_train - y_centre)) + y_centre
    sst = ((y_test - y_test.mean(0)) ** 2).sum(0)
    r2 = 1.0 - ((y_test - predicted) ** 2).sum(0) / np.where(sst > 0, sst, np.nan)
    return r2[0] if squeeze else r2


IMAGE_STATISTICS = ("myocardium / blood", "liver / blood", "fat / blood", "chest wall / blood",
                    "residual std in blood / blood", "residual std in lung / blood", "residual std in fat / blood",
                    "edge gradient / step", "log-shading spread")


def _interior(mask: torch.Tensor, width: int) -> torch.Tensor:
    """(N, H, W) bool -> the mask eroded by a width x width square, or the whole mask in an image where the
    erosion leaves fewer than 10 pixels (a thin wall, a sliver of lung)."""
    eroded = -F.max_pool2d(-mask.float()[:, None], width, 1, width // 2)[:, 0] > 0.5
    thin = eroded.flatten(1).sum(1) < 10
    return torch.where(thin[:, None, None], mask, eroded)


def _per_image(values: torch.Tensor, masks: torch.Tensor, statistic) -> np.ndarray:
    """``statistic`` of each image's values inside its mask, NaN where the mask holds fewer than 10 pixels."""
    return np.array([float(statistic(v[m])) if m.sum() >= 10 else np.nan for v, m in zip(values, masks)])


def image_statistics(images, tissues) -> np.ndarray:
    """Style statistics measured on each image with its tissue map: what the images reveal of their style.

    Tissue levels are medians inside each tissue eroded by 3 x 3, over the blood's (contrast); noise is the
    standard deviation of the residual after a 3 x 3 local mean inside tissues eroded by 5 x 5, over the blood
    level; blur is the mean gradient magnitude on blood-myocardium boundary pixels over the blood - myocardium
    step; the bias field is the spread of the log intensity, normalised by each bright tissue's median and
    smoothed over 9 x 9 pixels. A tissue that erosion leaves with fewer than 10 pixels is measured whole (a
    thin wall), biased towards its edges. Names in ``IMAGE_STATISTICS``.

    Parameters
    ----------
    images : torch.Tensor, shape (N, 1, H, W)
    tissues : torch.Tensor of int, shape (N, H, W): the tissue maps the images were rendered from.

    Returns
    -------
    np.ndarray, float64, shape (N, 9); NaN where an image holds fewer than 10 pixels of a tissue it needs
    (drop those rows before ``probe_r2``, which refuses NaN).
    """
    images = torch.as_tensor(images, dtype=torch.float64)
    tissues = torch.as_tensor(tissues)
    if images.ndim != 4 or images.shape[1] != 1 or tissues.shape != images.shape[:1] + images.shape[2:]:
        raise ValueError(f"images must have shape (N, 1, H, W) and tissues (N, H, W), got {tuple(images.shape)} "
                         f"and {tuple(tissues.shape)}.")
    image = images[:, 0]
    level = {t: _per_image(image, _interior(tissues == t, 3), torch.median)
             for t in (BLOOD, MYOCARDIUM, LIVER, FAT, CHEST_WALL)}
    blood = level[BLOOD]
    residual = image - F.avg_pool2d(images, 3, 1, 1, count_include_pad=False)[:, 0]
    noise = [_per_image(residual, _interior(tissues == t, 5), torch.std) / blood for t in (BLOOD, LUNG, FAT)]
    gy, gx = torch.gradient(image, dim=(1, 2))
    grown = lambda m: F.max_pool2d(m.float()[:, None], 3, 1, 1)[:, 0] > 0.5  # noqa: E731
    is_blood, is_myo = tissues == BLOOD, tissues == MYOCARDIUM
    edge = (is_blood & grown(is_myo)) | (is_myo & grown(is_blood))
    sharpness = _per_image(torch.hypot(gx, gy), edge, torch.mean) / (blood - level[MYOCARDIUM])
    log_ratio, weight = torch.zeros_like(image), torch.zeros_like(image)
    for t in (BLOOD, MYOCARDIUM, LIVER, FAT):
        inside = _interior(tissues == t, 3)
        median = torch.as_tensor(np.nan_to_num(level[t], nan=1.0)).clamp(min=1e-3).view(-1, 1, 1)
        log_ratio += torch.where(inside, torch.log(image.clamp(min=1e-3) / median), 0.0)
        weight += inside
    smooth = lambda x: F.avg_pool2d(x[:, None], 9, 1, 4, count_include_pad=False)[:, 0]  # noqa: E731
    covered = smooth(weight)
    shading = smooth(log_ratio) / covered.clamp(min=1e-6)
    spread = _per_image(shading, covered > 0.3, torch.std)
    columns = [level[t] / blood for t in (MYOCARDIUM, LIVER, FAT, CHEST_WALL)] + noise + [sharpness, spread]
    return np.stack(columns, 1)


def pixel_spread(images) -> float:
    """Per-pixel standard deviation across K images of one anatomy, averaged over pixels.

    Parameters
    ----------
    images : torch.Tensor, shape (K, 1, H, W), or (A, K, 1, H, W) for A anatomies (averaged over them)
    """
    images = torch.as_tensor(images, dtype=torch.float64)
    if images.ndim == 4:
        images = images[None]
    if images.ndim != 5 or images.shape[1] < 2:
        raise ValueError(f"images must have shape (K, 1, H, W) or (A, K, 1, H, W) with K >= 2, "
                         f"got {tuple(images.shape)}.")
    return float(images.std(1).mean())


def tissue_means(images, labels, n_labels: int = 4) -> np.ndarray:
    """Mean intensity of each label's pixels over a set of images: what a style does to each tissue.

    The generator-side view of a style code: compare ``tissue_means(G(m, mu(x)), m)`` with the same for real
    images of x's vendor (a probe of the code reads the encoder; this reads what the generator paints).

    Parameters
    ----------
    images : torch.Tensor, shape (N, 1, H, W)
    labels : torch.Tensor of int, shape (N, H, W), values 0 .. n_labels - 1 (cine crops: background, RV,
        myocardium, LV)
    n_labels : int

    Returns
    -------
    np.ndarray, shape (n_labels,): NaN for a label with no pixel.
    """
    images, labels = torch.as_tensor(images), torch.as_tensor(labels)
    if images.ndim != 4 or images.shape[1] != 1 or labels.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"images must be (N, 1, H, W) and labels (N, H, W) of the same N, H, W; got "
                         f"{tuple(images.shape)} and {tuple(labels.shape)}.")
    values = images[:, 0].double()
    return np.array([float(values[labels == k].mean()) if (labels == k).any() else float("nan")
                     for k in range(n_labels)])


@torch.no_grad()
def encode(encoder, images: torch.Tensor, *, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, log_var) of q(z | x) for every image, in eval mode: each (N, z_dim)."""
    encoder.eval()
    parts = [encoder(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def collapse_report(encoder, train_images: torch.Tensor, train_params: dict, test_images: torch.Tensor,
                    test_params: dict) -> dict:
    """Every figure of this module for one encoder, from probe images (``probe_set``) of two seeds.

    Returns
    -------
    dict
        "kl_per_dimension" (list, nats, on the test images), "kl_total", "active_units", "top_direction_share",
        "code_norm" (mean |mu(x)|), "probe_r2" ({parameter: R^2 on the test images}).
    """
    mu_train, _ = encode(encoder, train_images)
    mu, log_var = encode(encoder, test_images)
    kl = kl_per_dimension(mu, log_var)
    targets = lambda p: np.stack([p[name] for name in PARAMETERS], 1)  # noqa: E731 (N, 4)
    r2 = probe_r2(mu_train, targets(train_params), mu, targets(test_params))
    return {"kl_per_dimension": [float(k) for k in kl], "kl_total": float(kl.sum()), "active_units": active_units(mu),
            "top_direction_share": top_direction_share(mu), "code_norm": float(mu.norm(dim=1).mean()),
            "probe_r2": {name: float(v) for name, v in zip(PARAMETERS, r2)}}


__all__ = ["PARAMETERS", "ACTIVE_THRESHOLD", "kl_per_dimension", "active_units", "top_direction_share", "probe_set",
           "probe_r2", "IMAGE_STATISTICS", "image_statistics", "tissue_means", "pixel_spread", "encode",
           "collapse_report"]
