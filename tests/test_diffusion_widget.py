"""genlib.widgets.DiffusionExplorer: the timestep slider shows x_t of both trajectories."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from genlib.models.diffusion import GaussianDiffusion, MLPDenoiser, alpha_bar, linear_betas  # noqa: E402
from genlib.widgets import DiffusionExplorer  # noqa: E402
from genlib.widgets.diffusion import forward_trajectory  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_slider_selects_the_timestep_of_both_trajectories():
    forward = torch.arange(6)[:, None].expand(6, 64).float() / 10  # (T + 1, 64): x_t is t / 10 everywhere
    reverse = -forward
    explorer = DiffusionExplorer(forward, reverse)
    assert explorer.T == 5 and explorer.slider.max == 5 and explorer.t == 0
    drawn = []
    explorer.redraw = lambda: drawn.append(explorer.current_images())
    explorer.slider.value = 3
    assert len(drawn) == 1, "moving the slider redraws once"
    f, r = drawn[0]
    assert f.shape == r.shape == (8, 8)
    np.testing.assert_allclose(f, 0.3, rtol=1e-6)
    np.testing.assert_allclose(r, -0.3, rtol=1e-6)


def test_from_model_starts_the_reverse_chain_at_the_forward_x_T():
    torch.manual_seed(0)
    model = GaussianDiffusion(MLPDenoiser(64, hidden_dim=16), linear_betas(12))
    x0 = torch.ones(1, 64) * 0.5
    explorer = DiffusionExplorer.from_model(model, x0, seed=3)
    assert explorer.forward.shape == (13, 8, 8)
    np.testing.assert_allclose(explorer.forward[0], 0.5)
    np.testing.assert_allclose(explorer.reverse[12], explorer.forward[12])
    again = DiffusionExplorer.from_model(model, x0, seed=3)
    np.testing.assert_allclose(again.reverse, explorer.reverse)


def test_forward_trajectory_has_the_closed_form_moments():
    betas = linear_betas(20)
    path = forward_trajectory(torch.full((50_000, 1), 0.8), betas, generator=torch.Generator().manual_seed(0))
    ab = alpha_bar(betas)
    assert path.shape == (21, 50_000, 1)
    assert abs(path[10].mean() - 0.8 * ab[9].sqrt()) < 0.01 and abs(path[10].var() - (1 - ab[9])) < 0.01


def test_explorer_errors_name_the_problem():
    with pytest.raises(ValueError, match="forward and reverse must have the same shape"):
        DiffusionExplorer(torch.zeros(5, 64), torch.zeros(4, 64))
    with pytest.raises(ValueError, match="a trajectory needs at least 2 images"):
        DiffusionExplorer(torch.zeros(1, 64), torch.zeros(1, 64))
    model = GaussianDiffusion(MLPDenoiser(64, hidden_dim=16), linear_betas(4))
    with pytest.raises(ValueError, match=r"x0 must hold one example, shape \(1, ...\)"):
        DiffusionExplorer.from_model(model, torch.zeros(2, 64))
