"""Tests of unit 03's widgets (genlib.widgets.conditional), driven without a browser."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from genlib.data.cardiac import thicken_wall  # noqa: E402
from genlib.widgets import ClassLatentExplorer, LabelMapEditor  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def fake_cgan(z, labels):
    """An 'image' whose pixel 0 is the class / 10 and pixel 1 the first latent coordinate (clipped)."""
    images = torch.zeros(len(z), 1, 8, 8)
    images[:, 0, 0, 0] = labels / 10
    images[:, 0, 0, 1] = z[:, 0].clamp(0, 1)
    return images


def test_class_latent_explorer_follows_the_sliders():
    before = len(plt.get_fignums())
    explorer = ClassLatentExplorer(fake_cgan, latent_dim=3, label=2, seed=5)
    assert explorer.images().shape == (10, 1, 8, 8)
    assert explorer.current_image()[0, 0] == pytest.approx(0.2)
    explorer.label.value = 7
    assert explorer.current_image()[0, 0] == pytest.approx(0.7)
    z5 = explorer.z.clone()
    explorer.seed.value = 6
    assert not torch.equal(explorer.z, z5)
    assert torch.equal(explorer.images()[:, 0, 0, 1], explorer.images()[0, 0, 0, 1].expand(10)), "one z for every class"
    assert len(plt.get_fignums()) == before, "redraw must close its figures"
    with pytest.raises(ValueError, match=r"label must be a class in 0 .. 9, got 10"):
        ClassLatentExplorer(fake_cgan, latent_dim=3, label=10)


def fake_spade(labels, z):
    """An 'image' that shows the label map / 3, plus the first style coordinate."""
    return (labels.float() / 3 + z[:, :1, None]).clamp(0, 1).unsqueeze(1)


def _maps():
    maps = torch.zeros(2, 32, 32, dtype=torch.long)
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    r = ((yy - 16) ** 2 + (xx - 16) ** 2).float().sqrt()
    maps[:, r < 9] = 2
    maps[:, r < 6] = 3
    return maps


def test_label_map_editor_edits_the_map_and_redraws():
    maps = _maps()
    editor = LabelMapEditor(fake_spade, maps, z_dim=2)
    torch.testing.assert_close(editor.image(), maps[0].float() / 3)  # style seed 0: z = 0
    editor.wall.value = 2
    assert torch.equal(editor.edited_labels(), thicken_wall(maps[0], 2))
    assert (editor.edited_labels() == 2).sum() > (maps[0] == 2).sum()
    editor.wall.value = 0
    editor.cavity.value = -2
    assert (editor.edited_labels() == 3).sum() < (maps[0] == 3).sum()
    editor.style.value = 3
    assert editor.z.shape == (1, 2) and editor.z.abs().sum() > 0
    with pytest.raises(ValueError, match=r"label_maps must have shape \(N, H, W\) with N >= 1, got \(32, 32\)"):
        LabelMapEditor(fake_spade, maps[0], z_dim=2)
