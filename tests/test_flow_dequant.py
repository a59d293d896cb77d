"""genlib.models.flow_dequant: splines, the autoregressive flow's log-det, the dequantiser and the bound."""
import math

import pytest
import torch

from genlib.models.flow_dequant import (ARSplineFlow, DequantizedFlow, Dequantizer, bits_per_dim,
                                        fit_dequantized_flow, unit_spline)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _scaled(model, factor=3.0, seed=0):
    """The model in float64 with every weight scaled up, so that the splines are far from the identity."""
    torch.manual_seed(seed)
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p)).mul_(factor if p.ndim > 1 else 1.0)
    return model


def _digits(n, seed=0):
    return torch.randint(0, 17, (n, 64), generator=torch.Generator().manual_seed(seed)).float()


def _spline_parameters(n, k, seed):
    g = torch.Generator().manual_seed(seed)
    return [2 * torch.randn(n, m, generator=g, dtype=torch.float64) for m in (k, k, k + 1)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unit_spline_maps_the_interval_onto_itself_and_its_inverse_undoes_it(seed):
    w, h, d = _spline_parameters(200, 6, seed)
    x = torch.rand(200, generator=torch.Generator().manual_seed(seed + 10), dtype=torch.float64)
    x[:3] = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64)
    y, log_det = unit_spline(x, w, h, d)
    assert y[0] == 0 and y[1] == 1, "the spline must map 0 to 0 and 1 to 1"
    assert ((y >= 0) & (y <= 1)).all()
    back, log_det_inverse = unit_spline(y, w, h, d, inverse=True)
    assert torch.allclose(back, x, atol=1e-8), f"round trip off by {(back - x).abs().max():.3g}"
    assert torch.allclose(log_det_inverse, -log_det, atol=1e-8)


def test_unit_spline_log_derivative_matches_autograd_and_the_map_is_increasing():
    w, h, d = _spline_parameters(300, 5, 7)
    x = torch.linspace(0.001, 0.999, 300, dtype=torch.float64).requires_grad_(True)
    y, log_det = unit_spline(x, w, h, d)
    (grad,) = torch.autograd.grad(y.sum(), x)  # each y_n depends on x_n only: the gradient is the derivative
    assert (grad > 0).all()
    assert torch.allclose(log_det, grad.log(), atol=1e-8)


def test_unit_spline_rejects_mismatched_parameter_counts():
    w, h, d = _spline_parameters(4, 5, 0)
    with pytest.raises(ValueError, match="K \\+ 1 derivatives"):
        unit_spline(torch.rand(4, dtype=torch.float64), w, h, d[:, :5])


