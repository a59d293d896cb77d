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


def test_no_validation_inside_the_run_gives_the_loss_alone_as_before():
    # validate_every beyond the last epoch: no validation is taken; the history is the loss alone, and
    # keep_best keeps the final weights (as at 1c942bb, where this raised no KeyError)
    for keep_best in (False, True):
        model = nn.Linear(3, 1)
        x, y = _regression(n=40)
        history = train(model, _mse(model), (x, y), epochs=2, batch_size=16, progress=False,
                        validate=lambda: 1.0, validate_every=5, keep_best=keep_best)
        assert set(history) == {"loss"} and len(history["loss"]) == 2


def test_trains_progress_bar_counts_epochs(capsys):
    model = nn.Linear(3, 1)
    x, y = _regression(n=64)
    train(model, _mse(model), (x, y), epochs=4, batch_size=2, progress=True, description="epoch bar")
    err = capsys.readouterr().err
    assert "epoch bar" in err and "/4 " in err and "/128" not in err, err[-300:]


# ----------------------------------------------------------------------------- run_steps, the step-based loop


def _linear_step(model, optimizer, x, y, values=None):
    """One SGD step on a regression; ``values[i - 1]``, if given, replaces the recorded loss."""
    def step(i):
        loss = (model(x) - y).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": values[i - 1] if values is not None else loss, "lr": 0.1}
    return step


def test_as_generator_takes_an_int_or_a_generator():
    from genlib.train import as_generator

    expected = torch.rand(4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(torch.rand(4, generator=as_generator(7)), expected)
    assert torch.equal(torch.rand(2, generator=as_generator(np.int64(7))), torch.rand(2, generator=as_generator(7)))
    g = torch.Generator().manual_seed(1)
    assert as_generator(g) is g  # a generator is used as it is: its draws continue


@pytest.mark.parametrize("seed", [1.0, "0", None, True, np.random.default_rng(0)])
def test_as_generator_rejects_other_seeds_with_the_fix(seed):
    from genlib.train import as_generator

    with pytest.raises(TypeError, match=r"seed must be an int or a torch.Generator, got .*Generator\(\).manual_seed"):
        as_generator(seed)


def test_as_seed_keeps_an_int_and_draws_one_from_a_generator():
    from genlib.train import as_seed, seed_everything

    assert as_seed(7) == 7 and as_seed(np.int64(7)) == 7  # an int seeds exactly as before
    g = torch.Generator().manual_seed(1)
    first, second = as_seed(g), as_seed(g)
    assert first == as_seed(torch.Generator().manual_seed(1)), "the same generator state must give the same seed"
    assert first != second, "the generator's draws continue: two calls give two seeds"
    assert all(isinstance(s, int) and 0 <= s < 2**32 for s in (first, second))
    seed_everything(first)  # NumPy accepts it too


@pytest.mark.parametrize("seed", [1.0, "0", None, True, np.random.default_rng(0)])
def test_as_seed_rejects_other_seeds_with_the_fix(seed):
    from genlib.train import as_seed

    with pytest.raises(TypeError, match=r"seed must be an int or a torch.Generator, got .*Generator\(\).manual_seed"):
        as_seed(seed)


def test_isolated_rng_seeds_the_block_and_restores_the_callers_states():
    from genlib.train import isolated_rng

    seed_everything(5)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    seed_everything(99)
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    with isolated_rng(5):
        inside = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(inside[0], expected[0]) and np.array_equal(inside[1], expected[1]) and inside[2] == expected[2]
    assert torch.equal(torch.get_rng_state(), states[0])
    assert _same_numpy_state(np.random.get_state(), states[1]) and random.getstate() == states[2]
    with pytest.raises(RuntimeError), isolated_rng(1):  # restored also when the block raises
        torch.rand(5), np.random.rand(5), random.random()
        raise RuntimeError("inside")
    assert torch.equal(torch.get_rng_state(), states[0]) and random.getstate() == states[2]
    assert _same_numpy_state(np.random.get_state(), states[1])


def _same_numpy_state(a, b) -> bool:
    """NumPy's whole global state: the key array and the position in it (a short draw moves only the
    position), and the cached Gaussian."""
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


def test_same_numpy_state_sees_a_draw_that_moves_only_the_position():
    np.random.seed(3)
    np.random.rand(1)  # right after seeding, the first draw regenerates the key array
    before = np.random.get_state()
    np.random.rand(1)
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]), "test set-up: one draw keeps the key array"
    assert not _same_numpy_state(before, after)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_isolated_rng_restores_every_gpus_state():
    """Every GPU's generator is saved and restored, also when the block is the first to use CUDA."""
    from genlib.train import isolated_rng

    states = torch.cuda.get_rng_state_all()
    with isolated_rng(5):
        inside = torch.rand(3, device="cuda")
    assert all(torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), states))
    seed_everything(5)
    assert torch.equal(inside, torch.rand(3, device="cuda"))
    torch.cuda.set_rng_state_all(states)
    with pytest.raises(RuntimeError), isolated_rng(1):
        torch.rand(3, device="cuda")
        raise RuntimeError("inside")
    assert all(torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), states))


