"""A style encoder that carries style: unit 07's scenario SPADE with anti-collapse terms, as NEW recipes.

The scenario's first recipe (``scenario_training.train_scenario_spade``; "first" in ``RECIPES``; it trained the
shipped weights until the style bench chose "vendor in the code", now ``SCENARIO_RECIPE``) is left as it is.
This module trains the same networks on the same data (the site's labelled vendor-A pairs and unlabelled vendor
B/C images ONLY) with that recipe's losses plus, switched on by the recipe:

- **free bits** (Kingma et al. 2016): the KL term becomes sum_d max(KL_d, lambda_fb), KL_d the batch mean of
  KL(q(z_d | x) || N(0, 1)); a dimension may carry lambda_fb nats at no cost, so the KL no longer pushes every
  dimension the generator does not yet use back onto the prior.
- **prior latent regression** (BicycleGAN's cLR branch, Zhu et al. 2017): a code drawn from the prior,
  z ~ N(0, I), paints a site label map, and the encoder must read it back,
  lambda_p |mu(G(m', z)) - z|_1. The generator can then no longer ignore a direction of z (its image would
  not tell the encoder z), and the encoder learns to read every direction the generator paints.

- **style augmentation** of the training images (unlabelled ones too; no label is added): with probability 1/2
  an image is re-rendered with the renderer's own degradations at random strengths (a gamma change of its
  contrast, a bias field, a Gaussian blur, Rician noise; ``augment_style``). The three vendors have fixed
  rendering parameters, so without it the encoder sees three styles, in which contrast, blur, noise and bias
  move together, and has no reason to tell them apart; the paired branch must then reconstruct the degraded
  image from its code, so the code has to carry each degradation. (The style probe draws its parameters from
  the same forward model: for this recipe the probe is partly in its training distribution, which the bench
  says; the FID and spread targets are not.)
- **the code in every layer** (a generator option, ``SPADEGenerator(code_in_layers=True)``): z joins the label
  map as input of every SPADE layer, where the paper's generator lets it in once, as the first grid, whose
  channel means and scales every instance norm then divides out. The losses alone could not make the code
  carry style while the generator had no good way to use it (bench/NOTES.md).

- **the vendor in the code** (``vendor_code_weight``): the first code dimension is read as the logit of "vendor C"
  for the unlabelled target images, lambda_v BCE(mu_0(u), vendor(u)) (index 0). "Unlabelled" means no segmentation: each
  image's vendor is metadata its scanner writes in the header (``scenario.unlabelled_target()["vendors"]``). No
  other loss asks the code for the vendor, and without it the codes carry little of it (``vendor_from_code`` in
  bench/unit07_style.py). Recipe "vendor in the code" is "code in every layer" plus this term (lambda_v = 1, not
  tuned); it joined ``RECIPES`` after its pilot passed (bench/NOTES.md).

``RECIPES`` names the variants compared on validation (free bits alone was not among them: it lets a
dimension carry information without forcing the generator to use it); ``bench/unit07_style.py`` says how one
was chosen. A recipe's "generator" entry holds options of ``cp.spade_generator``; the other entries are
``train_style_spade``'s terms. ``fit_style_spade(site, target, steps, recipe, seed)`` trains one.
"""
from __future__ import annotations

import torch

from genlib.synthesis.scenario_training import kl_free_bits, spade_optimisers, spade_scenario_step  # kl_free_bits: public here too
from genlib.train import as_generator, as_seed, device_of, isolated_rng, run_steps

RECIPES = {
    "first": {"free_bits": 0.0, "prior_weight": 0.0},
    "prior regression": {"free_bits": 0.0, "prior_weight": 1.0},
    "free bits + prior regression": {"free_bits": 0.5, "prior_weight": 1.0},
    "style augmentation + prior regression": {"free_bits": 0.0, "prior_weight": 1.0, "augment": 0.5},
    "code in every layer": {"free_bits": 0.0, "prior_weight": 1.0, "augment": 0.5,
                            "generator": {"code_in_layers": True}},
    "vendor in the code": {"free_bits": 0.0, "prior_weight": 1.0, "augment": 0.5, "vendor_code_weight": 1.0,
                           "generator": {"code_in_layers": True}},
}
SCENARIO_RECIPE = "vendor in the code"  # the recipe of the shipped synthesis_scenario_spade.pt (chosen by the style bench)


