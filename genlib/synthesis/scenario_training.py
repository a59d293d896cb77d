"""Train unit 07's SPADE generator and style encoder the way the scenario allows: labels from vendor A only.

Unit 03 trains SPADE as a VAE-GAN on labelled pairs of every vendor. A single-site hospital has labelled
pairs (m, x) of its own vendor A and only **unlabelled** images u of the target vendors B and C. So each
step has two branches:

- **paired** (vendor A), unit 03's VAE-GAN: z ~ q(z | x), x' = G(m, z),
  lambda_L1 |x' - x|_1 + lambda_KL KL(q(z | x) || N(0, I)) + (D_A(x') - 1)^2;
- **unlabelled** (vendors B, C), as in BicycleGAN's latent cycle: z_u ~ q(z | u), an image of a *site* label
  map m' in u's style, u' = G(m', z_u), judged by a second PatchGAN D_T against real target images,
  (D_T(u') - 1)^2, with lambda_KL KL(q(z | u) || N(0, I)), a latent reconstruction
  lambda_z |mu(u') - z_u|_1 that makes the generator carry the code, and a **style loss**
  lambda_s (W_1(u', u) + W_1(grad u', grad u)): the 1-D Wasserstein distances between the intensity
  histograms of u' and u, and between the histograms of their gradient magnitudes (``style_distance``).
  The two images show different anatomies, but their histograms are mostly style: tissue contrasts,
  and (for the gradients) blur and noise. Without it nothing ties u' to u itself (the discriminator
  judges the target images as one distribution), and the branch can paint every code in one average look.

No segmentation of a B or C image is ever used. Given ``target_vendors`` and a ``vendor_code_weight``
(``spade_scenario_step``; off in the first recipe), each unlabelled image's vendor, metadata its scanner
writes in the header, is asked of the code's first dimension. The discriminators minimise the least-squares
GAN loss.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from genlib.models.conditional_training import gan_adam
from genlib.models.translation import lsgan_discriminator_loss, lsgan_generator_loss
from genlib.models.vae import kl_standard_normal, reparameterize
from genlib.train import as_generator, as_seed, device_of, isolated_rng, run_steps


def _sorted_values(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).sort(1).values  # (B, H * W)


def gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    """|grad x| by forward differences, (B, 1, H - 1, W - 1): large at edges and in noise, small where blurred."""
    dx = images[..., 1:, 1:] - images[..., 1:, :-1]
    dy = images[..., 1:, 1:] - images[..., :-1, 1:]
    return torch.sqrt(dx**2 + dy**2 + 1e-8)


def style_distance(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of W_1(intensities) + W_1(gradient magnitudes) between paired images, (B, 1, H, W) each."""
    return ((_sorted_values(fake) - _sorted_values(real)).abs().mean()
            + (_sorted_values(gradient_magnitude(fake)) - _sorted_values(gradient_magnitude(real))).abs().mean())


def spade_optimisers(nets: tuple, lr: float) -> tuple:
    """The two optimisers ``spade_scenario_step`` takes, for nets = (g_net, encoder, d_site, d_target): Adam with
    the GAN betas (0.5, 0.999) over (g_net, encoder) and over (d_site, d_target) (``gan_adam``)."""
    g_net, encoder, d_site, d_target = nets
    return gan_adam(g_net, encoder, lr=lr), gan_adam(d_site, d_target, lr=lr)


def kl_free_bits(mu: torch.Tensor, log_var: torch.Tensor, free_bits: float) -> torch.Tensor:
    """sum_d max(mean_b KL(q(z_d | x_b) || N(0, 1)), free_bits): (B, z_dim) each -> a scalar (nats).

    free_bits = 0 gives the plain KL of the whole code, averaged over the batch. Also importable from
    ``genlib.synthesis.style_recipes``, whose recipes use it.
    """
    kl = (0.5 * (mu**2 + log_var.exp() - 1.0 - log_var)).mean(0)  # (z_dim,)
    return kl.clamp(min=free_bits).sum()


