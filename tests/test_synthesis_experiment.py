"""Tests of genlib.synthesis.experiment on a tiny configuration: the data, the arms, the scores, the summaries."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from genlib.synthesis import experiment as ex

TINY = ex.ExperimentConfig(n_subjects=5, n_normal=3, slices_per_subject=2, test_per_group=2, n_unlabelled=4,
                           n_synthetic=12, n_reference=8, steps=2, batch_size=4, seeds=(0, 1), arms=tuple(ex.ARMS))


def test_the_real_set_is_one_vendor_mostly_normal_and_seeded():
    real = ex.real_training_set(TINY, 0)
    assert real["images"].shape == (10, 1, 32, 32) and real["labels"].shape == (10, 32, 32)
    assert real["groups"] == ["NOR"] * 6 + ["DCM"] * 2 + ["HCM"] * 2
    assert torch.equal(real["labels"], ex.real_training_set(TINY, 0)["labels"])
    assert not torch.equal(real["labels"], ex.real_training_set(TINY, 1)["labels"])


def test_the_test_set_covers_every_vendor_and_group_and_differs_from_training():
    test = ex.test_set(TINY)
    assert len(test["images"]) == 3 * 5 * 2
    assert sorted(set(test["vendors"])) == ["A", "B", "C"] and len(set(test["groups"])) == 5
    real = ex.real_training_set(TINY, 0)
    assert not any(torch.equal(t, r) for t in test["labels"] for r in real["labels"])


def test_the_synthetic_set_has_every_source_and_valid_pairs():
    real = ex.real_training_set(TINY, 0)
    pools = ex.prepare_pools(TINY, 0, ("c",))
    syn = pools["synthetic"]
    assert syn["images"].shape == (12, 1, 32, 32) and syn["labels"].shape == (12, 32, 32)
    assert syn["sources"].count("deformed") == 6 and syn["sources"].count("vae") == 3
    assert syn["sources"].count("pathology") == 3
    assert 0 <= float(syn["images"].min()) and float(syn["images"].max()) <= 1
    assert torch.equal(pools["real"]["labels"], real["labels"])


def test_classical_augmentation_moves_image_and_labels_together():
    real = ex.real_training_set(TINY, 0)
    images = real["labels"][:, None].float() / 3  # brightness tells the label
    aug_images, aug_labels = ex.classical_augment(images, real["labels"], torch.Generator().manual_seed(0))
    assert aug_images.shape == images.shape and aug_labels.shape == real["labels"].shape
    for x, y in zip(aug_images[:, 0], aug_labels):
        means = [float(x[y == c].mean()) for c in range(4) if (y == c).any()]
        assert means == sorted(means)  # gamma, scale and shift are increasing: the order of the labels survives


def test_every_arm_runs_and_scores_every_subset():
    rows = ex.run_experiment(TINY, progress=False)
    assert {r["arm"] for r in rows} == set(ex.ARMS) and {r["seed"] for r in rows} == {0, 1}
    subsets = {r["subset"] for r in rows}
    assert {"vendor A", "vendor B", "vendor C", "unseen vendors", "NOR", "ARV"} <= subsets
    assert all(0 <= r["dice"] <= 1 and r["hd95"] >= 0 for r in rows)
    summary = ex.summarise(rows)
    assert len(summary) == len(ex.ARMS) * len(subsets) * 3 and all(s["n_seeds"] == 2 for s in summary)
    g = ex.gain(rows)
    assert len(g["per_seed"]) == 2 and np.isclose(g["mean"], np.mean(g["per_seed"]))


def test_the_same_seed_gives_the_same_rows():
    config = ex.ExperimentConfig(**{**TINY.__dict__, "arms": ("c",), "seeds": (0,)})
    assert ex.run_experiment(config, progress=False) == ex.run_experiment(config, progress=False)


def test_gain_by_hand_and_errors():
    rows = [{"arm": arm, "seed": s, "subset": "unseen vendors", "class": "myo", "dice": d}
            for arm, s, d in (("a", 0, 0.6), ("a", 1, 0.62), ("c", 0, 0.7), ("c", 1, 0.7))]
    g = ex.gain(rows)
    assert np.allclose(g["per_seed"], [0.1, 0.08]) and g["exceeds_spread"]
    assert ex.gain(rows[::2])["exceeds_spread"] is None  # one seed: no spread to compare with
    with pytest.raises(ValueError, match=r"no seed with both arm 'd' and arm 'a'"):
        ex.gain(rows, arm="d")
    with pytest.raises(ValueError, match=r"arms must be among"):
        ex.ExperimentConfig(arms=("z",))
    with pytest.raises(ValueError, match=r"source_shares must be three non-negative shares summing to 1"):
        ex.ExperimentConfig(source_shares=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match=r"arm must be one of"):
        ex.train_arm("z", {}, TINY, 0)