def test_isolated_rng_forks_every_gpu_whenever_cuda_is_available(monkeypatch):
    """Which generators are forked: with CUDA available, every GPU's, even before CUDA is initialised (a block
    that starts CUDA, or a seed queued for CUDA's lazy start, must not leak); without CUDA, or with cuda=False,
    none (the CPU's, NumPy's and Python's states only)."""
    import contextlib

    from genlib.train import isolated_rng

    forked = []

    @contextlib.contextmanager
    def fake_fork_rng(devices, **kwargs):
        forked.append(list(devices))
        yield

    monkeypatch.setattr(torch.random, "fork_rng", fake_fork_rng)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with isolated_rng(1):
        pass
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch, "manual_seed", lambda seed: None)  # no real GPU behind the mock
    with isolated_rng(1):
        pass
    with isolated_rng(1, cuda=False):
        pass
    assert forked == [[], [0, 1], []]


def test_run_steps_records_every_step_and_leaves_the_modules_in_eval_mode():
    from genlib.train import run_steps

    x, y = _regression(n=64)
    model = nn.Linear(3, 1)
    history = run_steps(_linear_step(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y), 30, modules=[model],
                        device="cpu")
    assert len(history["loss"]) == 30 and history["lr"] == [0.1] * 30 and history["steps_run"] == 30
    assert all(isinstance(v, float) for v in history["loss"])
    assert history["loss"][-1] < 0.1 * history["loss"][0]
    assert not model.training


def test_run_steps_moves_the_modules_to_the_device():
    from genlib.train import run_steps

    model = nn.Linear(3, 1)
    seen = []
    run_steps(lambda i: seen.append(next(model.parameters()).device.type) or {}, 2, modules=[model], device="meta")
    assert seen == ["meta", "meta"] and next(model.parameters()).device.type == "meta"


def test_run_steps_shows_a_progress_bar(capsys):
    from genlib.train import run_steps

    run_steps(lambda i: {"loss": 1.0 / i}, 3, progress=True, description="my model")
    assert "my model" in capsys.readouterr().err
    run_steps(lambda i: {"loss": 1.0 / i}, 3, progress=False, description="quiet model")
    assert "quiet model" not in capsys.readouterr().err


def test_run_steps_progress_bar_writes_little_over_many_steps(capsys):
    # the postfix must not force a redraw on every step: tqdm redraws at most every 0.1 s by itself
    from genlib.train import run_steps

    run_steps(lambda i: {"loss": 1.0 / i}, 2000, progress=True, description="many steps")
    err = capsys.readouterr().err
    assert "many steps" in err and len(err.encode()) < 20_000, len(err.encode())


def test_run_steps_seed_makes_runs_repeatable_and_restores_the_callers_state():
    from genlib.train import run_steps

    def noisy(i):
        return {"draw": torch.rand(()), "np": np.random.rand(), "py": random.random()}

    seed_everything(3)
    state, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    first, second = run_steps(noisy, 4, seed=11), run_steps(noisy, 4, seed=11)
    assert first == second
    assert torch.equal(torch.get_rng_state(), state)
    assert _same_numpy_state(np.random.get_state(), np_state) and random.getstate() == py_state
    with pytest.raises(FloatingPointError):  # restored also when the run raises
        run_steps(lambda i: {**noisy(i), "loss": float("nan")}, 4, seed=11)
    assert torch.equal(torch.get_rng_state(), state)
    assert _same_numpy_state(np.random.get_state(), np_state) and random.getstate() == py_state
    unseeded = run_steps(noisy, 1)  # seed=None: the caller's generators, moved on
    assert not torch.equal(torch.get_rng_state(), state) and unseeded["draw"][0] != first["draw"][0]


def test_run_steps_validation_does_not_disturb_the_training_draws():
    from genlib.train import run_steps

    def run(validate):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 1))
        x, y = _regression(n=32)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        modes = []

        def check():
            modes.append(model.training)
            return validate()

        history = run_steps(_linear_step(model, optimizer, x, y), 6, modules=[model], seed=1,
                            validate=check if validate else None, validate_every=2)
        return model, history, modes

    plain, _, _ = run(None)
    validated, history, modes = run(lambda: float(torch.rand(()) + np.random.rand() + random.random()))
    for a, b in zip(plain.parameters(), validated.parameters()):
        assert torch.equal(a, b)  # the validation's draws did not shift the dropout masks
    assert history["val_step"] == [2, 4, 6] and modes == [False, False, False]


@pytest.mark.parametrize("ties, best", [("latest", 3), ("earliest", 1)])
def test_run_steps_keep_best_loads_the_best_validated_weights(ties, best):
    from genlib.train import run_steps

    model = nn.Linear(1, 1, bias=False)
    values = iter([2.0, 5.0, 2.0, 7.0])

    def step(i):
        with torch.no_grad():
            model.weight.fill_(float(i))
        return {}

    history = run_steps(step, 4, modules=[model], validate=lambda: next(values), validate_every=1, keep_best=True,
                        ties=ties)
    assert history["val"] == [2.0, 5.0, 2.0, 7.0] and history["best_step"] == best
    assert model.weight.item() == best