def spade_scenario_step(nets: tuple, optimisers: tuple, site_labels: torch.Tensor, site_images: torch.Tensor,
                        target_images: torch.Tensor, rows: torch.Generator, *, batch_size: int, l1_weight: float,
                        kl_weight: float, latent_weight: float, style_weight: float, free_bits: float | None = None,
                        prior_weight: float | None = None, augment=None, target_vendors: torch.Tensor | None = None,
                        vendor_code_weight: float = 0.0,
                        device: torch.device = torch.device("cpu")) -> dict[str, torch.Tensor]:
    """One update of the scenario's SPADE (module docstring): the generator and encoder, then both discriminators.

    ``train_scenario_spade`` (the first recipe) and ``style_recipes.train_style_spade`` (its variants)
    both train through this step; the variants' extra terms are parameters.

    Parameters
    ----------
    nets : (g_net, encoder, d_site, d_target)
    optimisers : (opt_g, opt_d)
        Adam over (g_net, encoder) and over (d_site, d_target).
    site_labels, site_images, target_images : torch.Tensor
        (N, H, W), (N, 1, H, W) and (M, 1, H, W).
    rows : torch.Generator
        Draws the batches (and the variants' augmentations and prior codes).
    batch_size : int
    l1_weight, kl_weight, latent_weight, style_weight : float
    free_bits : float, optional
        None: the plain KL of the first recipe, ``kl_standard_normal(mu, log_var).mean()``; a number:
        ``kl_free_bits`` with lambda_fb nats per dimension.
    prior_weight : float, optional
        None: no prior latent regression and no "prior" in the record; a number: lambda_p (0 records 0).
    augment : callable, optional
        ``augment(images) -> images``, applied to the site and the target batch (drawing from ``rows``).
    target_vendors : torch.Tensor of int, shape (M,), optional
        The vendor of each unlabelled target image (0 = B, 1 = C): metadata a scanner writes in every image's
        header, not a segmentation. Needed by ``vendor_code_weight``.
    vendor_code_weight : float
        lambda_v of a vendor term on the code: the first code dimension is read as the logit of "vendor C",
        lambda_v BCE(mu_0(u), vendor(u)) (index 0), so the code must carry the vendor.
    device : torch.device

    Returns
    -------
    dict
        "l1", "kl", "latent", ("prior",) "style", "g_adv", "d_loss": scalar tensors.
    """
    g_net, encoder, d_site, d_target = nets
    opt_g, opt_d = optimisers
    site = torch.randint(len(site_images), (batch_size,), generator=rows)
    other = torch.randint(len(site_images), (batch_size,), generator=rows)
    target = torch.randint(len(target_images), (batch_size,), generator=rows)
    m, x, m_other, u = site_labels[site], site_images[site], site_labels[other], target_images[target]
    vendor = None if target_vendors is None else target_vendors[target].to(device)  # (B,) 0 = B, 1 = C
    if augment is not None:
        x, u = augment(x), augment(u)
    m, x, m_other, u = m.to(device), x.to(device), m_other.to(device), u.to(device)
    mu, log_var = encoder(x)
    fake = g_net(m, reparameterize(mu, log_var))  # (B, 1, H, W): a reconstruction of x
    mu_u, log_var_u = encoder(u)
    z_u = reparameterize(mu_u, log_var_u)  # (B, z_dim): u's style
    fake_u = g_net(m_other, z_u)  # a site anatomy in u's style
    l1 = (fake - x).abs().mean()
    if free_bits is None:
        kl = kl_standard_normal(mu, log_var).mean() + kl_standard_normal(mu_u, log_var_u).mean()
    else:
        kl = kl_free_bits(mu, log_var, free_bits) + kl_free_bits(mu_u, log_var_u, free_bits)
    latent = (encoder(fake_u)[0] - z_u.detach()).abs().mean()
    style = style_distance(fake_u, u)
    if vendor_code_weight and vendor is None:
        raise ValueError("vendor_code_weight needs target_vendors, the vendor of each target image (0 = B, 1 = C).")
    g_adv = lsgan_generator_loss(d_site(fake)) + lsgan_generator_loss(d_target(fake_u))
    loss = l1_weight * l1 + kl_weight * kl + latent_weight * latent + style_weight * style + g_adv
    if vendor_code_weight:
        loss = loss + vendor_code_weight * F.binary_cross_entropy_with_logits(mu_u[:, 0], vendor.float())
    record = {"l1": l1, "kl": kl, "latent": latent}
    if prior_weight is not None:
        prior = torch.zeros(())
        if prior_weight:
            z_p = torch.randn(batch_size, mu.shape[1], generator=rows).to(device)  # (B, z_dim) from the prior
            prior = (encoder(g_net(m_other, z_p))[0] - z_p).abs().mean()
            loss = loss + prior_weight * prior
        record["prior"] = prior
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    d_loss = (lsgan_discriminator_loss(d_site(x), d_site(fake.detach()))
              + lsgan_discriminator_loss(d_target(u), d_target(fake_u.detach())))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    record.update(style=style, g_adv=g_adv, d_loss=d_loss)
    return record


