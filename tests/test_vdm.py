"""Tests of the variational diffusion model (genlib.models.diffusion.vdm): the decoder, the bound, training."""
import math

import pytest
import torch

from genlib.models.diffusion import levels_to_signed
from genlib.models.diffusion.vdm import VDM, fit_vdm

pytestmark = pytest.mark.usefixtures("one_thread")


def _random_levels(n: int, n_levels: int, side: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return levels_to_signed(torch.randint(0, n_levels, (n, 1, side, side), generator=g).float(), n_levels)


def test_decoder_is_a_distribution_over_the_levels():
    """Check that p(x | z_0) sums to 1 over the 17 levels at every pixel, for any z_0."""
    model = VDM(gamma_min=-3.0)
    z0 = 3 * torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    total = model.decoder_log_probs(z0).exp().sum(1)  # (B, H, W)
    assert torch.allclose(total, torch.ones_like(total), atol=1e-5), "the decoder's probabilities must sum to 1"


def test_decoder_reads_the_level_when_the_noise_is_small():
    """Check that at gamma_min = -10 (sigma_0 = 0.007, bins 0.125 apart) the decoder's reconstruction costs
    almost nothing: every pixel's own level gets probability near 1."""
    x = _random_levels(4, 17)
    recon = VDM(gamma_min=-10.0).reconstruction_loss(x, torch.Generator().manual_seed(1))
    assert float(recon.detach().max()) < 1e-3, f"the reconstruction term should be near 0 nats, got {recon.tolist()}"


def test_bound_is_tight_for_the_exact_denoiser_of_uniform_levels():
    """Check the bound against a case solved by hand. With f_theta = 0 (the untrained, zero-output net) the
    denoiser is the exact posterior mean when every pixel is uniform over the L levels, the decoder is the exact
    posterior too, and with a wide schedule the prior matches N(0, 1): the continuous-time bound must equal the
    true NLL, log2(L) bits/dim, for every image. A wrong weight in L_diffusion (a missing 1/2, exp(+gamma)
    instead of exp(-gamma), or no gamma') moves it far from log2(L)."""
    n_levels = 5
    model = VDM(n_levels=n_levels, channels=8, n_blocks=1, emb_dim=8, gamma_min=-12.0, gamma_max=12.0)
    x = _random_levels(64, n_levels, side=2)
    result = model.bits_per_dim(x, n_draws=200, generator=torch.Generator().manual_seed(2))
    assert abs(result["bits"] - math.log2(n_levels)) < 4 * result["se_mc"] + 0.01, (
        f"bound {result['bits']:.4f} +- {result['se_mc']:.4f} bits/dim, the exact NLL is {math.log2(n_levels):.4f}")
    assert result["terms"]["prior"] < 1e-3 and result["terms"]["recon"] < 1e-3


def test_fewer_steps_never_give_a_lower_bound():
    """Check that the T-step bound (T = 4) lies above the continuous-time one (VDM: more steps never loosen the
    bound); both are estimated with the same number of draws and compared beyond their Monte Carlo errors."""
    model = VDM(n_levels=5, channels=8, n_blocks=1, emb_dim=8, gamma_min=-12.0, gamma_max=12.0)
    x = _random_levels(64, 5, side=2)
    cont = model.bits_per_dim(x, n_draws=100, generator=torch.Generator().manual_seed(3))
    four = model.bits_per_dim(x, n_draws=100, n_steps=4, generator=torch.Generator().manual_seed(3))
    assert four["bits"] - cont["bits"] > 3 * math.hypot(four["se_mc"], cont["se_mc"]), (cont["bits"], four["bits"])


def test_training_lowers_the_bound_and_moves_every_parameter():
    """Check that a few epochs on 64 digits lower the training bound below the uniform model's log2(17) = 4.09
    bits/dim, and that every trainable parameter, the schedule's endpoints included, has changed."""
    from genlib.data import load_digits

    x = levels_to_signed(load_digits("train", scale="levels", shape="image")[0][:64], 17)
    torch.manual_seed(0)  # fit_vdm builds its model after the same call
    start = VDM(channels=16, n_blocks=1, emb_dim=16)
    model, info = fit_vdm(x, x, seed=0, epochs=30, batch_size=16, ema_decay=0.0, eval_every=30, eval_draws=4,
                          channels=16, n_blocks=1, emb_dim=16)
    after = model.bits_per_dim(x, n_draws=20, generator=torch.Generator().manual_seed(4))
    assert after["bits"] + 3 * after["se_mc"] < math.log2(17) - 0.1, f"bound after training: {after['bits']:.3f}"
    for (name, p0), p1 in zip(start.named_parameters(), model.parameters()):
        assert not torch.equal(p0, p1), f"parameter {name} did not change in training"


def test_errors_say_the_fix():
    """Check that data off the level grid and a decreasing schedule are refused with a message naming the fix."""
    model = VDM()
    with pytest.raises(ValueError, match="levels_to_signed"):
        model.loss_terms(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"shape \(B, 1, H, W\)"):
        model.loss_terms(_random_levels(2, 17).flatten(1))
    with pytest.raises(ValueError, match="gamma_max must exceed gamma_min"):
        VDM(gamma_min=2.0, gamma_max=1.0)
