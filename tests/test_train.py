"""Tests of genlib.train: seeding, device choice and the one training loop of the course."""
from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch
from torch import nn

from genlib.train import choose_device, seed_everything, train


def _regression(n=256, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=gen)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3 + 0.05 * torch.randn(n, 1, generator=gen)
    return x, y


def _mse(model):
    return lambda batch: (model(batch[0]) - batch[1]).pow(2).mean()


# ----------------------------------------------------------------------------- seeding and device


def test_seed_everything_makes_every_generator_repeatable():
    seed_everything(123)
    first = (torch.randn(5), np.random.rand(5), random.random())
    seed_everything(123)
    second = (torch.randn(5), np.random.rand(5), random.random())
    assert torch.equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]
    seed_everything(124)
    assert not torch.equal(torch.randn(5), first[0])
    seed_everything(np.int64(123))  # numpy integers are accepted
    assert torch.equal(torch.randn(5), first[0])


@pytest.mark.parametrize("seed", ["0", 1.5, None])
def test_seed_everything_rejects_non_integers(seed):
    with pytest.raises(TypeError, match=rf"seed must be an int, got {type(seed).__name__}"):
        seed_everything(seed)


def test_choose_device_default():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert choose_device() == torch.device(expected)
    if not torch.cuda.is_available():  # the course's machines and students' laptops
        assert choose_device() == torch.device("cpu")