def train_scenario_spade(g_net, encoder, d_site, d_target, site_labels: torch.Tensor, site_images: torch.Tensor,
                         target_images: torch.Tensor, *, steps: int, batch_size: int = 16, lr: float = 2e-3,
                         l1_weight: float = 10.0, kl_weight: float = 0.05, latent_weight: float = 1.0,
                         style_weight: float = 10.0, seed: int | torch.Generator = 0, progress: bool = False,
                         device: str | torch.device | None = None) -> dict[str, list[float]]:
    """Train (g_net, encoder) on labelled site pairs and unlabelled target images (module docstring).

    Parameters
    ----------
    g_net : SPADEGenerator
    encoder : StyleEncoder
    d_site, d_target : PatchGANDiscriminator with in_channels 1
        The discriminators of the paired (site) and the unlabelled (target) branch.
    site_labels : torch.Tensor of int, shape (N, H, W)
    site_images : torch.Tensor, shape (N, 1, H, W), in [0, 1]
        The labelled site pairs.
    target_images : torch.Tensor, shape (M, 1, H, W), in [0, 1]
        Unlabelled images of the target vendors.
    steps, batch_size : int
    lr, l1_weight, kl_weight, latent_weight, style_weight : float
        style_weight is lambda_s, set equal to lambda_L1 (both compare intensities in [0, 1]).
    seed : int or torch.Generator (a Generator gives one int, ``as_seed``)
        Seeds the initial state of torch's generator and the batches; the caller's global random states
        are restored after.
    progress : bool
    device : str or torch.device
        Where to train (the networks are moved there, each batch too). Default: where the networks
        already are (``device_of``), as before this parameter existed.

    Returns
    -------
    history : dict
        "l1", "kl", "latent", "style", "g_adv", "d_loss": one value per step.
    """
    seed = as_seed(seed)
    if len(site_labels) != len(site_images):
        raise ValueError(f"site_labels and site_images must pair up, got {len(site_labels)} and {len(site_images)}.")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}.")
    device = device_of(g_net) if device is None else torch.device(device)
    rows = as_generator(seed)
    nets = (g_net, encoder, d_site, d_target)
    with isolated_rng(seed):
        optimisers = spade_optimisers(nets, lr)
        weights = dict(batch_size=batch_size, l1_weight=l1_weight, kl_weight=kl_weight, latent_weight=latent_weight,
                       style_weight=style_weight, device=device)
        run = run_steps(lambda _: spade_scenario_step(nets, optimisers, site_labels, site_images, target_images, rows,
                                                      **weights),
                        steps, modules=nets, device=device, progress=progress, description="scenario SPADE")
    history = {key: run[key] for key in ("l1", "kl", "latent", "style", "g_adv", "d_loss")}
    return history


# ----------------------------------------------------------------------------- the scenario's three models
# One recipe each, used by ``tools/weights_synthesis.py`` (the phantom scenario) and ``genlib.synthesis.real``
# (real data): the site's labelled set ``site`` and the unlabelled target images ``target`` are dicts with
# "images" (N, 1, H, W) and, for the site, "labels" (N, H, W).


def fit_scenario_spade(site: dict, target: dict, steps: int) -> tuple:
    """The scenario's SPADE generator and style encoder: ``style_recipes.fit_style_spade`` with the shipped
    recipe ``style_recipes.SCENARIO_RECIPE``, seed 0.

    The vendor term of that recipe needs the target images of exactly two vendors (the scenario's B and C). Real
    data can have one target vendor or three (``genlib.synthesis.real``): the recipe is then trained without the
    term, as "code in every layer" (the same networks). Returns (generator, encoder, history).
    """
    from genlib.synthesis.style_recipes import RECIPES, SCENARIO_RECIPE, fit_style_spade

    recipe = SCENARIO_RECIPE
    if RECIPES[recipe].get("vendor_code_weight") and len(set(target.get("vendors", ()))) != 2:
        recipe = "code in every layer"
    return fit_style_spade(site, target, steps, recipe, seed=0)


def fit_scenario_label_vae(site: dict, copies: int, steps: int) -> tuple:
    """The label-map VAE on the site's maps and ``copies`` elastic deformations of each.

    Returns (model, history, number of maps trained on).
    """
    from genlib.data.cardiac import elastic_deform
    from genlib.models import conditional_pretrained as cp
    from genlib.synthesis import pretrained as sp
    from genlib.synthesis.label_vae import train_label_vae

    from genlib.synthesis.generate import ELASTIC_ALPHA_MM, ELASTIC_SIGMA_MM

    alpha, sigma = ELASTIC_ALPHA_MM / cp.PIXEL_MM, ELASTIC_SIGMA_MM / cp.PIXEL_MM  # 6.25 and 15.6 mm in pixels
    maps = torch.cat([site["labels"]] + [elastic_deform(site["labels"], alpha=alpha, sigma=sigma, seed=30 + k)
                                         for k in range(copies)])
    with isolated_rng(0):
        model = sp.label_vae()
    history = train_label_vae(model, maps, steps=steps, batch_size=64, lr=2e-3, kl_weight=1.0, seed=0, progress=False)
    return model, history, len(maps)


def fit_scenario_cyclegan(site: dict, target: dict, steps: int) -> tuple:
    """A CycleGAN between the site's images and the unlabelled target images. Returns (g_ab, g_ba, history)."""
    from genlib.models import conditional_pretrained as cp
    from genlib.models.conditional_training import train_cyclegan

    with isolated_rng(0):
        g_ab, g_ba = cp.translation_generator(), cp.translation_generator()
        d_a, d_b = cp.patch_discriminator(1), cp.patch_discriminator(1)
    history = train_cyclegan(g_ab, g_ba, d_a, d_b, site["images"], target["images"], steps=steps, cycle_weight=10.0,
                             seed=0)
    return g_ab, g_ba, history
