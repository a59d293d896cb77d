"""Tests of genlib.synthesis.mixing: the exact synthetic count, no repeats within a batch, determinism, errors."""
from __future__ import annotations

import pytest
import torch

from genlib.synthesis.mixing import mix_batches, n_synthetic


def _pools(n_real=10, n_syn=12, size=4):
    """Real images hold their index + 0, synthetic ones 1000 + index, so every pair can be traced."""
    real = torch.arange(n_real, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, size, size).clone()
    syn = (1000 + torch.arange(n_syn, dtype=torch.float32)).view(-1, 1, 1, 1).expand(-1, 1, size, size).clone()
    real_labels = (torch.arange(n_real) % 4).view(-1, 1, 1).expand(-1, size, size).clone()
    syn_labels = (torch.arange(n_syn) % 4).view(-1, 1, 1).expand(-1, size, size).clone()
    return real, real_labels, syn, syn_labels


@pytest.mark.parametrize("fraction, batch, expected", [
    (0.0, 8, 0), (1.0, 8, 8), (0.5, 8, 4), (0.5, 5, 3), (0.25, 6, 2), (0.3, 10, 3), (0.49, 3, 1), (0.1, 4, 0),
])
def test_the_synthetic_count_is_f_times_b_rounded_half_up(fraction, batch, expected):
    assert n_synthetic(fraction, batch) == expected
    images, labels, is_syn = mix_batches(*_pools(), synthetic_fraction=fraction, batch_size=batch,
                                         generator=torch.Generator().manual_seed(0))
    assert images.shape == (batch, 1, 4, 4) and labels.shape == (batch, 4, 4) and is_syn.shape == (batch,)
    assert int(is_syn.sum()) == expected
    assert torch.equal(is_syn, images[:, 0, 0, 0] >= 1000)  # the flag tells the source


@pytest.mark.parametrize("seed", range(5))
def test_no_pair_twice_and_labels_stay_with_their_images(seed):
    real, real_labels, syn, syn_labels = _pools()
    images, labels, _ = mix_batches(real, real_labels, syn, syn_labels, synthetic_fraction=0.5, batch_size=16,
                                    generator=torch.Generator().manual_seed(seed))
    ids = images[:, 0, 0, 0].long()
    assert len(set(ids.tolist())) == 16
    assert torch.equal(labels[:, 0, 0], ids % 1000 % 4)


def test_same_generator_seed_same_batch_and_shuffled_positions():
    pools = _pools()
    first = mix_batches(*pools, synthetic_fraction=0.5, batch_size=10, generator=torch.Generator().manual_seed(3))
    again = mix_batches(*pools, synthetic_fraction=0.5, batch_size=10, generator=torch.Generator().manual_seed(3))
    other = mix_batches(*pools, synthetic_fraction=0.5, batch_size=10, generator=torch.Generator().manual_seed(4))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])
    # synthetic pairs are not always at the end of the batch
    positions = [mix_batches(*pools, synthetic_fraction=0.5, batch_size=10,
                             generator=torch.Generator().manual_seed(s))[2] for s in range(5)]
    assert not all(torch.equal(p, positions[0]) for p in positions)


def test_an_empty_pool_is_fine_when_it_is_not_needed():
    real, real_labels, syn, syn_labels = _pools()
    images, _, is_syn = mix_batches(real, real_labels, syn[:0], syn_labels[:0], synthetic_fraction=0.0, batch_size=4)
    assert not is_syn.any() and images.shape == (4, 1, 4, 4)


def test_errors_name_the_problem():
    real, real_labels, syn, syn_labels = _pools(n_real=3)
    with pytest.raises(ValueError, match=r"needs 5 real pairs .* the real pool holds 3"):
        mix_batches(real, real_labels, syn, syn_labels, synthetic_fraction=0.5, batch_size=10)
    with pytest.raises(ValueError, match=r"synthetic_fraction must be in \[0, 1\]"):
        mix_batches(real, real_labels, syn, syn_labels, synthetic_fraction=1.5, batch_size=2)
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer"):
        mix_batches(real, real_labels, syn, syn_labels, synthetic_fraction=0.5, batch_size=0)
    with pytest.raises(ValueError, match=r"unsqueeze\(1\)"):
        mix_batches(real[:, 0], real_labels, syn, syn_labels, synthetic_fraction=0.5, batch_size=2)
    with pytest.raises(ValueError, match=r"synthetic_labels must have shape"):
        mix_batches(real, real_labels, syn, syn_labels[:2], synthetic_fraction=0.5, batch_size=2)
    with pytest.raises(ValueError, match=r"same \(1, H, W\)"):
        mix_batches(real, real_labels, syn[..., :2, :2], syn_labels[..., :2, :2], synthetic_fraction=0.5, batch_size=2)
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator"):
        mix_batches(real, real_labels, syn, syn_labels, synthetic_fraction=0.5, batch_size=2, generator=0)