def test_run_steps_stop_ends_the_run_after_a_last_validation():
    from genlib.train import run_steps

    history = run_steps(lambda i: {"loss": float(i)}, 10, validate=lambda: 1.0, validate_every=4,
                        stop=lambda i: i == 6)
    assert history["loss"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and history["val_step"] == [4, 6]
    assert history["steps_run"] == 6


def test_run_steps_non_finite_loss_names_the_step_and_the_fix():
    from genlib.train import run_steps

    x, y = _regression(n=16)
    model = nn.Linear(3, 1)
    step = _linear_step(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, values=[1.0, float("nan"), 1.0])
    with pytest.raises(FloatingPointError, match=r"the loss became nan at step 2; lower the learning rate"):
        run_steps(step, 3, modules=[model])
    recorded = run_steps(lambda i: {"loss": 1.0, "d_loss": float("nan")}, 2, check_finite=("loss",))
    assert np.isnan(recorded["d_loss"]).all()  # a value documented as NaN (e.g. no discriminator) is recorded
    with pytest.raises(FloatingPointError, match=r"validate\(\) returned inf at step 1"):
        run_steps(lambda i: {}, 1, validate=lambda: float("inf"), validate_every=1)


def test_run_steps_with_no_step_gives_an_empty_history_and_eval_mode():
    from genlib.train import run_steps

    model = nn.Linear(3, 1)
    assert run_steps(lambda i: {"loss": 1.0}, 0, modules=[model], device="cpu") == {"steps_run": 0}
    assert not model.training


@pytest.mark.parametrize("kwargs, error, match", [
    ({"steps": -1}, ValueError, r"steps must be an integer >= 0, got -1"),
    ({"steps": 2, "validate_every": 0}, ValueError, r"validate_every must be a positive integer, got 0"),
    ({"steps": 2, "validate_every": 1, "validate_at": lambda i: True}, ValueError, r"not both"),
    ({"steps": 2, "keep_best": True}, ValueError, r"keep_best=True needs validate="),
    ({"steps": 2, "ties": "first"}, ValueError, r"ties must be 'latest' or 'earliest', got 'first'"),
])
def test_run_steps_rejects_bad_arguments_with_the_fix(kwargs, error, match):
    from genlib.train import run_steps

    with pytest.raises(error, match=match):
        run_steps(lambda i: {}, **kwargs)


def test_train_leaves_the_callers_global_random_state_unchanged():
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 1))
    x, y = _regression(n=40)
    seed_everything(42)
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    train(model, _mse(model), (x, y), epochs=2, batch_size=16, seed=0, progress=False)
    assert torch.equal(torch.get_rng_state(), states[0])
    assert _same_numpy_state(np.random.get_state(), states[1]) and random.getstate() == states[2]


# ----------------------------------------------------------------------------- epoch_batches


def test_epoch_batches_draw_one_permutation_per_epoch_split_in_order():
    """Against a hand-written reshuffle: one randperm per epoch from the same generator, then its slices."""
    from genlib.train import epoch_batches

    n, batch_size, epochs = 7, 3, 3
    batch = epoch_batches(n, batch_size, torch.Generator().manual_seed(4))
    reference = torch.Generator().manual_seed(4)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=reference)
        got = [batch(epoch * 3 + k + 1) for k in range(3)]
        assert [len(b) for b in got] == [3, 3, 1]
        assert torch.equal(torch.cat(got), order), f"epoch {epoch + 1} is not the generator's next permutation"


def test_epoch_batches_asked_twice_give_the_same_rows_without_a_new_draw():
    from genlib.train import epoch_batches

    generator = torch.Generator().manual_seed(0)
    batch = epoch_batches(6, 4, generator)
    first = batch(1)
    state = generator.get_state()
    assert torch.equal(batch(1), first) and torch.equal(generator.get_state(), state)
    assert sorted(torch.cat([first, batch(2)]).tolist()) == list(range(6))


def test_epoch_batches_without_a_generator_draw_from_the_global_one():
    from genlib.train import epoch_batches

    torch.manual_seed(5)
    got = epoch_batches(5, 5)(1)
    torch.manual_seed(5)
    assert torch.equal(got, torch.randperm(5))


@pytest.mark.parametrize("n, batch_size, match", [(0, 2, r"n must be a positive integer, got 0"),
                                                  (4, 0, r"batch_size must be a positive integer, got 0"),
                                                  (4, 2.0, r"batch_size must be a positive integer, got 2.0")])
def test_epoch_batches_reject_bad_sizes(n, batch_size, match):
    from genlib.train import epoch_batches

    with pytest.raises(ValueError, match=match):
        epoch_batches(n, batch_size)
