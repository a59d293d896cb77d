"""Tests of unit 02's widgets (genlib.widgets.gan), driven without a browser."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from genlib.data import make_toy  # noqa: E402
from genlib.widgets import LatentInterpolation, RejectionExplorer, TrainingReplay  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _ring_snapshots():
    toy = make_toy("ring8")
    collapsed = toy.means[0].float() + 0.001 * torch.randn(200, 2)  # every sample on mode 0
    return toy, [torch.zeros(200, 2) + 5.0, collapsed, toy.sample(200, seed=0)], [0, 100, 200]


def test_replay_scrubs_through_the_steps_and_reports_coverage():
    toy, snapshots, steps = _ring_snapshots()
    before = len(plt.get_fignums())
    replay = TrainingReplay(snapshots, steps, means=toy.means, std=toy.std)
    assert replay.slider.max == 2 and replay.slider.value == 2 and replay.step == 200
    assert replay.title().startswith("step 200: 8/8 modes")
    replay.slider.value = 1
    assert replay.step == 100 and replay.title() == "step 100: 1/8 modes, 100% high quality"
    replay.slider.value = 0
    assert replay.title() == "step 0: 0/8 modes, 0% high quality"
    assert len(plt.get_fignums()) == before, "redraw must close its figures"
    assert replay.lim == pytest.approx(1.35)


def test_replay_without_modes_and_with_images():
    _, snapshots, steps = _ring_snapshots()
    assert TrainingReplay(snapshots, steps).title() == "step 200"
    images = [torch.rand(40, 1, 8, 8) for _ in range(3)]
    replay = TrainingReplay(images, [0, 5, 10], n_images=16)
    assert not replay.is_2d
    replay.slider.value = 0
    assert replay.title() == "step 0"


def test_replay_errors():
    with pytest.raises(ValueError, match=r"snapshots must be a non-empty list .* pass snapshot_every="):
        TrainingReplay([], [])
    with pytest.raises(ValueError, match=r"steps must have one entry per snapshot: got 2 steps for 3 snapshots"):
        TrainingReplay([torch.zeros(4, 2)] * 3, [0, 1])


class _Generator:
    """Images that depend linearly on z; records the latents it is given."""

    def __init__(self, latent_dim=4):
        self.weights = torch.linspace(-1, 1, latent_dim * 64).reshape(latent_dim, 64)
        self.calls = []

    def __call__(self, z):
        self.calls.append(z.clone())
        return torch.sigmoid(z @ self.weights).reshape(-1, 1, 8, 8)


def test_interpolation_follows_the_slider():
    generate = _Generator()
    widget = LatentInterpolation(generate, 4, n_steps=5, start_seed=3, end_seed=7)
    z0 = torch.randn(1, 4, generator=torch.Generator().manual_seed(3))
    z1 = torch.randn(1, 4, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(widget.z, 0.5 * z0 + 0.5 * z1)
    widget.t.value = 0.0
    torch.testing.assert_close(generate.calls[-2], z0)  # the redraw generated G(z_0) ...
    assert generate.calls[-1].shape == (5, 4)  # ... and the strip
    torch.testing.assert_close(generate.calls[-1][0], z0[0])
    torch.testing.assert_close(generate.calls[-1][-1], z1[0])
    widget.t.value = 1.0
    expected = torch.sigmoid(z1 @ generate.weights).reshape(8, 8).numpy()
    np.testing.assert_allclose(widget.current_image(), expected, rtol=1e-6)
    widget.end_seed.value = 8
    torch.testing.assert_close(widget.endpoints[1], torch.randn(1, 4, generator=torch.Generator().manual_seed(8)))


def test_interpolation_errors():
    with pytest.raises(ValueError, match=r"latent_dim must be a positive integer, got 0"):
        LatentInterpolation(_Generator(), 0)
    with pytest.raises(ValueError, match=r"n_steps must be an integer >= 2"):
        LatentInterpolation(_Generator(), 4, n_steps=1)


# ---- rejection sampling ----------------------------------------------------------------

def _draws_on_and_off_the_modes():
    """200 draws on the ring's modes (logit 0) and 200 far from them (logit -8)."""
    toy = make_toy("ring8")
    on = toy.sample(200, seed=0)
    off = torch.full((200, 2), 0.0) + 0.3 * torch.randn(200, 2, generator=torch.Generator().manual_seed(1))
    logits = torch.cat([torch.zeros(200), torch.full((200,), -8.0)])
    return toy, torch.cat([on, off]), logits


def test_rejection_explorer_keeps_the_draws_the_logits_favour():
    toy, draws, logits = _draws_on_and_off_the_modes()
    before = len(plt.get_fignums())
    explorer = RejectionExplorer(draws, logits, means=toy.means, std=toy.std, quantile=0.9)
    assert explorer.log_cap == pytest.approx(0.0), "the 0.9 quantile of these logits is 0"
    kept = explorer.kept()
    assert kept[:200].all(), "draws at the cap's logit or above are always kept"
    assert kept[200:].float().mean() < 0.01, "exp(-8) = 0.03%: draws far from the modes are almost all rejected"
    assert explorer.title().startswith("cap at the 0.90 quantile: 200 of 400 draws kept (50%)")
    assert "8/8 modes" in explorer.title()
    explorer.slider.value = 0.5  # the cap drops to the median, between -8 and 0: more off-mode draws are kept
    assert explorer.log_cap == pytest.approx(-4.0)
    assert kept.sum() <= explorer.kept().sum()
    assert len(plt.get_fignums()) == before, "redraw must close its figures"


def test_rejection_explorer_errors():
    toy, draws, logits = _draws_on_and_off_the_modes()
    with pytest.raises(ValueError, match=r"draws must have shape \(N, 2\)"):
        RejectionExplorer(draws[:, :1], logits, means=toy.means, std=toy.std)
    with pytest.raises(ValueError, match=r"one value per draw, shape \(400,\)"):
        RejectionExplorer(draws, logits[:10], means=toy.means, std=toy.std)
    with pytest.raises(ValueError, match=r"NaN or infinite"):
        RejectionExplorer(draws, logits * float("nan"), means=toy.means, std=toy.std)
