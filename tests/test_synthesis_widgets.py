"""Tests of unit 07's explorer (genlib.widgets.synthesis), driven without a browser."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from genlib.data.cardiac import thicken_wall  # noqa: E402
from genlib.widgets import SynthesisExplorer  # noqa: E402
from genlib.widgets.synthesis import LGE_STYLE, RANDOM_STYLE  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def fake_cine(labels, z):
    """An 'image' that shows the label map / 4 plus the first style coordinate; it rejects label 4."""
    assert int(labels.max()) <= 3, "the cine generator must never see the scar label"
    return (labels.float() / 4 + z[:, :1, None]).clamp(0, 1).unsqueeze(1)


def fake_lge(labels, z):
    """An 'image' bright (1) on the scar, labels / 10 elsewhere, plus the first style coordinate."""
    image = torch.where(labels == 4, torch.ones(()), labels.float() / 10) + z[:, :1, None]
    return image.clamp(0, 1).unsqueeze(1)


def fake_add_scar(labels, territory):
    """Myocardium in the right half (LCX) or the top half (LAD, RCA: other rows) becomes scar (4)."""
    scar = torch.zeros_like(labels, dtype=torch.bool)
    if territory == "LCX":
        scar[:, 16:] = True
    elif territory == "LAD":
        scar[:16] = True
    else:
        scar[16:] = True
    return torch.where((labels == 2) & scar, torch.full_like(labels, 4), labels)


def _maps():
    maps = torch.zeros(2, 32, 32, dtype=torch.long)
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    r = ((yy - 16) ** 2 + (xx - 16) ** 2).float().sqrt()
    maps[:, r < 9] = 2
    maps[:, r < 6] = 3
    maps[1, r < 4] = 2  # a thicker wall, smaller cavity: map 1 differs from map 0
    maps[1, r < 2] = 3
    return maps


STYLES = {"vendor A": torch.tensor([0.0, 0.0]), "vendor B": torch.tensor([0.3, 0.0])}


def _explorer(**kwargs):
    options = dict(styles=STYLES, z_dim=2, lge_generator=fake_lge, lge_style=torch.zeros(3), add_scar=fake_add_scar)
    options.update(kwargs)
    return SynthesisExplorer(fake_cine, _maps(), **options)


def test_the_explorer_edits_the_map_and_follows_the_style():
    before = len(plt.get_fignums())
    maps, explorer = _maps(), _explorer()
    torch.testing.assert_close(explorer.image(), maps[0].float() / 4)  # vendor A: z = 0
    explorer.wall.value = 2
    assert torch.equal(explorer.edited_labels(), thicken_wall(maps[0], 2))
    explorer.wall.value = 0
    explorer.cavity.value = -2
    assert (explorer.edited_labels() == 3).sum() < (maps[0] == 3).sum()
    explorer.cavity.value = 0
    explorer.style.value = "vendor B"
    torch.testing.assert_close(explorer.image(), (maps[0].float() / 4 + 0.3).clamp(0, 1))
    explorer.index.value = 1
    assert torch.equal(explorer.edited_labels(), maps[1])
    assert len(plt.get_fignums()) == before, "redraw must close its figures"


def test_random_styles_come_from_the_seed():
    explorer = _explorer()
    assert explorer.seed.disabled, "the seed slider is off while a preset style is chosen"
    explorer.style.value = RANDOM_STYLE
    assert not explorer.seed.disabled
    z1 = explorer.z.clone()
    assert z1.shape == (1, 2)
    explorer.seed.value = 2
    assert not torch.equal(explorer.z, z1)
    explorer.seed.value = 1
    assert torch.equal(explorer.z, z1), "the same seed gives the same style"


def test_the_scar_is_painted_shown_in_lge_and_hidden_in_cine():
    maps, explorer = _maps(), _explorer()
    explorer.scar.value = "LCX"
    labels = explorer.edited_labels()
    assert (labels == 4).sum() > 0 and torch.equal(labels, fake_add_scar(maps[0], "LCX"))
    assert (labels == 2).sum() + (labels == 4).sum() == (maps[0] == 2).sum(), "the scar lies in the myocardium"
    cine = explorer.image()  # fake_cine asserts it never receives label 4
    torch.testing.assert_close(cine, maps[0].float() / 4, msg="in cine the scar looks like myocardium")
    explorer.style.value = LGE_STYLE
    lge = explorer.image()
    assert torch.all(lge[labels == 4] == 1) and torch.all(lge[labels == 2] == 0.2)
    explorer.scar.value = "none"
    assert not (explorer.edited_labels() == 4).any()
    explorer.wall.value = 1  # edits and scar together: the scar is painted into the edited wall
    explorer.scar.value = "LAD"
    assert torch.equal(explorer.edited_labels(), fake_add_scar(thicken_wall(maps[0], 1), "LAD"))


def test_optional_parts_and_bad_input():
    explorer = SynthesisExplorer(fake_cine, _maps(), styles=STYLES, z_dim=2)
    assert explorer.scar is None
    assert list(explorer.style.options) == ["vendor A", "vendor B", RANDOM_STYLE]
    with pytest.raises(ValueError, match=r"label_maps must have shape \(N, H, W\) with N >= 1, got \(32, 32\)"):
        SynthesisExplorer(fake_cine, _maps()[0], styles=STYLES, z_dim=2)
    with pytest.raises(ValueError, match=r"styles\['bad'\] must be one style code of shape \(z_dim,\)"):
        SynthesisExplorer(fake_cine, _maps(), styles={"bad": torch.zeros(5)}, z_dim=2)
    with pytest.raises(ValueError, match="styles must be a non-empty dict"):
        SynthesisExplorer(fake_cine, _maps(), styles={}, z_dim=2)
    with pytest.raises(ValueError, match="lge_generator and lge_style go together"):
        SynthesisExplorer(fake_cine, _maps(), styles=STYLES, z_dim=2, lge_generator=fake_lge)
    with pytest.raises(ValueError, match="reserved name"):
        SynthesisExplorer(fake_cine, _maps(), styles={RANDOM_STYLE: torch.zeros(2)}, z_dim=2)


def test_the_shipped_generators_show_a_painted_scar_only_in_lge():
    """With unit 03's cine generator, unit 07's LGE generator and the real add_scar: the scar is bright in LGE."""
    from genlib.models import conditional_pretrained as cp
    from genlib.synthesis import add_scar, load_synthesis

    generator, _ = cp.load_conditional("spade")
    lge_generator, _ = load_synthesis("lge_spade")
    maps = cp.sample_crops(4, seed=100, pathology="NOR").labels
    explorer = SynthesisExplorer(generator, maps, styles={"vendor A": torch.zeros(cp.Z_DIM)}, z_dim=cp.Z_DIM,
                                 lge_generator=lge_generator, lge_style=torch.zeros(cp.Z_DIM), add_scar=add_scar)
    explorer.scar.value = "LAD"
    labels = explorer.edited_labels()
    assert (labels == 4).sum() > 5, "add_scar painted no LAD scar into a normal basal-to-mid map"
    cine = explorer.image()
    explorer.style.value = LGE_STYLE
    lge = explorer.image()
    assert cine.shape == lge.shape == (cp.SIZE, cp.SIZE)
    assert lge[labels == 4].mean() > lge[labels == 2].mean() + 0.3, "in LGE the scar must be far brighter than myocardium"
    assert abs(cine[labels == 4].mean() - cine[labels == 2].mean()) < 0.15, "in cine the scar looks like myocardium"
