"""Tests of genlib.models.flows and the dequantisation bound in genlib.metrics.likelihood."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genlib.data.toys import make_toy
from genlib.metrics import bits_per_dim, dequantized_nll_bound, uniform_dequantize
from genlib.models.flows import (
    ActNorm, AffineCoupling, Flow, InvertibleLinear, LogitTransform, Permutation, SplineCoupling, fit_flow,
    rational_quadratic_spline, realnvp,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small models: one thread is as fast and does not stall when the machine is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _trained_like(layer, dim, seed=0):
    """Perturb every parameter so the layer is not the identity (fresh couplings nearly are)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer


def _layers(dim=4):
    half = (torch.arange(dim) < dim // 2).float()
    return {
        "coupling": _trained_like(AffineCoupling(half, hidden=16), dim),
        "coupling-odd-mask": _trained_like(AffineCoupling(1 - half, hidden=16, n_hidden=1), dim, seed=1),
        "coupling-dropout": _trained_like(AffineCoupling(half, hidden=16, dropout=0.5).eval(), dim, seed=2),
        "spline": _trained_like(SplineCoupling(half, n_bins=6, bound=2.5, hidden=16), dim, seed=3),
        "spline-odd-mask": _trained_like(SplineCoupling(1 - half, n_bins=3, bound=1.0, hidden=8), dim, seed=4),
        "permutation": Permutation(torch.randperm(dim, generator=torch.Generator().manual_seed(0))),
        "linear": _trained_like(InvertibleLinear(dim, seed=3), dim),
        "actnorm": _trained_like(ActNorm(dim).eval(), dim),
        "logit": LogitTransform(dim, alpha=0.05),
    }


LAYER_NAMES = list(_layers())


def _inputs(name, n=5, dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    if name == "logit":
        return 0.02 + 0.96 * torch.rand(n, dim, generator=g, dtype=torch.float64)
    return torch.randn(n, dim, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_inverse_undoes_forward(name):
    layer = _layers()[name].double()
    x = _inputs(name)
    y, _ = layer(x)
    x_back, _ = layer.inverse(y)
    torch.testing.assert_close(x_back, x, atol=1e-10, rtol=1e-9)
    assert not torch.allclose(y, x), "the test layer should not be the identity"


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_log_det_matches_autograd_jacobian(name):
    layer = _layers()[name].double()
    x = _inputs(name, n=3)
    _, log_det = layer(x)
    for i in range(len(x)):
        jacobian = torch.autograd.functional.jacobian(lambda v: layer(v.unsqueeze(0))[0][0], x[i])  # (D, D)
        expected = torch.linalg.slogdet(jacobian).logabsdet
        torch.testing.assert_close(log_det[i], expected, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_inverse_log_det_is_minus_forward(name):
    layer = _layers()[name].double()
    x = _inputs(name)
    y, log_det = layer(x)
    _, log_det_inverse = layer.inverse(y)
    torch.testing.assert_close(log_det_inverse, -log_det, atol=1e-10, rtol=1e-9)


@settings(max_examples=25, deadline=None)
@given(dim=st.integers(2, 7), seed=st.integers(0, 10_000), n_masked=st.integers(1, 6))
def test_coupling_leaves_the_conditioning_entries_untouched(dim, seed, n_masked):
    n_masked = min(n_masked, dim - 1)
    mask = torch.zeros(dim)
    mask[torch.randperm(dim, generator=torch.Generator().manual_seed(seed))[:n_masked]] = 1
    layer = _trained_like(AffineCoupling(mask, hidden=8), dim, seed=seed).double()
    x = torch.randn(6, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    y, _ = layer(x)
    keep = mask.bool()
    assert torch.equal(y[:, keep], x[:, keep])
    assert not torch.allclose(y[:, ~keep], x[:, ~keep])
    x_back, _ = layer.inverse(y)
    assert torch.equal(x_back[:, keep], y[:, keep])
    torch.testing.assert_close(x_back, x, atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("mixing", ["linear", "reverse", "none"])
@pytest.mark.parametrize("logit", [False, True])
def test_flow_log_prob_is_change_of_variables(mixing, logit):
    flow = realnvp(3, 3, hidden=8, mixing=mixing, logit=logit).double()
    x = torch.rand(64, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.9 + 0.05
    flow.train()
    flow(x)  # ActNorm initialises from this batch
    flow.eval()
    _trained_like(flow, 3)
    x = x[:4]
    z, log_det = flow(x)
    jacobians = [torch.autograd.functional.jacobian(lambda v: flow(v.unsqueeze(0))[0][0], xi) for xi in x]
    expected_log_det = torch.stack([torch.linalg.slogdet(j).logabsdet for j in jacobians])
    torch.testing.assert_close(log_det, expected_log_det, atol=1e-8, rtol=1e-8)
    base = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(flow.log_prob(x), base.log_prob(z) + expected_log_det, atol=1e-8, rtol=1e-8)
    x_back, log_det_inverse = flow.inverse(z)
    torch.testing.assert_close(x_back, x, atol=1e-9, rtol=1e-8)
    torch.testing.assert_close(log_det_inverse, -log_det, atol=1e-9, rtol=1e-8)


def test_flow_density_integrates_to_one_in_2d():
    flow = _trained_like(realnvp(2, 4, hidden=16, actnorm=False), 2, seed=5).double()
    grid = torch.linspace(-12, 12, 801, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    with torch.no_grad():
        density = flow.log_prob(torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)).exp()
    mass = density.sum().item() * (grid[1] - grid[0]).item() ** 2
    assert abs(mass - 1) < 0.02, mass


def test_intermediates_go_from_noise_to_samples():
    flow = _trained_like(realnvp(2, 3, hidden=8), 2)
    z = torch.randn(10, 2)
    points = flow.intermediates(z)
    assert len(points) == len(flow.layers) + 1
    assert torch.equal(points[0], z)
    torch.testing.assert_close(points[-1], flow.inverse(z)[0])
    generator_a, generator_b = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    torch.testing.assert_close(flow.sample(7, generator=generator_a), flow.inverse(torch.randn(7, 2, generator=generator_b))[0])


@pytest.mark.parametrize("mixing", ["linear", "reverse"])
def test_every_parameter_learns(mixing):
    flow = realnvp(4, 3, hidden=8, mixing=mixing, logit=False)
    x = torch.randn(128, 4) * torch.tensor([1.0, 2.0, 0.5, 3.0]) + 1
    flow.train()
    flow(x)  # ActNorm initialisation
    before = {name: p.detach().clone() for name, p in flow.named_parameters()}
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-2)
    for _ in range(2):
        loss = -flow.log_prob(x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    frozen = [name for name, p in flow.named_parameters() if torch.equal(p, before[name])]
    assert not frozen, f"parameters that did not change: {frozen}"
    assert len(before) == len(list(flow.parameters())) > 10


def test_actnorm_initialises_from_the_first_batch():
    layer = ActNorm(3)
    x = torch.randn(500, 3) * torch.tensor([2.0, 0.5, 5.0]) + torch.tensor([1.0, -3.0, 0.0])
    y, _ = layer(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(0), torch.ones(3), atol=1e-4, rtol=0)
    y2, _ = layer(x + 10)  # no re-initialisation on later batches
    torch.testing.assert_close(y2.mean(0), 10 / x.std(0), atol=1e-4, rtol=1e-4)


def test_fit_flow_learns_a_gaussian_and_reports_its_budget():
    torch.manual_seed(0)
    flow = realnvp(2, 2, hidden=16)
    scale = torch.tensor([0.5, 2.0])
    history = fit_flow(flow, lambda n: torch.randn(n, 2) * scale + 3, steps=300, batch_size=256, lr=1e-2)
    x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(1)) * scale + 3
    entropy = float(0.5 * 2 * math.log(2 * math.pi * math.e) + torch.log(scale).sum())
    with torch.no_grad():
        nll = -flow.log_prob(x).mean().item()
    assert nll - entropy < 0.05, (nll, entropy)
    assert history["steps"] == 300 and len(history["loss"]) == 300 and history["cpu_seconds"] > 0
    short = fit_flow(realnvp(2, 2, hidden=16), lambda n: torch.randn(n, 2), steps=10**6, seconds=0.2)
    assert short["steps"] < 10**6


def test_flow_fits_moons_toy_quickly():  # a smoke test of training; quality targets live in bench/
    toy = make_toy("moons")
    flow = realnvp(2, 6, hidden=32)
    fit_flow(flow, lambda n: toy.sample(n), steps=250, batch_size=256, lr=3e-3)
    with torch.no_grad():
        nll = -flow.log_prob(toy.sample(5000, seed=1)).mean().item()
    assert nll - toy.entropy_estimate(50_000) < 0.5  # the benchmark trains longer and asks for 0.10


# ----- dequantisation and the discrete bound -----

def test_uniform_dequantize_stays_in_the_cell():
    x = torch.randint(0, 17, (200, 64)).float()
    v = uniform_dequantize(x, 17, generator=torch.Generator().manual_seed(0))
    assert v.dtype == torch.float32 and v.shape == x.shape
    assert torch.equal(torch.floor(v * 17), x)
    assert ((v * 17 - x).mean() - 0.5).abs() < 0.01


def test_bound_is_exact_for_a_piecewise_constant_density():
    # A density constant on each cell (a histogram) gives P(x) = q(cell) / L^D exactly, whatever u is.
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])  # 4 levels, D = 1

    def log_q(v):
        return torch.log(probs[(v[:, 0] * 4).floor().long()] * 4)

    x = torch.tensor([[0.0], [1.0], [3.0]])
    bound = dequantized_nll_bound(log_q, x, n_levels=4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(bound, -torch.log(probs[[0, 1, 3]]).double())


def test_bound_is_above_the_discrete_nll_and_tightens_with_samples():
    # q(v) = 2v on (0, 1): P(level k of L) = ((k+1)^2 - k^2) / L^2 exactly.
    L = 5
    x = torch.arange(L).float().reshape(-1, 1)
    exact = -torch.log(((x[:, 0] + 1) ** 2 - x[:, 0] ** 2) / L**2).double()

    def log_q(v):
        return torch.log(2 * v[:, 0])

    x = x.repeat(400, 1)  # 400 independent estimates per level
    plain = dequantized_nll_bound(log_q, x, L, generator=torch.Generator().manual_seed(0)).reshape(400, L).mean(0)
    iw = dequantized_nll_bound(log_q, x, L, n_samples=50, generator=torch.Generator().manual_seed(1)).reshape(400, L).mean(0)
    assert (plain > exact + 1e-4).all()          # Jensen: strictly above for a non-constant density
    assert (iw < plain).all()  # the importance-weighted bound is tighter
    torch.testing.assert_close(iw, exact, atol=5e-3, rtol=0)


def test_uniform_density_gives_log2_levels_bits():
    x = torch.randint(0, 17, (10, 64)).float()
    bound = dequantized_nll_bound(lambda v: torch.zeros(len(v)), x, 17)
    assert bits_per_dim(bound) == pytest.approx(math.log2(17))


# ----- errors name the argument and the fix -----

def test_errors_are_explained():
    with pytest.raises(ValueError, match="mask must hold 0s and 1s with at least one of each"):
        AffineCoupling(torch.ones(4))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 4\) .* got \(3, 5\)"):
        AffineCoupling(torch.tensor([1.0, 1.0, 0.0, 0.0]))(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"x must have 2 dimensions .* add a batch dimension"):
        realnvp(4, 2)(torch.zeros(4))
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        realnvp(2, 1).inverse([[0.0, 0.0]])
    with pytest.raises(ValueError, match="order must be a permutation"):
        Permutation([0, 0, 1])
    with pytest.raises(ValueError, match="mixing must be one of"):
        realnvp(4, 2, mixing="shuffle")
    with pytest.raises(ValueError, match="dim must be an integer >= 2"):
        realnvp(1)
    with pytest.raises(TypeError, match="layers must be a non-empty sequence of flow layers"):
        Flow([torch.nn.Linear(2, 2)], 2)
    with pytest.raises(ValueError, match="alpha must be a number in"):
        LogitTransform(3, alpha=0.5)
    with pytest.raises(ValueError, match="x_levels must hold integer levels 0..16.*scale='levels'"):
        uniform_dequantize(torch.rand(3, 64))
    with pytest.raises(ValueError, match="x_levels must have shape"):
        dequantized_nll_bound(lambda v: v.sum(1), torch.zeros(64))
    with pytest.raises(ValueError, match=r"log_density must return one value per image, shape \(3,\)"):
        dequantized_nll_bound(lambda v: v, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        dequantized_nll_bound(lambda v: v.sum(1), torch.zeros(3, 2), n_samples=0)


# ----- the spline coupling -----

def test_spline_is_monotone_identity_outside_and_starts_near_identity():
    g = torch.Generator().manual_seed(0)
    n, k = 2001, 8
    x = torch.linspace(-4, 4, n, dtype=torch.float64, requires_grad=True)
    raw = [torch.randn(1, k, generator=g, dtype=torch.float64).expand(n, k) * 2 for _ in range(2)]
    raw_d = torch.randn(1, k - 1, generator=g, dtype=torch.float64).expand(n, k - 1)
    y, log_det = rational_quadratic_spline(x, raw[0], raw[1], raw_d, bound=3.0)
    (slope,) = torch.autograd.grad(y.sum(), x)  # dy_i/dx_i: the points are independent
    torch.testing.assert_close(log_det, torch.log(slope), atol=1e-9, rtol=1e-9)
    x, y, log_det = x.detach(), y.detach(), log_det.detach()
    # the inverse undoes it, with minus the log-derivative
    x_back, log_det_inverse = rational_quadratic_spline(y, raw[0], raw[1], raw_d, bound=3.0, inverse=True)
    torch.testing.assert_close(x_back, x, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(log_det_inverse, -log_det, atol=1e-8, rtol=1e-8)
    assert (y[1:] > y[:-1]).all(), "a spline flow must be strictly increasing"
    outside = x.abs() >= 3
    assert torch.equal(y[outside], x[outside]) and torch.equal(log_det[outside], torch.zeros(int(outside.sum()), dtype=torch.float64))
    layer = SplineCoupling(torch.tensor([1.0, 0.0]), n_bins=8, hidden=8)
    x2 = torch.randn(50, 2)
    y2, ld2 = layer(x2)
    assert (y2 - x2).abs().max() < 0.1 and ld2.abs().max() < 0.2  # small last layer: close to the identity


def test_spline_flow_fits_ring8_better_than_affine_in_few_steps():
    torch.manual_seed(0)
    ring = make_toy("ring8")
    gaps = {}
    for coupling in ("affine", "spline"):
        flow = realnvp(2, 4, hidden=32, coupling=coupling, seed=0)
        fit_flow(flow, ring.sample, steps=100, batch_size=256, lr=3e-3)
        with torch.no_grad():
            gaps[coupling] = -flow.log_prob(ring.sample(5000, seed=1)).mean().item() - ring.entropy_estimate(50_000)
    assert gaps["spline"] < gaps["affine"] - 1.0, gaps


def test_dropout_is_off_in_eval_mode_and_the_flow_inverts():
    flow = realnvp(4, 2, hidden=16, dropout=0.5).eval()
    x = torch.randn(8, 4)
    torch.testing.assert_close(flow.log_prob(x), flow.log_prob(x))
    torch.testing.assert_close(flow.inverse(flow(x)[0])[0], x, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        AffineCoupling(torch.tensor([1.0, 0.0]), dropout=1.0)
    with pytest.raises(ValueError, match="coupling must be 'affine' or 'spline'"):
        realnvp(4, 2, coupling="additive")
    with pytest.raises(ValueError, match="n_bins must be an integer >= 2"):
        SplineCoupling(torch.tensor([1.0, 0.0]), n_bins=1)


def test_invertible_linear_takes_a_generator_like_its_int_seed():
    a, b = InvertibleLinear(4, seed=3), InvertibleLinear(4, seed=torch.Generator().manual_seed(3))
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name
    with pytest.raises(TypeError, match=r"seed must be an int or a torch.Generator, got str"):
        InvertibleLinear(4, seed="3")