def test_flow_log_det_equals_the_brute_force_jacobian_and_the_jacobian_is_lower_triangular():
    flow = _scaled(ARSplineFlow(n_bins=4, channels=8, n_layers=2, head_channels=8))
    v = torch.rand(2, 64, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    _, log_det = flow(v)
    for b in range(2):
        jac = torch.autograd.functional.jacobian(lambda row: flow(row[None])[0][0], v[b])  # (64, 64): dz_i / dv_j
        assert torch.allclose(torch.triu(jac, 1), torch.zeros_like(jac)), "z_i depends on a pixel after i: a mask leaks"
        assert jac.tril(-1).abs().max() > 1e-6, "z_i should depend on pixels before i (the test could not fail)"
        brute = torch.linalg.slogdet(jac)
        assert brute.sign > 0
        assert torch.allclose(log_det[b], brute.logabsdet, atol=1e-8)


def test_flow_inverse_recovers_v_pixel_by_pixel():
    flow = _scaled(ARSplineFlow(n_bins=4, channels=8, n_layers=2, head_channels=8), seed=1)
    v = torch.rand(3, 64, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 0.98 + 0.01
    z, _ = flow(v)
    assert torch.allclose(flow.inverse(z), v, atol=1e-7)


def test_dequantizer_samples_lie_in_the_unit_cube_and_its_log_q_is_minus_the_log_det_of_e_to_u():
    deq = _scaled(Dequantizer(n_couplings=2, n_bins=4, channels=8, n_layers=1), factor=2.0)
    x = _digits(2, 5)
    u, log_q = deq.float().sample(_digits(500, 6), generator=torch.Generator().manual_seed(0))
    assert ((u >= 0) & (u < 1)).all() and torch.isfinite(log_q).all()
    assert u.std() > 0.1, "the dequantiser's samples should spread over the cell"
    deq = deq.double()
    e = torch.rand(2, 64, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    _, log_q = deq.transform(x, e)
    for b in range(2):
        jac = torch.autograd.functional.jacobian(lambda row: deq.transform(x[b:b + 1], row[None])[0][0], e[b])
        assert jac.tril(-1).abs().max() > 1e-6, "the couplings should make u_i depend on other pixels of e"
        assert torch.allclose(-log_q[b], torch.linalg.slogdet(jac).logabsdet, atol=1e-8)


def test_an_untrained_flow_with_uniform_dequantisation_scores_exactly_log2_of_17_bits():
    """With the spline parameters at zero the flow's density is 1 on the cube, so P(x) = 17^-64 exactly."""
    flow = ARSplineFlow(n_bins=4, channels=8, n_layers=1, head_channels=8)
    with torch.no_grad():
        flow.net[-1].weight.zero_()
    model = DequantizedFlow(flow, None)
    bound = model.nll_bound(_digits(10), 3, generator=torch.Generator().manual_seed(0))
    assert abs(bits_per_dim(bound) - math.log2(17)) < 1e-5


def test_the_bound_is_finite_falls_with_training_and_more_draws_tighten_it():
    x_train, x_val = _digits(64, 1) * 0, _digits(32, 2) * 0  # all-background digits: an easy set
    x_train[:, ::3], x_val[:, ::3] = 16, 16
    torch.manual_seed(0)
    model = DequantizedFlow(ARSplineFlow(n_bins=4, channels=8, n_layers=1, head_channels=16),
                            Dequantizer(n_couplings=1, n_bins=4, channels=8, n_layers=1))
    before = bits_per_dim(model.nll_bound(x_val, generator=torch.Generator().manual_seed(0)))
    info = fit_dequantized_flow(model, x_train, x_val, epochs=20, batch_size=16, lr=1e-2)
    after = bits_per_dim(model.nll_bound(x_val, generator=torch.Generator().manual_seed(0)))
    assert math.isfinite(after) and after < before - 0.5, f"the bound went from {before:.3f} to {after:.3f} bits/dim"
    assert info["best_val_bits_per_dim"] == min(info["val_bits_per_dim"])
    one = model.nll_bound(x_val, 1, generator=torch.Generator().manual_seed(1))
    many = model.nll_bound(x_val, 50, generator=torch.Generator().manual_seed(1))
    assert many.mean() <= one.mean() + 1e-9, "the importance-weighted bound with 50 draws should not be looser"


def test_one_step_changes_every_parameter_of_both_flows():
    torch.manual_seed(0)
    model = DequantizedFlow(ARSplineFlow(n_bins=4, channels=8, n_layers=1, head_channels=8),
                            Dequantizer(n_couplings=1, n_bins=4, channels=8, n_layers=1))
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.loss(_digits(8)).backward()
    optimizer.step()
    frozen = [k for k, p in model.named_parameters() if torch.equal(p, before[k])]
    assert not frozen, f"these parameters did not move after one step: {frozen}"


def test_errors_say_what_to_pass():
    model = DequantizedFlow(ARSplineFlow(n_bins=4, channels=8, n_layers=1, head_channels=8))
    with pytest.raises(ValueError, match="scale='levels'"):
        model.loss(torch.rand(4, 64))
    with pytest.raises(ValueError, match="shape \\(B, 64\\)"):
        model.loss(torch.zeros(4, 8, 8))
    with pytest.raises(TypeError, match="Dequantizer or None"):
        DequantizedFlow(ARSplineFlow(n_bins=4, channels=8, n_layers=1, head_channels=8), "uniform")
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        model.nll_bound(_digits(2), 0)
