"""Checks that the two new likelihood bounds of unit 08 are valid upper bounds on the discrete NLL (issue 21).

``genlib.models.flow_dequant`` (autoregressive spline flow, variational dequantisation) and
``genlib.models.diffusion.vdm`` (variational diffusion model) report bits/dim that beat a discrete PixelCNN.
These tests make the bounds meet quantities known exactly, so that a wrong unit, a missing or mis-signed term, a
wrong bin width or a weighting error shows as a failure:

- the flow: the importance weight exp(log_weight) times L^D has expectation exactly 1 over uniformly drawn levels
  and dequantisation noise (the model's probabilities sum to 1 over the 17^64 images), for a flow and a
  dequantiser far from the identity; with all spline heads at zero the bound is log2(17) bits/dim exactly; after
  brief training on pixels with a known distribution the held-out bound stays above the true NLL;
- the VDM: on images whose pixels are i.i.d. with a known distribution pi over the 17 levels, the denoiser with
  output bias log pi (and zero weights) is the exact posterior mean, so the expected bound equals the entropy plus
  two small non-negative gaps (the prior's and the decoder's), both bounded by terms the model reports; training
  from that optimum must not push the bound below the entropy.

All on one thread, about 25 s together.
"""
import math

import pytest
import torch

from genlib.models.diffusion.vdm import VDM
from genlib.models.flow_dequant import ARSplineFlow, DequantizedFlow, Dequantizer, fit_dequantized_flow

pytestmark = pytest.mark.usefixtures("one_thread")

L, D = 17, 64
BITS = D * math.log(2)  # nats per image -> bits/dim


def _small_flow(seed: int = 0) -> DequantizedFlow:
    torch.manual_seed(seed)
    return DequantizedFlow(ARSplineFlow(n_bins=4, channels=8, n_layers=1, head_channels=8),
                           Dequantizer(n_couplings=1, n_bins=4, channels=8, n_layers=1))


def _two_level_pixels(n: int, seed: int, p_bright: float = 0.2) -> torch.Tensor:
    """Levels (n, 64): every pixel independently 16 with probability p_bright, else 0."""
    g = torch.Generator().manual_seed(seed)
    return 16.0 * (torch.rand(n, D, generator=g) < p_bright).float()


def _two_level_nll_bits(x: torch.Tensor, p_bright: float = 0.2) -> torch.Tensor:
    bright = (x > 0).double()
    return -(bright * math.log(p_bright) + (1 - bright) * math.log(1 - p_bright)).sum(1) / BITS  # (N,)


def test_flow_probabilities_sum_to_one_over_all_images():
    """Check that E over uniform levels x and u ~ q(.|x) of exp(log_weight(x, u)) * 17^64 is 1 within 4 standard
    errors, for a flow and a dequantiser whose splines are far from the identity. This is sum_x P(x) = 1 written
    as an expectation, so it tests the density, its Jacobian, the dequantiser's log q (a flipped sign gives about
    2.2 here) and the bin-width term D log L together."""
    model = _small_flow(1)
    with torch.no_grad():
        model.flow.net[-1].weight.mul_(30)
        for net in model.dequantizer.nets:
            net[-1].weight.mul_(100)
    model.eval()
    g = torch.Generator().manual_seed(2)
    x = torch.randint(0, L, (4000, D), generator=g).float()
    with torch.no_grad():
        w = (model.log_weight(x, generator=g).double() + D * math.log(L)).exp()  # (N,)
    mean, se = float(w.mean()), float(w.std() / math.sqrt(len(w)))
    assert abs(mean - 1) < 4 * se, (f"sum over images of P(x) estimated as {mean:.4f} +- {se:.4f}, not 1: the flow "
                                    "with its dequantiser is not a normalised model of the levels")
    assert se < 0.05, f"the check is too noisy to mean anything (standard error {se:.3f}); use more images"


def test_flow_with_zero_heads_scores_log2_of_17_with_either_dequantiser():
    """Check the closed form: with every spline head at zero the flow's density is 1 on the cube and q is uniform,
    so -log P(x) = 64 log 17 for every image: log2(17) = 4.0875 bits/dim for one draw and for ten."""
    model = _small_flow(0)
    with torch.no_grad():
        model.flow.net[-1].weight.zero_()
        for net in model.dequantizer.nets:
            net[-1].weight.zero_()
    x = torch.randint(0, L, (16, D), generator=torch.Generator().manual_seed(0)).float()
    for dequantizer in (model.dequantizer, None):
        m = DequantizedFlow(model.flow, dequantizer)
        for s in (1, 10):
            bits = m.nll_bound(x, s, generator=torch.Generator().manual_seed(s)) / BITS
            assert torch.allclose(bits, torch.full_like(bits, math.log2(L)), atol=1e-5), (
                f"untrained bound {bits.min():.6f}..{bits.max():.6f} bits/dim, expected log2(17) = {math.log2(L):.6f}")