def augment_style(images: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Re-render a random share ``p`` of ``images`` with random degradations of ``render``'s forward model.

    x <- x ** gamma (gamma = exp(U(-0.5, 0.5))), x <- x * exp(beta b) (beta ~ U(0, 0.4), ``bias_field``),
    a Gaussian blur (sigma ~ U(0, 0.8) px), Rician noise (sigma ~ U(0, 0.04)), then clipped to [0, 1].

    Parameters
    ----------
    images : torch.Tensor, shape (B, 1, H, W), in [0, 1]
    generator : torch.Generator
    p : float in [0, 1]

    Returns
    -------
    torch.Tensor, shape (B, 1, H, W), in [0, 1]
    """
    from genlib.data.cardiac.render import bias_field, gaussian_blur, rician_noise

    n, _, h, w = images.shape
    u = lambda low, high: low + (high - low) * torch.rand(n, generator=generator)  # noqa: E731 (B,)
    chosen = (torch.rand(n, generator=generator) < p).view(n, 1, 1, 1)
    x = images.clamp(min=1e-6) ** u(-0.5, 0.5).exp().view(n, 1, 1, 1)
    x = x * bias_field(n, h, w, u(0.0, 0.4), generator)
    x = gaussian_blur(x, u(0.0, 0.8))
    x = rician_noise(x, u(0.0, 0.04), generator).clamp(0.0, 1.0)
    return torch.where(chosen, x, images)


def train_style_spade(g_net, encoder, d_site, d_target, site_labels: torch.Tensor, site_images: torch.Tensor,
                      target_images: torch.Tensor, *, steps: int, free_bits: float = 0.0, prior_weight: float = 0.0,
                      augment: float = 0.0, target_vendors: torch.Tensor | None = None,
                      vendor_code_weight: float = 0.0,
                      batch_size: int = 16, lr: float = 2e-3, l1_weight: float = 10.0, kl_weight: float = 0.05,
                      latent_weight: float = 1.0, style_weight: float = 10.0, seed: int | torch.Generator = 0,
                      device: str | torch.device | None = None, progress: bool = False) -> dict[str, list[float]]:
    """``train_scenario_spade``'s losses plus free bits and the prior latent regression (module docstring).

    Both train through ``scenario_training.spade_scenario_step``, with this function's terms as its parameters.
    With free_bits = 0 and prior_weight = 0 it is the first recipe step for step (same batches, the same
    losses up to float rounding: free bits sums the per-dimension batch means, the first recipe's KL averages the
    per-image sums). Parameters as ``train_scenario_spade`` (``seed``: an int, or a torch.Generator that gives one),
    plus

    free_bits : float
        lambda_fb, nats per dimension.
    prior_weight : float
        lambda_p of the prior latent regression.
    augment : float
        The share of site and target images re-rendered by ``augment_style`` (0: none).
    target_vendors, vendor_code_weight
        As ``spade_scenario_step``'s: the target images' vendors (header metadata, no segmentation) and the
        weight of the vendor term on the code.

    Returns
    -------
    history : dict
        "l1", "kl", "latent", "prior", "style", "g_adv", "d_loss": one value per step.
    """
    seed = as_seed(seed)
    if len(site_labels) != len(site_images):
        raise ValueError(f"site_labels and site_images must pair up, got {len(site_labels)} and {len(site_images)}.")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}.")
    if free_bits < 0 or prior_weight < 0:
        raise ValueError(f"free_bits and prior_weight must be >= 0, got {free_bits!r} and {prior_weight!r}.")
    device = device_of(g_net) if device is None else torch.device(device)
    rows = as_generator(seed)
    nets = (g_net, encoder, d_site, d_target)
    with isolated_rng(seed):
        optimisers = spade_optimisers(nets, lr)
        terms = dict(batch_size=batch_size, l1_weight=l1_weight, kl_weight=kl_weight, latent_weight=latent_weight,
                     style_weight=style_weight, free_bits=free_bits, prior_weight=prior_weight,
                     augment=(lambda images: augment_style(images, rows, augment)) if augment else None,
                     target_vendors=target_vendors, vendor_code_weight=vendor_code_weight, device=device)
        run = run_steps(lambda _: spade_scenario_step(nets, optimisers, site_labels, site_images, target_images, rows,
                                                      **terms),
                        steps, modules=nets, device=device, progress=progress, description="style SPADE")
    history = {key: run[key] for key in ("l1", "kl", "latent", "prior", "style", "g_adv", "d_loss")}
    return history


def vendor_indices(target: dict) -> torch.Tensor:
    """The vendor term's targets: 0 for the first of the two target vendors in sorted order, 1 for the second.

    ``target["vendors"]``: one vendor name per image (header metadata). The term reads one code dimension as a
    logit, so it needs exactly two vendors (the scenario's B and C); with one or three, use a recipe without it.
    """
    vendors = list(target.get("vendors", ()))
    names = sorted(set(vendors))
    if len(vendors) != len(target["images"]) or len(names) != 2:
        raise ValueError(f"the vendor term needs each target image's vendor, two vendors in all; got {len(vendors)} "
                         f"vendor names for {len(target['images'])} images, vendors {names}: pass target['vendors'] "
                         "or choose a recipe without vendor_code_weight.")
    return torch.tensor([names.index(v) for v in vendors])


def fit_style_spade(site: dict, target: dict, steps: int, recipe: str = "free bits + prior regression",
                    seed: int | torch.Generator = 0) -> tuple:
    """The scenario's SPADE generator and style encoder trained by ``train_style_spade`` with ``RECIPES[recipe]``.

    Parameters
    ----------
    site : dict
        ``scenario.site_labelled()``: "images" (N, 1, SIZE, SIZE), "labels" (N, SIZE, SIZE), vendor A.
    target : dict
        ``scenario.unlabelled_target()``: "images" (M, 1, SIZE, SIZE), vendors B and C, no labels.
    steps : int
    recipe : str, a key of ``RECIPES``
    seed : int or torch.Generator (a Generator gives one int, ``as_seed``)
        Seeds the initial weights and the batches.

    Returns
    -------
    (generator, encoder, history)
    """
    seed = as_seed(seed)
    from genlib.models import conditional_pretrained as cp
    from genlib.synthesis import pretrained as sp

    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(map(repr, RECIPES))}; got {recipe!r}.")
    terms = dict(RECIPES[recipe])
    architecture = terms.pop("generator", {})
    with isolated_rng(seed):  # the initial weights; the caller's global random states are restored after
        g_net, encoder = cp.spade_generator(**architecture), sp.scenario_encoder()
        d_site, d_target = cp.patch_discriminator(1), cp.patch_discriminator(1)
    if terms.get("vendor_code_weight"):
        terms["target_vendors"] = vendor_indices(target)
    history = train_style_spade(g_net, encoder, d_site, d_target, site["labels"], site["images"],
                                target["images"], steps=steps, seed=seed, **terms)
    return g_net, encoder, history


__all__ = ["RECIPES", "SCENARIO_RECIPE", "vendor_indices", "augment_style", "kl_free_bits", "train_style_spade",
           "fit_style_spade"]