@pytest.mark.parametrize("available, expected", [(False, "cpu"), (True, "cuda")])
def test_choose_device_prefers_the_gpu_when_present(monkeypatch, available, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    assert choose_device() == torch.device(expected)


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "meta", "cuda:1"])
def test_choose_device_respects_an_explicit_device(monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device(device) == torch.device(device)


# ----------------------------------------------------------------------------- train


def test_history_has_one_loss_per_epoch_and_the_loss_decreases():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = _regression()
    history = train(model, _mse(model), (x, y), epochs=30, batch_size=32, lr=0.05, progress=False)
    assert list(history) == ["loss"]
    assert len(history["loss"]) == 30
    assert all(isinstance(v, float) for v in history["loss"])
    assert history["loss"][-1] < 0.01 * history["loss"][0]
    assert history["loss"][-1] < 0.01  # close to the noise level 0.05^2
    torch.testing.assert_close(model.weight.detach(), torch.tensor([[1.5, -2.0, 0.5]]), atol=0.05, rtol=0)
    assert not model.training, "train() should leave the model in eval mode"


class _NoisyNet(nn.Module):
    """A model whose loss also uses randomness (dropout), so seeding matters."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


def test_same_seed_gives_identical_histories_and_weights():
    torch.manual_seed(0)
    base = _NoisyNet()
    x, y = _regression()
    runs = []
    for seed in (7, 7, 8):
        model = copy.deepcopy(base)
        history = train(model, _mse(model), (x, y), epochs=4, batch_size=50, seed=seed, progress=False)
        runs.append((history["loss"], model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for name, value in runs[0][1].items():
        assert torch.equal(value, runs[1][1][name])
    assert runs[0][0] != runs[2][0], "a different seed should shuffle and drop out differently"


def test_tuple_data_is_batched_and_shuffled_every_epoch():
    x, y = _regression(n=70)
    index = torch.arange(70)
    seen: list[list[int]] = []
    batch_sizes: list[int] = []
    model = nn.Linear(3, 1)

    def loss_fn(batch):
        assert isinstance(batch, tuple) and len(batch) == 3
        bx, by, bi = batch
        assert len(bx) == len(by) == len(bi)
        torch.testing.assert_close(bx, x[bi])  # rows stay aligned across the tuple
        seen.append(bi.tolist())
        batch_sizes.append(len(bi))
        return (model(bx) - by).pow(2).mean()

    train(model, loss_fn, (x, y, index), epochs=2, batch_size=32, progress=False)
    assert batch_sizes == [32, 32, 6] * 2
    epoch_1 = sum(seen[:3], [])
    epoch_2 = sum(seen[3:], [])
    assert sorted(epoch_1) == sorted(epoch_2) == list(range(70)), "each epoch visits every example once"
    assert epoch_1 != list(range(70)) and epoch_1 != epoch_2, "the data is reshuffled every epoch"


def test_a_single_tensor_is_passed_as_a_tensor_and_the_history_is_the_weighted_mean():
    x = torch.randn(10, 2)
    model = nn.Linear(2, 1)
    batches: list[tuple[int, float]] = []

    def loss_fn(batch):
        assert isinstance(batch, torch.Tensor)
        loss = model(batch).pow(2).mean()
        batches.append((len(batch), loss.item()))
        return loss

    history = train(model, loss_fn, x, epochs=1, batch_size=4, progress=False)
    expected = sum(n * v for n, v in batches) / 10
    assert [n for n, _ in batches] == [4, 4, 2]
    assert history["loss"][0] == pytest.approx(expected)


def test_a_given_optimizer_is_used():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    before = copy.deepcopy(model.state_dict())
    x, y = _regression(n=32)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    train(model, _mse(model), (x, y), epochs=2, lr=1.0, optimizer=optimizer, progress=False)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), "lr=0 SGD must leave the weights unchanged"


def test_non_scalar_loss_is_rejected_with_a_hint():
    model = nn.Linear(3, 1)
    x, y = _regression(n=40)
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar, got shape \(16, 1\); average it with \.mean\(\)"):
        train(model, lambda b: (model(b[0]) - b[1]).pow(2), (x, y), epochs=1, batch_size=16, progress=False)


def test_nan_loss_names_the_epoch_and_the_fix():
    model = nn.Linear(3, 1)
    x, y = _regression(n=40)
    calls = []

    def loss_fn(batch):
        calls.append(1)
        loss = (model(batch[0]) - batch[1]).pow(2).mean()
        return loss * float("nan") if len(calls) > 3 else loss  # 2 batches per epoch: NaN in epoch 2

    with pytest.raises(FloatingPointError, match=r"the loss became nan at epoch 2; lower the learning rate"):
        train(model, loss_fn, (x, y), epochs=3, batch_size=20, progress=False)
    with pytest.raises(FloatingPointError, match=r"the loss became inf at epoch 1"):
        train(model, lambda b: model(b).sum() * 0 + float("inf"), x, epochs=1, progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, r"epochs must be a positive integer, got 0"),
    ({"epochs": -2}, r"epochs must be a positive integer, got -2"),
    ({"epochs": 2.0}, r"epochs must be a positive integer, got 2\.0"),
    ({"epochs": 1, "batch_size": 0}, r"batch_size must be a positive integer, got 0"),
    ({"epochs": 1, "batch_size": 8.5}, r"batch_size must be a positive integer, got 8\.5"),
    ({"epochs": 1, "lr": 0.0}, r"lr must be a positive finite number, got 0\.0"),
    ({"epochs": 1, "validate_every": 0}, r"validate_every must be a positive integer, got 0"),
    ({"epochs": 1, "keep_best": True}, r"keep_best=True needs validate="),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    model = nn.Linear(3, 1)
    with pytest.raises(ValueError, match=match):
        train(model, lambda b: model(b).mean(), torch.zeros(4, 3), progress=False, **kwargs)


@pytest.mark.parametrize("data, error, match", [
    ([1.0, 2.0], TypeError, r"data must be a torch.Tensor or a tuple of tensors .*got list"),
    ((), TypeError, r"data must be a torch.Tensor or a tuple of tensors"),
    ((torch.zeros(10, 3), torch.zeros(9, 1)), ValueError, r"all tensors in data must have the same length, got \[10, 9\]"),
    (torch.zeros(0, 3), ValueError, r"data is empty: nothing to train on"),
])
def test_bad_data_is_rejected(data, error, match):
    model = nn.Linear(3, 1)
    with pytest.raises(error, match=match):
        train(model, lambda b: model(b).mean(), data, epochs=1, progress=False)


# ----------------------------------------------------------------------------- validation and early stopping


def _overfitting_problem():
    """A wide net on 12 noisy points: the validation loss falls, then rises as it overfits."""
    gen = torch.Generator().manual_seed(0)
    x_fit, x_val = torch.randn(12, 3, generator=gen), torch.randn(200, 3, generator=gen)
    truth = lambda x: x @ torch.tensor([[1.0], [-1.0], [0.5]])
    y_fit = truth(x_fit) + 0.8 * torch.randn(12, 1, generator=gen)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 256), nn.Tanh(), nn.Linear(256, 1))
    validate = lambda: (model(x_val) - truth(x_val)).pow(2).mean().item()
    return model, (x_fit, y_fit), validate


def test_validation_is_recorded_and_keep_best_restores_the_best_epoch():
    model, data, validate = _overfitting_problem()
    history = train(model, _mse(model), data, epochs=300, batch_size=12, lr=0.01, progress=False,
                    validate=validate, validate_every=10, keep_best=True)
    assert history["val_epoch"] == list(range(10, 301, 10))
    best = min(range(len(history["val"])), key=history["val"].__getitem__)
    assert history["best_epoch"] == history["val_epoch"][best]
    assert history["val"][-1] > history["val"][best], "this problem should overfit (test set-up)"
    assert validate() == pytest.approx(history["val"][best]), "keep_best should load the best epoch's weights"
    assert not model.training


def test_validation_does_not_change_the_training_run():
    runs = []
    for validate_every in (None, 3):
        model, data, validate = _overfitting_problem()
        model.insert(1, nn.Dropout(0.2))  # the training draws random numbers
        noisy_validate = lambda: validate() + torch.rand(()).item() * 0  # and so does validation
        kwargs = {} if validate_every is None else {"validate": noisy_validate, "validate_every": validate_every}
        history = train(model, _mse(model), data, epochs=9, batch_size=4, progress=False, **kwargs)
        runs.append((history["loss"], model.state_dict()))
    assert runs[0][0] == runs[1][0], "validate() drew from the training's random stream"
    for name, value in runs[0][1].items():
        assert torch.equal(value, runs[1][1][name])


def test_a_nan_validation_loss_is_reported():
    model = nn.Linear(3, 1)
    x, y = _regression()
    with pytest.raises(FloatingPointError, match=r"validate\(\) returned nan at epoch 1"):
        train(model, _mse(model), (x, y), epochs=2, progress=False, validate=lambda: float("nan"))
