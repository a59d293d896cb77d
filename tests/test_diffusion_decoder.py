"""genlib.models.diffusion.decoder: KL-optimal variances are optimal and exact where the answer is known; the
learned decoder is a normalised 17-level distribution that learns; the repaired bound is still a bound."""
import math

import pytest
import torch

from genlib.models.diffusion import (
    CategoricalDecoder,
    ConvDenoiser,
    alpha_bar,
    elbo_terms,
    fit_categorical_decoder,
    kl_optimal_variances,
    levels_to_signed,
    linear_betas,
    reverse_var,
)
from genlib.models.diffusion.decoder import decoder_log_likelihood


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _point_mass_oracle(point: float, betas):
    """The exact eps_theta when every x_0 equals ``point``: eps = (x_t - sqrt(ab) x_0) / sqrt(1 - ab)."""
    def eps_model(x_t, t):
        ab = alpha_bar(betas)[t - 1].reshape(-1, *([1] * (x_t.ndim - 1)))
        return ((x_t.double() - ab.sqrt() * point) / (1 - ab).sqrt()).float()
    return eps_model


def test_an_exact_denoiser_of_a_point_mass_gets_the_posterior_variances():
    """With no error in mu_theta the optimum is beta-tilde_t (and 0 at t = 1)."""
    betas = linear_betas(20)
    x0 = torch.full((50, 1, 2, 2), 0.25, dtype=torch.float64)
    variances = kl_optimal_variances(_point_mass_oracle(0.25, betas), x0, betas)
    expected = reverse_var(betas, "posterior")
    expected[0] = 0.0
    torch.testing.assert_close(variances, expected, atol=1e-6, rtol=1e-4)


def test_optimal_variances_give_a_lower_bound_than_either_fixed_choice():
    """An untrained denoiser: its mean is far off, so the KL-optimal variances must beat beta_t and beta-tilde_t."""
    torch.manual_seed(0)
    betas = linear_betas(10)
    net = ConvDenoiser(channels=8, n_blocks=1, emb_dim=8).eval()
    x0 = levels_to_signed(torch.randint(17, (200, 1, 8, 8), generator=torch.Generator().manual_seed(0)).double())
    variances = kl_optimal_variances(net, x0, betas, generator=torch.Generator().manual_seed(1))
    assert (variances[1:] > reverse_var(betas, "posterior")[1:]).all(), "an imperfect mean must add variance"

    def denoising(**kwargs):
        return elbo_terms(net, x0, betas, n_levels=17, generator=torch.Generator().manual_seed(2),
                          **kwargs)["diffusion"].sum(1).mean()

    optimal = denoising(variances=variances)
    for kind in ("beta", "posterior"):
        assert optimal < denoising(var_kind=kind), f"KL-optimal variances lost to var_kind={kind!r}"


def test_decoder_gives_a_normalised_distribution_over_the_levels():
    decoder = CategoricalDecoder(17, channels=8)
    log_probs = decoder(torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8))
    assert log_probs.shape == (3, 17, 1, 8, 8)
    torch.testing.assert_close(log_probs.exp().sum(1), torch.ones(3, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        decoder(torch.randn(3, 8, 8), torch.randn(3, 8, 8))


def test_repaired_elbo_uses_the_decoder_and_needs_its_levels():
    torch.manual_seed(0)
    betas = linear_betas(5)
    net = ConvDenoiser(channels=8, n_blocks=1, emb_dim=8).eval()
    decoder = CategoricalDecoder(17, channels=8).eval()
    x0 = levels_to_signed(torch.randint(17, (4, 1, 8, 8), generator=torch.Generator().manual_seed(0)).double())
    with pytest.raises(ValueError, match="n_levels=17"):
        elbo_terms(net, x0, betas, decoder=decoder)
    with pytest.raises(ValueError, match="T = 5"):
        elbo_terms(net, x0, betas, n_levels=17, variances=torch.ones(4))
    terms = elbo_terms(net, x0, betas, n_levels=17, decoder=decoder, generator=torch.Generator().manual_seed(1))
    # the first draw of elbo_terms' generator is the t = 1 noise: recompute L_0 with it
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = -decoder_log_likelihood(decoder, net, x0, betas, eps)
    torch.testing.assert_close(terms["reconstruction"], expected)


def test_fitting_the_decoder_lowers_its_validation_l0():
    torch.manual_seed(0)
    betas = linear_betas(5)
    net = ConvDenoiser(channels=8, n_blocks=1, emb_dim=8).eval()
    levels = torch.randint(0, 3, (120, 1, 8, 8), generator=torch.Generator().manual_seed(0)).double()  # 3 of 17 used
    x = levels_to_signed(levels)
    decoder, info = fit_categorical_decoder(net, betas, x[:90], x[90:], channels=8, epochs=15, batch_size=30, lr=1e-2)
    assert info["val_bits_per_dim"][info["best_epoch"] - 1] < math.log2(17) - 1.0, info["val_bits_per_dim"]
