"""The anatomy and contrast explorer of lecture 00, driven from code as a student drives it."""
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from genlib.widgets import CardiacExplorer  # noqa: E402


@pytest.fixture
def explorer():
    return CardiacExplorer(pathology="NOR", style="cine_vendor_a", size=64, seed=0)


def test_explorer_shows_a_label_map_and_an_image(explorer):
    labels, image = explorer.current()
    assert labels.shape == image.shape == (64, 64)
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    assert 0.0 <= image.min() and image.max() <= 1.0


def test_a_larger_lv_radius_gives_a_larger_cavity(explorer):
    before = (explorer.current()[0] == 3).sum()
    explorer.controls["lv_radius_mm"].value += 8
    after = (explorer.current()[0] == 3).sum()
    assert after > 1.3 * before, (before, after)


def test_a_thicker_wall_gives_more_myocardium(explorer):
    before = (explorer.current()[0] == 2).sum()
    explorer.controls["wall_thickness_mm"].value += 4
    assert (explorer.current()[0] == 2).sum() > before


def test_systole_shrinks_the_cavity(explorer):
    ed = (explorer.current()[0] == 3).sum()
    explorer.controls["phase"].value = 1.0
    assert (explorer.current()[0] == 3).sum() < ed


def test_style_changes_the_image_and_not_the_labels(explorer):
    labels_a, image_a = explorer.current()
    explorer.controls["style"].value = "lge"
    labels_lge, image_lge = explorer.current()
    np.testing.assert_array_equal(labels_a, labels_lge)
    blood = labels_a == 3
    assert image_a[blood].mean() > image_lge[blood].mean() + 0.05  # LGE blood is darker than cine blood


def test_lower_snr_gives_a_noisier_image(explorer):
    explorer.controls["snr"].value = 300.0
    clean = explorer.current()[1]
    explorer.controls["snr"].value = 3.0
    noisy = explorer.current()[1]
    background = explorer.current()[0] == 0
    assert np.abs(noisy - clean)[background].mean() > 0.05


def test_choosing_a_pathology_draws_a_subject_of_that_group(explorer):
    explorer.controls["pathology"].value = "DCM"
    assert explorer.subject.pathology == "DCM"
    assert explorer.controls["lv_radius_mm"].value == pytest.approx(explorer.subject.lv_radius_mm, abs=0.5)


def test_an_impossible_heart_is_explained_not_crashed(explorer):
    explorer.controls["lv_radius_mm"].value = 8.0
    explorer.controls["wall_thickness_mm"].value = 30.0
    assert "wall_thickness_mm" in explorer.message
    with pytest.raises(ValueError, match="wall_thickness_mm"):
        explorer.current()
