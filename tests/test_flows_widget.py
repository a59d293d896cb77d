"""Tests drive the flow-layers explorer (genlib.widgets.flows)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from genlib.models.flows import realnvp  # noqa: E402
from genlib.widgets import FlowLayersExplorer  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _flow():
    flow = realnvp(2, 3, hidden=8)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p, generator=None))
    return flow.eval()


def test_slider_walks_from_the_gaussian_to_the_samples():
    torch.manual_seed(0)
    flow = _flow()
    explorer = FlowLayersExplorer(flow, n_points=300, seed=3)
    z = torch.randn(300, 2, generator=torch.Generator().manual_seed(3))
    assert explorer.slider.min == 0 and explorer.slider.max == len(flow.layers) == explorer.n_layers
    np.testing.assert_allclose(explorer.current_points(), z.numpy())
    assert explorer.title().startswith("after 0 of")
    explorer.slider.value = explorer.slider.max
    with torch.no_grad():
        np.testing.assert_allclose(explorer.current_points(), flow.inverse(z)[0].numpy(), atol=1e-6)
    explorer.slider.value = 1
    with torch.no_grad():
        first, _ = flow.layers[-1].inverse(z)
    np.testing.assert_allclose(explorer.current_points(), first.numpy(), atol=1e-6)
    assert type(flow.layers[-1]).__name__ in explorer.title()


def test_redraw_closes_its_figures_and_uses_the_data_window():
    torch.manual_seed(0)
    before = len(plt.get_fignums())
    data = torch.randn(500, 2) * 3
    explorer = FlowLayersExplorer(_flow(), n_points=100, data=data)
    for k in range(explorer.n_layers + 1):
        explorer.slider.value = k
    assert len(plt.get_fignums()) == before, "redraw must close its figures"
    assert explorer.lim == pytest.approx(float(np.percentile(np.abs(data.numpy()), 99.5)) * 1.3)
    assert FlowLayersExplorer(_flow(), n_points=10, lim=2.0).lim == 2.0


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="flow must be a genlib Flow of dimension 2"):
        FlowLayersExplorer(realnvp(3, 2))
    with pytest.raises(ValueError, match="n_points must be a positive integer"):
        FlowLayersExplorer(_flow(), n_points=0)
    with pytest.raises(ValueError, match=r"data must have shape \(N, 2\)"):
        FlowLayersExplorer(_flow(), data=torch.zeros(5, 3))