def test_flow_bound_after_brief_training_stays_above_the_true_nll():
    """Check that after 8 epochs on pixels that are independently 16 (p = 0.2) or 0, the held-out 10-draw bound
    is not below the true NLL of the same images (entropy 0.722 bits/dim) by more than 3 standard errors of the
    paired difference, and that training brought it within 0.5 bits/dim of it (so the check is not vacuous)."""
    x_train, x_val, x_test = _two_level_pixels(256, 0), _two_level_pixels(64, 1), _two_level_pixels(256, 2)
    model = DequantizedFlow(ARSplineFlow(n_bins=4, channels=16, n_layers=1, head_channels=16),
                            Dequantizer(n_couplings=1, n_bins=4, channels=8, n_layers=1))
    torch.manual_seed(0)
    fit_dequantized_flow(model, x_train, x_val, epochs=8, batch_size=32, lr=1e-2, seed=0)
    bound = model.nll_bound(x_test, 10, generator=torch.Generator().manual_seed(3)).double() / BITS
    gap = bound - _two_level_nll_bits(x_test)  # (N,) >= 0 in expectation for a valid bound
    mean, se = float(gap.mean()), float(gap.std() / math.sqrt(len(gap)))
    assert mean > -3 * se, f"the bound is {-mean:.4f} +- {se:.4f} bits/dim BELOW the true NLL: not a valid bound"
    assert mean < 0.5, f"training left the bound {mean:.3f} bits/dim above the truth; the check needs a closer fit"


def _iid_levels(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images (n, 1, 8, 8) in [-1, 1] with pixels i.i.d. from pi over the 17 levels, pi, and each image's NLL
    in bits/dim (n,)."""
    pi = torch.full((L,), 1e-4)
    pi[0], pi[8], pi[16] = 0.7, 0.1, 0.2
    pi = pi / pi.sum()
    g = torch.Generator().manual_seed(seed)
    k = torch.multinomial(pi, n * D, replacement=True, generator=g).reshape(n, 1, 8, 8)
    nll = -pi.log()[k].flatten(1).sum(1).double() / BITS
    return -1 + 2 * k.float() / (L - 1), pi, nll


def _bayes_vdm(pi: torch.Tensor, gamma_max: float) -> VDM:
    model = VDM(channels=8, n_blocks=1, emb_dim=8, gamma_max=gamma_max)
    with torch.no_grad():  # weights already zero: logits = log N(z; alpha x_k, sigma^2) + log pi_k, the exact posterior
        model.output[-1].bias.copy_(pi.log())
    return model.eval()


@pytest.mark.parametrize("gamma_max", [6.0, 2.0])
@pytest.mark.parametrize("n_steps", [None, 1000])
def test_vdm_with_the_exact_denoiser_scores_the_entropy(gamma_max, n_steps):
    """Check the VDM's bound where its value is known: pixels i.i.d. from pi (entropy 1.176 bits/dim) and the
    exact posterior-mean denoiser. Then E[bound] = H + KL(q(z_1) || N(0, I)) + E KL(q(x|z_0) || p(x|z_0)) (per
    image, the continuous-time bound; the T = 1000 one lies above it), and both gaps are at most the reported prior
    and reconstruction terms. So the paired difference bound - true NLL must lie in [0, prior + recon] within 4
    standard errors. gamma_max = 2 leaves a large prior term (0.08 bits/dim): dropping it or mis-weighting the
    diffusion term shows."""
    x, pi, nll = _iid_levels(256, 0)
    r = _bayes_vdm(pi, gamma_max).bits_per_dim(x, 48, n_steps=n_steps, generator=torch.Generator().manual_seed(1))
    gap = r["per_image"] - nll  # (N,)
    mean, se = float(gap.mean()), float(gap.std() / math.sqrt(len(gap)))
    slack = r["terms"]["prior"] + r["terms"]["recon"]
    assert se < 0.03, f"the check is too noisy (standard error {se:.3f} bits/dim); use more draws"
    assert -4 * se < mean < slack + 4 * se, (
        f"bound - true NLL = {mean:.4f} +- {se:.4f} bits/dim, expected within [0, {slack:.4f}] (prior + recon): "
        f"terms {r['terms']}")


def test_vdm_training_from_the_exact_denoiser_does_not_go_below_the_entropy():
    """Check that three epochs of training (learned schedule, lr 1e-2) started from the exact denoiser leave the
    held-out bound no lower than the true NLL minus 4 standard errors: at the optimum, training can only find
    a lower number through a hole in the bound."""
    x_train, pi, _ = _iid_levels(256, 1)
    x_test, _, nll = _iid_levels(256, 3)
    torch.manual_seed(0)
    model = _bayes_vdm(pi, 6.0).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    g = torch.Generator().manual_seed(4)
    for _ in range(3):
        for i in range(0, len(x_train), 32):
            loss = model.loss_terms(x_train[i:i + 32], g)["total"].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    r = model.bits_per_dim(x_test, 32, generator=torch.Generator().manual_seed(5))
    gap = r["per_image"] - nll
    mean, se = float(gap.mean()), float(gap.std() / math.sqrt(len(gap)))
    assert mean > -4 * se, f"after training the bound is {-mean:.4f} +- {se:.4f} bits/dim BELOW the true NLL"
