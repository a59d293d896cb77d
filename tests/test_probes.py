"""Linear probes and per-direction R^2 (genlib.metrics.probes)."""
import numpy as np
import pytest
import torch

from genlib.metrics.probes import C_GRID, class_variance_share, direction_r2, linear_probe, unit_directions_2d


def blobs(n, seed, *, separated=True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]]) if separated else np.zeros((3, 2))
    return centres[y] + rng.standard_normal((n, 2)), y


def test_the_probe_separates_separable_classes_and_fails_on_noise():
    (f_tr, y_tr), (f_va, y_va), (f_te, y_te) = blobs(300, 0), blobs(100, 1), blobs(200, 2)
    probe = linear_probe(f_tr, y_tr, f_va, y_va)
    assert probe.score(f_te, y_te) > 0.97
    (f_tr, y_tr), (f_va, y_va), (f_te, y_te) = (blobs(300, s, separated=False) for s in (0, 1, 2))
    chance = linear_probe(f_tr, y_tr, f_va, y_va).score(f_te, y_te)
    assert chance < 0.45, f"features without class information must score near 1/3, got {chance}"


def test_the_probe_chooses_C_on_the_validation_split():
    (f_tr, y_tr), (f_va, y_va) = blobs(300, 0, separated=False), blobs(100, 1, separated=False)
    probe = linear_probe(torch.as_tensor(f_tr), torch.as_tensor(y_tr), f_va, y_va, Cs=(0.01, 1.0))
    assert probe.chosen_C in (0.01, 1.0)
    assert probe.val_accuracy == pytest.approx(probe.score(f_va, y_va))
    assert set(probe.val_accuracies) == {0.01, 1.0}
    assert probe.val_accuracies[probe.chosen_C] == max(probe.val_accuracies.values())
    one = linear_probe(f_tr, y_tr, f_va, y_va, Cs=(1.0,))
    assert one.chosen_C == 1.0 and one.val_accuracies == {1.0: one.val_accuracy}


def test_the_probe_records_the_validation_accuracy_of_every_C_in_the_default_grid():
    (f_tr, y_tr), (f_va, y_va) = blobs(300, 0), blobs(100, 1)
    probe = linear_probe(f_tr, y_tr, f_va, y_va)
    assert sorted(probe.val_accuracies) == sorted(C_GRID)
    for C, accuracy in probe.val_accuracies.items():  # each entry is that C's own fit, scored on validation
        refit = linear_probe(f_tr, y_tr, f_va, y_va, Cs=(C,))
        assert accuracy == pytest.approx(refit.score(f_va, y_va))
    assert probe.val_accuracy == pytest.approx(probe.score(f_va, y_va))


def test_direction_r2_is_one_along_a_linear_attribute_and_zero_across_it():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2000, 2))
    attribute = 3.0 * z[:, 0] + 1.0
    r2 = direction_r2(z, attribute, np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
    np.testing.assert_allclose(r2, [1.0, 0.0, 0.5], atol=0.03)
    both = direction_r2(z, z[:, 0] + z[:, 1], np.array([[1.0, 1.0]]))
    np.testing.assert_allclose(both, [1.0], atol=1e-9)


def test_direction_r2_matches_numpy_corrcoef():
    rng = np.random.default_rng(1)
    z, attribute, u = rng.standard_normal((500, 4)), rng.standard_normal(500), rng.standard_normal((3, 4))
    expected = [np.corrcoef(z @ d, attribute)[0, 1] ** 2 for d in u]
    np.testing.assert_allclose(direction_r2(z, attribute, u), expected, rtol=1e-9)


def test_unit_directions_cover_the_half_circle():
    d = unit_directions_2d(4)
    np.testing.assert_allclose(d, [[1, 0], [np.sqrt(0.5), np.sqrt(0.5)], [0, 1], [-np.sqrt(0.5), np.sqrt(0.5)]], atol=1e-12)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        unit_directions_2d(0)


def test_bad_inputs_name_the_argument():
    z = np.zeros((10, 2))
    with pytest.raises(ValueError, match=r"features_train must have shape \(n_samples, n_features\), got shape \(10,\)"):
        linear_probe(np.zeros(10), np.zeros(10), z, np.zeros(10))
    with pytest.raises(ValueError, match=r"y_val must have shape \(10,\)"):
        linear_probe(z, np.zeros(10), z, np.zeros(9))
    with pytest.raises(ValueError, match="Cs must be a non-empty sequence of positive numbers"):
        linear_probe(z, np.zeros(10), z, np.zeros(10), Cs=(0.0,))
    with pytest.raises(ValueError, match=r"directions must have shape \(M, 2\)"):
        direction_r2(z, np.arange(10.0), np.ones((1, 3)))
    with pytest.raises(ValueError, match="attribute is constant"):
        direction_r2(np.random.default_rng(0).standard_normal((10, 2)), np.ones(10), np.ones((1, 2)))
    with pytest.raises(ValueError, match="zero vector"):
        direction_r2(z + np.arange(10.0)[:, None], np.arange(10.0), np.zeros((1, 2)))


def test_class_variance_share_separates_stripes_from_directions_across_them():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 4000)
    z = np.stack([labels * 3.0 + 0.1 * rng.standard_normal(4000), rng.standard_normal(4000)], axis=1)  # class along z[0]
    share = class_variance_share(z, torch.as_tensor(labels), np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert share[0] > 0.99 and share[1] < 0.01
    expected = []
    for d in np.array([[1.0, 0.0], [0.6, 0.8]]):  # eta^2 by its definition: variance of each point's class mean
        projection = z @ d
        class_means = np.array([projection[labels == c].mean() for c in range(4)])[labels]
        expected.append(class_means.var() / projection.var())
    np.testing.assert_allclose(class_variance_share(z, labels, np.array([[1.0, 0.0], [0.6, 0.8]])), expected, rtol=1e-9)
